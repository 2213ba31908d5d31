"""From the supervisor's "save" tap to the note durable on the phone and in the counsellor's
inbox, in real browsers running the field app (the PWA, whose Python runs in the browser).

    python benchmarks/app_save_to_inbox.py [--quick] [--notes N]

Real processes on loopback: the sync server (`relais serve` on a fresh SQLite file with the
fictional organisation of relais_testing/factories.py), which serves the app; two Chromium contexts
(Debian's /usr/bin/chromium through Playwright, 360×640): the supervisor sup_a on the Team
screen and the counsellor couns_1 on the inbox, both signed in and synced.

For each of N notes (default 20; each about worker A1 or A2 and a different category, so
that none is grouped with an earlier one): the supervisor taps the worker, "Signal", a
category (the severity is preselected), then the clock starts and "save" is tapped; it
stops when the counsellor's page shows "To handle (k)" with the new count. That path holds
the tap reaching the app's Python, the local store write and its copy to IndexedDB, the
push, routing on the server, the poke on the counsellor's live stream, the pull, the store
write, the screen refresh and Flutter drawing it (its accessibility tree, which Flutter
updates with the frame). Both pages are watched from inside, every 5 ms, against the
machine's clock. Also timed: tap → the note durable in the browser's storage (the app marks
the moment its IndexedDB copy is written), and tap → the supervisor's Team screen back.

Same-run references, before the browser part: the bare HTTP round trip of GET
/api/v1/health (kept-alive connection), and the same note path without the UI, through the
Python client (sup_b's LocalStore+SyncClient push, couns_2's SyncLoop with its live stream,
until the note is in couns_2's LocalStore).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import tempfile
import time
import uuid
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
# relais_testing/factories.py imports FastAPI's TestClient, which warns about httpx: not ours to fix.
warnings.filterwarnings("ignore", message=".*starlette.testclient.*")
for folder in (REPO, REPO / "benchmarks"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

import common  # noqa: E402
import httpx  # noqa: E402

from field_app.i18n import Translator  # noqa: E402
from field_app.store import LocalStore  # noqa: E402
from field_app.sync import SyncClient, SyncLoop, SyncStatus  # noqa: E402
from relais_testing import browser as b  # noqa: E402
from relais_testing.factories import PASSWORD, World, build_world  # noqa: E402
from shared_models.vocabulary import CATEGORIES, NoteKind  # noqa: E402
from sync_server.database import Database  # noqa: E402
from sync_server.migrations import upgrade  # noqa: E402

SIGNALS = list(CATEGORIES[NoteKind.SIGNAL])
# Installed in a page before each tap: every 5 ms, note (Date.now(), the machine's clock, as
# Python's time.time()) when `want` shows, and when `back` shows while `gone` does not.
WATCH = """([want, back, gone]) => {
  const host = () => document.querySelector('flt-semantics-host');
  const has = (text) => {
    const h = host();
    if (!h) return false;
    if (h.textContent.includes(text)) return true;
    for (const el of h.querySelectorAll('[aria-label]'))
      if (el.getAttribute('aria-label').includes(text)) return true;
    return false;
  };
  if (window.__relaisTimer) clearInterval(window.__relaisTimer);
  const seen = window.__relaisSeen = {};
  window.__relaisTimer = setInterval(() => {
    if (want && !seen.want && has(want)) seen.want = Date.now();
    if (back && !seen.back && has(back) && !has(gone)) seen.back = Date.now();
    if ((!want || seen.want) && (!back || seen.back)) clearInterval(window.__relaisTimer);
  }, 5);
}"""


def line(label: str, seconds: list[float]) -> str:
    ms = [s * 1000 for s in seconds]
    return (
        f"{label:<46} median {statistics.median(ms):8.1f} ms   p95 "
        f"{common.percentile(ms, 95):8.1f} ms   min {min(ms):7.1f}   max {max(ms):7.1f}"
        f"   (n={len(ms)})"
    )


# --- same-run references -------------------------------------------------------------------


def health_round_trips(server: str, samples: int) -> list[float]:
    out = []
    with httpx.Client(base_url=server, timeout=10) as http:
        http.get("/api/v1/health").raise_for_status()  # connection open before timing
        for _ in range(samples):
            started = time.perf_counter()
            http.get("/api/v1/health").raise_for_status()
            out.append(time.perf_counter() - started)
    return out


async def client_path(server: str, world: World, folder: Path, notes: int) -> list[float]:
    """sup_b pushes a note about B1; time until couns_2's SyncLoop has it in its store."""
    sup = SyncClient(LocalStore(folder / "ref-sup_b.db"))
    couns = SyncClient(LocalStore(folder / "ref-couns_2.db"))
    await sup.login(server, "sup_b", PASSWORD, "bench reference phone")
    await couns.login(server, "couns_2", PASSWORD, "bench reference phone")
    await sup.pull_until_done()
    await couns.pull_until_done()
    live = asyncio.Event()

    def on_status(status: SyncStatus) -> None:
        if status.live:
            live.set()

    loop = SyncLoop(couns, interval=30.0, live=True, on_status=on_status)
    runner = asyncio.create_task(loop.run())
    await asyncio.wait_for(live.wait(), 30)
    await asyncio.sleep(0.5)  # the stream's first poke and pull are over
    out = []
    try:
        for n in range(notes):
            note_id = str(uuid.uuid4())
            sup.store.queue(
                "note.create",
                {
                    "id": note_id,
                    "team_id": str(world.teams["B"]),
                    "worker_id": str(world.workers["b1"]),
                    "kind": "signal",
                    "category": SIGNALS[n % len(SIGNALS)],
                    "severity": "info",
                    "text": f"Bench reference note {n + 1} (fictional).",
                    "captured_at": datetime.now(UTC).isoformat(),
                },
            )
            started = time.perf_counter()
            await sup.push_all()
            deadline = started + 30
            while couns.store.get_entity("note", note_id) is None:
                if time.perf_counter() > deadline:
                    raise SystemExit("reference: a note never reached couns_2's store")
                await asyncio.sleep(0.002)
            out.append(time.perf_counter() - started)
    finally:
        loop.stop()
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        await sup.aclose()
        await couns.aclose()
    return out


