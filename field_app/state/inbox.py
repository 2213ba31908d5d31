"""The counsellor's side: the inbox of deliveries addressed to them, new ones first, then by
severity and deadline, and one worker's timeline of notes, follow-ups and heads-ups."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from field_app.state.records import Note
from shared_models.entities import DeliveryData, FollowUpData, HeadsUpData, WorkerData
from shared_models.vocabulary import SEVERITY_RANK, MutationType, NoteStatus

_FAR = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True)
class InboxItem:
    note: Note
    delivery: DeliveryData
    worker: WorkerData | None
    group_count: int
    acknowledged: bool  # by me, or my acknowledgement is queued
    overdue: bool

    @property
    def note_id(self) -> str:
        return self.note.id

    @property
    def new(self) -> bool:
        """Not opened yet (no delivery.seen, sent or queued) and not handled."""
        opened = self.delivery.seen_at or MutationType.DELIVERY_SEEN in self.note.pending
        return not self.acknowledged and not opened

    @property
    def due_at(self) -> datetime | None:
        return self.delivery.due_at


def inbox(
    notes: Iterable[Note], workers: Mapping[uuid.UUID, WorkerData], me: uuid.UUID, moment: datetime
) -> list[InboxItem]:
    """Notes delivered to me and not closed: what to handle first, first.

    A grouped alert shows once, on its lead note, with "×N" counted from the notes here
    (the lead is not re-sent when a signal joins it); the notes grouped into it are on the
    worker's timeline. A signal whose alert is not listed (retracted, closed) shows on its own.
    """
    mine = []
    for note in notes:
        if note.status not in (NoteStatus.OPEN, NoteStatus.ACKNOWLEDGED):
            continue
        delivery = note.delivery_to(me)
        if delivery is not None:
            mine.append((note, delivery))
    listed = {note.id for note, _ in mine}
    joined = Counter(str(d.grouped_into) for _, d in mine if str(d.grouped_into) in listed)
    items = []
    for note, delivery in mine:
        if str(delivery.grouped_into) in listed:
            continue
        acknowledged = bool(
            delivery.acknowledged_at
            or MutationType.NOTE_ACKNOWLEDGE in note.pending
            or MutationType.NOTE_FOLLOW_UP in note.pending
        )
        due_at = delivery.due_at
        items.append(
            InboxItem(
                note=note,
                delivery=delivery,
                worker=workers.get(note.data.worker_id) if note.data.worker_id else None,
                group_count=1 + joined[note.id],
                acknowledged=acknowledged,
                overdue=bool(due_at and due_at < moment and not acknowledged),
            )
        )
    return sorted(items, key=inbox_order)


def inbox_order(item: InboxItem) -> tuple[object, ...]:
    """Unhandled first, and among them the new ones (not opened yet) on top, where they are
    seen without scrolling; then urgent, attention, info; then the nearest deadline."""
    return (
        item.acknowledged,
        not item.new,
        SEVERITY_RANK[item.note.data.severity],
        item.due_at or _FAR,
        item.delivery.delivered_at,
    )


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    item: Note | FollowUpData | HeadsUpData
    answers: Note | None = None  # for a follow-up: the note it answers


def timeline(
    notes: Iterable[Note], follow_ups: Iterable[FollowUpData], heads_ups: Iterable[HeadsUpData]
) -> list[TimelineEntry]:
    """Everything about one worker in one list, newest first: `notes` and `heads_ups` are
    theirs; the follow-ups that answer one of those notes are kept."""
    by_id = {n.id: n for n in notes}
    entries = [TimelineEntry(n.captured_at, n) for n in by_id.values()]
    for follow_up in follow_ups:
        answered = by_id.get(str(follow_up.note_id))
        if answered is not None:
            entries.append(TimelineEntry(follow_up.created_at, follow_up, answers=answered))
    entries += [TimelineEntry(h.created_at, h) for h in heads_ups]
    return sorted(entries, key=lambda e: e.at, reverse=True)


def counselled_workers(workers: Iterable[WorkerData], me: uuid.UUID) -> list[WorkerData]:
    """Workers this user follows (as counsellor or as the stand-in of an away colleague):
    the server sends a counsellor exactly those. Their own first, then by name."""
    return sorted(workers, key=lambda w: (w.counsellor_id != me, w.display_name))
