"""What differs between the places the field app runs: a process on a phone or desktop (and
the in-process tests), or the browser, where Python runs in Pyodide (the PWA).

The app asks its Platform, never `sys.platform`: where files live and when a write counts
as durable, how blocking work runs, how HTTP goes out, what the network is doing.
"""

from __future__ import annotations

import asyncio
import platform as _platform
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

from field_app.store import LocalStore

T = TypeVar("T")


class Platform:
    """A phone, desktop or test process: threads, sockets and a real disk."""

    #: The sync server, when the app is served by it (the PWA); None: the user types it.
    server_url: str | None = None
    #: Where this device's files live; None: the default folder (field_app.store.paths).
    data_dir: Path | None = None
    #: The app is a web app kept in the browser's cache, updated by the server that serves it.
    cached_web_app = False
    #: sqlite's journal: WAL needs shared memory, which the browser's file system lacks.
    journal_mode = "WAL"

    async def prepare(self, waiting: Callable[[], Any]) -> None:
        """Get the device ready before the first screen (mount storage, take locks);
        `waiting()` is called if that has to wait for something the user should know of."""

    def open_store(self, path: Path) -> LocalStore:
        return LocalStore(path, journal_mode=self.journal_mode, on_commit=self.committed)

    def started(self) -> None:
        """A first screen is drawn (the app's, or "open in another tab")."""

    def committed(self) -> None:
        """Called after each local write; a real disk needs nothing more (sqlite syncs)."""

    async def durable(self) -> None:
        """Return once every local write so far would survive closing the app."""

    async def blocking(self, function: Callable[..., T], *args: Any) -> T:
        """Run a blocking call (sqlite, files) without freezing the screen."""
        return await asyncio.to_thread(function, *args)

    def http_transport(self) -> httpx.AsyncBaseTransport | None:
        """None: httpx's own sockets."""
        return None

    def device_name(self) -> str:
        """What the server lists for this device, until the user names it."""
        return f"{_platform.system() or 'Python'} {_platform.node()}".strip()

    def watch_network(self, on_change: Callable[[bool], None]) -> None:
        """Call `on_change(online)` when the network comes or goes, where that is known."""

    async def offline_ready(self) -> bool:
        """Whether the app itself would start with no network (the PWA's cache is full)."""
        return True

    async def newer_version_ready(self) -> bool:
        """Whether a newer version of the app waits for the next start."""
        return False

    def restart(self) -> None:
        """Start the app again (the PWA reloads into its newer version)."""

    def online(self) -> bool | None:
        """Whether the device has a network at all; None when it cannot tell."""
        return None
