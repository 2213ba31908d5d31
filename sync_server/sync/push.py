"""Push: apply a batch of queued mutations, each at most once, each on its own.

The mutation id is the idempotency key across all devices and all time. Each mutation runs
in its own savepoint, so a refused one is rolled back alone, stored with its reason, and
never blocks the others.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import typing
import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, TypeAdapter, ValidationError
from sqlalchemy import select
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import FlushError

from shared_models import mutations as m
from shared_models.fields import Moment
from shared_models.vocabulary import MutationType, NoteKind
from shared_models.wire import (
    MAX_MUTATIONS_PER_PUSH,
    ErrorDetail,
    Mutation,
    MutationResult,
    Protocol,
)
from sync_server import policy
from sync_server.auth.service import Caller
from sync_server.notes import service as notes
from sync_server.notes.models import FollowUp, HeadsUp, Note
from sync_server.notes.service import Rejected
from sync_server.orgs.models import Team, Worker
from sync_server.routing import service as routing
from sync_server.sync.batch import PushBatch
from sync_server.sync.changelog import discard_changes_after, pending_changes
from sync_server.sync.models import MutationRecord

log = logging.getLogger(__name__)


class Handler(typing.Protocol):
    """What applies one mutation type: its data already validated, the caller's viewer,
    the server's time (never the client's) and the push's batch."""

    def __call__(
        self,
        session: Session,
        *,
        viewer: policy.Viewer,
        data: Any,
        now: datetime,
        batch: PushBatch | None = None,
    ) -> object: ...


HANDLERS: dict[MutationType, Handler] = {
    MutationType.NOTE_CREATE: notes.create_note,
    MutationType.NOTE_RETRACT: notes.retract_note,
    MutationType.NOTE_ACKNOWLEDGE: notes.acknowledge_note,
    MutationType.NOTE_FOLLOW_UP: notes.follow_up,
    MutationType.HEADS_UP_CREATE: notes.create_heads_up,
    MutationType.DELIVERY_SEEN: notes.mark_seen,
    MutationType.HEADS_UP_END: notes.end_heads_up,
}
assert HANDLERS.keys() == m.MUTATION_TYPES.keys()


class IncomingMutation(BaseModel):
    """A mutation as read by the server: only `id` must be right (results are keyed by it).

    Anything else wrong in it is that mutation's own rejection, never the whole batch's, so
    that one malformed entry cannot block a device's queue.
    """

    id: uuid.UUID
    type: Any = None
    data: Any = None
    client_time: Any = None


_CLIENT_TIME = TypeAdapter(Moment)


class IncomingPush(BaseModel):
    protocol: Protocol
    mutations: list[IncomingMutation] = Field(max_length=MAX_MUTATIONS_PER_PUSH)


def content_hash(mutation: IncomingMutation) -> str:
    canonical = json.dumps(
        {"type": mutation.type, "data": mutation.data},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def _outcome(row: dict[str, Any]) -> MutationResult:
    """The answer for a mutation this push stored (`row`: its ledger row)."""
    if row["status"] == "applied":
        return MutationResult(id=row["id"], status="applied")
    return _rejected(row["id"], row.get("error_code") or "", row.get("error_message") or "")


def _replay(record: MutationRecord, digest: str, caller: Caller) -> MutationResult:
    """The answer for a mutation id seen before: the same outcome, never a second effect."""
    if record.content_hash != digest or record.user_id != caller.user_id:
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
    session: Session, caller: Caller, mutations: list[IncomingMutation], now: datetime
) -> list[MutationResult]:
    """Apply a batch: fast (one flush for all) and, if that meets a conflict, one by one."""
    batch = _load_batch(session, caller, mutations, now)
    viewer = policy.load_viewer(session, batch.members[caller.user_id], now)
    mark = len(pending_changes(session))
    try:
        with session.begin_nested(), session.no_autoflush:
            results = _run(session, caller, viewer, batch, mutations, now, careful=False)
            batch.write(session)
            session.flush()
        return results
    except (IntegrityError, DataError, FlushError):
        # A concurrent request stored one of these ids first, the batch repeats an entity
        # id, or a value the database refuses: redo it one by one, each in a savepoint.
        _rolled_back(session, batch, mark)
        return _run(session, caller, viewer, batch, mutations, now, careful=True)