def target(values: list[float], p: int, limit_s: float) -> str:
    figure = common.percentile([v * 1000 for v in values], p)
    verdict = "met" if figure <= limit_s * 1000 else "NOT met"
    return f"  [target p{p} <= {limit_s * 1000:.0f} ms: {verdict}]"


IDB_PUT = """async (size) => {
  // One IndexedDB transaction writing `size` bytes, as the app's flush does: the floor.
  const db = await new Promise((ok, fail) => {
    const open = indexedDB.open('relais-benchmark', 1);
    open.onupgradeneeded = () => open.result.createObjectStore('files');
    open.onsuccess = () => ok(open.result);
    open.onerror = () => fail(open.error);
  });
  const data = new Uint8Array(size);
  const times = [];
  for (let i = 0; i < 20; i++) {
    const started = performance.now();
    await new Promise((ok, fail) => {
      const tx = db.transaction('files', 'readwrite');
      tx.objectStore('files').put({contents: data, timestamp: new Date()}, 'store');
      tx.oncomplete = ok;
      tx.onerror = () => fail(tx.error);
    });
    times.push(performance.now() - started);
  }
  db.close();
  return times;
}"""


def idb_write_floor(app_url: str, folder: Path) -> list[float]:
    """The browser's own cost of writing a file like the store (sqlite, ~256 KB) once."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = b.launch(playwright)
        try:
            page = browser.new_page()
            page.goto(app_url + "relais.css")  # same origin as the app, nothing else loaded
            return [ms / 1000 for ms in page.evaluate(IDB_PUT, 256 * 1024)]
        finally:
            browser.close()


# --- the browser part ----------------------------------------------------------------------


def browser_path(
    app_url: str, notes: int
) -> tuple[list[float], list[float], list[float], dict[str, Any]]:
    from playwright.sync_api import sync_playwright

    t = Translator("fr")
    to_inbox: list[float] = []
    to_roster: list[float] = []
    to_durable: list[float] = []
    with sync_playwright() as playwright:
        browser = b.launch(playwright)
        sup_ctx, couns_ctx = b.new_phone(browser), b.new_phone(browser)
        try:
            return _notes(t, sup_ctx, couns_ctx, app_url, notes, to_inbox, to_roster, to_durable)
        except BaseException:
            failed = Path(tempfile.gettempdir()) / "relais-save-to-inbox-failure"
            b.dump_pages(failed, supervisor=sup_ctx, counsellor=couns_ctx)
            print(f"failed: screenshots and accessibility trees in {failed}", file=sys.stderr)
            raise
        finally:
            sup_ctx.close()
            couns_ctx.close()
            browser.close()


def _notes(
    t: Translator,
    sup_ctx: Any,
    couns_ctx: Any,
    app_url: str,
    notes: int,
    to_inbox: list[float],
    to_roster: list[float],
    to_durable: list[float],
) -> tuple[list[float], list[float], list[float], dict[str, Any]]:
    if True:
        sup = b.open_app(sup_ctx, app_url)
        b.sign_in(sup, t, "sup_a", PASSWORD)
        couns = b.open_app(couns_ctx, app_url)
        b.sign_in(couns, t, "couns_1", PASSWORD)
        b.wait_for(couns, b.in_app(couns, t("inbox.empty")), b.SYNC_MS)
        couns.bring_to_front()  # the counsellor's tab is in front; the supervisor only taps
        visibility = {
            "supervisor": sup.evaluate("() => document.visibilityState"),
            "counsellor": couns.evaluate("() => document.visibilityState"),
        }
        rows = {
            ref: sup.get_by_role("button", name=re.compile(f"Worker {ref.upper()}"))
            for ref in ("a1", "a2")
        }
        b.wait_for(sup, rows["a1"], b.SYNC_MS)
        b.wait_for(sup, b.button(sup, t("sync.ok")), b.SYNC_MS)
        for n in range(notes):
            ref = ("a1", "a2")[n % 2]
            category = SIGNALS[(n // 2) % len(SIGNALS)]
            b.tap(rows[ref])
            b.pick(sup, t.kind("signal"))
            b.pick(sup, t.category(category))
            save = b.button(sup, t("capture.save"))
            deadline = time.monotonic() + 20
            while save.is_disabled():
                if time.monotonic() > deadline:
                    raise SystemExit("the save button stayed disabled")
                sup.wait_for_timeout(20)
            want = t("inbox.to_handle", n=n + 1)
            couns.evaluate(WATCH, [want, None, None])
            sup.evaluate(WATCH, [None, t("roster.search"), t("capture.save")])
            started = time.time()
            save.dispatch_event("click")  # as b.tap(), without its wait: the clock is running
            couns.wait_for_function("() => window.__relaisSeen.want", timeout=b.SYNC_MS)
            sup.wait_for_function("() => window.__relaisSeen.back", timeout=b.UI_MS)
            to_inbox.append(couns.evaluate("() => window.__relaisSeen.want") / 1000 - started)
            to_roster.append(sup.evaluate("() => window.__relaisSeen.back") / 1000 - started)
            durable = sup.evaluate("() => relais.timings.saved_durable") / 1000
            to_durable.append(durable - started)
            sup.wait_for_timeout(200)  # the toast and the last patches settle
    return to_inbox, to_roster, to_durable, {"visibility": visibility, "retyped": b.RETRIES}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 notes instead of 20")
    parser.add_argument("--notes", type=int, help="notes through the browsers (default 20)")
    parser.add_argument(
        "--backends", default="sqlite", help="accepted for run_all.py; the server runs on SQLite"
    )
    args = parser.parse_args()
    notes = args.notes or (5 if args.quick else 20)
    if not b.have_chromium():
        raise SystemExit(f"needs Chromium at {b.CHROMIUM} (Debian package chromium)")

    print("app_save_to_inbox: supervisor's save tap -> note in the counsellor's inbox (browsers)")
    print(common.machine_line())
    with tempfile.TemporaryDirectory(prefix="relais-save-to-inbox-") as tmp:
        folder = Path(tmp)
        url = f"sqlite:///{folder / 'relais.db'}"
        db = Database(url)
        upgrade(db)
        world = build_world(db)
        db.dispose()
        b.build_app()
        with b.running_server(url, folder) as server:
            health = health_round_trips(server.url, 10 * notes)
            reference = asyncio.run(client_path(server.url, world, folder, notes))
            durable_floor = idb_write_floor(server.app_url, folder)
            started = time.monotonic()
            to_inbox, to_roster, to_durable, facts = browser_path(server.app_url, notes)
            took = time.monotonic() - started
    print(
        "setup: relais serve (SQLite) serving the PWA, Chromium 360x640 x2,"
        f" page visibility {facts['visibility']}; browser part {took:.0f} s"
    )
    print()
    print(
        line("tap save -> durable in the browser's storage", to_durable),
        target(to_durable, 50, 0.150),
    )
    print(line("tap save -> counsellor's inbox shows it", to_inbox), target(to_inbox, 95, 1.0))
    print(line("tap save -> supervisor's Team screen back", to_roster))
    print()
    print("same-run references")
    print(line("GET /api/v1/health round trip", health))
    print(line("Python client: push -> counsellor's store", reference))
    print(line("IndexedDB: one put of a store-sized file", durable_floor))
    print(
        f"ratios: durable/IndexedDB put {statistics.median(to_durable) / statistics.median(durable_floor):.1f}x, "
        f"inbox/Python client {statistics.median(to_inbox) / statistics.median(reference):.1f}x (medians)"
    )
    if facts["retyped"]:
        print(f"note: retried taps/typing: {facts['retyped']}")


if __name__ == "__main__":
    main()
