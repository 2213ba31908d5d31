"""Retention: what Relais holds about a worker is deleted once their file is closed.

The worker's file is deleted when retention ends (docs/design.md, Privacy). When a worker's contract ended
more than the organisation's retention period ago (`retention.days_after_contract_end` in the
provisioning file, 730 days by default), their notes, the deliveries and follow-ups of those
notes, the heads-ups about them, refused mutations that mention them, and the worker record
itself are deleted. Every phone that held any of it is told to drop it (`remove`). Team-level
safety notes (about no one) and the audit trail (ids and times, no content) stay.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import ColumnElement, CursorResult, Delete, and_, delete, func, select, update
from sqlalchemy.orm import Session

from shared_models.vocabulary import EntityType
from sync_server.audit.service import record as audit
from sync_server.notes.models import FollowUp, HeadsUp, Note
from sync_server.orgs.models import Organization, Worker
from sync_server.routing.models import Delivery
from sync_server.sync.entities import VisibilityChange, keys_about_workers
from sync_server.sync.models import MutationRecord

PURGE = "retention.purge"
# Workers purged per transaction: each one's history is loaded to tell phones what to drop.
BATCH = 100
# Ids per IN (...) list.
CHUNK = 500


@dataclass
class PurgeReport:
    workers: int = 0
    notes: int = 0
    follow_ups: int = 0
    heads_ups: int = 0
    refused_mutations: int = 0

    def add(self, other: PurgeReport) -> None:
        for name in vars(self):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def _past_retention(org: Organization, today: date) -> ColumnElement[bool]:
    """Workers whose contract ended more than the retention period before `today`."""
    cutoff = today - timedelta(days=org.retention_days)
    return and_(
        Worker.org_id == org.id, Worker.contract_end.is_not(None), Worker.contract_end < cutoff
    )


def expired_workers(session: Session, org: Organization, today: date) -> list[Worker]:
    return list(
        session.scalars(
            select(Worker)
            .where(_past_retention(org, today))
            .order_by(Worker.contract_end, Worker.id)
            .limit(BATCH)
            # Several server processes sweep at once: each worker is purged by one of them.
            .with_for_update(skip_locked=True)
        )
    )


def purge(session: Session, org: Organization, workers: list[Worker]) -> PurgeReport:
    """Delete `workers` and everything about them; their former audience gets `remove`."""
    ids = [w.id for w in workers]
    if not ids:
        return PurgeReport()
    change = VisibilityChange(session, org.id, keys_about_workers(session, ids))
    note_ids = [k[1] for k in change.keys if k[0] == EntityType.NOTE]
    report = PurgeReport(workers=len(ids), notes=len(note_ids))
    report.refused_mutations = _forget_refused_mutations(session, org.id, change.keys)
    # Repeat alerts point at the first one (same worker): unlink them all before deleting.
    for chunk in _chunks(note_ids):
        session.execute(
            update(Delivery).where(Delivery.note_id.in_(chunk)).values(grouped_into_id=None)
        )
    for chunk in _chunks(note_ids):
        session.execute(delete(Delivery).where(Delivery.note_id.in_(chunk)))
        report.follow_ups += _count_deleted(
            session, delete(FollowUp).where(FollowUp.note_id.in_(chunk))
        )
        session.execute(delete(Note).where(Note.id.in_(chunk)))
    report.heads_ups = _count_deleted(session, delete(HeadsUp).where(HeadsUp.worker_id.in_(ids)))
    session.execute(delete(Worker).where(Worker.id.in_(ids)))
    session.expire_all()
    change.record()
    for worker_id in ids:
        audit(
            session,
            org_id=org.id,
            actor_id=None,
            action=PURGE,
            entity=EntityType.WORKER,
            entity_id=worker_id,
        )
    return report


def purge_expired(session: Session, org: Organization, today: date) -> PurgeReport:
    """One batch of the organisation's expired workers (call again until it purges none)."""
    return purge(session, org, expired_workers(session, org, today))


def count_expired(session: Session, org: Organization, today: date) -> int:
    count = session.scalar(
        select(func.count()).select_from(Worker).where(_past_retention(org, today))
    )
    return int(count or 0)


def refused_mutations_naming(
    session: Session, org_id: uuid.UUID, ids: Iterable[uuid.UUID]
) -> list[MutationRecord]:
    """Refused mutations whose kept content names one of `ids` (a worker, their notes...)."""
    wanted = {str(entity_id) for entity_id in ids}
    if not wanted:
        return []
    naming = []
    for record in session.scalars(
        select(MutationRecord)
        .where(
            MutationRecord.org_id == org_id,
            MutationRecord.status == "rejected",
            MutationRecord.payload.is_not(None),
        )
        .order_by(MutationRecord.received_at)
    ):
        content = json.dumps(record.payload).lower()
        if any(entity_id in content for entity_id in wanted):
            naming.append(record)
    return naming


def _forget_refused_mutations(
    session: Session, org_id: uuid.UUID, keys: list[tuple[str, uuid.UUID]]
) -> int:
    """Refused mutations keep their content for inspection; drop it where it names a purged
    record. The ledger row stays, so that a phone sending it again still hears the verdict."""
    records = refused_mutations_naming(session, org_id, (entity_id for _, entity_id in keys))
    for record in records:
        record.payload = None
    return len(records)


def _count_deleted(session: Session, statement: Delete) -> int:
    result = session.execute(statement)
    assert isinstance(result, CursorResult)
    return result.rowcount


def _chunks(ids: list[uuid.UUID]) -> list[list[uuid.UUID]]:
    return [ids[i : i + CHUNK] for i in range(0, len(ids), CHUNK)]
