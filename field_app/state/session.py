"""AppSession: one person's signed-in session (store, sync client, sync loop) and the actions
the screens call. Each Flet session builds its own; nothing is shared between sessions."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx

from field_app.platform import Platform
from field_app.state.desk import ActionFailed, Desk
from field_app.state.device import DeviceFolder
from field_app.state.reads import Reads
from field_app.state.records import Note
from field_app.store import LocalStore
from field_app.sync import (
    AvailabilityRefused,
    LoginRefused,
    Offline,
    PreferencesRefused,
    RetryLater,
    SignedOut,
    SyncClient,
    SyncLoop,
    SyncStatus,
    normalise_server,
    request_token,
)
from shared_models.vocabulary import MutationType
from shared_models.wire import Preferences, UserInfo

log = logging.getLogger(__name__)

SIGN_IN_TIMEOUT = httpx.Timeout(15.0, connect=10.0)
STOP_TIMEOUT = 5.0

RunTask = Callable[..., "concurrent.futures.Future[Any]"]


@dataclass(frozen=True)
class AppConfig:
    server_url: str = ""
    data_dir: Path | None = None
    sync_interval: float = 30.0
    live: bool = True  # follow the server's poke stream
    platform: Platform = field(default_factory=Platform)

    @property
    def fixed_server(self) -> str | None:
        """The server the app must use (the PWA's own origin), or None: the user says."""
        return self.platform.server_url


class SignInFailed(Exception):
    """Why sign-in failed, as a catalog key the sign-in screen shows."""

    def __init__(self, message_key: str) -> None:
        super().__init__(message_key)
        self.message_key = message_key


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


class AppSession:
    """Owns the store and the sync of the signed-in user; screens never reach past it."""

    def __init__(self, config: AppConfig, device: DeviceFolder) -> None:
        self.config = config
        self.platform = config.platform
        self.device = device
        self.store: LocalStore | None = None
        self.client: SyncClient | None = None
        self.user: UserInfo | None = None
        self.status = SyncStatus()
        self._sync: SyncLoop | None = None
        self._runner: concurrent.futures.Future[Any] | None = None
        self._listeners: list[Callable[[SyncStatus], None]] = []
        self._seen: set[str] = set()
        self._reads: Reads | None = None
        self.on_signed_out: Callable[[str], Awaitable[None]] | None = None

    # Who ----------------------------------------------------------------------------------

    @property
    def signed_in(self) -> bool:
        return self.store is not None and self.user is not None

    @property
    def user_id(self) -> str:
        return str(self.user.id) if self.user else ""

    @property
    def roles(self) -> set[str]:
        return set(self.user.roles) if self.user else set()

    @property
    def device_id(self) -> uuid.UUID | None:
        """This device's id on the server, while signed in."""
        credentials = self.store.credentials() if self.store is not None else None
        return credentials.device_id if credentials is not None else None

    @property
    def desk(self) -> Desk:
        """Requests that need the server now: administration, the coordinator's downloads."""
        return Desk(self.client)

    def require_store(self) -> LocalStore:
        if self.store is None:
            raise RuntimeError("not signed in")
        return self.store

    @property
    def reads(self) -> Reads:
        """What the screens read, typed (the store behind it is the signed-in user's)."""
        store, user = self.require_store(), self.user
        if user is None:
            raise RuntimeError("not signed in")
        if self._reads is None or self._reads.store is not store:
            self._reads = Reads(store, user.id)
        return self._reads

    # Opening and closing --------------------------------------------------------------

    def resume_last_user(self) -> bool:
        """Open the last user's store if it still holds a token: the app opens offline."""
        last = self.device.settings().last_user_id
        if not last:
            return False
        path = self.device.store_file(last)
        if not path.exists():
            return False
        store = self.platform.open_store(path)
        credentials = store.credentials()
        if credentials is None:
            store.close()
            return False
        self._open(store, credentials.user)
        return True

    def last_server(self) -> str | None:
        last = self.device.settings().last_user_id
        if not last or not self.device.store_file(last).exists():
            return None
        with self.platform.open_store(self.device.store_file(last)) as store:
            return store.server()

    async def sign_in(self, server: str, login: str, password: str, device_name: str) -> UserInfo:
        try:
            server = normalise_server(server)
        except ValueError:
            raise SignInFailed("signin.error.server") from None
        try:
            async with httpx.AsyncClient(
                timeout=SIGN_IN_TIMEOUT, transport=self.platform.http_transport()
            ) as http:
                answer = await request_token(http, server, login, password, device_name)
        except LoginRefused as exc:
            key = {
                "invalid_credentials": "signin.error.credentials",
                "too_many_attempts": "signin.error.too_many",
            }.get(exc.code, "signin.error.missing")
            raise SignInFailed(key) from None
        except Offline:
            raise SignInFailed("signin.error.offline") from None
        except RetryLater:
            raise SignInFailed("signin.error.server_trouble") from None
        store = await self.platform.blocking(
            self.platform.open_store, self.device.store_file(answer.user.id)
        )
        store.sign_in(server, answer)
        self._open(store, answer.user)
        self.device.update(last_user_id=str(answer.user.id))
        return answer.user

    def _open(self, store: LocalStore, user: UserInfo) -> None:
        self.store = store
        self.user = user
        self.client = SyncClient(store, transport=self.platform.http_transport())
        counts = store.counts()
        self.status = SyncStatus(queued=counts.queued, rejected=counts.rejected)
        self._seen.clear()

    async def close(self) -> None:
        """Session over (tab closed and expired, window closed): stop syncing, close files."""
        await self.stop_sync()
        client, store = self.client, self.store
        self.client = self.store = None
        self.user = None
        if client is not None:
            await client.aclose()
        if store is not None:
            store.close()

    async def sign_out(self) -> None:
        """Revoke this device's token; queued notes stay in the file for the next sign-in."""
        await self.stop_sync()
        if self.client is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.client.logout(force=True), STOP_TIMEOUT)
        self.device.update(last_user_id=None)
        await self.close()

    # Sync -----------------------------------------------------------------------------

    def subscribe(self, listener: Callable[[SyncStatus], None]) -> None:
        self._listeners.append(listener)

    @property
    def syncing(self) -> bool:
        return self._runner is not None and not self._runner.done()

    def start_sync(self, run_task: RunTask) -> None:
        """Start the sync loop on the session's event loop (page.run_task)."""
        if self.client is None or self.syncing:
            return
        loop = SyncLoop(
            self.client,
            interval=self.config.sync_interval,
            live=self.config.live,
            on_status=self._on_status,
        )
        self._sync = loop
        self._runner = run_task(self._run, loop)

    async def _run(self, loop: SyncLoop) -> None:
        final = await loop.run()
        if final.state == "signed_out" and self._sync is loop and self.on_signed_out:
            await self.on_signed_out(final.last_error or "signed_out")

    def pause_sync(self) -> None:
        """Browser gone (for now): stop the loop, keep the store open for a reconnect."""
        if self._sync is not None:
            self._sync.stop()
        self._sync = None

    async def stop_sync(self) -> None:
        runner = self._runner
        self.pause_sync()
        self._runner = None
        if runner is not None and not runner.done():
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.wrap_future(runner), STOP_TIMEOUT)

    def network_changed(self, online: bool) -> None:
        """The browser says the network came or went: show it now, sync when it is back."""
        if self._sync is not None:
            self._sync.network_changed(online)

    def request_sync(self) -> None:
        if self._sync is not None:
            self._sync.request_sync()
        else:
            self._on_status(self._counted(self.status))

    def _counted(self, status: SyncStatus) -> SyncStatus:
        if self.store is None:
            return status
        counts = self.store.counts()
        return SyncStatus(
            state=status.state,
            queued=counts.queued,
            rejected=counts.rejected,
            last_success=status.last_success,
            last_error=status.last_error,
            live=status.live,
        )

    def _on_status(self, status: SyncStatus) -> None:
        self.status = status
        for listener in list(self._listeners):
            try:
                listener(status)
            except Exception as exc:  # one broken screen must not stop the others
                log.error("status listener failed (%s)", type(exc).__name__)

    # Actions (queued first, sent by the loop) ------------------------------------------

    def _queue(self, mutation_type: MutationType, data: dict[str, Any]) -> None:
        self.require_store().queue(mutation_type, data)
        self.request_sync()

    def capture_note(
        self,
        *,
        team_id: str,
        worker_id: str | None,
        kind: str,
        category: str,
        severity: str,
        text: str = "",
    ) -> str:
        note_id = str(uuid.uuid4())
        data: dict[str, Any] = {
            "id": note_id,
            "team_id": team_id,
            "kind": kind,
            "category": category,
            "severity": severity,
            "text": text.strip(),
            "captured_at": _now_iso(),
        }
        if worker_id:
            data["worker_id"] = worker_id
        self._queue(MutationType.NOTE_CREATE, data)
        return note_id

    def retract(self, note_id: str) -> None:
        self._queue(MutationType.NOTE_RETRACT, {"note_id": note_id})

    def acknowledge(self, note_id: str) -> None:
        self._queue(MutationType.NOTE_ACKNOWLEDGE, {"note_id": note_id})

    def mark_seen(self, note: Note) -> bool:
        """Send delivery.seen the first time a recipient opens a note; True if queued."""
        if note.id in self._seen:
            return False
        self._seen.add(note.id)
        delivery = note.delivery_to(self.reads.me)
        seen = MutationType.DELIVERY_SEEN
        if delivery is None or delivery.seen_at or seen in note.pending:
            return False
        self._queue(seen, {"note_id": note.id})
        return True

    def follow_up(self, note_id: str, action: str, text: str, close: bool) -> None:
        data: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "note_id": note_id,
            "action": action,
            "close": close,
        }
        if text.strip():
            data["text"] = text.strip()
        self._queue(MutationType.NOTE_FOLLOW_UP, data)

    def heads_up(self, worker_id: str, text: str, valid_until: date | None) -> None:
        data: dict[str, Any] = {"id": str(uuid.uuid4()), "worker_id": worker_id, "text": text}
        if valid_until is not None:
            data["valid_until"] = valid_until.isoformat()
        self._queue(MutationType.HEADS_UP_CREATE, data)

    def end_heads_up(self, heads_up_id: str) -> None:
        """Its author ends a heads-up early (the server then dates it to yesterday)."""
        self._queue(MutationType.HEADS_UP_END, {"heads_up_id": heads_up_id})

    async def durable(self) -> None:
        """Return once what was queued so far would survive the app being closed."""
        await self.platform.durable()

    def dismiss_rejected(self, mutation_id: uuid.UUID) -> None:
        self.require_store().dismiss_rejected(mutation_id)
        self._on_status(self._counted(self.status))

    async def preferences(self) -> Preferences:
        """The user's e-mail preferences, read from the server (they live there)."""
        if self.client is None:
            raise ActionFailed("notify.offline")
        try:
            return await self.client.preferences()
        except (RetryLater, SignedOut):
            raise ActionFailed("notify.offline") from None

    async def save_preferences(self, preferences: Preferences) -> Preferences:
        if self.client is None:
            raise ActionFailed("notify.offline")
        try:
            return await self.client.set_preferences(preferences)
        except PreferencesRefused:
            raise ActionFailed("notify.refused") from None
        except (RetryLater, SignedOut):
            raise ActionFailed("notify.offline") from None

    async def set_availability(
        self, away: bool, stand_in_id: str | None, until: datetime | None
    ) -> None:
        """Not queued: an absence must reach the server now, or the user must know it did not."""
        if self.client is None:
            raise ActionFailed("availability.error.offline")
        try:
            await self.client.set_availability(
                away, uuid.UUID(stand_in_id) if stand_in_id else None, until if away else None
            )
        except AvailabilityRefused:
            raise ActionFailed("availability.error.refused") from None
        except (RetryLater, SignedOut):
            raise ActionFailed("availability.error.offline") from None
        if self._sync is not None:
            self._sync.request_pull()
