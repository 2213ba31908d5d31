"""Real-browser helpers: the sync server as a real process serving the field app (a PWA whose
Python runs in the browser), Debian's Chromium driven by Playwright, and the few recipes
that make Flutter web reliable to drive.

Never `playwright install`: Chromium comes from the system (/usr/bin/chromium). No host but
127.0.0.1 resolves, and every request to another host fails the test (`FOREIGN`).

What makes Flutter web reliable to drive (flet 1.0.5, Chromium 156, a loaded 2-core box):
- Flutter draws on a canvas; clicking the hidden `flt-semantics-placeholder` switches on
  the accessibility tree, whose roles and names the tests use (TextField: textbox named by
  its label; Chip: checkbox; NavigationBar destination: tab; tappable card or ListTile:
  button named by all its texts; texts of a card are merged into one name).
- Taps go through the accessibility node (`tap`), never a mouse click at coordinates: for
  a frame or two after a scroll or a redraw, the nodes and the drawing disagree and a
  click lands on the neighbouring control.
- Typing is the exception: the accessibility node's focus does not move Flutter's, so a
  text field gets a real click, checked against the <input> Flutter then edits (laid over
  that field); what Flutter holds is read back from that <input> (`fill_form`).
- SnackBar text is copied into an aria-live node: look for app text inside
  `flt-semantics-host` only (`in_app`).
- A screenshot right after a change is often blank: wait for frames, retry small PNGs.
- Evaluated scripts are functions (`"() => ..."`): the app's Content-Security-Policy
  forbids evaluating strings.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from field_app.i18n import Translator
from relais_testing.factories import PASSWORD
from relais_testing.serving import free_port, start_server_process, wait_for_health
from sync_server.settings import Settings
from sync_server.webapp.build import build
from sync_server.webapp.site import BASE, Site

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-dev-shm-usage",
    # Nothing but this machine resolves: the app must need no other host, ever.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
PHONE = {"width": 360, "height": 640}
DESK = {"width": 1280, "height": 800}  # a laptop: navigation rail, list and detail panes
SCREENSHOTS = REPO / "screenshots"  # git-ignored
BLANK_PNG_MAX = 4000  # a blank 360x640 PNG is about 2 KB

# Deadlines, generous for a loaded 2-core machine; every wait is bounded by one of these.
START_S = 180.0  # a process, or the app (Flutter and the app's Python) coming up
UI_MS = 30_000  # a screen or text appearing after a tap
SYNC_MS = 90_000  # something that needs a round trip through the server (with backoff)

RETRIES: list[str] = []  # taps and typing that needed another attempt (diagnostics only)


def have_chromium() -> bool:
    return os.path.exists(CHROMIUM)


# --- processes --------------------------------------------------------------------------


def build_app() -> Site:
    """The PWA, built once per checkout and kept in the user's cache: every server started
    by the tests then finds it ready."""
    cache = Settings().app_cache_dir  # as the servers it starts will look (RELAIS_APP_CACHE_DIR)
    return build(cache, say=lambda text: print(text, file=sys.stderr))


class SyncServer:
    """`relais serve` as a real process on a fixed port, serving the field app at /app/,
    which can be stopped (killed) and started again on the same port and the same database."""

    def __init__(
        self, database_url: str, log_dir: Path, port: int | None = None, **env: str
    ) -> None:
        self.database_url = database_url
        self.env = env
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.app_url = f"{self.url}{BASE}"
        self.log_path = log_dir / f"sync-server-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._drain: threading.Thread | None = None

    def start(self) -> SyncServer:
        process = start_server_process(
            self.database_url, self.port, RELAIS_SERVE_APP="1", **self.env
        )
        self.process = process

        def drain() -> None:  # stderr is a pipe: keep it empty, keep what it says
            assert process.stderr is not None
            with open(self.log_path, "ab") as log:
                for line in process.stderr:
                    log.write(line)
                    log.flush()

        self._drain = threading.Thread(target=drain, daemon=True)
        self._drain.start()
        try:
            wait_for_health(self.url, timeout=START_S, process=process)
        except Exception as exc:
            self.stop(kill=True)
            raise RuntimeError(f"sync server did not start: {exc}\n{self.log()}") from exc
        return self

    def stop(self, *, kill: bool = False) -> None:
        """SIGTERM (or SIGKILL with `kill`); SIGKILL anyway after 10 s."""
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        if self._drain is not None:
            self._drain.join(5)
        self.process = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""


@contextmanager
def running_server(database_url: str, folder: Path) -> Iterator[SyncServer]:
    """`relais serve` with the field app (the PWA) at /app/; stopped at the end, and its log
    must hold no traceback."""
    server = SyncServer(database_url, folder)
    try:
        server.start()
        yield server
    except BaseException:
        print(f"--- sync server log ({server.log_path}) ---\n{server.log()}", file=sys.stderr)
        raise
    finally:
        server.stop()
    assert "Traceback" not in server.log(), server.log()


def push_as(server_url: str, login: str, *mutations: dict[str, Any]) -> None:
    """Another person's phone, straight through the HTTP API."""
    with httpx.Client(base_url=f"{server_url}/api/v1", timeout=30) as http:
        answer = http.post(
            "/auth/login",
            json={"login": login, "password": PASSWORD, "device_name": "seed phone"},
        )
        assert answer.status_code == 200, answer.text
        headers = {"Authorization": f"Bearer {answer.json()['token']}"}
        answer = http.post(
            "/sync/push", json={"protocol": 1, "mutations": list(mutations)}, headers=headers
        )
        assert answer.status_code == 200, answer.text
        assert {r["status"] for r in answer.json()["results"]} == {"applied"}, answer.text


