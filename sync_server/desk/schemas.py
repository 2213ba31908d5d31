"""The subject-access export's machine-readable shape (`relais.subject_access`, version 1).

Documented field by field in docs/desk.md. A change that removes or renames a field is a new
version; adding a field is not. Times are UTC (RFC 3339), dates ISO 8601, staff by name.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel

SUBJECT_ACCESS_FORMAT: Literal["relais.subject_access"] = "relais.subject_access"
SUBJECT_ACCESS_VERSION: Literal[1] = 1
# How a sensitive note came to be read, from the audit log.
ReadHow = Literal["app", "meeting_brief", "subject_access"]
ExportWhat = Literal["meeting_brief", "subject_access"]


class OrganisationRecord(BaseModel):
    slug: str
    name: str


class TeamRecord(BaseModel):
    slug: str
    name: str


class WorkerRecord(BaseModel):
    id: uuid.UUID
    ref: str
    display_name: str
    team: TeamRecord
    counsellor: str | None
    contract_type: str | None
    contract_start: date | None
    contract_end: date | None
    active: bool


class NoteRecord(BaseModel):
    id: uuid.UUID
    kind: str
    category: str
    sensitive: bool
    severity: str
    text: str
    status: str
    author: str
    team: str
    captured_at: datetime
    received_at: datetime
    retracted_at: datetime | None
    retract_reason: str | None


class FollowUpRecord(BaseModel):
    id: uuid.UUID
    note_id: uuid.UUID
    author: str
    action: str
    text: str | None
    close: bool
    created_at: datetime


class HeadsUpRecord(BaseModel):
    id: uuid.UUID
    author: str
    text: str
    valid_until: date | None
    created_at: datetime


class DeliveryRecord(BaseModel):
    id: uuid.UUID
    note_id: uuid.UUID
    recipient: str
    reason: str
    delivered_at: datetime
    due_at: datetime | None
    seen_at: datetime | None
    acknowledged_at: datetime | None
    escalated_at: datetime | None
    notified_at: datetime | None


class SensitiveReadRecord(BaseModel):
    note_id: uuid.UUID
    reader: str | None  # null: the command line, without a login
    at: datetime
    how: ReadHow


class ExportRecord(BaseModel):
    at: datetime
    by: str | None
    what: ExportWhat
    detail: str | None


class RefusedRecord(BaseModel):
    id: uuid.UUID
    type: str
    sent_by: str
    received_at: datetime
    error_code: str | None
    error_message: str | None
    content: dict[str, Any] | None


class SubjectAccessExport(BaseModel):
    format: Literal["relais.subject_access"] = SUBJECT_ACCESS_FORMAT
    version: Literal[1] = SUBJECT_ACCESS_VERSION
    generated_at: datetime
    organisation: OrganisationRecord
    worker: WorkerRecord
    notes: list[NoteRecord]
    follow_ups: list[FollowUpRecord]
    heads_ups: list[HeadsUpRecord]
    deliveries: list[DeliveryRecord]
    sensitive_note_reads: list[SensitiveReadRecord]
    exports: list[ExportRecord]
    refused_submissions: list[RefusedRecord]
