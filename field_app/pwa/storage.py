"""The local store on the browser's disk: an IndexedDB-backed folder (Emscripten IDBFS).

sqlite3 writes to memory; `flush()` copies the folder to IndexedDB. A note counts as saved
on this phone only once the flush after its commit has finished. Flushes never overlap
(IDBFS forbids it) and coalesce: commits made during one flush are carried by the next.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MOUNT = Path("/relais")


async def _syncfs(populate: bool) -> None:
    """FS.syncfs as a coroutine: populate=True reads IndexedDB into memory, False writes."""
    import pyodide_js
    from pyodide.ffi import create_once_callable

    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def finished(error: Any = None) -> None:
        if done.done():
            return
        if error:
            done.set_exception(OSError(f"IndexedDB sync failed: {error}"))
        else:
            done.set_result(None)

    pyodide_js.FS.syncfs(populate, create_once_callable(finished))
    await done


class BrowserDisk:
    """The mounted folder and its flushes. One per page (the worker that runs Python)."""

    def __init__(self, mount: Path = MOUNT) -> None:
        self.mount = mount
        self._commits = 0  # commits seen so far
        self._flushed = 0  # commits known to be in IndexedDB
        self._flushing: asyncio.Task[None] | None = None
        self.persistent = False

    async def open(self) -> None:
        """Mount the folder and load what IndexedDB holds (the previous runs' files)."""
        import pyodide_js

        fs = pyodide_js.FS
        fs.mkdirTree(str(self.mount))
        fs.mount(fs.filesystems.IDBFS, {}, str(self.mount))
        await _syncfs(True)
        self.persistent = await ask_persistent_storage()

    def committed(self) -> None:
        """Called after every sqlite commit (and settings write): schedule a flush."""
        self._commits += 1
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.ensure_future(self._flush_loop())

    async def _flush_loop(self) -> None:
        while self._flushed < self._commits:
            target = self._commits
            try:
                await _syncfs(False)
            except OSError as exc:  # quota, a closed database: retried on the next commit
                log.error("flush to IndexedDB failed (%s)", type(exc).__name__)
                return
            self._flushed = target

    async def durable(self) -> None:
        """Return once every commit made so far is in IndexedDB."""
        target = self._commits
        while self._flushed < target:
            if self._flushing is None or self._flushing.done():
                self._flushing = asyncio.ensure_future(self._flush_loop())
            await asyncio.shield(self._flushing)
            if self._flushing.done() and self._flushed < target and self._commits == target:
                raise OSError("could not write to the browser's storage")


async def ask_persistent_storage() -> bool:
    """Ask the browser not to evict our data under storage pressure (navigator.storage.persist).

    Browsers grant it to installed apps and to sites used often; the answer is kept for the
    readiness check. In a worker only `persisted()` exists, so ask the page when possible.
    """
    import js

    storage = getattr(js.navigator, "storage", None)
    if storage is None:
        return False
    try:
        if hasattr(storage, "persist"):
            return bool(await storage.persist())
        return bool(await storage.persisted())
    except Exception:  # not allowed in this context
        return False