# --- the browser ------------------------------------------------------------------------


def launch(playwright: Any) -> Any:
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


class ForeignRequests:
    """Every request a browser context tries to send anywhere but this machine: the app
    must need none (the host resolver fails them all; this says which were attempted)."""

    def __init__(self) -> None:
        self.urls: list[str] = []

    def watch(self, context: Any) -> Any:
        context.on("request", self._seen)
        console: list[str] = []
        CONSOLES[id(context)] = console
        context.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
        return context

    def _seen(self, request: Any) -> None:
        url = str(request.url)
        if not url.startswith(("http://127.0.0.1", "data:", "blob:")):
            self.urls.append(url)


FOREIGN = ForeignRequests()  # checked after each browser test (tests/e2e/conftest.py)
CONSOLES: dict[int, list[str]] = {}  # what each browser context's pages logged


def new_phone(browser: Any, viewport: dict[str, int] = PHONE) -> Any:
    """A separate browser (own storage, own cookies) with a 360×640 phone screen."""
    context = browser.new_context(viewport=viewport, device_scale_factor=1, has_touch=False)
    return FOREIGN.watch(context)


def launch_phone(playwright: Any, profile: Path) -> Any:
    """A browser with a profile on disk, so that closing it and launching it again is a
    real restart (the service worker's cache and IndexedDB survive, memory does not)."""
    context = playwright.chromium.launch_persistent_context(
        str(profile),
        executable_path=CHROMIUM,
        headless=True,
        args=CHROMIUM_ARGS,
        viewport=PHONE,
        device_scale_factor=1,
    )
    return FOREIGN.watch(context)


def wait_for_app(page: Any, timeout_s: float = START_S) -> None:
    """The app's Python is up and its first screen drawn (the loading screen is gone);
    then Flutter's accessibility tree is switched on."""
    page.wait_for_function(
        "() => typeof relais !== 'undefined' && Boolean(relais.timings.ready)",
        timeout=timeout_s * 1000,
    )
    page.locator("flt-semantics-placeholder").dispatch_event("click")
    page.wait_for_selector(
        "flt-semantics-host flt-semantics", state="attached", timeout=timeout_s * 1000
    )


def open_app(context: Any, url: str, page: Any = None) -> Any:
    """Open the app (in a new tab unless `page` is given) and wait until it is up."""
    page = page or context.new_page()
    with contextlib.suppress(Exception):  # offline, the navigation "fails" once the SW answers
        page.goto(url, timeout=START_S * 1000)
    wait_for_app(page)
    return page


