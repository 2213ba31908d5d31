"""The gap-free change log: services record what changed, the commit numbers it.

Services call `record_change` while they work; just before the transaction commits, the
pending changes get their positions from the organisation's counter row
(`UPDATE change_counter SET seq = seq + n ... RETURNING seq`). That row lock is held until
commit, so positions are handed out in commit order on PostgreSQL; on SQLite every writing
transaction already runs alone (BEGIN IMMEDIATE). A reader therefore never sees position n+1
before position n has committed, and pull never skips a late commit.

After commit, the users who may see a change are poked (see `sync.stream`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import event, func, insert, select, update
from sqlalchemy.orm import Session, SessionTransaction

from sync_server.database import Database, utcnow
from sync_server.sync.models import ChangeCounter, ChangeLogEntry
from sync_server.sync.stream import NOTIFY_CHANNEL, Poke, hub

_PENDING = "relais.pending_changes"
_POKES = "relais.pokes"


@dataclass(frozen=True)
class PendingChange:
    org_id: uuid.UUID
    entity: str
    entity_id: uuid.UUID
    revoked: frozenset[uuid.UUID] = frozenset()


def record_change(
    session: Session,
    org_id: uuid.UUID,
    entity: str,
    entity_id: uuid.UUID,
    revoked: Iterable[uuid.UUID] = (),
) -> None:
    """Note that `entity_id` changed in this transaction; `revoked` users lose sight of it."""
    pending_changes(session).append(PendingChange(org_id, entity, entity_id, frozenset(revoked)))


def pending_changes(session: Session) -> list[PendingChange]:
    pending: list[PendingChange] = session.info.setdefault(_PENDING, [])
    return pending


def discard_changes_after(session: Session, mark: int) -> None:
    """Forget changes recorded after `mark` (their savepoint was rolled back)."""
    del pending_changes(session)[mark:]


def allocate(session: Session, org_id: uuid.UUID, count: int) -> int:
    """Reserve `count` positions for `org_id`; returns the last. Locks the counter row."""
    last = session.execute(
        update(ChangeCounter)
        .where(ChangeCounter.org_id == org_id)
        .values(seq=ChangeCounter.seq + count)
        .returning(ChangeCounter.seq)
    ).scalar_one_or_none()
    if last is None:
        session.add(ChangeCounter(org_id=org_id, seq=0))
        session.flush()
        return allocate(session, org_id, count)
    return int(last)


def current_position(session: Session, org_id: uuid.UUID) -> int:
    seq = session.scalar(select(ChangeCounter.seq).where(ChangeCounter.org_id == org_id))
    return int(seq or 0)


def positions(db: Database, org_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """Current change-log positions of some organisations."""
    with db.reading() as session:
        rows = session.execute(
            select(ChangeCounter.org_id, ChangeCounter.seq).where(ChangeCounter.org_id.in_(org_ids))
        )
        return {org_id: int(seq) for org_id, seq in rows}


def _write_pending(session: Session) -> None:
    from sync_server.sync.entities import audience_of_changes  # the policy sits above us

    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    session.flush()
    by_org: dict[uuid.UUID, list[PendingChange]] = {}
    for change in pending:
        by_org.setdefault(change.org_id, []).append(change)
    pokes: list[Poke] = session.info.setdefault(_POKES, [])
    now = utcnow()
    for org_id, changes in by_org.items():
        users = audience_of_changes(session, org_id, changes)
        last = allocate(session, org_id, len(changes))
        first = last - len(changes) + 1
        session.execute(
            insert(ChangeLogEntry),
            [
                {
                    "org_id": org_id,
                    "seq": first + i,
                    "entity": c.entity,
                    "entity_id": c.entity_id,
                    "revoked": sorted(str(u) for u in c.revoked) or None,
                    "at": now,
                }
                for i, c in enumerate(changes)
            ],
        )
        poke = Poke(org_id, last, users)
        if session.get_bind().dialect.name == "postgresql":
            # Delivered to every listening server process when (and only if) this commits.
            session.execute(select(func.pg_notify(NOTIFY_CHANNEL, poke.to_json())))
        else:
            pokes.append(poke)


# SQLAlchemy also fires these when a savepoint is released: only the real COMMIT counts.


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    if not session.in_nested_transaction():
        _write_pending(session)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if not session.in_nested_transaction():
        for poke in session.info.pop(_POKES, []):
            hub.publish(poke)


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, previous: SessionTransaction) -> None:
    # Rolling back the whole transaction drops what it recorded; a savepoint's changes are
    # dropped by its caller with discard_changes_after.
    if previous.parent is None:
        session.info.pop(_PENDING, None)
        session.info.pop(_POKES, None)
