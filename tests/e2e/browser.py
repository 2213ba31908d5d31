"""Real-browser helpers: the sync server and the web app as real processes, Debian's Chromium
driven by Playwright, and the few recipes that make Flutter web reliable to drive.

Never `playwright install`: Chromium comes from the system (/usr/bin/chromium). Everything
the pages load comes from 127.0.0.1 (the app is served with no CDN); other requests are
aborted (Flutter always tries one font/wasm helper on a CDN; it is not needed).

What makes Flutter web reliable to drive (flet 1.0.5, Chromium 156, a loaded 2-core box):
- Flutter draws on a canvas; clicking the hidden `flt-semantics-placeholder` switches on
  the accessibility tree, whose roles and names the tests use (TextField: textbox named by
  its label; Chip: checkbox; NavigationBar destination: tab; tappable card or ListTile:
  button named by all its texts; texts of a card are merged into one name).
- Taps go through the accessibility node (`tap`), never a mouse click at coordinates: for
  a frame or two after a scroll or a redraw, the nodes and the drawing disagree and a
  click lands on the neighbouring control.
- Typing: focus the field, wait for Flutter to attach, type real keys into the front page,
  then check that Flutter (not just the DOM) holds the value; `locator.fill()` drops it.
- SnackBar text is copied into an aria-live node: look for app text inside
  `flt-semantics-host` only (`in_app`).
- A screenshot right after a change is often blank: wait for frames, retry small PNGs.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
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
from tests.factories import PASSWORD
from tests.servers import free_port, start_server_process, wait_for_health

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-dev-shm-usage",
]
PHONE = {"width": 360, "height": 640}
SCREENSHOTS = REPO / "screenshots"  # git-ignored
BLANK_PNG_MAX = 4000  # a blank 360x640 PNG is about 2 KB

# Deadlines, generous for a loaded 2-core machine; every wait is bounded by one of these.
START_S = 60.0  # a process or the Flutter engine coming up
UI_MS = 20_000  # a screen or text appearing after a tap
SYNC_MS = 60_000  # something that needs a round trip through the server (with backoff)

RETRIES: list[str] = []  # taps and typing that needed another attempt (diagnostics only)


def have_chromium() -> bool:
    return os.path.exists(CHROMIUM)


# --- processes --------------------------------------------------------------------------


class SyncServer:
    """`relais serve` as a real process on a fixed port, which can be stopped (killed) and
    started again on the same port and the same database."""

    def __init__(self, database_url: str, log_dir: Path, port: int | None = None) -> None:
        self.database_url = database_url
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"sync-server-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._drain: threading.Thread | None = None

    def start(self) -> SyncServer:
        process = start_server_process(self.database_url, self.port)
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


class WebApp:
    """`python -m field_app --web --port P --server URL`: one process serving every browser.

    Its data folder (one sub-folder per browser, one store file per user) is `data_dir`.
    """

    def __init__(
        self,
        server_url: str,
        data_dir: Path,
        log_dir: Path,
        port: int | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.server_url = server_url
        self.data_dir = data_dir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log_path = log_dir / f"web-app-{self.port}.log"
        self.env = env or {}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> WebApp:
        return self.spawn().wait_ready()

    def spawn(self) -> WebApp:
        """Start the process without waiting (it needs no sync server to come up)."""
        environment = dict(
            os.environ,
            FLET_APP_STORAGE_DATA=str(self.data_dir),
            PYTHONPATH=os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p),
            **self.env,
        )
        command = [
            sys.executable, "-m", "field_app", "--web", "--host", "127.0.0.1",
            "--port", str(self.port), "--server", self.server_url,
        ]  # fmt: skip
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                command, cwd=REPO, env=environment, stdout=log, stderr=subprocess.STDOUT
            )
        return self

    def wait_ready(self) -> WebApp:
        assert self.process is not None
        deadline = time.monotonic() + START_S
        while True:
            try:
                if httpx.get(self.url, timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"web app did not start:\n{self.log()}")
            time.sleep(0.1)

    def stop(self) -> None:
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            process.terminate()  # uvicorn stops cleanly on SIGTERM
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        self.process = None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-6000:]
        except OSError:
            return ""


@contextmanager
def running_stack(database_url: str, folder: Path) -> Iterator[tuple[SyncServer, WebApp]]:
    """The sync server and the web app (pointed at it), started side by side; stopped at the
    end, and the web app's log must hold no traceback."""
    server = SyncServer(database_url, folder)
    app = WebApp(server.url, folder / "app-data", folder).spawn()
    try:
        server.start()
        app.wait_ready()
        yield server, app
    except BaseException:
        print(f"--- web app log ({app.log_path}) ---\n{app.log()}", file=sys.stderr)
        raise
    finally:
        app.stop()
        server.stop()
    assert "Traceback" not in app.log(), app.log()


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