_BROWSER_FILES = """async () => {
  // The app's folder on IndexedDB (Emscripten IDBFS): one record per file, keyed by path.
  const db = await new Promise((ok, fail) => {
    const open = indexedDB.open('/relais');
    open.onsuccess = () => ok(open.result);
    open.onerror = () => fail(open.error);
  });
  const files = {};
  if (!db.objectStoreNames.contains('FILE_DATA')) return files;
  const store = db.transaction('FILE_DATA').objectStore('FILE_DATA');
  const keys = await new Promise((ok) => { const r = store.getAllKeys(); r.onsuccess = () => ok(r.result); });
  const values = await new Promise((ok) => { const r = store.getAll(); r.onsuccess = () => ok(r.result); });
  keys.forEach((key, i) => {
    const contents = values[i].contents;
    if (contents) files[key] = Array.from(new Uint8Array(contents.buffer || contents));
  });
  db.close();
  return files;
}"""


def browser_files(page: Any) -> dict[str, bytes]:
    """The files the app keeps in this browser's storage, as the browser holds them (not
    as the app's memory does): what would survive closing the browser."""
    raw = page.evaluate(_BROWSER_FILES)
    return {path: bytes(content) for path, content in raw.items()}


def store_facts(files: dict[str, bytes], user_id: object, folder: Path) -> dict[str, Any]:
    """What a user's local store (a sqlite3 file in the browser) holds: queued mutations,
    synced entities, the token, and the text of everything."""
    [data] = [
        content for path, content in files.items() if path.endswith(f"relais-{user_id}.sqlite3")
    ]
    copy = folder / f"store-{user_id}-{time.monotonic_ns()}.sqlite3"
    copy.write_bytes(data)
    with sqlite3.connect(copy) as db:
        facts = {
            "queued": db.execute("SELECT count(*) FROM outbox").fetchone()[0],
            "entities": db.execute("SELECT count(*) FROM entity").fetchone()[0],
            "token": db.execute("SELECT count(*) FROM meta WHERE key = 'token'").fetchone()[0],
            "texts": [
                row[0]
                for table in ("entity", "outbox", "sent")
                for row in db.execute(f"SELECT data FROM {table}")
            ],
        }
    return facts


def button(page: Any, name: str) -> Any:
    """A button by its whole name (a plain name also matches longer ones: "Send" would
    find "Send a heads-up" on the screen underneath)."""
    return page.get_by_role("button", name=name, exact=True)


def textbox(page: Any, label: str) -> Any:
    """A text field by its label (its accessible name may go on with the hint or value)."""
    return page.get_by_role("textbox", name=re.compile("^" + re.escape(label)))


def in_app(page: Any, text: str | re.Pattern[str]) -> Any:
    """App text, as a text node or inside a merged label (Flutter joins the texts of a
    card into one accessible name); never the aria-live copy a SnackBar also makes."""
    host = page.locator("flt-semantics-host")
    return host.get_by_text(text).or_(host.get_by_label(text))


def tap(locator: Any, timeout_ms: float = UI_MS) -> None:
    """Activate a control through its accessibility node, as a screen reader or a switch
    would: a DOM click on the node, which Flutter turns into a tap on exactly that control.

    Not a mouse click at coordinates: when the screen scrolls (Playwright scrolling a node
    into view) or a sync redraws a list, Flutter's nodes and its drawing disagree for a
    frame or two, and a click at the node's old position lands on the neighbouring control
    (seen: the chip "Langue" selected instead of "Fatigue" 1 time in 4)."""
    target = locator.first
    target.wait_for(state="visible", timeout=timeout_ms)
    target.dispatch_event("click", timeout=timeout_ms)


def pick(page: Any, name: str, attempts: int = 3) -> None:
    """Select a chip (a checkbox named by its label) and check that it is the one selected."""
    chip = page.get_by_role("checkbox", name=name, exact=True)
    for _ in range(attempts):
        tap(chip)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            if chip.first.get_attribute("aria-checked") == "true":
                return
            page.wait_for_timeout(100)
        RETRIES.append(f"chip {name!r} not selected after a tap")
    raise AssertionError(f"chip {name!r} could not be selected")


def wait_for(page: Any, locator: Any, timeout_ms: float = UI_MS) -> Any:
    """The first match of `locator`, once visible (raises after `timeout_ms`)."""
    first = locator.first
    first.wait_for(state="visible", timeout=timeout_ms)
    return first


