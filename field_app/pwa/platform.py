"""The browser as the app's platform: IndexedDB storage, fetch, one writing tab, and the
browser's online/offline events. Used only under Pyodide."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import httpx

from field_app.platform import Platform
from field_app.pwa.fetch_transport import FetchTransport
from field_app.pwa.storage import BrowserDisk
from field_app.pwa.tabs import WriterLock

T = TypeVar("T")


class BrowserPlatform(Platform):
    def __init__(self, started: float) -> None:
        import js

        self.server_url = str(js.location.origin)  # the server that served the app
        self.timings = {"python": started, "imports": _now()}
        self.disk = BrowserDisk()
        self.data_dir = self.disk.mount
        self.writer = WriterLock()
        self._listeners: list[Any] = []  # JS proxies must outlive the call that made them

    journal_mode = "DELETE"
    cached_web_app = True

    async def prepare(self, waiting: Callable[[], Any]) -> None:
        """Take the store from other tabs first, then read it from IndexedDB: a tab that
        waited must see what the other one wrote."""
        if not await self.writer.try_acquire():
            waiting()
            await self.writer.acquire()
        await self.disk.open()

    def started(self) -> None:
        """The first screen is drawn: the page drops its loading screen."""
        self.timings.setdefault("app", _now())
        _tell_page({"type": "ready", "timings": self.timings})

    def mark(self, name: str) -> None:
        _tell_page({"type": "mark", "name": name, "at": _now()})

    def committed(self) -> None:
        self.disk.committed()

    @property
    def version(self) -> str:
        """This app's version, as the page asked for its package (app.tar?v=…)."""
        import __main__

        url = str(getattr(__main__, "app_package_url", ""))
        return url.partition("?v=")[2]

    async def offline_ready(self) -> bool:
        return await _cache_ready(f"{CACHE_PREFIX}{self.version}")

    async def newer_version_ready(self) -> bool:
        import js

        mine = f"{CACHE_PREFIX}{self.version}"
        for name in (await js.caches.keys()).to_py():
            if name.startswith(CACHE_PREFIX) and name != mine and await _cache_ready(name):
                return True
        return False

    def restart(self) -> None:
        _tell_page({"type": "reload"})

    async def durable(self) -> None:
        await self.disk.durable()

    async def blocking(self, function: Callable[..., T], *args: Any) -> T:
        return function(*args)  # no threads here; sqlite on the in-memory file is quick

    def http_transport(self) -> httpx.AsyncBaseTransport | None:
        return FetchTransport()

    def device_name(self) -> str:
        import js

        return describe_browser(str(js.navigator.userAgent))

    def watch_network(self, on_change: Callable[[bool], None]) -> None:
        """The page relays the browser's online/offline events (a worker does not get them
        everywhere): shell/relais.js."""
        import js
        from pyodide.ffi import create_proxy

        def on_message(event: Any) -> None:
            message = event.data.to_py() if hasattr(event.data, "to_py") else {}
            if isinstance(message, dict) and message.get("type") == "network":
                on_change(bool(message.get("online")))

        channel = js.BroadcastChannel.new("relais")
        proxy = create_proxy(on_message)
        channel.onmessage = proxy
        self._listeners += [channel, proxy]

    def online(self) -> bool | None:
        import js

        return bool(js.navigator.onLine)


CACHE_PREFIX = "relais-app-"  # the service worker's cache of one version (shell/sw.js)


async def _cache_ready(name: str) -> bool:
    """The service worker marks a version's cache complete once everything is in it."""
    import js

    if not await js.caches.has(name):
        return False
    cache = await js.caches.open(name)
    base = str(js.location.pathname).rsplit("/", 1)[0]  # the worker runs from the app's folder
    return bool(await cache.match(f"{base}/__offline_ready__"))


def _tell_page(message: dict[str, Any]) -> None:
    """A message to the page around the app (shell/relais.js), which Python cannot reach
    otherwise: it runs in a worker."""
    import js
    from pyodide.ffi import to_js

    channel = js.BroadcastChannel.new("relais")
    channel.postMessage(to_js(message, dict_converter=js.Object.fromEntries))
    channel.close()


def _now() -> float:
    """Milliseconds since the epoch, comparable with the page's clock."""
    import js

    return float(js.performance.timeOrigin + js.performance.now())


def describe_browser(user_agent: str) -> str:
    """ "Chrome on Android", "Safari on iPhone"…: enough for an admin to tell devices apart."""
    ua = user_agent
    system = next(
        (
            name
            for marker, name in (
                ("iPhone", "iPhone"),
                ("iPad", "iPad"),
                ("Android", "Android"),
                ("Windows", "Windows"),
                ("Mac OS X", "macOS"),
                ("CrOS", "ChromeOS"),
                ("Linux", "Linux"),
            )
            if marker in ua
        ),
        "",
    )
    browser = next(
        (
            name
            for marker, name in (
                ("Edg/", "Edge"),
                ("SamsungBrowser/", "Samsung Internet"),
                ("Firefox/", "Firefox"),
                ("CriOS/", "Chrome"),
                ("Chrome/", "Chrome"),
                ("Chromium/", "Chromium"),
                ("Safari/", "Safari"),
            )
            if marker in ua
        ),
        "Browser",
    )
    return f"{browser} on {system}" if system else browser
