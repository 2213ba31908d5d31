"""What people do with notes: write, retract, acknowledge, follow up, mark seen, warn back.

Each function checks the caller through the policy, changes rows, and records what changed
for pull. It raises `Rejected` (a final, stored refusal) rather than an HTTP error, because
these run inside push, one mutation at a time. All share one keyword-only signature (push's
`Handler`): the viewer, the mutation's data, the server's time and the push's batch (loaded
here when called alone).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared_models import mutations as m
from shared_models.vocabulary import RETRACT_WINDOW, EntityType, NoteStatus
from sync_server import policy
from sync_server.notes.models import FollowUp, HeadsUp, Note
from sync_server.orgs.models import Team, Worker
from sync_server.routing import service as routing
from sync_server.routing.models import Delivery
from sync_server.sync.batch import PushBatch
from sync_server.sync.changelog import record_change
from sync_server.sync.entities import VisibilityChange


def _id_taken(
    session: Session,
    model: type[Note | FollowUp | HeadsUp],
    entity_id: uuid.UUID,
    batch: PushBatch | None,
) -> bool:
    if batch is not None and batch.claim_fresh(entity_id):
        return False
    return session.get(model, entity_id) is not None


class Rejected(Exception):
    """A mutation refused for good, with a stable code the app shows to its author."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _visible_note(session: Session, viewer: policy.Viewer, note_id: uuid.UUID) -> Note:
    note = session.get(Note, note_id)
    # Not visible and not existing look the same: no one learns about notes they can't see.
    acted = policy.load_acted(session, [note]).get(note.id, ()) if note is not None else ()
    if note is None or not policy.can_see_note(viewer, note, acted):
        raise Rejected("not_found", "no such note")
    return note


def _own_deliveries(session: Session, viewer: policy.Viewer, note: Note) -> list[Delivery]:
    return list(
        session.scalars(
            select(Delivery).where(
                Delivery.note_id == note.id, Delivery.recipient_id == viewer.user_id
            )
        )
    )


def create_note(
    session: Session,
    *,
    viewer: policy.Viewer,
    data: m.NoteCreate,
    now: datetime,
    batch: PushBatch | None = None,
) -> None:
    alone = batch is None
    batch = batch or PushBatch.load(session, viewer.org_id)
    if _id_taken(session, Note, data.id, batch):
        raise Rejected("id_conflict", "a note with this id already exists")
    team = batch.get(session, Team, data.team_id)
    if team is None or team.org_id != viewer.org_id:
        raise Rejected("not_found", "no such team")
    worker = batch.get(session, Worker, data.worker_id) if data.worker_id else None
    if data.worker_id and (worker is None or worker.org_id != viewer.org_id):
        raise Rejected("not_found", "no such worker")
    if worker is not None and worker.team_id != team.id:
        raise Rejected("forbidden", "this worker is no longer in this team")
    if not policy.may_write_note(viewer, worker, team.id):
        raise Rejected("forbidden", "you may not write notes about this worker or team")
    note = routing.NoteFacts(
        id=data.id,
        author_id=viewer.user_id,
        worker_id=data.worker_id,
        kind=data.kind.value,
        category=data.category,
        severity=data.severity.value,
    )
    row = {
        **note._asdict(),
        "org_id": viewer.org_id,
        "team_id": team.id,
        "text": data.text,
        # A phone whose clock runs ahead cannot date a note in the future.
        "captured_at": min(data.captured_at, now),
        "received_at": now,
        "status": NoteStatus.OPEN.value,
    }
    record_change(session, viewer.org_id, EntityType.NOTE, note.id)
    batch.add(Note, [row])
    deliveries = routing.route_note(
        session,
        note,
        org=batch.organisation,
        worker=worker,
        members=batch.members,
        coordinators=batch.coordinators,
        alerts=batch.alerts,
        now=now,
    )
    batch.add(Delivery, deliveries)
    if alone:
        batch.write(session)


def retract_note(
    session: Session,
    *,
    viewer: policy.Viewer,
    data: m.NoteRetract,
    now: datetime,
    batch: PushBatch | None = None,
) -> None:
    """Judged by the server's clock only: a phone's clock, right or wrong, never reopens the
    window. Recipients who acted on the note keep it (policy); the others are told to drop
    it, and its alerts pass to the next signal of their group."""
    note = _visible_note(session, viewer, data.note_id)
    if note.status == NoteStatus.RETRACTED and note.author_id == viewer.user_id:
        return  # retracted already (from another of the author's devices)
    if not policy.may_retract(viewer, note, now):
        raise Rejected(
            "forbidden",
            "only the author may retract a note, within "
            f"{RETRACT_WINDOW // timedelta(hours=1)} hours of it reaching the server",
        )
    follow_up_ids = session.scalars(select(FollowUp.id).where(FollowUp.note_id == note.id)).all()
    change = VisibilityChange(
        session,
        note.org_id,
        [(EntityType.NOTE, note.id)] + [(EntityType.FOLLOW_UP, f) for f in follow_up_ids],
    )
    note.status = NoteStatus.RETRACTED.value
    note.retracted_at = now
    note.retract_reason = data.reason
    routing.release_alerts(session, note, batch.alerts if batch else routing.OpenAlerts())
    change.record()


