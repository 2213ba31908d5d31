"""Push: apply a batch of queued mutations, each at most once, each on its own.

The mutation id is the idempotency key across all devices and all time. Each mutation runs
in its own savepoint, so a refused one is rolled back alone, stored with its reason, and
never blocks the others.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared_models import mutations as m
from shared_models.wire import ErrorDetail, Mutation, MutationResult
from sync_server import policy
from sync_server.auth.service import Caller
from sync_server.notes import service as notes
from sync_server.notes.service import Rejected
from sync_server.orgs.models import User
from sync_server.sync.changelog import discard_changes_after, pending_changes
from sync_server.sync.models import MutationRecord

log = logging.getLogger(__name__)

Handler = Callable[[Session, policy.Viewer, Any, datetime, datetime], object]

HANDLERS: dict[str, Handler] = {
    "note.create": lambda s, v, d, _c, now: notes.create_note(s, v, d, now),
    "note.retract": lambda s, v, d, c, now: notes.retract_note(s, v, d, c, now),
    "note.acknowledge": lambda s, v, d, _c, now: notes.acknowledge_note(s, v, d, now),
    "note.follow_up": lambda s, v, d, _c, now: notes.follow_up(s, v, d, now),
    "heads_up.create": lambda s, v, d, _c, now: notes.create_heads_up(s, v, d, now),
    "delivery.seen": lambda s, v, d, _c, now: notes.mark_seen(s, v, d, now),
}
assert HANDLERS.keys() == m.MUTATION_TYPES.keys()


def content_hash(mutation: Mutation) -> str:
    canonical = json.dumps(
        {"type": mutation.type, "data": mutation.data},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _replay(record: MutationRecord, digest: str) -> MutationResult:
    """The answer for a mutation id seen before: the same outcome, never a second effect."""
    if record.content_hash != digest:
        return _rejected(
            record.id, "id_conflict", "this mutation id was already used for other content"
        )
    if record.status == "applied":
        return MutationResult(id=record.id, status="duplicate")
    # A refusal is final: repeating it (not "duplicate") keeps it in front of its author.
    return _rejected(record.id, record.error_code or "rejected", record.error_message or "")


def _rejected(mutation_id: uuid.UUID, code: str, message: str) -> MutationResult:
    return MutationResult(
        id=mutation_id, status="rejected", error=ErrorDetail(code=code, message=message)
    )


def push(
    session: Session, caller: Caller, mutations: list[Mutation], now: datetime
) -> list[MutationResult]:
    user = session.get_one(User, caller.user_id)
    viewer = policy.load_viewer(session, user, now)
    known: dict[uuid.UUID, MutationRecord] = {}
    ids = [mu.id for mu in mutations]
    for i in range(0, len(ids), 500):
        known.update(
            (r.id, r)
            for r in session.scalars(
                select(MutationRecord).where(MutationRecord.id.in_(ids[i : i + 500]))
            )
        )
    results = []
    for mutation in mutations:
        digest = content_hash(mutation)
        record = known.get(mutation.id)
        if record is not None:
            results.append(_replay(record, digest))
            continue
        record, fresh = _apply(session, caller, viewer, mutation, digest, now)
        known[mutation.id] = record
        if not fresh:
            results.append(_replay(record, digest))
        elif record.status == "applied":
            results.append(MutationResult(id=mutation.id, status="applied"))
        else:
            results.append(
                _rejected(record.id, record.error_code or "", record.error_message or "")
            )
    return results


def _apply(
    session: Session,
    caller: Caller,
    viewer: policy.Viewer,
    mutation: Mutation,
    digest: str,
    now: datetime,
) -> tuple[MutationRecord, bool]:
    """Apply one mutation in a savepoint; returns its ledger record and whether it is new."""
    record = MutationRecord(
        id=mutation.id,
        org_id=caller.org_id,
        user_id=caller.user_id,
        device_id=caller.device_id,
        type=mutation.type,
        content_hash=digest,
        status="applied",
        client_time=mutation.client_time,
        received_at=now,
    )
    mark = len(pending_changes(session))
    try:
        try:
            data = m.parse_mutation_data(mutation.type, mutation.data)
        except m.UnknownMutationType as exc:
            raise Rejected("unknown_type", str(exc)) from None
        except ValidationError as exc:
            raise Rejected("invalid_data", m.describe_validation_error(exc)) from None
        with session.begin_nested():
            HANDLERS[mutation.type](session, viewer, data, mutation.client_time, now)
            session.add(record)
        return record, True
    except Rejected as refusal:
        discard_changes_after(session, mark)
        log.info("rejected %s mutation: %s", mutation.type, refusal.code)
        record.status = "rejected"
        record.error_code = refusal.code
        record.error_message = refusal.message[:1000]
        record.payload = {"type": mutation.type, "data": mutation.data}
    except IntegrityError:
        # Another request stored this id (or the entity's id) first: answer as a replay.
        discard_changes_after(session, mark)
        existing = _stored(session, mutation.id)
        if existing is not None:
            return existing, False
        record.status = "rejected"
        record.error_code = "id_conflict"
        record.error_message = "an entity with this id already exists"
        record.payload = {"type": mutation.type, "data": mutation.data}
    try:
        with session.begin_nested():
            session.add(record)
    except IntegrityError:
        existing = _stored(session, mutation.id)
        if existing is None:
            raise
        return existing, False
    return record, True


def _stored(session: Session, mutation_id: uuid.UUID) -> MutationRecord | None:
    return session.scalar(
        select(MutationRecord)
        .where(MutationRecord.id == mutation_id)
        .execution_options(populate_existing=True)
    )
