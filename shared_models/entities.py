"""The `data` of each entity a pull sends (docs/protocol.md, Entities), as the caller may see it."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from pydantic import BaseModel

from shared_models.vocabulary import (
    DeliveryReason,
    EntityType,
    FollowUpAction,
    NoteKind,
    NoteStatus,
    Role,
    Severity,
)


class TeamData(BaseModel):
    id: UUID
    name: str
    site: str | None = None
    supervisor_ids: list[UUID] = []


class WorkerData(BaseModel):
    id: UUID
    ref: str
    display_name: str
    team_id: UUID
    counsellor_id: UUID | None = None
    counsellor_name: str | None = None
    active: bool
    # Who a note about the worker goes to now: the counsellor, or their stand-in while they
    # are away; none when the worker has no (enabled) counsellor (then: the coordinators).
    recipient_id: UUID | None = None
    recipient_name: str | None = None


class DeliveryData(BaseModel):
    recipient_id: UUID
    recipient_name: str
    reason: DeliveryReason
    delivered_at: datetime
    due_at: datetime | None = None
    seen_at: datetime | None = None
    acknowledged_at: datetime | None = None
    escalated_at: datetime | None = None
    # Alert fatigue, on the caller's own delivery only (1 and null on anyone else's): how
    # many signals this alert stands for (1 when it stands alone), and, for a repeat signal,
    # the id of the note whose alert it joined.
    group_count: int = 1
    grouped_into: UUID | None = None


class NoteData(BaseModel):
    id: UUID
    author_id: UUID
    author_name: str | None = None
    worker_id: UUID | None = None
    team_id: UUID
    kind: NoteKind
    category: str
    severity: Severity
    text: str
    captured_at: datetime
    received_at: datetime
    status: NoteStatus
    retracted_at: datetime | None = None
    deliveries: list[DeliveryData] | None = None


class FollowUpData(BaseModel):
    id: UUID
    note_id: UUID
    action: FollowUpAction
    text: str | None = None
    close: bool
    author_id: UUID
    author_name: str | None = None
    created_at: datetime


class HeadsUpData(BaseModel):
    id: UUID
    worker_id: UUID
    text: str
    valid_until: date | None = None
    author_id: UUID
    author_name: str | None = None
    created_at: datetime


class ColleagueData(BaseModel):
    """A member of the caller's organisation: names on screens and the stand-in picker."""

    id: UUID
    display_name: str
    roles: list[Role]
    away: bool = False
    stand_in_id: UUID | None = None
    away_until: datetime | None = None


class OrganizationData(BaseModel):
    id: UUID
    name: str
    country: str
    language: str
    # Acknowledgement deadlines in seconds, per severity.
    deadlines: dict[Severity, int]


# The wire schema of each entity type (the server's `EntitySpec`s point at these).
ENTITY_MODELS: dict[str, type[BaseModel]] = {
    EntityType.ORGANIZATION: OrganizationData,
    EntityType.TEAM: TeamData,
    EntityType.WORKER: WorkerData,
    EntityType.COLLEAGUE: ColleagueData,
    EntityType.NOTE: NoteData,
    EntityType.FOLLOW_UP: FollowUpData,
    EntityType.HEADS_UP: HeadsUpData,
}
