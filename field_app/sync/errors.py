"""Why a sync did not happen, in the terms the app shows: offline, signed out, update needed.

Messages carry status codes and error codes only, never request bodies or note text.
"""

from __future__ import annotations


class SyncError(Exception):
    """Base of every sync failure."""


class RetryLater(SyncError):
    """Nothing was lost: queued mutations stay queued and the next attempt is safe."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class Offline(RetryLater):
    """The server could not be reached, or the answer was lost on the way."""


class ServerTrouble(RetryLater):
    """The server answered, but not with something to act on (5xx, 429, an odd answer)."""

    def __init__(self, status: int, code: str | None, retry_after: float | None = None) -> None:
        super().__init__(f"server answered {status} {code or ''}".strip(), retry_after)
        self.status = status
        self.code = code


class SignedOut(SyncError):
    """The token no longer works (revoked, disabled account) or there is none: sign in again."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class LoginRefused(SyncError):
    """Wrong login or password (`invalid_credentials`), or too many attempts."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class UpdateRequired(SyncError):
    """The server speaks another protocol version: this app must be updated."""
