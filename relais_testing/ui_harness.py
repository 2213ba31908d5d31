"""In-process Flet 1.0.5 test harness for the field app: no Flutter, no browser.

Adapted from the verified prototype harness (/tmp/flet_proto/flet_harness.py): drop-downs,
switches, waiting for background sync, and text look-ups were added.

It plays the role of the Flutter client:
  * a `Connection` whose send_message msgpack-encodes every message exactly as
    the real websocket transport does (encoding is what records the diff
    snapshots, so without it later patches and the control index go wrong);
  * answers INVOKE_METHOD calls (push_route, SharedPreferences, ...) from a
    table of fake handlers;
  * simulates user input the way the Dart client does: first an
    UPDATE_CONTROL_PROPS patch (session.apply_patch), then a CONTROL_EVENT
    (session.dispatch_event).

Everything must run inside ONE running asyncio loop (handlers, page.run_task
and the updates scheduler all use it), so each test wraps its scenario in
`asyncio.run(...)` (or use pytest-asyncio if the project installs it).
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable  # noqa: UP035

import flet as ft
import msgpack
from flet.controls.base_control import BaseControl
from flet.controls.context import _context_page, context
from flet.messaging.connection import Connection
from flet.messaging.protocol import (
    MessageAction,
    configure_encode_object_for_msgpack,
    decode_ext_from_msgpack,
)
from flet.messaging.session import Session
from flet.pubsub.pubsub_hub import PubSubHub

_encode = configure_encode_object_for_msgpack(BaseControl)


def wire(obj: Any) -> Any:
    """Round-trip through msgpack like the real transport (side effect: snapshots)."""
    packed = msgpack.packb(obj, default=_encode)
    return msgpack.unpackb(packed, ext_hook=decode_ext_from_msgpack, strict_map_key=False)


class RecordingConnection(Connection):
    """A fake client transport that records decoded messages."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        super().__init__()
        self.loop = loop
        self.executor = ThreadPoolExecutor(max_workers=2)
        self.pubsubhub = PubSubHub(loop=loop, executor=self.executor)
        self.page_name = ""
        self.page_url = "http://127.0.0.1:8551"
        self.messages: list[tuple[MessageAction, Any]] = []
        self.invocations: list[dict] = []
        self.session: Session | None = None
        # "ControlType.method" or "method" -> fn(args) -> result (may be async).
        # Unknown methods are answered with None.
        self.method_handlers: dict[str, Callable[[dict], Any]] = {}

    def send_message(self, message):
        action, body = wire([message.action, message.body])
        action = MessageAction(action)
        self.messages.append((action, body))
        if action == MessageAction.INVOKE_METHOD:
            self.invocations.append(body)
            # Answer asynchronously, like a real client would.
            self.loop.call_soon(lambda: asyncio.ensure_future(self._answer(body)))

    async def _answer(self, body: dict):
        name, args = body["name"], body.get("args") or {}
        target = self.session.index.get(body["control_id"])
        ctype = getattr(target, "_c", "?")
        # "Type.method" first (e.g. "SharedPreferences.get"), then bare "method"
        handler = self.method_handlers.get(f"{ctype}.{name}") or self.method_handlers.get(name)
        result, error = None, None
        try:
            if handler is not None:
                result = handler(args)
                if inspect.isawaitable(result):
                    result = await result
        except Exception as ex:  # report like the client does
            error = str(ex)
        self.session.handle_invoke_method_results(
            body["control_id"], body["call_id"], result, error
        )

    def get_upload_url(self, file_name: str, expires: int) -> str:
        return f"/upload/{file_name}"

    def dispose(self):
        pass


