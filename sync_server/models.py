"""Every ORM model, imported once so that the metadata (and Alembic) sees the whole schema."""

from sync_server.audit.models import AuditEvent
from sync_server.auth.models import Device, LoginAttempt
from sync_server.database import Base
from sync_server.notes.models import FollowUp, HeadsUp, Note
from sync_server.orgs.models import Organization, Team, TeamSupervisor, User, UserRole, Worker
from sync_server.routing.models import Delivery
from sync_server.sync.models import (
    ChangeAudience,
    ChangeCounter,
    ChangeLogEntry,
    MutationRecord,
)

__all__ = [
    "AuditEvent",
    "Base",
    "ChangeAudience",
    "ChangeCounter",
    "ChangeLogEntry",
    "Delivery",
    "Device",
    "FollowUp",
    "HeadsUp",
    "LoginAttempt",
    "MutationRecord",
    "Note",
    "Organization",
    "Team",
    "TeamSupervisor",
    "User",
    "UserRole",
    "Worker",
]
