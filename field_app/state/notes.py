"""What the author of a note sees of it: its progress (queued, sent, seen, acknowledged,
closed, rejected, retracted), and whether it may still be retracted."""

from __future__ import annotations

import uuid
from datetime import datetime

from field_app.state.records import Note
from field_app.store import LocalStatus
from shared_models.vocabulary import MutationType, NoteStatus, within_retract_window


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
    """The server's rule: within the window from when the note reached the server. A note
    the server has not sent back yet reached it moments ago, or has not yet: still open."""
    if not is_mine(view, user_id) or progress(view) in (
        NoteStatus.RETRACTED,
        LocalStatus.REJECTED,
    ):
        return False
    received_at = view.received_at
    return received_at is None or within_retract_window(received_at, moment)