class FletHarness:
    """Drive a Flet `main(page)` in-process. Use inside a running event loop."""

    def __init__(
        self,
        main,
        *,
        route: str = "/",
        page_props: dict | None = None,
        prefs: dict[str, Any] | None = None,
    ):
        self.main = main
        self.route = route
        self.page_props = page_props or {}
        # Fake SharedPreferences storage: one dict per simulated browser.
        self.prefs: dict[str, Any] = {} if prefs is None else prefs
        self._tasks: set[asyncio.Future[Any]] = set()
        self.taps = 0  # clicks, chip and switch toggles, tab changes: what a gloved hand does

    # ---- lifecycle -----------------------------------------------------------
    async def start(self) -> FletHarness:
        loop = asyncio.get_running_loop()
        self.conn = RecordingConnection(loop)
        self.session = Session(self.conn)
        self.conn.session = self.session
        self.page = self.session.page
        self._install_default_methods()
        _context_page.set(self.page)

        # What REGISTER_CLIENT does: apply the client's page snapshot, send the
        # full page (encoded!), then run main() in the session's context.
        self.session.apply_page_patch(
            {
                "route": self.route,
                "web": True,
                "platform": "linux",
                "width": 360,
                "height": 640,
                **self.page_props,
            }
        )
        wire(self.session.get_page_patch())
        context.reset_auto_update()
        result = self.main(self.page)
        if inspect.isawaitable(result):
            await result
        await self.session.after_event(self.page)
        await self.settle()
        return self

    async def disconnect(self):
        """Browser tab closed: fires page.on_disconnect."""
        await self.session.disconnect(session_timeout_seconds=0)
        await self.settle()

    async def close(self):
        """Session expired: fires page.on_close (dispatched as a task)."""
        self.session.close()
        await self.settle()

    async def settle(self, rounds: int = 5):
        """Let pending tasks (invoke answers, run_task, scheduler) run."""
        for _ in range(rounds):
            await asyncio.sleep(0)

    # ---- fake client services ---------------------------------------------
    def _install_default_methods(self):
        async def push_route(args):
            # Dart: updateControl(page, {"route": r}) then route_change event.
            route = args["route"]
            self.session.apply_page_patch({"route": route})
            self._tasks.add(
                asyncio.ensure_future(
                    self.session.dispatch_event(self.page._i, "route_change", {"route": route})
                )
            )
            return None

        h = self.conn.method_handlers
        h["Page.push_route"] = push_route
        # SharedPreferences service (argument names as in flet 1.0.5)
        sp = "SharedPreferences."
        h[sp + "set"] = lambda a: self.prefs.__setitem__(a["key"], a["value"]) or True
        h[sp + "get"] = lambda a: self.prefs.get(a["key"])
        h[sp + "contains_key"] = lambda a: a["key"] in self.prefs
        h[sp + "remove"] = lambda a: self.prefs.pop(a["key"], None) is not None
        h[sp + "get_keys"] = lambda a: [
            k for k in self.prefs if k.startswith(a.get("key_prefix", ""))
        ]
        h[sp + "clear"] = lambda a: self.prefs.clear() or True

    # ---- finding controls ----------------------------------------------------
    def walk(self, root: Any = None):
        """Yield every control reachable from the page (views, overlay, dialogs,
        navigation bar, chart children...)."""
        seen: set[int] = set()

        def _walk(v):
            if v is None or id(v) in seen:
                return
            if isinstance(v, BaseControl):
                seen.add(id(v))
                yield v
                for f in dataclasses.fields(v):
                    if f.name.startswith("_") and f.name not in (
                        "_overlay",
                        "_dialogs",
                        "_services",
                        "_b",
                    ):
                        continue
                    if f.metadata.get("skip"):
                        continue
                    yield from _walk(getattr(v, f.name, None))
            elif isinstance(v, (list, tuple)):
                for x in v:
                    yield from _walk(x)
            elif isinstance(v, dict):
                for x in v.values():
                    yield from _walk(x)
            elif dataclasses.is_dataclass(v) and not isinstance(v, type):
                for f in dataclasses.fields(v):
                    yield from _walk(getattr(v, f.name, None))

        yield from _walk(root if root is not None else self.page)

    def find_all(self, key=None, cls=None, pred=None) -> list[BaseControl]:
        out = []
        for c in self.walk():
            if key is not None and c.key != key:
                continue
            if cls is not None and not isinstance(c, cls):
                continue
            if pred is not None and not pred(c):
                continue
            out.append(c)
        return out

    def find(self, key=None, cls=None, pred=None) -> BaseControl:
        found = self.find_all(key=key, cls=cls, pred=pred)
        if len(found) != 1:
            raise LookupError(f"expected 1 control key={key!r} cls={cls}, found {len(found)}")
        return found[0]

    def exists(self, key) -> bool:
        return bool(self.find_all(key=key))

    def texts(self) -> list[str]:
        """Values of all Text controls in the tree (what a user could read)."""
        return [t.value for t in self.find_all(cls=ft.Text) if isinstance(t.value, str)]

    # ---- simulated user input (client order: props patch, then event) ------
    async def event(
        self, control: BaseControl, name: str, data: Any = None, props: dict | None = None
    ):
        assert control._i in self.session.index, f"{control} is not mounted (never sent to client)"
        if name in ("click", "select") or (name == "change" and not isinstance(data, str)):
            self.taps += 1  # typing is not a tap
        if props:
            self.session.apply_patch(control._i, props)
        # As over a real connection, the handler runs in its own task: one that waits for
        # the client (a dialog to be gone) gets its answer meanwhile.
        handler = asyncio.ensure_future(self.session.dispatch_event(control._i, name, data))
        await self.settle()
        await self._dismiss_closed_dialogs()
        await handler
        await self.settle()

    async def _dismiss_closed_dialogs(self) -> None:
        """What the client does once a dialog the app closed has left the screen."""
        for dialog in list(self.page._dialogs.controls):
            if not dialog.open and dialog._i in self.session.index:
                await self.session.dispatch_event(dialog._i, "dismiss", None)
                await self.settle()

    async def click(self, key):
        await self.event(self.find(key=key), "click")

    async def type(self, key, text: str):
        await self.event(self.find(key=key), "change", text, {"value": text})

    async def submit(self, key):
        c = self.find(key=key)
        await self.event(c, "submit", c.value)

    async def select(self, key, selected: bool):
        await self.event(self.find(key=key), "select", selected, {"selected": selected})

    async def nav(self, key, index: int):
        await self.event(self.find(key=key), "change", index, {"selected_index": index})

    async def dismiss(self, key):
        """What the client sends after a dialog closes (done already if the app closed it)."""
        if self.exists(key):
            await self.event(self.find(key=key), "dismiss", None, {"open": False})

    # ---- inspecting traffic --------------------------------------------------
    def patches(self) -> list[dict]:
        return [b for a, b in self.conn.messages if a == MessageAction.PATCH_CONTROL]

    def errors(self) -> list[str]:
        return [b["message"] for a, b in self.conn.messages if a == MessageAction.SESSION_CRASHED]

    async def dropdown(self, key, value: str):
        """Pick an option: the client sets `value`, then sends `select`."""
        await self.event(self.find(key=key), "select", value, {"value": value})

    async def switch(self, key, value: bool):
        await self.event(self.find(key=key), "change", value, {"value": value})

    # ---- waiting and reading -------------------------------------------------------
    async def wait_until(
        self, condition: Callable[[], Any], timeout: float = 120.0, step: float = 0.05
    ):
        """Let background tasks (the sync loop) run until `condition()` is true."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = condition()
            if result:
                return result
            if loop.time() > deadline:
                raise AssertionError(f"condition not met within {timeout}s; texts: {self.texts()}")
            await asyncio.sleep(step)

    def text(self) -> str:
        """Every visible Text value, joined: what a user could read on the page."""
        return "\n".join(self.texts())

    def has_text(self, fragment: str) -> bool:
        return any(fragment in t for t in self.texts())


# ---- the Relais field app on top of the harness -------------------------------------------

PASSWORD_FIELD = "signin-password"


def app_main(server_url: str, data_dir, **options: Any):
    """main(page) of the field app, on a per-test data folder, with a short sync timer."""
    from field_app.app import create_main
    from field_app.state.session import AppConfig

    options.setdefault("sync_interval", 1.0)
    return create_main(AppConfig(server_url=server_url, data_dir=data_dir, **options))


async def open_app(server_url: str, data_dir, *, prefs: dict | None = None, **options: Any):
    """A new session of the app on a device of its own under `data_dir`; pass the same
    `prefs` (that device's memory) to open the same device again."""
    prefs = {} if prefs is None else prefs
    return await FletHarness(
        app_main(server_url, device_folder(data_dir, prefs), **options),
        page_props={"web": True},
        prefs=prefs,
    ).start()


def device_folder(data_dir, prefs: dict) -> Path:
    """The folder of the device whose memory is `prefs`: a new one the first time."""
    return Path(prefs.setdefault("test.device", str(Path(data_dir) / f"device-{uuid.uuid4().hex}")))


async def sign_in(h: FletHarness, login: str, password: str) -> None:
    await h.type("signin-login", login)
    await h.type(PASSWORD_FIELD, password)
    await h.click("signin-submit")
    await h.wait_until(lambda: h.exists("nav") or h.find(key="signin-error").visible)


async def synced(h: FletHarness, timeout: float = 120.0) -> None:
    """Wait until the session's sync loop has completed a sync with nothing left queued."""
    app_session = session_of(h)
    await h.wait_until(
        lambda: (
            app_session.status.last_success is not None
            and app_session.status.state == "idle"
            and app_session.status.queued == 0
        ),
        timeout,
    )


def app_of(h: FletHarness):
    """The RelaisApp of this session (the app keeps itself in page.data, never sent)."""
    return h.page.data


def session_of(h: FletHarness):
    return app_of(h).session


# ---- tap targets ---------------------------------------------------------------------------

MIN_TARGET = 48  # px: supervisors tap with gloves on (not theme.TAP_TARGET: the check stands alone)

# Controls whose Material 3 defaults already give a target of at least 48 px (text fields
# 56, navigation bar 80, list tiles 56, icon buttons, switches, checkboxes and radios are
# padded to 48, tabs 48): for them only a smaller explicit size would be a fault.
_TALL_BY_DEFAULT = (
    ft.TextField,
    ft.Dropdown,
    ft.NavigationBar,
    ft.NavigationRail,
    ft.ListTile,
    ft.IconButton,
    ft.Switch,
    ft.Checkbox,
    ft.Radio,
    ft.Tabs,
    ft.TabBar,
    ft.RadioGroup,
)
_TAP_EVENTS = ("on_click", "on_select", "on_change", "on_tap", "on_long_press")


LINE_HEIGHT = 1.15  # Roboto's line height is about 1.17 times the font size: a lower bound


def tap_height(control: BaseControl) -> float | None:
    """The height a control reserves for a finger: its height or minimum height, whichever
    is set; else, for a tappable container (a card), a lower bound of its content's height
    (one line per text, paddings and spacings); None when nothing says."""
    sizes = [getattr(control, name, None) for name in ("height", "min_height")]
    sizes = [s for s in sizes if isinstance(s, (int, float))]
    if sizes:
        return max(sizes)
    if isinstance(control, ft.Container):
        return content_height(control) or None
    return None


def content_height(control: Any) -> float:
    """At least how tall `control` is drawn: explicit heights, one line per text, vertical
    paddings and column spacings; 0 for what it cannot tell (never an overestimate)."""
    if control is None or not getattr(control, "visible", True):
        return 0.0
    height = getattr(control, "height", None)
    if isinstance(height, (int, float)):
        return float(height)
    if isinstance(control, ft.Text):
        return (control.size or 14) * LINE_HEIGHT
    if isinstance(control, ft.Column):
        shown = [c for c in control.controls if getattr(c, "visible", True)]
        spacing = control.spacing if isinstance(control.spacing, (int, float)) else 0
        return sum(content_height(c) for c in shown) + spacing * max(len(shown) - 1, 0)
    if isinstance(control, ft.Row):
        return max((content_height(c) for c in control.controls), default=0.0)
    if isinstance(control, ft.Container):
        padding = control.padding
        vertical = 0.0
        if isinstance(padding, (int, float)):
            vertical = 2.0 * padding
        elif isinstance(padding, ft.Padding):
            vertical = float(padding.top + padding.bottom)
        return vertical + content_height(control.content)
    content = getattr(control, "content", None)
    return content_height(content) if isinstance(content, BaseControl) else 0.0


def small_tap_targets(h: FletHarness) -> list[str]:
    """Every visible control a user can tap that reserves less than 48 px in height, as
    "Type key=... height=..." (empty when all are big enough)."""
    faults = []
    for control in h.walk():
        if isinstance(control, ft.Service) or not getattr(control, "visible", True):
            continue
        if not any(getattr(control, event, None) for event in _TAP_EVENTS):
            continue
        height = tap_height(control)
        if height is None and isinstance(control, _TALL_BY_DEFAULT):
            continue
        if height is None or height < MIN_TARGET:
            faults.append(f"{type(control).__name__} key={control.key!r} height={height}")
    return faults
