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
FLUSH_TIMEOUT = 15.0  # seconds: IndexedDB answers in milliseconds unless something is wrong


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
        self._lock = asyncio.Lock()  # one FS.syncfs at a time
        self._background: asyncio.Task[None] | None = None
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
        """Called after every sqlite commit (and settings write): flush soon."""
        self._commits += 1
        if self._background is None or self._background.done():
            self._background = asyncio.get_running_loop().create_task(self._flush_in_background())

    async def _flush_in_background(self) -> None:
        try:
            while self._flushed < self._commits:  # commits made during a flush: once more
                await self.durable()
        except OSError as exc:  # retried on the next commit, or by the next durable()
            log.error("flush to IndexedDB failed (%s)", exc)

    async def durable(self) -> None:
        """Return once every commit made so far is in IndexedDB (raises OSError if the
        browser refuses or does not answer)."""
        target = self._commits
        while self._flushed < target:
            async with self._lock:
                if self._flushed >= target:  # a flush that started after our commit did it
                    return
                covered = self._commits
                try:
                    await asyncio.wait_for(_syncfs(False), FLUSH_TIMEOUT)
                except TimeoutError:
                    raise OSError("the browser's storage did not answer") from None
                self._flushed = max(self._flushed, covered)


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