def _run(
    session: Session,
    caller: Caller,
    viewer: policy.Viewer,
    batch: PushBatch,
    mutations: list[IncomingMutation],
    now: datetime,
    *,
    careful: bool,
) -> list[MutationResult]:
    known = _known_records(session, [mu.id for mu in mutations])
    stored: dict[uuid.UUID, dict[str, Any]] = {}  # the ledger rows of this push
    results = []
    for mutation in mutations:
        digest = content_hash(mutation)
        record = known.get(mutation.id)
        if record is None and mutation.id in stored:
            record = MutationRecord(**stored[mutation.id])  # a copy, to answer the repeat
        if record is not None:
            results.append(_replay(record, digest, caller))
            continue
        if careful:
            row, existing = _apply_carefully(session, caller, viewer, batch, mutation, digest, now)
            if existing is not None:
                known[mutation.id] = existing
                results.append(_replay(existing, digest, caller))
                continue
        else:
            if not (isinstance(mutation.type, str) and mutation.type in _CREATES):
                # It may refer to rows created earlier in this batch.
                batch.write(session)
                session.flush()
            row = _apply(session, caller, viewer, batch, mutation, digest, now)
        stored[mutation.id] = row
        results.append(_outcome(row))
    return results


# Mutations that only create rows: a batch of them needs no flush in between.
_CREATES = frozenset({MutationType.NOTE_CREATE, MutationType.HEADS_UP_CREATE})


_CREATED: dict[MutationType, type[Note | FollowUp | HeadsUp]] = {
    MutationType.NOTE_CREATE: Note,
    MutationType.NOTE_FOLLOW_UP: FollowUp,
    MutationType.HEADS_UP_CREATE: HeadsUp,
}


def _uuids(
    mutations: list[IncomingMutation], key: str, types: Collection[str] | None = None
) -> set[uuid.UUID]:
    values = set()  # each text parsed once: a backlog names the same few workers and teams
    for mutation in mutations:
        value = mutation.data.get(key) if isinstance(mutation.data, dict) else None
        typed = isinstance(mutation.type, str) and (types is None or mutation.type in types)
        if isinstance(value, str) and typed:
            values.add(value)
    out = set()
    for value in values:
        with contextlib.suppress(ValueError):
            out.add(uuid.UUID(value))
    return out


def _signals(mutations: list[IncomingMutation]) -> set[tuple[uuid.UUID, str, str]]:
    """The (worker, category, severity) of the batch's new signals, as sent: a value the
    validation changes only costs that note a query of its own (`OpenAlerts.known`)."""
    out = set()
    for mutation in mutations:
        data = mutation.data
        if mutation.type != MutationType.NOTE_CREATE or not isinstance(data, dict):
            continue
        if data.get("kind") != NoteKind.SIGNAL or not isinstance(data.get("worker_id"), str):
            continue
        category, severity = data.get("category"), data.get("severity")
        if isinstance(category, str) and isinstance(severity, str):
            with contextlib.suppress(ValueError):
                out.add((uuid.UUID(data["worker_id"]), category, severity))
    return out


def _load_batch(
    session: Session, caller: Caller, mutations: list[IncomingMutation], now: datetime
) -> PushBatch:
    """Load what the batch refers to in a few queries, for the whole push."""
    batch = PushBatch.load(session, caller.org_id)
    referred: tuple[tuple[type[Worker | Team | Note], str], ...] = (
        (Worker, "worker_id"),
        (Team, "team_id"),
        (Note, "note_id"),
    )
    for model, key in referred:
        ids = list(_uuids(mutations, key))
        for i in range(0, len(ids), 500):
            query = select(model.id, model).where(model.id.in_(ids[i : i + 500]))
            for row_id, row in session.execute(query):
                batch.held[model, row_id] = row
    for type_, created in _CREATED.items():
        wanted = list(_uuids(mutations, "id", {type_}))
        for i in range(0, len(wanted), 500):
            chunk = wanted[i : i + 500]
            taken = set(session.scalars(select(created.id).where(created.id.in_(chunk))))
            batch.fresh_ids.update(set(chunk) - taken)
    workers = {w.id: w for (model, _), w in batch.held.items() if model is Worker}
    # The author, and whom the notes go to: the workers' counsellors and their stand-ins.
    batch.members.preload([caller.user_id, *(w.counsellor_id for w in workers.values())])
    counsellors = [batch.members.get(w.counsellor_id) for w in workers.values() if w.counsellor_id]
    batch.members.preload(c.stand_in_id for c in counsellors if c is not None)
    signals = [signal for signal in _signals(mutations) if signal[0] in workers]
    batch.alerts = routing.load_open_alerts(session, batch.organisation, signals, now)
    return batch


def _known_records(session: Session, ids: list[uuid.UUID]) -> dict[uuid.UUID, MutationRecord]:
    known: dict[uuid.UUID, MutationRecord] = {}
    for i in range(0, len(ids), 500):
        query = select(MutationRecord).where(MutationRecord.id.in_(ids[i : i + 500]))
        known.update(
            (r.id, r) for r in session.scalars(query.execution_options(populate_existing=True))
        )
    return known