def acknowledge_note(
    session: Session,
    *,
    viewer: policy.Viewer,
    data: m.NoteAcknowledge,
    now: datetime,
    batch: PushBatch | None = None,
) -> None:
    note = _visible_note(session, viewer, data.note_id)
    if note.status == NoteStatus.RETRACTED:
        raise Rejected("retracted", "this note was retracted by its author")
    own = _own_deliveries(session, viewer, note)
    if not policy.may_acknowledge(viewer, (d.recipient_id for d in own)):
        raise Rejected("forbidden", "only a recipient of the note may acknowledge it")
    _acknowledge(session, own, now)


def _acknowledge(session: Session, own: list[Delivery], now: datetime) -> None:
    """Acknowledge the recipient's deliveries, and with them their whole alert group (never
    a retracted note of it: that would be acting on a note the recipient no longer has)."""
    for delivery in own:
        for d in routing.alert_group(session, delivery):
            if d.recipient_id != delivery.recipient_id or d.acknowledged_at is not None:
                continue
            note = session.get_one(Note, d.note_id)
            if note.status == NoteStatus.RETRACTED:
                continue
            d.acknowledged_at = now
            d.seen_at = d.seen_at or now
            if note.status == NoteStatus.OPEN:
                note.status = NoteStatus.ACKNOWLEDGED.value
            record_change(session, note.org_id, EntityType.NOTE, note.id)


def follow_up(
    session: Session,
    *,
    viewer: policy.Viewer,
    data: m.NoteFollowUp,
    now: datetime,
    batch: PushBatch | None = None,
) -> None:
    if _id_taken(session, FollowUp, data.id, batch):
        raise Rejected("id_conflict", "a follow-up with this id already exists")
    note = _visible_note(session, viewer, data.note_id)
    if not policy.may_follow_up(viewer, note):
        raise Rejected("forbidden", "only the worker's counsellor or a coordinator follows up")
    if note.status == NoteStatus.RETRACTED:
        raise Rejected("retracted", "this note was retracted by its author")
    session.add(
        FollowUp(
            id=data.id,
            org_id=note.org_id,
            note_id=note.id,
            author_id=viewer.user_id,
            action=data.action.value,
            text=data.text,
            close=data.close,
            created_at=now,
        )
    )
    if data.close:
        note.status = NoteStatus.CLOSED.value
    elif note.status == NoteStatus.OPEN:
        note.status = NoteStatus.ACKNOWLEDGED.value
    _acknowledge(session, _own_deliveries(session, viewer, note), now)
    record_change(session, note.org_id, EntityType.FOLLOW_UP, data.id)
    record_change(session, note.org_id, EntityType.NOTE, note.id)


def mark_seen(
    session: Session,
    *,
    viewer: policy.Viewer,
    data: m.DeliverySeen,
    now: datetime,
    batch: PushBatch | None = None,
) -> None:
    note = _visible_note(session, viewer, data.note_id)
    own = _own_deliveries(session, viewer, note)
    if not own:
        raise Rejected("forbidden", "only a recipient of the note marks it seen")
    changed = False
    for d in own:
        if d.seen_at is None:
            d.seen_at = now
            changed = True
    if changed:
        record_change(session, note.org_id, EntityType.NOTE, note.id)


def create_heads_up(
    session: Session,
    *,
    viewer: policy.Viewer,
    data: m.HeadsUpCreate,
    now: datetime,
    batch: PushBatch | None = None,
) -> HeadsUp:
    if _id_taken(session, HeadsUp, data.id, batch):
        raise Rejected("id_conflict", "a heads-up with this id already exists")
    worker = session.get(Worker, data.worker_id)
    if worker is None or not policy.can_see_worker(viewer, worker):
        raise Rejected("not_found", "no such worker")
    if not policy.may_send_heads_up(viewer, worker):
        raise Rejected("forbidden", "only the worker's counsellor or a coordinator sends heads-ups")
    heads_up = HeadsUp(
        id=data.id,
        org_id=worker.org_id,
        worker_id=worker.id,
        author_id=viewer.user_id,
        text=data.text.strip(),
        valid_until=data.valid_until,
        created_at=now,
    )
    session.add(heads_up)
    record_change(session, worker.org_id, EntityType.HEADS_UP, heads_up.id)
    return heads_up


def end_heads_up(
    session: Session,
    *,
    viewer: policy.Viewer,
    data: m.HeadsUpEnd,
    now: datetime,
    batch: PushBatch | None = None,
) -> HeadsUp:
    """Its author ends a heads-up early: it was valid until yesterday (UTC), so no client
    shows it any more today, whatever its time zone in Europe. Ending it again changes
    nothing."""
    heads_up = session.get(HeadsUp, data.heads_up_id)
    worker = session.get(Worker, heads_up.worker_id) if heads_up is not None else None
    if (
        heads_up is None
        or worker is None
        or not policy.can_see_heads_up(viewer, heads_up, worker.team_id)
    ):
        raise Rejected("not_found", "no such heads-up")
    if not policy.may_end_heads_up(viewer, heads_up):
        raise Rejected("forbidden", "only its author ends a heads-up")
    ended = now.astimezone(UTC).date() - timedelta(days=1)
    if heads_up.valid_until is None or heads_up.valid_until > ended:
        heads_up.valid_until = ended
        record_change(session, heads_up.org_id, EntityType.HEADS_UP, heads_up.id)
    return heads_up
