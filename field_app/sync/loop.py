"""SyncLoop: when to sync (start, timer, poke, demand, retry) and the status the app shows.

One sync runs at a time; requests and pokes that arrive meanwhile coalesce into one more.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal

from field_app.sync.backoff import Backoff
from field_app.sync.client import SyncClient
from field_app.sync.errors import RetryLater, SignedOut, UpdateRequired

log = logging.getLogger(__name__)

POLL_WITHOUT_STREAM = 10.0  # seconds between syncs while the live stream cannot connect

SyncState = Literal["idle", "sending", "offline", "signed_out", "update_required"]


@dataclass(frozen=True)
class SyncStatus:
    """What the status bar shows. `last_error` holds codes only, never note text."""

    state: SyncState = "idle"
    queued: int = 0
    rejected: int = 0
    last_success: datetime | None = None
    last_error: str | None = None
    live: bool = False  # the poke stream is connected


class SyncLoop:
    """Syncs at start, every `interval` seconds, on each poke and on request_sync().

    After a failure it retries with the client's backoff instead of the timer. It stops
    (run() returns) when the user is signed out or the app needs an update; cancel the
    task running run(), or call stop(), to end it earlier.
    """

    def __init__(
        self,
        client: SyncClient,
        *,
        interval: float = 30.0,
        live: bool = True,
        on_status: Callable[[SyncStatus], None] | None = None,
    ) -> None:
        self.client = client
        self.interval = interval
        self.live = live
        self._listeners: list[Callable[[SyncStatus], None]] = [on_status] if on_status else []
        counts = client.store.counts()
        self._status = SyncStatus(queued=counts.queued, rejected=counts.rejected)
        self._wanted = asyncio.Event()
        self._want_push = True
        self._want_pull = True
        self._tasks: list[asyncio.Task[None]] = []
        self._listening: asyncio.Task[None] | None = None
        self._event_loop: asyncio.AbstractEventLoop | None = None

    @property
    def status(self) -> SyncStatus:
        return self._status

    @property
    def sync_pending(self) -> bool:
        """A request or poke is waiting for the sync in flight to end (at most one waits)."""
        return self._wanted.is_set()

    def subscribe(self, listener: Callable[[SyncStatus], None]) -> None:
        self._listeners.append(listener)

    def request_sync(self) -> None:
        """Push and pull soon: after the user queued something, or tapped "sync now".

        Callable from any thread (Flet runs plain-function event handlers in a pool).
        """
        self._want_push = self._want_pull = True
        self._wake()

    def network_changed(self, online: bool) -> None:
        """The device's network came back (sync now) or went (say so now, not after the
        next failed attempt: the badge must never claim "up to date" while cut off)."""
        if online:
            self.request_sync()
        else:
            self._on_loop(lambda: self._update(state="offline", last_error="network", live=False))
        self._on_loop(self._reconnect_stream)  # a stream over the old network may hang

    def _reconnect_stream(self) -> None:
        if self._listening is not None and not self._listening.done():
            self._listening.cancel()
            self._listening = asyncio.create_task(self._listen())
            self._tasks.append(self._listening)

    def request_pull(self) -> None:
        self._want_pull = True
        self._wake()

    def _wake(self) -> None:
        def wake() -> None:
            self._wanted.set()
            self._update()

        self._on_loop(wake)

    def _on_loop(self, action: Callable[[], None]) -> None:
        """Run `action` on the loop running run(), from whatever thread calls us."""
        loop = self._event_loop
        try:
            here = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        if loop is None or loop is here:
            action()
        else:
            loop.call_soon_threadsafe(action)

    async def run(self) -> SyncStatus:
        """Sync until signed out, update required, stop() or cancellation; the last status."""
        self._event_loop = asyncio.get_running_loop()
        work = asyncio.create_task(self._work())
        self._tasks = [work]
        if self.live:
            self._listening = asyncio.create_task(self._listen())
            self._tasks.append(self._listening)
        try:
            while True:  # until work or the current stream task ends (a replaced one may)
                current = [t for t in (work, self._listening) if t is not None]
                await asyncio.wait(current, return_when=asyncio.FIRST_COMPLETED)
                if work.done() or (self._listening is not None and self._listening.done()):
                    break
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            self._event_loop = None
        return self._status

    def stop(self) -> None:
        """End run() (callable from any thread)."""

        def cancel() -> None:
            for task in self._tasks:
                task.cancel()

        self._on_loop(cancel)

    async def _work(self) -> None:
        wait: float | None = 0.0  # sync at start
        while True:
            if wait:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wanted.wait(), timeout=wait)
            if not self._wanted.is_set():  # the timer or a retry: do everything
                self._want_push = self._want_pull = True
            self._wanted.clear()
            push, pull = self._want_push, self._want_pull
            self._want_push = self._want_pull = False
            self._update(state="sending")
            try:
                if push:
                    await self.client.push_all()
                if pull:
                    await self.client.pull_until_done()
            except SignedOut as exc:
                self._update(state="signed_out", last_error=exc.code)
                return
            except UpdateRequired as exc:
                self._update(state="update_required", last_error=str(exc))
                return
            except RetryLater as exc:
                self._want_push |= push
                self._want_pull |= pull
                wait = self.client.backoff.next_delay(exc.retry_after)
                self._update(state="offline", last_error=exc.reason)
                continue
            except Exception as exc:
                # A bug must not end syncing for good: say so, and retry like an outage.
                # The type only: a message might quote stored data.
                log.error("sync failed unexpectedly (%s)", type(exc).__name__)
                self._want_push |= push
                self._want_pull |= pull
                wait = self.client.backoff.next_delay()
                self._update(state="offline", last_error=f"error: {type(exc).__name__}")
                continue
            self.client.backoff.reset()
            self._update(state="idle", last_error=None, last_success=datetime.now(UTC))
            # Without pokes (a proxy that cuts streams, say), poll more often while open.
            interval = self.interval if self._status.live or not self.live else POLL_WITHOUT_STREAM
            # ±20 %: phones started together must not all pull at the same second.
            wait = min(self.interval, interval) * (0.8 + 0.4 * self.client.backoff.random())

    async def _listen(self) -> None:
        restarts = Backoff(random=self.client.backoff.random)
        while True:
            try:
                await self.client.listen(self._on_poke, self._on_live)
            except SignedOut as exc:
                self._update(state="signed_out", last_error=exc.code, live=False)
                return
            except UpdateRequired as exc:
                self._update(state="update_required", last_error=str(exc), live=False)
                return
            except Exception as exc:  # the timer still syncs; pokes resume after a pause
                log.error("live stream failed unexpectedly (%s)", type(exc).__name__)
                await asyncio.sleep(restarts.next_delay())

    def _on_poke(self, cursor: str | None) -> None:
        if cursor is None or cursor != self.client.store.cursor():
            self.request_pull()

    def _on_live(self, live: bool) -> None:
        if live != self._status.live:
            self._update(live=live)
            if live:
                # The server is back (or the network): send what waited, without sitting
                # out the rest of the retry delay.
                self.request_sync()

    def _update(self, **changes: Any) -> None:
        counts = self.client.store.counts()
        self._status = replace(
            self._status,
            queued=counts.queued,
            rejected=counts.rejected,
            **changes,
        )
        for listener in self._listeners:
            try:
                listener(self._status)
            except Exception as exc:  # a broken screen must not stop syncing
                log.error("sync status listener failed (%s)", type(exc).__name__)
