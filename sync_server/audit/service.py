"""Record reads of sensitive notes, exports and admin actions on accounts: the trail the
people concerned may ask for."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared_models.vocabulary import EntityType
from sync_server.audit.models import AuditEvent
from sync_server.database import utcnow

SENSITIVE_NOTE_READ = "note.read_sensitive"
# A meeting brief (PDF) and a subject-access export (GDPR art. 15): sync_server/desk.
BRIEF_EXPORT = "export.brief"
SUBJECT_ACCESS_EXPORT = "export.subject_access"
# Admin actions on accounts.
DEVICE_REVOKED = "device.revoke"
USER_DISABLED = "user.disable"
LOGIN_UNLOCKED = "user.unlock"
PASSWORD_RESET = "user.password_reset"
USER_CREATED = "user.create"
USER_ENABLED = "user.enable"
ROSTER_IMPORTED = "roster.import"


def record(
    session: Session,
    *,
    org_id: uuid.UUID,
    actor_id: uuid.UUID | None,
    action: str,
    entity: str | None = None,
    entity_id: uuid.UUID | None = None,
    device_id: uuid.UUID | None = None,
    detail: str | None = None,
    at: datetime | None = None,
) -> None:
    session.add(
        AuditEvent(
            org_id=org_id,
            actor_id=actor_id,
            device_id=device_id,
            action=action,
            entity=entity,
            entity_id=entity_id,
            detail=detail,
            at=at or utcnow(),
        )
    )


def record_sensitive_reads(
    session: Session,
    *,
    org_id: uuid.UUID,
    actor_id: uuid.UUID | None,
    device_id: uuid.UUID | None,
    note_ids: Iterable[uuid.UUID],
    detail: str | None = None,
) -> None:
    """`detail` says how, when not in the app: the export that printed the text."""
    now = utcnow()
    for note_id in note_ids:
        record(
            session,
            org_id=org_id,
            actor_id=actor_id,
            device_id=device_id,
            action=SENSITIVE_NOTE_READ,
            entity=EntityType.NOTE,
            entity_id=note_id,
            detail=detail,
            at=now,
        )


def events(session: Session, org_id: uuid.UUID, limit: int = 1000) -> list[AuditEvent]:
    return list(
        session.scalars(
            select(AuditEvent)
            .where(AuditEvent.org_id == org_id)
            .order_by(AuditEvent.at.desc())
            .limit(limit)
        )
    )
