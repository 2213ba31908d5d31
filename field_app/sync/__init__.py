"""The field app's sync: SyncClient (sign-in, push, pull, live stream) and SyncLoop (when).

No UI here; screens read SyncLoop.status and call request_sync().
"""

from field_app.sync.backoff import Backoff
from field_app.sync.client import (
    AvailabilityRefused,
    PreferencesRefused,
    PullReport,
    SyncClient,
    SyncReport,
    UnsentChanges,
    normalise_server,
    request_token,
)
from field_app.sync.errors import (
    LoginRefused,
    Offline,
    RetryLater,
    ServerTrouble,
    SignedOut,
    SyncError,
    UpdateRequired,
)
from field_app.sync.loop import SyncLoop, SyncStatus

__all__ = [
    "AvailabilityRefused",
    "Backoff",
    "LoginRefused",
    "Offline",
    "PreferencesRefused",
    "PullReport",
    "RetryLater",
    "ServerTrouble",
    "SignedOut",
    "SyncClient",
    "SyncError",
    "SyncLoop",
    "SyncReport",
    "SyncStatus",
    "UnsentChanges",
    "UpdateRequired",
    "normalise_server",
    "request_token",
]