def wait_until_gone(locator: Any, timeout_ms: float = UI_MS) -> None:
    deadline = time.monotonic() + timeout_ms / 1000
    while locator.count():
        if time.monotonic() > deadline:
            raise AssertionError(f"still on the page after {timeout_ms} ms: {locator}")
        locator.page.wait_for_timeout(100)


def confirm(dialog_button: Any, attempts: int = 3) -> None:
    """Tap a dialog's button until the dialog closes: a tap that lands while the dialog is
    still coming in (a loaded machine draws it late) is lost, and nothing else says so."""
    for _ in range(attempts):
        tap(dialog_button)
        try:
            wait_until_gone(dialog_button, UI_MS)
            return
        except AssertionError:
            RETRIES.append("a dialog's button: the tap was lost; tapping again")
    raise AssertionError(f"the dialog did not close: {dialog_button}")


def page_text(page: Any) -> str:
    """Everything the accessibility tree says (names and texts), for 'is it there?' checks."""
    return str(
        page.evaluate(
            """() => {
              const host = document.querySelector('flt-semantics-host');
              if (!host) return '';
              const parts = [];
              for (const el of host.querySelectorAll('*')) {
                const label = el.getAttribute('aria-label');
                if (label) parts.push(label);
                for (const node of el.childNodes)
                  if (node.nodeType === 3 && node.textContent.trim()) parts.push(node.textContent);
                if (el.tagName === 'INPUT' || el.tagName === 'TEXTAREA') parts.push(el.value);
              }
              return parts.join('\\n');
            }"""
        )
    )


_EDITED_FIELD = """() => {
  // Flutter edits text in its own <input>, laid over the field being edited.
  const a = document.activeElement;
  if (!a || !['INPUT', 'TEXTAREA'].includes(a.tagName)) return null;
  const r = a.getBoundingClientRect();
  return {value: a.value, x: r.x + r.width / 2, y: r.y + r.height / 2};
}"""


def focus_field(page: Any, label: str) -> dict[str, Any]:
    """Give Flutter's focus to a text field: a real click on it, then a check that Flutter's
    editing <input> sits over that field. (The accessibility node's own focus() does not
    move Flutter's focus: keys would go on into the previous field.)"""
    box = textbox(page, label)
    box.wait_for(state="visible", timeout=UI_MS)
    # A loaded machine settles more slowly: each new attempt waits longer.
    for settle_ms in (200, 500, 1000, 2000, 3000):
        box.scroll_into_view_if_needed(timeout=UI_MS)
        page.evaluate(
            "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
        )
        area = box.bounding_box()
        if area is not None:
            page.mouse.click(area["x"] + area["width"] / 2, area["y"] + area["height"] / 2)
            page.wait_for_timeout(settle_ms)
            edited = page.evaluate(_EDITED_FIELD)
            if (
                edited is not None
                and area["x"] <= edited["x"] <= area["x"] + area["width"]
                and area["y"] <= edited["y"] <= area["y"] + area["height"]
            ):
                return dict(edited)
        RETRIES.append(f"focus of {label!r} not taken; clicked again")
    raise AssertionError(f"Flutter would not focus the field {label!r}")


def field_value(page: Any, label: str) -> str:
    """What Flutter holds for a text field: focusing it fills the editing <input> from
    Flutter's own state."""
    return str(focus_field(page, label)["value"])


def fill_form(page: Any, values: dict[str, str]) -> None:
    """Type into Flutter text fields (by label) and make sure Flutter, not just the DOM, got
    each value; retype the ones it lost. Keys go to the front page only: it is brought to
    the front."""
    page.bring_to_front()
    pending = dict(values)
    for _ in range(4):
        for label, text in pending.items():
            focus_field(page, label)
            page.keyboard.press("Control+A")
            page.keyboard.press("Delete")
            page.keyboard.type(text, delay=20)
        lost = {label: text for label, text in values.items() if field_value(page, label) != text}
        if not lost:
            return
        RETRIES.append(f"lost, typed again: {sorted(lost)}")
        pending = lost
    raise AssertionError(f"Flutter kept losing what was typed into {sorted(pending)}")


