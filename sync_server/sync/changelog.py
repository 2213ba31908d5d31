"""The gap-free change log: services record what changed, the commit numbers it.

Services call `record_change` (see `sync.pending`) while they work; just before the
transaction commits, the pending changes get their positions from the organisation's counter
row (`UPDATE change_counter SET seq = seq + n ... RETURNING seq`). That row lock is held until
commit, so positions are handed out in commit order on PostgreSQL; on SQLite every writing
transaction already runs alone (BEGIN IMMEDIATE). A reader therefore never sees position n+1
before position n has committed, and pull never skips a late commit.

In the same transaction each change is indexed under the keys of who might see it
(`change_audience`, read by pull), and after commit the users who may see it are poked
(see `sync.stream`). Both need the entities and the policy: this module sits above them,
and the domains record through `sync.pending`, which imports neither.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import event, func, insert, select, update
from sqlalchemy.orm import Session, SessionTransaction

from shared_models.vocabulary import Role
from sync_server import policy
from sync_server.database import Database, utcnow
from sync_server.orgs.models import TeamSupervisor, User, UserRole, Worker
from sync_server.sync import entities
from sync_server.sync.models import ChangeAudience, ChangeCounter, ChangeLogEntry
from sync_server.sync.pending import (
    PENDING,
    PendingChange,
    discard_changes_after,
    pending_changes,
    record_change,
)
from sync_server.sync.stream import NOTIFY_CHANNEL, Poke, hub

__all__ = [
    "PendingChange",
    "allocate",
    "current_position",
    "discard_changes_after",
    "pending_changes",
    "positions",
    "record_change",
]

_POKES = "relais.pokes"


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


def audiences(
    session: Session, org_id: uuid.UUID, changes: list[PendingChange]
) -> tuple[frozenset[uuid.UUID], list[set[uuid.UUID]]]:
    """Who to poke for these changes (those who see them now, and those who lost them), and
    each change's keys in the pull index (`policy.index_keys`, plus who lost it)."""
    loaded = entities.load(
        session, org_id, ((c.entity, c.entity_id) for c in changes), for_shaping=False
    )
    objects = [loaded.get(c.entity, c.entity_id) for c in changes]
    keys = [
        set(c.revoked) | (policy.index_keys(c.entity, obj, loaded.facts) if obj else set())
        for c, obj in zip(changes, objects, strict=True)
    ]
    now = utcnow()
    viewers = policy.load_org_viewers(
        session,
        org_id,
        now,
        workers=entities.workers_concerned(loaded),
        users=_members_under(session, org_id, set().union(*keys), now),
    )
    index = policy.AudienceIndex(viewers)
    users: set[uuid.UUID] = set()
    for c, obj in zip(changes, objects, strict=True):
        users |= c.revoked
        if obj is not None:
            users |= index.of(c.entity, obj, loaded.facts)
    return frozenset(users), keys


def _members_under(
    session: Session, org_id: uuid.UUID, keys: set[uuid.UUID], at: datetime
) -> set[uuid.UUID] | None:
    """The members who may see a change indexed under `keys` (None: maybe anyone), so that
    a note's pokes cost its few readers, not the organisation's roster."""
    if keys & {policy.EVERYONE, policy.COUNSELLORS} or len(keys) > 5000:
        return None  # as cheap to read them all, and no giant IN list
    roles = [Role.COORDINATOR] + ([Role.ADMIN] if policy.ADMINS in keys else [])
    ids = list(keys)
    members = set(keys)
    members.update(
        session.scalars(
            select(UserRole.user_id)
            .join(User, User.id == UserRole.user_id)
            .where(User.org_id == org_id, UserRole.role.in_(roles))
        )
    )
    counsellors = set(
        session.scalars(
            select(Worker.counsellor_id).where(
                Worker.id.in_(ids), Worker.counsellor_id.is_not(None)
            )
        )
    )
    members |= {c for c in counsellors if c is not None}
    for away in session.scalars(
        select(User).where(User.id.in_(list(counsellors)), User.stand_in_id.is_not(None))
    ):
        if away.is_away(at) and away.stand_in_id is not None:
            members.add(away.stand_in_id)
    members.update(
        session.scalars(select(TeamSupervisor.user_id).where(TeamSupervisor.team_id.in_(ids)))
    )
    return members


def _write_pending(session: Session) -> None:
    pending = session.info.pop(PENDING, None)
    if not pending:
        return
    session.flush()
    by_org: dict[uuid.UUID, list[PendingChange]] = {}
    for change in pending:
        by_org.setdefault(change.org_id, []).append(change)
    pokes: list[Poke] = session.info.setdefault(_POKES, [])
    now = utcnow()
    for org_id, changes in by_org.items():
        users, keys = audiences(session, org_id, changes)
        last = allocate(session, org_id, len(changes))
        first = last - len(changes) + 1
        # On the connection: a plain executemany, not the ORM's bulk path (mapping each row).
        connection = session.connection()
        connection.execute(
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
        index_rows = [
            {"org_id": org_id, "audience": key, "seq": first + i}
            for i, change_keys in enumerate(keys)
            for key in change_keys
        ]
        if index_rows:
            connection.execute(insert(ChangeAudience), index_rows)
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
        session.info.pop(PENDING, None)
        session.info.pop(_POKES, None)
