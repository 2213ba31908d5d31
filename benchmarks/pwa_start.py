"""The PWA on a phone: the first visit (bytes on the wire, time until it works offline) and
warm starts offline, to an interactive capture screen, with their breakdown.

    python benchmarks/pwa_start.py [--quick] [--starts N]

Real processes on loopback: the sync server (`relais serve` on a fresh SQLite file with the
fictional organisation of relais_testing/factories.py), which serves the app at /app/; Debian's
Chromium through Playwright, 360×640, with a profile on disk (a closed and relaunched
browser is a real restart). Between the browser and the server sits a byte-counting TCP
relay: "bytes on the wire" is what the server sent, headers included, as counted there.

- first visit: a new profile opens /app/; timed until the app is drawn and until the
  service worker says the whole app is stored (`__offline_ready__` in its cache). Bytes: sent
  by the server, against the site's size uncompressed (both printed, with the ratio).
- warm start offline: the supervisor signed in once; the network is then cut, the server
  stopped, and the browser closed and launched again N times: from navigation to the
  capture screen of a worker (one tap after the team screen). Breakdown from the page's and
  the app's own marks: Flutter's first frame, Pyodide's runtime loaded, the app unpacked,
  the app's imports, the first screen, the capture screen.
- same-run reference: the same browser loading a page of the same site that runs no
  script (the app's stylesheet): what a start costs before any of the app runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
warnings.filterwarnings("ignore", message=".*starlette.testclient.*")
for folder in (REPO, REPO / "benchmarks"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

import common  # noqa: E402

from field_app.i18n import Translator  # noqa: E402
from relais_testing import browser as b  # noqa: E402
from relais_testing.factories import PASSWORD, build_world  # noqa: E402
from relais_testing.serving import free_port  # noqa: E402
from sync_server.database import Database  # noqa: E402
from sync_server.migrations import upgrade  # noqa: E402

READY_OFFLINE = """async () => {
  for (const name of await caches.keys()) {
    if (await (await caches.open(name)).match('__offline_ready__')) return Date.now();
  }
  return 0;
}"""


class ByteCounter:
    """A TCP relay on loopback that counts what the server sends to the browser."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = free_port()
        self.sent = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()
        self._ready.wait(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        self._ready.set()
        async with server:
            await server.serve_forever()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.close()
            return

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, count: bool) -> None:
            try:
                while chunk := await src.read(65536):
                    if count:
                        self.sent += len(chunk)
                    dst.write(chunk)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer, False), pipe(up_reader, writer, True))


def breakdown(timings: dict[str, float], capture_at: float) -> dict[str, float]:
    """Milliseconds from navigation to each mark the page and the app recorded."""
    start = timings["navigation"]
    names = ("flutter", "pyodide", "unpacked", "imports", "ready")
    out = {name: timings[name] - start for name in names if name in timings}
    out["capture"] = capture_at - start
    return out


def first_visit(playwright: Any, url: str, counter: ByteCounter, profile: Path) -> dict[str, Any]:
    context = b.launch_phone(playwright, profile)
    page = context.pages[0]
    counter.sent = 0
    started = time.time() * 1000
    page.goto(url, wait_until="commit")
    b.wait_for_app(page)
    drawn = page.evaluate("() => relais.timings.ready")
    ready = 0
    deadline = time.monotonic() + 300
    while not (ready := page.evaluate(READY_OFFLINE)):
        if time.monotonic() > deadline:
            raise SystemExit("the app never became ready offline")
        time.sleep(0.1)
    navigation = page.evaluate("() => relais.timings.navigation")
    time.sleep(1)  # the last revalidations settle
    facts = {
        "drawn_ms": drawn - navigation,
        "ready_offline_ms": ready - navigation,
        "sent": counter.sent,
        "wall_ms": time.time() * 1000 - started,
    }
    return {"facts": facts, "context": context, "page": page}


def warm_starts(
    playwright: Any, app_url: str, profile: Path, starts: int
) -> list[dict[str, float]]:
    """Each a browser launched again offline on the profile of the first visit (the same
    origin: the relay's address)."""
    t = Translator("fr")
    rows = []
    for _ in range(starts):
        context = b.launch_phone(playwright, profile)
        context.set_offline(True)
        page = context.pages[0]
        with contextlib.suppress(Exception):  # offline, the navigation may "fail" (SW answers)
            page.goto(app_url, wait_until="commit")
        b.wait_for_app(page)
        worker = page.get_by_role("button", name=re.compile("Worker A1"))
        b.tap(b.wait_for(page, worker, b.SYNC_MS))
        b.wait_for(page, page.get_by_role("checkbox", name=t.kind("signal")))
        capture_at = time.time() * 1000
        rows.append(breakdown(page.evaluate("() => relais.timings"), capture_at))
        context.close()
    return rows


