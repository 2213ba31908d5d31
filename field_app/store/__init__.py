"""The field app's local store: one sqlite3 file per (user, device), crash-safe per operation.

Synced entities, the outbox of queued mutations, sent and rejected ones, cursor and sign-in.
"""

from field_app.store.local import (
    Credentials,
    InvalidMutation,
    LocalStatus,
    LocalStore,
    NoteView,
    OutboxCounts,
    PushOutcome,
    QueuedMutation,
    RejectedMutation,
    StoreBelongsToAnotherUser,
)
from field_app.store.paths import default_data_dir, store_path

__all__ = [
    "Credentials",
    "InvalidMutation",
    "LocalStatus",
    "LocalStore",
    "NoteView",
    "OutboxCounts",
    "PushOutcome",
    "QueuedMutation",
    "RejectedMutation",
    "StoreBelongsToAnotherUser",
    "default_data_dir",
    "store_path",
]