def _new_record(
    caller: Caller, mutation: IncomingMutation, digest: str, now: datetime
) -> dict[str, Any]:
    """The mutation's ledger row (`MutationRecord`), applied until `_quarantine` says not."""
    try:
        client_time: datetime | None = _CLIENT_TIME.validate_python(mutation.client_time)
    except ValidationError:
        client_time = None
    return {
        "id": mutation.id,
        "org_id": caller.org_id,
        "user_id": caller.user_id,
        "device_id": caller.device_id,
        "type": _storable(str(mutation.type))[:100],
        "content_hash": digest,
        "status": "applied",
        "client_time": client_time,
        "received_at": now,
    }


def _handle(
    session: Session,
    viewer: policy.Viewer,
    batch: PushBatch,
    incoming: IncomingMutation,
    now: datetime,
) -> None:
    """Validate and apply one mutation. Handlers check everything before changing anything,
    so a `Rejected` leaves no trace."""
    try:
        mutation = Mutation.model_validate(incoming.model_dump())
    except ValidationError as exc:
        raise Rejected("invalid_data", m.describe_validation_error(exc)) from None
    try:
        data = m.parse_mutation_data(mutation.type, mutation.data)
    except m.UnknownMutationType as exc:
        raise Rejected("unknown_type", str(exc)) from None
    except ValidationError as exc:
        raise Rejected("invalid_data", m.describe_validation_error(exc)) from None
    HANDLERS[MutationType(mutation.type)](session, viewer=viewer, data=data, now=now, batch=batch)


def _quarantine(
    record: dict[str, Any], mutation: IncomingMutation, code: str, message: str
) -> None:
    log.info("rejected a mutation: %s", code)
    record["status"] = "rejected"
    record["error_code"] = code
    record["error_message"] = _storable(message)[:1000]
    record["payload"] = _storable({"type": mutation.type, "data": mutation.data})


def _storable(value: Any) -> Any:
    """A copy any database accepts, whatever the client sent: NUL characters and lone
    surrogates replaced, non-finite numbers as text."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {_storable(str(k)): _storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_storable(v) for v in value]
    return value


def _apply(
    session: Session,
    caller: Caller,
    viewer: policy.Viewer,
    batch: PushBatch,
    mutation: IncomingMutation,
    digest: str,
    now: datetime,
) -> dict[str, Any]:
    record = _new_record(caller, mutation, digest, now)
    try:
        _handle(session, viewer, batch, mutation, now)
    except Rejected as refusal:
        _quarantine(record, mutation, refusal.code, refusal.message)
    batch.add(MutationRecord, [record])
    return record


def _apply_carefully(
    session: Session,
    caller: Caller,
    viewer: policy.Viewer,
    batch: PushBatch,
    mutation: IncomingMutation,
    digest: str,
    now: datetime,
) -> tuple[dict[str, Any], MutationRecord | None]:
    """Apply one mutation in its own savepoint; returns its ledger row and, if another
    request stored this id first, that request's record instead."""
    record = _new_record(caller, mutation, digest, now)
    mark = len(pending_changes(session))
    try:
        with session.begin_nested():
            _handle(session, viewer, batch, mutation, now)
            batch.add(MutationRecord, [record])
            batch.write(session)
        return record, None
    except Rejected as refusal:
        _rolled_back(session, batch, mark)
        _quarantine(record, mutation, refusal.code, refusal.message)
    except DataError:
        _rolled_back(session, batch, mark)
        _quarantine(record, mutation, "invalid_data", "a value the database cannot store")
    except IntegrityError:
        # Another request stored this id (or the entity's id) first: answer as a replay.
        _rolled_back(session, batch, mark)
        existing = _stored(session, mutation.id)
        if existing is not None:
            return record, existing
        _quarantine(record, mutation, "id_conflict", "an entity with this id already exists")
    try:
        with session.begin_nested():
            batch.add(MutationRecord, [record])
            batch.write(session)
    except IntegrityError:
        _rolled_back(session, batch, len(pending_changes(session)))
        existing = _stored(session, mutation.id)
        if existing is None:
            raise
        return record, existing
    return record, None


def _rolled_back(session: Session, batch: PushBatch, mark: int) -> None:
    """A savepoint was rolled back: forget what it recorded, the rows it had not inserted
    yet, and the alerts it may have led."""
    discard_changes_after(session, mark)
    batch.rows.clear()
    batch.alerts.forget()


def _stored(session: Session, mutation_id: uuid.UUID) -> MutationRecord | None:
    return session.scalar(
        select(MutationRecord)
        .where(MutationRecord.id == mutation_id)
        .execution_options(populate_existing=True)
    )
