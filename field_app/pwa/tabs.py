"""One writing tab: the store lives in memory per tab and is copied to IndexedDB, so two tabs
writing would each overwrite the other's copy. The Web Locks API grants the store to one tab;
another waits, and says so, until the first one closes."""

from __future__ import annotations

import asyncio
from typing import Any

LOCK_NAME = "relais-local-store"


class WriterLock:
    def __init__(self) -> None:
        self._release: Any = None
        self._keep: list[Any] = []  # proxies called from JS later

    async def try_acquire(self) -> bool:
        """Take the lock if no other tab holds it; never waits."""
        return await self._request(wait=False)

    async def acquire(self) -> None:
        """Wait until the tab holding the lock closes, then take it."""
        await self._request(wait=True)

    async def _request(self, *, wait: bool) -> bool:
        import js
        from pyodide.ffi import create_proxy, to_js

        granted: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

        def hold(resolve: Any, _reject: Any) -> None:
            self._release = resolve

        def on_lock(lock: Any) -> Any:
            if not lock:  # ifAvailable and another tab has it: JS null (pyodide's jsnull)
                granted.set_result(False)
                return None
            granted.set_result(True)
            return js.Promise.new(self._proxy(create_proxy(hold)))  # held until release()

        options = to_js({"ifAvailable": not wait}, dict_converter=js.Object.fromEntries)
        js.navigator.locks.request(LOCK_NAME, options, self._proxy(create_proxy(on_lock)))
        return await granted

    def _proxy(self, proxy: Any) -> Any:
        self._keep.append(proxy)
        return proxy

    def release(self) -> None:
        if self._release is not None:
            self._release()
            self._release = None