def new_phone(browser: Any) -> Any:
    """A separate browser (own storage, own cookies) with a 360×640 phone screen."""
    return browser.new_context(viewport=PHONE, device_scale_factor=1, has_touch=False)


def only_localhost(route: Any) -> None:
    if route.request.url.startswith("http://127.0.0.1"):
        route.continue_()
    else:
        route.abort()


def open_app(context: Any, url: str) -> Any:
    """Open the app in a new tab and switch Flutter's accessibility tree on."""
    page = context.new_page()
    page.route("**/*", only_localhost)
    page.goto(url, timeout=START_S * 1000)
    page.wait_for_selector("flt-semantics-placeholder", state="attached", timeout=START_S * 1000)
    page.evaluate("document.querySelector('flt-semantics-placeholder').click()")
    page.wait_for_selector(
        "flt-semantics-host flt-semantics", state="attached", timeout=START_S * 1000
    )
    return page


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


def _type(page: Any, label: str, text: str, settle_ms: int = 300) -> None:
    box = textbox(page, label)
    box.wait_for(state="visible", timeout=UI_MS)
    box.focus()  # not a click at coordinates: see tap()
    page.wait_for_timeout(settle_ms)  # let Flutter attach its text editing to the <input>
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.type(text, delay=20)
    page.wait_for_timeout(300)


def _remaining(page: Any, count: int) -> bool:
    """Whether Flutter's own character counter says `count` characters remain: the counter
    is computed from the value Flutter holds, not from the DOM <input>."""
    digits = str(count)
    if count >= 1000:  # 1 948, 1 948 or 1,948 depending on the language
        digits = f"{count // 1000}[\\s,.\u202f\u00a0]?{count % 1000:03d}"
    return re.search(rf"(?<!\d){digits}(?!\d)", page_text(page)) is not None


def fill_form(page: Any, values: dict[str, str], *, max_length: int | None = None) -> None:
    """Type into Flutter text fields (by label) and make sure Flutter, not just the DOM, got
    each value; retype the ones it lost.

    Keys sometimes reach the DOM <input> before Flutter has attached its text editing to
    it, so the DOM shows the text while the app has nothing (the server then gets "").
    Checks: with several fields, focus moves to another field, after which the DOM shows
    Flutter's own value again; with one field, its character counter (`max_length`) must
    count the text. Keys go to the front page only: it is brought to the front."""
    page.bring_to_front()
    labels = list(values)
    pending = dict(values)
    # A loaded machine attaches more slowly: each new attempt waits longer.
    for settle_ms in (300, 800, 1500, 3000):
        for label, text in pending.items():
            _type(page, label, text, settle_ms)
        if len(labels) > 1:
            last = list(pending)[-1]
            textbox(page, labels[1] if last == labels[0] else labels[0]).focus()
            page.wait_for_timeout(300)
            lost = {
                label: text
                for label, text in values.items()
                if textbox(page, label).input_value() != text
            }
        else:
            [(label, text)] = values.items()
            if max_length is None:
                held = textbox(page, label).input_value() == text
            else:
                held = _remaining(page, max_length - len(text))
            lost = {} if held else {label: text}
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


class Shots:
    """Numbered screenshots of every screen visited: screenshots/<folder>/NN_name.png; each
    screen must also name all its controls for screen readers."""

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
        self.paths.append(path)
        return path


def dump_pages(folder: Path, **contexts: Any) -> None:
    """On failure: a screenshot and the accessibility tree of every open page."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, context in contexts.items():
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
    home = page.get_by_role("tab", name=re.compile(re.escape(t("tab.settings"))))
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


def sync_badge(page: Any, t: Translator) -> Any:
    """The sync badge's button, whatever it says ("up to date", "offline", "1 to send"...):
    it sits inside a node labelled with the long description ("Sync: ...")."""
    prefix = t("sync.ok.long").split(":")[0]
    outer = page.get_by_role("button", name=re.compile("^" + re.escape(prefix)))
    return outer.get_by_role("button")


def tab(page: Any, t: Translator, tab_id: str) -> Any:
    return page.get_by_role("tab", name=re.compile(re.escape(t(f"tab.{tab_id}"))))


def open_tab(page: Any, t: Translator, tab_id: str) -> None:
    target = tab(page, t, tab_id)
    tap(target)
    deadline = time.monotonic() + UI_MS / 1000
    while target.get_attribute("aria-selected") != "true":
        if time.monotonic() > deadline:
            raise AssertionError(f"tab {tab_id} not selected")
        page.wait_for_timeout(100)