def static_floor(playwright: Any, url: str, profile: Path, runs: int) -> list[float]:
    """Navigation to a script-free page of the site, offline, from the same profile."""
    out = []
    for _ in range(runs):
        context = b.launch_phone(playwright, profile)
        context.set_offline(True)
        page = context.pages[0]
        started = time.perf_counter()
        page.goto(url + "relais.css", wait_until="load")
        out.append((time.perf_counter() - started) * 1000)
        context.close()
    return out


def summary(label: str, values: list[float], target_ms: float | None = None) -> str:
    line = (
        f"{label:<38} median {statistics.median(values):7.0f} ms   "
        f"min {min(values):7.0f}   max {max(values):7.0f}   (n={len(values)})"
    )
    if target_ms is not None:
        met = "met" if statistics.median(values) <= target_ms else "NOT met"
        line += f"   [target <= {target_ms:.0f} ms: {met}]"
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 warm starts instead of 8")
    parser.add_argument("--starts", type=int, help="warm offline starts (default 8)")
    parser.add_argument("--backends", default="sqlite", help="accepted for run_all.py")
    args = parser.parse_args()
    starts = args.starts or (3 if args.quick else 8)
    if not b.have_chromium():
        raise SystemExit(f"needs Chromium at {b.CHROMIUM} (Debian package chromium)")
    from playwright.sync_api import sync_playwright

    print("pwa_start: the field app in a phone's browser, first visit and warm offline starts")
    print(common.machine_line())
    site = b.build_app()
    sizes = json.loads((site.path / "site.json").read_text())
    with tempfile.TemporaryDirectory(prefix="relais-pwa-start-") as tmp:
        folder = Path(tmp)
        url = f"sqlite:///{folder / 'relais.db'}"
        db = Database(url)
        upgrade(db)
        build_world(db)
        db.dispose()
        profile = folder / "profile"
        with b.running_server(url, folder) as server, sync_playwright() as playwright:
            counter = ByteCounter(server.port)
            app_url = f"http://127.0.0.1:{counter.port}/app/"
            visit = first_visit(playwright, app_url, counter, profile)
            page, context = visit["page"], visit["context"]
            b.sign_in(page, Translator("fr"), "sup_a", PASSWORD)
            b.wait_for(page, b.button(page, Translator("fr")("sync.ok")), b.SYNC_MS)
            context.close()
            server.stop()
            floor = static_floor(playwright, app_url, profile, 3)
            rows = warm_starts(playwright, app_url, profile, starts)
    facts = visit["facts"]
    total = sum(sizes["files"].values())
    compressed = sum(sizes["compressed"].values())
    print(f"app {site.version}: {total / 1e6:.1f} MB in {len(sizes['files'])} files,")
    print(f"  {compressed / 1e6:.1f} MB precompressed (brotli) on the server")
    print()
    print("first visit (new profile, online)")
    verdict = "met" if facts["sent"] <= 20e6 else "NOT met"
    print(
        f"  bytes sent by the server      {facts['sent'] / 1e6:7.1f} MB"
        f"   ({facts['sent'] / total:.2f}x the uncompressed site)   [target <= 20 MB: {verdict}]"
    )
    print(f"  app drawn (sign-in screen)    {facts['drawn_ms']:7.0f} ms after navigation")
    print(f"  ready to work offline         {facts['ready_offline_ms']:7.0f} ms after navigation")
    print()
    print(f"warm start, offline, browser relaunched each time ({starts} starts)")
    for name, label in (
        ("flutter", "Flutter's first frame"),
        ("pyodide", "Pyodide's runtime loaded"),
        ("unpacked", "the app unpacked"),
        ("imports", "the app's imports done"),
        ("ready", "first screen drawn"),
    ):
        values = [row[name] for row in rows if name in row]
        if values:
            print("  " + summary(label, values))
    captures = [row["capture"] for row in rows]
    print("  " + summary("capture screen of a worker", captures, target_ms=4000))
    print()
    print("same-run reference")
    print("  " + summary("script-free page of the site", floor))
    print(
        f"ratio: warm start to capture / script-free page: "
        f"{statistics.median(captures) / statistics.median(floor):.0f}x (medians)"
    )
    shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    main()