def screenshot(page: Any, path: Path, timeout: float = 6.0) -> bytes:
    """A screenshot once the canvas has repainted; retried while it looks blank."""
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    while True:
        page.evaluate(
            "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
        )
        page.wait_for_timeout(300)
        png: bytes = page.screenshot(path=str(path))
        if len(png) > BLANK_PNG_MAX or time.monotonic() > deadline:
            return png


_UNNAMED_CONTROLS = """() => {
  const roles = ['button', 'checkbox', 'textbox', 'tab', 'switch', 'slider', 'radio', 'link'];
  const named = (el) => el.getAttribute('aria-label') || el.textContent.trim()
    || [...el.querySelectorAll('input, textarea')].some((i) => i.getAttribute('aria-label'));
  return [...document.querySelectorAll('flt-semantics-host [role]')]
    .filter((el) => roles.includes(el.getAttribute('role')))
    // Drop-downs draw their label but Flutter web does not expose it (a framework gap).
    .filter((el) => !el.hasAttribute('aria-expanded'))
    .filter((el) => !named(el))
    .map((el) => `${el.getAttribute('role')} ${el.id}`);
}"""


def unnamed_controls(page: Any) -> list[str]:
    """Controls a screen reader would announce without a name (an icon button with no
    label, say): every control must say what it does."""
    return list(page.evaluate(_UNNAMED_CONTROLS))


# Font sizes a text can have: Material 3's type scale (11 to 57 px) with every whole size
# between 11 and 24, which covers the sizes field_app sets (12 to 18 px).
TEXT_SIZES = [*range(11, 25), 28, 32, 36, 45, 57]
LINE_HEIGHTS = (1.15, 1.5)  # line height / font size: Roboto's own 1.17 to Material's 1.5
# Names Flutter gives a text but draws otherwise: a text field's counter, drawn "0/2000".
NOT_DRAWN = r"(caractères? restants?|characters? remaining)$"
HEIGHT_SLACK_PX = 0.75  # Flutter rounds a text's box to whole pixels in height
WIDTH_SLACK_PX = 1.0  # and the browser's layout may differ from Flutter's by a fraction

