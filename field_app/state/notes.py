"""What the author of a note sees of it: its progress (queued, sent, seen, acknowledged,
closed, rejected, retracted), who received it, and whether it may still be retracted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from field_app.state.records import Entity, parse_time
from field_app.store import LocalStatus, LocalStore, NoteView
from shared_models.vocabulary import MutationType, NoteStatus

RETRACT_WINDOW = timedelta(hours=24)


def progress(view: NoteView) -> str:
    """The one status word a supervisor needs, from the merged local and server view."""
    if MutationType.NOTE_RETRACT in view.pending:
        return NoteStatus.RETRACTED
    if view.status in (
        LocalStatus.QUEUED,
        LocalStatus.SENT,
        LocalStatus.REJECTED,
        NoteStatus.RETRACTED,
        NoteStatus.CLOSED,
        NoteStatus.ACKNOWLEDGED,
    ):
        return view.status
    deliveries = view.data.get("deliveries") or []
    if any(d.get("acknowledged_at") for d in deliveries):
        return NoteStatus.ACKNOWLEDGED
    if any(d.get("seen_at") for d in deliveries):
        return LocalStatus.SEEN
    return LocalStatus.SENT


def is_mine(view: NoteView, user_id: str) -> bool:
    """Unsynced notes are always this device's user's; synced ones say who wrote them."""
    author = view.data.get("author_id")
    return author is None or author == user_id


def my_notes(store: LocalStore, user_id: str) -> list[NoteView]:
    return [v for v in store.notes_view() if is_mine(v, user_id)]


def can_retract(view: NoteView, user_id: str, moment: datetime) -> bool:
    if not is_mine(view, user_id) or progress(view) in (
        NoteStatus.RETRACTED,
        LocalStatus.REJECTED,
    ):
        return False
    return moment - view.captured_at < RETRACT_WINDOW


@dataclass(frozen=True)
class DeliveryLine:
    recipient: str
    reason: str
    delivered_at: datetime | None
    seen_at: datetime | None
    acknowledged_at: datetime | None


def delivery_lines(view: NoteView) -> list[DeliveryLine]:
    """ "Delivered to Sophie at 10:40, seen at 10:42, acknowledged at 11:05", per recipient."""
    lines = []
    for d in view.data.get("deliveries") or []:
        lines.append(
            DeliveryLine(
                recipient=str(d.get("recipient_name") or ""),
                reason=str(d.get("reason") or ""),
                delivered_at=parse_time(d.get("delivered_at")),
                seen_at=parse_time(d.get("seen_at")),
                acknowledged_at=parse_time(d.get("acknowledged_at")),
            )
        )
    return lines


def my_delivery(note: Entity, user_id: str) -> Entity | None:
    for d in note.get("deliveries") or []:
        if d.get("recipient_id") == user_id:
            return d
    return None
