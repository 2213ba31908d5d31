"""What the author of a note sees of it: its progress (queued, sent, seen, acknowledged,
closed, rejected, retracted), and whether it may still be retracted."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from field_app.state.records import Note
from field_app.store import LocalStatus
from shared_models.vocabulary import MutationType, NoteStatus

RETRACT_WINDOW = timedelta(hours=24)


def progress(view: Note) -> str:
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
    if any(d.acknowledged_at for d in view.deliveries):
        return NoteStatus.ACKNOWLEDGED
    if any(d.seen_at for d in view.deliveries):
        return LocalStatus.SEEN
    return LocalStatus.SENT


def is_mine(view: Note, user_id: uuid.UUID) -> bool:
    """Unsynced notes are always this device's user's; synced ones say who wrote them."""
    return view.author_id is None or view.author_id == user_id


def can_retract(view: Note, user_id: uuid.UUID, moment: datetime) -> bool:
    if not is_mine(view, user_id) or progress(view) in (
        NoteStatus.RETRACTED,
        LocalStatus.REJECTED,
    ):
        return False
    return moment - view.captured_at < RETRACT_WINDOW