_CLIPPED_TEXTS = """async ({root, sizes, lineHeights, heightSlack, widthSlack, notDrawn}) => {
  // The font the app draws with: the Roboto file its FontManifest.json lists.
  if (!document.fonts.check('12px RelaisTextCheck')) {
    const base = new URL('assets/', document.baseURI);
    const manifest = await (await fetch(new URL('FontManifest.json', base))).json();
    const [roboto] = manifest.filter((family) => family.family === 'Roboto');
    const face = new FontFace('RelaisTextCheck', `url(${new URL(roboto.fonts[0].asset, base)})`);
    document.fonts.add(await face.load());
  }
  // The browser lays a text out in that font at a given size and width, and counts lines.
  const probe = document.createElement('div');
  probe.style.cssText = 'position: fixed; left: -20000px; top: 0; visibility: hidden; ' +
    'font-family: RelaisTextCheck; white-space: pre-wrap; overflow-wrap: anywhere; ' +
    'line-height: 100px; letter-spacing: 0; margin: 0; padding: 0; border: 0';
  document.body.appendChild(probe);
  const lines = (text, size, width) => {
    probe.style.fontSize = `${size}px`;
    probe.style.width = `${width}px`;
    probe.textContent = text;
    return Math.round(probe.getBoundingClientRect().height / 100);
  };
  const [low, high] = lineHeights;
  const viewport = window.innerWidth;
  const faults = [];
  const fault = (text, r, why) => faults.push(
    `${JSON.stringify(text)} in ${Math.round(r.width)}x${Math.round(r.height)} px at ` +
    `(${Math.round(r.x)}, ${Math.round(r.y)}): ${why}`);
  const host = document.querySelector(root);
  // A box that meets the top or bottom of a scrolling view (or of the screen) is partly
  // scrolled out of sight: Flutter gives only the part in sight, whose height says nothing.
  const views = [...host.querySelectorAll('flt-semantics')]
    .filter((el) => getComputedStyle(el).overflowY !== 'visible')
    .map((el) => el.getBoundingClientRect())
    .concat([new DOMRect(0, 0, viewport, window.innerHeight)]);
  const scrolledOut = (r) => views.some((v) =>
    r.x >= v.x - 1 && r.right <= v.right + 1 && r.top >= v.top - 1 && r.bottom <= v.bottom + 1 &&
    (r.top - v.top < 1 || v.bottom - r.bottom < 1));
  const check = (el, text, fits) => {
    const r = el.getBoundingClientRect();
    if (!text.trim() || r.width === 0 || r.height === 0 || new RegExp(notDrawn).test(text)) return;
    if (r.x < -widthSlack || r.x + r.width > viewport + widthSlack) fault(text, r, 'past the screen edge');
    const why = scrolledOut(r) ? '' : fits(r);
    if (why) fault(text, r, why);
  };
  // A text that is its own node (a heading; a span Flutter scales to the text's box): the
  // box is the text's laid-out paragraph. It must hold the text in n lines at some size
  // whose n lines make the box's height.
  const own = [...host.querySelectorAll('h1, h2, h3, h4, h5, h6')]
    .map((el) => [el, el.textContent])
    .concat([...host.querySelectorAll('flt-semantics > span')]
      .map((el) => [el.parentElement, el.textContent]));
  for (const [el, text] of own) {
    check(el, text, (r) => {
      let plausible = false;
      for (const size of sizes)
        for (let n = 1; n * size * low <= r.height + heightSlack; n++) {
          if (n * size * high < r.height - heightSlack) continue;
          plausible = true;
          if (lines(text, size, r.width + widthSlack) <= n) return '';
        }
      return plausible ? 'does not fit its box at any font size its height allows' : '';
    });
  }
  // A control named by its texts (a card, a button, a chip, a tab) has no box of its own per
  // text, and its name holds words no text draws (an icon's label): only its edges are
  // checked.
  for (const el of host.querySelectorAll('flt-semantics[role]')) {
    if (el.querySelector('flt-semantics, span, h1, h2, h3, h4, h5, h6, input, textarea')) continue;
    const own = [...el.childNodes].filter((c) => c.nodeType === 3).map((c) => c.textContent);
    const text = own.join('').trim() ? own.join('') : el.getAttribute('aria-label') || '';
    check(el, text, () => '');
  }
  probe.remove();
  return faults;
}"""


def clipped_texts(page: Any, root: str = "flt-semantics-host") -> list[str]:
    """Texts of the screen that are cut: bigger than the box Flutter laid them out in (cut
    by a box too small, by "…" after the last line allowed, by the edge of a row), or past
    the screen's edge.

    Flutter draws text on a canvas, but its accessibility tree gives each text and the box
    it was laid out in (clipped to what is on the screen). The browser lays the same text
    out again in the app's own Roboto file (loaded from the app's files with the FontFace
    API: same advances, same kerning) and counts its lines. A text that is its own node (a
    heading, a plain text) must fit its box's width in n lines at some font size of
    `TEXT_SIZES` that makes n lines as high as the box (line height 1.15 to 1.5 times the
    size). A control named by its texts (a card, a button, a chip, a tab) is only checked
    to be within the screen: its name joins texts that share a line and the labels of icons,
    which draw no text, so its box says nothing of each text (the screenshots show them).

    Left out: a box partly scrolled out of sight (Flutter gives only the part in sight: it
    is judged only on a screenshot that shows it whole), and the names Flutter gives a text but
    draws otherwise (`NOT_DRAWN`: a text field's counter).

    Every tolerance makes the check more lenient, never stricter: no letter spacing
    (Material adds 0.1 to 0.5 px a letter), the smallest font size the box's height allows
    (a 14 px text in a 20 px box is measured at 13 px), `HEIGHT_SLACK_PX` and
    `WIDTH_SLACK_PX`. So a plain text is found cut when about a tenth of it is missing (a
    Row pushing "l'écran" off a 360 px screen was); a cut of a letter or two may pass.

    Tried once on the real app, with a sign-in screen given a row running off the screen and
    a one-line text ending in "…": both found; a `no_wrap` text that its column stretched
    (so not cut): not found. Every run checks it again on sample boxes
    (`clipping_check_works`)."""
    return list(
        page.evaluate(
            _CLIPPED_TEXTS,
            {
                "root": root,
                "sizes": TEXT_SIZES,
                "lineHeights": LINE_HEIGHTS,
                "heightSlack": HEIGHT_SLACK_PX,
                "widthSlack": WIDTH_SLACK_PX,
                "notDrawn": NOT_DRAWN,
            },
        )
    )


