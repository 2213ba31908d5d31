"""The counsellor's side: the inbox of deliveries addressed to them, sorted by severity then
deadline, and one worker's timeline of notes, follow-ups and heads-ups."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from field_app.state.notes import my_delivery
from field_app.state.records import Entity, parse_time
from field_app.store import LocalStore, NoteView
from shared_models.vocabulary import SEVERITY_RANK, EntityType, MutationType, NoteStatus, Severity

_FAR = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True)
class InboxItem:
    view: NoteView
    delivery: Entity
    worker: Entity | None
    group_count: int
    acknowledged: bool  # by me, or my acknowledgement is queued
    due_at: datetime | None
    overdue: bool

    @property
    def note_id(self) -> str:
        return self.view.id


def inbox(store: LocalStore, user_id: str, moment: datetime) -> list[InboxItem]:
    """Notes delivered to me and not closed: what to handle first, first.

    A grouped alert shows once, on its lead note, with "×N"; the notes grouped into it are
    on the worker's timeline.
    """
    workers = {w["id"]: w for w in store.list_entities(EntityType.WORKER)}
    items = []
    for view in store.notes_view():
        if view.status not in (NoteStatus.OPEN, NoteStatus.ACKNOWLEDGED):
            continue
        delivery = my_delivery(view.data, user_id)
        if delivery is None or delivery.get("grouped_into"):
            continue
        acknowledged = bool(
            delivery.get("acknowledged_at")
            or MutationType.NOTE_ACKNOWLEDGE in view.pending
            or MutationType.NOTE_FOLLOW_UP in view.pending
        )
        due_at = parse_time(delivery.get("due_at"))
        items.append(
            InboxItem(
                view=view,
                delivery=delivery,
                worker=workers.get(view.data.get("worker_id") or ""),
                group_count=int(delivery.get("group_count") or 1),
                acknowledged=acknowledged,
                due_at=due_at,
                overdue=bool(due_at and due_at < moment and not acknowledged),
            )
        )
    return sorted(items, key=inbox_order)


def inbox_order(item: InboxItem) -> tuple[object, ...]:
    """Unhandled first; then urgent, attention, info; then the nearest deadline."""
    return (
        item.acknowledged,
        SEVERITY_RANK[Severity(item.view.data["severity"])],
        item.due_at or _FAR,
        parse_time(item.delivery.get("delivered_at")) or _FAR,
    )


@dataclass(frozen=True)
class TimelineEntry:
    kind: EntityType  # a note, a follow-up or a heads-up
    at: datetime
    data: Entity
    view: NoteView | None = None  # for notes
    note: Entity | None = None  # for follow-ups: the note they answer


def timeline(store: LocalStore, worker_id: str) -> list[TimelineEntry]:
    """Everything about one worker in one list, newest first."""
    notes = store.notes_view(worker_id=worker_id)
    by_id = {v.id: v.data for v in notes}
    entries = [TimelineEntry(EntityType.NOTE, v.captured_at, v.data, view=v) for v in notes]
    for follow_up in store.list_entities(EntityType.FOLLOW_UP):
        if follow_up["note_id"] in by_id:
            at = parse_time(follow_up["created_at"]) or _FAR
            entries.append(
                TimelineEntry(EntityType.FOLLOW_UP, at, follow_up, note=by_id[follow_up["note_id"]])
            )
    for heads_up in store.list_entities(EntityType.HEADS_UP, worker_id=worker_id):
        at = parse_time(heads_up["created_at"]) or _FAR
        entries.append(TimelineEntry(EntityType.HEADS_UP, at, heads_up))
    return sorted(entries, key=lambda e: e.at, reverse=True)


def counselled_workers(store: LocalStore, user_id: str) -> list[Entity]:
    """Workers this user follows (as counsellor or as the stand-in of an away colleague):
    the server sends a counsellor exactly those."""
    workers = store.list_entities(EntityType.WORKER, active=True)
    return sorted(workers, key=lambda w: (w.get("counsellor_id") != user_id, w["display_name"]))