_CLIPPED_SAMPLES = """() => {
  // Boxes as Flutter gives them to the accessibility tree: a plain text, a tappable card.
  const samples = document.createElement('div');
  samples.id = 'relais-clipped-samples';
  const box = (html, left, width, height, role) => {
    const node = document.createElement('flt-semantics');
    if (role) node.setAttribute('role', role);
    const top = 100 + 40 * samples.children.length;
    node.style.cssText = `position: fixed; top: ${top}px; left: ${left}px; width: ${width}px; height: ${height}px`;
    node.innerHTML = html;
    samples.appendChild(node);
  };
  box('<span>Transmise à Couns 1 (test).</span>', 16, 176, 19);  // fits, as drawn in the app
  box('<span>Transmise à Couns 1 (test).</span>', 16, 110, 19);  // "1 (test)." cut
  box('<span>Équipe</span>', window.innerWidth - 40, 67, 28);  // fits, but past the edge
  box('Worker A1\\nConseiller : Couns 1 (test)', 16, 300, 62, 'button');  // fits
  box('Worker A1\\nConseiller : Couns 1 (test)', window.innerWidth - 200, 300, 62, 'button');
  document.body.appendChild(samples);
}"""


def clipping_check_works(page: Any) -> None:
    """`clipped_texts` finds cut texts on this page, and only those: boxes like the app's,
    a text cut by its last word among them."""
    page.evaluate(_CLIPPED_SAMPLES)
    try:
        found = clipped_texts(page, "#relais-clipped-samples")
    finally:
        page.evaluate("() => document.getElementById('relais-clipped-samples').remove()")
    assert [fault.split(" in ")[0] for fault in found] == [
        '"Transmise à Couns 1 (test)."',
        '"Équipe"',
        '"Worker A1\\nConseiller : Couns 1 (test)"',  # the second one: past the edge
    ], found


class Shots:
    """Numbered screenshots of every screen visited: screenshots/<folder>/NN_name.png; each
    screen must also name all its controls for screen readers, and cut none of its texts."""

    def __init__(self, folder: str) -> None:
        self.folder = SCREENSHOTS / folder
        if self.folder.exists():
            shutil.rmtree(self.folder)
        self.folder.mkdir(parents=True)
        self.count = 0
        self.paths: list[Path] = []
        self.marks: list[tuple[str, float]] = [("start", time.monotonic())]

    def steps(self) -> str:
        """How long each stretch between two screenshots took (diagnostics)."""
        return ", ".join(
            f"{name} {t1 - t0:.1f}s"
            for (_, t0), (name, t1) in zip(self.marks, self.marks[1:], strict=False)
        )

    def __call__(self, page: Any, name: str) -> Path:
        self.marks.append((name, time.monotonic()))
        self.count += 1
        path = self.folder / f"{self.count:02d}_{name}.png"
        png = screenshot(page, path)
        assert len(png) > BLANK_PNG_MAX, f"blank screenshot {path}"
        assert not unnamed_controls(page), (path.name, unnamed_controls(page))
        if self.count == 1:
            clipping_check_works(page)
        assert not clipped_texts(page), (path.name, clipped_texts(page))
        self.paths.append(path)
        return path


def dump_pages(folder: Path, **contexts: Any) -> None:
    """On failure: a screenshot and the accessibility tree of every open page."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, context in contexts.items():
        console = "\n".join(CONSOLES.get(id(context), [])[-400:])
        (folder / f"FAILED_{name}_console.txt").write_text(console, encoding="utf-8")
        for i, page in enumerate(context.pages):
            stem = folder / f"FAILED_{name}_{i}"
            try:
                page.screenshot(path=f"{stem}.png")
                tree = page.locator("flt-semantics-host").aria_snapshot(timeout=5000)
                Path(f"{stem}.txt").write_text(tree, encoding="utf-8")
            except Exception as exc:  # the page may be gone: keep what we have
                Path(f"{stem}.txt").write_text(f"no dump: {exc}", encoding="utf-8")


# --- the field app ----------------------------------------------------------------------


def choose_language(page: Any, language: str) -> Translator:
    """Tap the language chip on the sign-in screen; returns that language's translator."""
    t = Translator(language)
    chip = page.get_by_role("checkbox", name=t(f"language.{language}"))
    chip.wait_for(state="visible", timeout=UI_MS)
    if chip.get_attribute("aria-checked") != "true":
        pick(page, t(f"language.{language}"))
    # the screen is rebuilt in the new language
    wait_for(page, textbox(page, t("signin.login")))
    wait_for(page, button(page, t("signin.submit")))
    return t


def sign_in(page: Any, t: Translator, login: str, password: str) -> None:
    """Fill the sign-in form (the server address is prefilled) and wait for the home tabs;
    if the app still says the login or password is missing (typing lost), sign in again."""
    wait_for(page, textbox(page, t("signin.login")), START_S * 1000)
    settings = t("tab.settings")
    # A tab of the phone's bottom bar, or a label of the navigation rail on a wide screen.
    home = page.get_by_role("tab", name=re.compile(re.escape(settings))).or_(in_app(page, settings))
    missing = in_app(page, t("signin.error.missing"))
    for _ in range(3):
        fill_form(page, {t("signin.login"): login, t("signin.password"): password})
        tap(button(page, t("signin.submit")))
        wait_until_gone(missing, UI_MS)  # hidden as soon as the app takes the attempt
        home.or_(missing).first.wait_for(state="visible", timeout=SYNC_MS)
        if home.first.is_visible():
            return
        RETRIES.append("sign-in: the app got no login or password; signing in again")
    raise AssertionError("signing in kept losing the login or the password")


def sign_out(page: Any, t: Translator) -> None:
    """Settings → sign out → confirm; back on the sign-in screen."""
    open_tab(page, t, "settings")
    tap(button(page, t("settings.sign_out")))
    dialog = page.get_by_role("alertdialog")
    confirm(wait_for(page, dialog.get_by_role("button", name=t("settings.sign_out"))))
    wait_for(page, textbox(page, t("signin.login")), SYNC_MS)


def widen(page: Any, t: Translator) -> None:
    """The same browser's window widened to a desk: wait until the app has laid itself out
    anew (the navigation rail instead of the bottom bar)."""
    page.set_viewport_size(DESK)
    settings = re.compile(rf"^{re.escape(t('tab.settings'))}\b")
    wait_for(page, page.get_by_role("button", name=settings))


def sync_badge(page: Any, t: Translator) -> Any:
    """The sync badge's button, whatever it says ("up to date", "offline", "1 to send"...):
    it sits inside a node labelled with the long description ("Sync: ...")."""
    prefix = t("sync.ok.long").split(":")[0]
    outer = page.get_by_role("button", name=re.compile("^" + re.escape(prefix)))
    return outer.get_by_role("button")


def tab(page: Any, t: Translator, tab_id: str) -> Any:
    """A section's tab: in the phone's bottom bar a tab; on the desk's navigation rail a
    button named after it (with the inbox's count before the name)."""
    label = re.escape(t(f"tab.{tab_id}"))
    in_bar = page.get_by_role("tab", name=re.compile(label))
    on_rail = page.get_by_role("button", name=re.compile(rf"^(\d+ )?{label}\b"))
    return in_bar.or_(on_rail).first


def open_tab(page: Any, t: Translator, tab_id: str) -> None:
    """Open a section and wait until it shows (selected in the bar; its title on the desk)."""
    target = tab(page, t, tab_id)
    tap(target)
    title = page.get_by_role("heading", name=t(f"tab.{tab_id}"), exact=True)
    deadline = time.monotonic() + UI_MS / 1000
    while target.get_attribute("aria-selected") != "true" and not title.first.is_visible():
        if time.monotonic() > deadline:
            raise AssertionError(f"tab {tab_id} not selected")
        page.wait_for_timeout(100)
