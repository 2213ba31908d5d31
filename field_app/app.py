"""The Flet entry point: `main(page)` builds one RelaisApp per session (tab, window, phone).

RelaisApp owns navigation (through its Navigator: field_app/navigation.py), language, theme
and the session's lifecycle (connect, disconnect, close); screens get it as their `Ui`."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

import flet as ft
from flet.controls.context import context

from field_app import paths
from field_app.components.layout import notice
from field_app.components.sync_badge import SyncBadge
from field_app.i18n import LOCALES, Translator, supported
from field_app.navigation import Navigator
from field_app.screens.home import is_wide
from field_app.screens.sign_in import SignInScreen
from field_app.state.device import DeviceFolder
from field_app.state.session import AppConfig, AppSession
from field_app.sync import SyncStatus
from field_app.theme import TAP_TARGET, apply_theme

log = logging.getLogger(__name__)

APP_CHECK_SECONDS = 2.0  # while the first visit fills the offline cache
APP_UPDATE_CHECK_SECONDS = 60.0
NOTICE_SECONDS = 8.0  # long enough to read a sentence twice
# How long a confirmed action waits for the client to say its dialog has closed.
DIALOG_GONE_S = 2.0


class RelaisApp:
    """Everything of one session. Created inside main(): no state is shared between sessions."""

    def __init__(self, page: ft.Page, config: AppConfig) -> None:
        self.page = page
        self.config = config
        self.t = Translator()
        self.high_contrast = False
        self.session: AppSession = None  # type: ignore[assignment]  # set in start()
        self.nav = Navigator(self, page)
        self._last_sync: object = None
        self._services: list[Any] = []  # services are dropped unless referenced
        self._toasts = 0
        self._snack: ft.SnackBar | None = None
        self._dialogs: list[ft.AlertDialog] = []  # confirmations open, see close_dialogs

    # Start and lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        page = self.page
        page.data = self  # per-session, never sent to the client: lets tests reach the app
        page.title = "Relais"
        page.padding = 0
        page.window.min_width = 340
        page.window.min_height = 560
        platform = self.config.platform
        await platform.prepare(waiting=self._show_other_tab)
        device = DeviceFolder(
            self.config.data_dir or platform.data_dir, on_write=platform.committed
        )
        settings = device.settings()
        self.t = Translator(settings.language or "fr")
        self.high_contrast = settings.high_contrast
        self._apply_look()
        self.session = AppSession(self.config, device)
        self.session.subscribe(self._on_status)
        self.session.on_signed_out = self._signed_out_by_server
        page.on_connect = self._on_connect
        page.on_disconnect = self._on_disconnect
        page.on_close = self._on_close
        page.on_view_pop = self._on_view_pop
        page.on_route_change = self._on_route_change
        page.on_resize = self._on_resize
        page.on_app_lifecycle_state_change = self._on_lifecycle
        if platform.online() is None:
            connectivity = ft.Connectivity()
            connectivity.on_change = lambda e: self.session.request_sync()
            self._services.append(connectivity)
        else:
            platform.watch_network(self.session.network_changed)
        if await platform.blocking(self.session.resume_last_user):
            self._adopt_user_language()
            self.show_home()
            self.session.start_sync(page.run_task)
        else:
            self.show_sign_in()
        page.update()
        platform.started()
        if platform.cached_web_app:
            self.run(self._watch_the_app_itself)

    async def _watch_the_app_itself(self) -> None:
        """Say when the app first becomes usable offline, and when a newer version waits."""
        platform = self.config.platform
        device = self.session.device
        if not device.settings().told_offline_ready:  # once per device: the first visit
            while not await platform.offline_ready():
                await asyncio.sleep(APP_CHECK_SECONDS)
            device.update(told_offline_ready=True)
            self.run(self._say_once, self.t("app.offline_ready"), "offline-ready")
        # A start online is when the browser fetches a newer version: look often at first.
        for attempt in itertools.count():
            if await platform.newer_version_ready():
                break
            soon = attempt * APP_CHECK_SECONDS < APP_UPDATE_CHECK_SECONDS
            await asyncio.sleep(APP_CHECK_SECONDS if soon else APP_UPDATE_CHECK_SECONDS)
        self._snack = ft.SnackBar(
            ft.Text(self.t("app.update_ready"), key="toast"),
            key="update-ready",
            action=self.t("app.restart"),
            on_action=lambda e: self._restart(),
            duration=ft.Duration(minutes=10),
        )
        self.page.show_dialog(self._snack)
        self.page.update()

    async def _say_once(self, text: str, key: str) -> None:
        """`text` above what is on top, seen once: it goes with its close button, after
        NOTICE_SECONDS, or with the screen (a toast stayed across screens, over lists)."""
        if not self.page.views:
            return
        view = self.page.views[-1]

        def close() -> None:
            if banner in view.controls:
                view.controls.remove(banner)

        banner = notice(text, key=key, close=self.t("common.close"), on_close=close)
        view.controls.insert(0, banner)
        self.page.update()
        await asyncio.sleep(NOTICE_SECONDS)
        if banner in view.controls:
            close()
            self.page.update()

    def _restart(self) -> None:
        """Into the newer version: what is queued is on disk first."""

        async def restart() -> None:
            await self.session.durable()
            self.config.platform.restart()

        self.run(restart)

    def _show_other_tab(self) -> None:
        """Relais is open in another tab, which holds the store: say so until it closes."""
        self.page.views.clear()
        self.page.views.append(
            ft.View(
                route="/",
                controls=[
                    ft.Container(
                        ft.Text(self.t("app.other_tab"), key="other-tab", size=18),
                        padding=24,
                    )
                ],
            )
        )
        self.page.update()
        self.config.platform.started()

    def _on_connect(self, e: ft.Event[Any]) -> None:
        if self.session.signed_in:
            self.session.start_sync(self.page.run_task)

    def _on_disconnect(self, e: ft.Event[Any]) -> None:
        self.session.pause_sync()

    async def _on_close(self, e: ft.Event[Any]) -> None:
        await self.session.close()

    def _on_lifecycle(self, e: ft.AppLifecycleStateChangeEvent) -> None:
        if e.state in (ft.AppLifecycleState.RESUME, ft.AppLifecycleState.SHOW):
            self.session.request_sync()

    # Screens ------------------------------------------------------------------------------

    def show_sign_in(self, message_key: str = "", previous: SignInScreen | None = None) -> None:
        """The sign-in screen; the path stays, to be shown once signed in (a deep link)."""
        self.close_dialogs()
        self.nav.clear()
        fixed = self.config.fixed_server
        server = fixed or self.config.server_url or self.session.last_server() or ""
        screen = SignInScreen(
            self,
            server=server,
            server_fixed=fixed is not None,
            device_name=self.config.platform.device_name(),
            message_key=message_key,
        )
        if previous is not None:
            screen.carry_over(previous)
        self._sign_in = screen
        self.page.views.clear()
        self.page.views.append(
            ft.View(
                route=paths.HOME,
                padding=0,
                scroll=ft.ScrollMode.AUTO,
                controls=list(screen.content()),
            )
        )

    async def signed_in(self) -> None:
        self._adopt_user_language()
        self.show_home()
        self.session.start_sync(self.page.run_task)
        self.page.update()

    def _adopt_user_language(self) -> None:
        """The user's language from the server, unless this device chose one."""
        user = self.session.user
        if self.session.device.settings().language is None and user is not None:
            self.t = Translator(supported(user.language))
            self._apply_look()

    def show_home(self) -> None:
        """Signed in: home, and the screen at the current path above it."""
        self.nav.show(self.nav.path)

    def badge(self) -> SyncBadge:
        badge = SyncBadge(self.t, self.session.request_sync)
        badge.show(self.session.status)
        return badge

    def go(self, path: str) -> None:
        self.nav.go(path)

    def back(self) -> None:
        self.nav.back()

    async def _on_view_pop(self, e: ft.ViewPopEvent) -> None:
        self.nav.view_popped(e.route)
        self.page.update()

    def _on_route_change(self, e: ft.RouteChangeEvent) -> None:
        if not self.nav.route_changed(e.route):
            context.disable_auto_update()  # our own navigation coming back: nothing to send

    def _on_resize(self, e: ft.PageResizeEvent) -> None:
        """Across 840 px, home changes between a bottom bar and a rail with panes; what is
        open, and what the user typed in it, stays."""
        if self.nav.home is not None and self.nav.wide != is_wide(self.page):
            self.nav.rebuild()
        else:
            context.disable_auto_update()  # a resize that changes nothing sends nothing

    def refresh(self) -> None:
        self.nav.refresh()

    def toast(self, text: str) -> None:
        """A short message at the bottom. Each one gets its own key: SnackBars sharing a key
        were merged into one control by Flet's diff, and dismissing the second of two quick
        toasts then crashed the handler ("Frozen controls cannot be updated")."""
        previous = self._snack
        if previous is not None and previous.open:  # the client sets open=False on dismiss
            previous.open = False  # replaced, not queued behind: the newest message counts
        self._toasts += 1
        self._snack = ft.SnackBar(ft.Text(text, key="toast"), key=f"snack-{self._toasts}")
        self.page.show_dialog(self._snack)

    def confirm(
        self, *, key: str, title: str, text: str, confirm: str, on_confirm: Callable[[], Any]
    ) -> None:
        """A yes/no dialog. Each button closes this very dialog first (not `pop_dialog`,
        which closes the newest open one: a toast shown meanwhile), then acts once, after
        the client says the dialog has gone: signing out replaced the views while the dialog
        was closing, and the dialog stayed on screen with buttons that did nothing."""
        answered = False
        gone = asyncio.Event()

        def close() -> bool:
            nonlocal answered
            first, answered = not answered, True
            self.close_dialog(dialog)
            return first

        async def yes(e: ft.Event[Any]) -> None:
            if not close():
                return
            with contextlib.suppress(TimeoutError):  # a client that never says: act anyway
                await asyncio.wait_for(gone.wait(), DIALOG_GONE_S)
            result = on_confirm()
            if asyncio.iscoroutine(result):
                await result

        dialog = ft.AlertDialog(
            key=key,
            modal=True,
            title=ft.Text(title),
            content=ft.Text(text),
            actions=[
                ft.TextButton(
                    self.t("common.cancel"),
                    key=f"{key}-cancel",
                    height=TAP_TARGET,
                    on_click=lambda e: close(),
                ),
                ft.FilledButton(confirm, key=f"{key}-confirm", height=TAP_TARGET, on_click=yes),
            ],
            on_dismiss=lambda e: gone.set(),
        )
        self.show_dialog(dialog)

    def show_dialog(self, dialog: ft.AlertDialog) -> None:
        """A dialog the app closes by name (`close_dialog`), and on signing out."""
        self._dialogs.append(dialog)
        self.page.show_dialog(dialog)

    def close_dialog(self, dialog: ft.AlertDialog) -> None:
        """This dialog, not `page.pop_dialog()`'s newest open one (often a toast)."""
        if dialog in self._dialogs:
            self._dialogs.remove(dialog)
        if dialog.open:
            dialog.open = False
            dialog.update()

    def close_dialogs(self) -> None:
        """The views are about to be replaced (signed out): no dialog stays over them."""
        for dialog in list(self._dialogs):
            self.close_dialog(dialog)

    def run(self, task: Callable[..., Awaitable[Any]], *args: Any) -> None:
        self.page.run_task(task, *args)

    # Settings -----------------------------------------------------------------------------

    def _apply_look(self) -> None:
        apply_theme(self.page, self.high_contrast)
        language, country = LOCALES[self.t.language]
        self.page.locale_configuration = ft.LocaleConfiguration(
            supported_locales=[ft.Locale(*LOCALES[code]) for code in LOCALES],
            current_locale=ft.Locale(language, country),
        )

    def set_language(self, language: str) -> None:
        self.t = Translator(language)
        self.session.device.update(language=self.t.language)
        self._apply_look()
        self._rerender()

    def set_high_contrast(self, on: bool) -> None:
        self.high_contrast = on
        self.session.device.update(high_contrast=on)
        self._apply_look()
        self._rerender()

    def _rerender(self) -> None:
        if self.nav.home is not None:
            self.nav.rebuild()
        else:
            self.show_sign_in(previous=self._sign_in)

    async def sign_out(self) -> None:
        await self.session.sign_out()
        self.show_sign_in()
        self.nav.forget()
        self.page.update()

    async def _signed_out_by_server(self, code: str) -> None:
        await self.session.close()
        self.show_sign_in("signin.signed_out")
        self.page.update()

    # Sync status --------------------------------------------------------------------------

    def _on_status(self, status: SyncStatus) -> None:
        """Called by the sync loop, sometimes inside an event handler (an action queues and
        wakes the loop). Show it just after: an explicit update() inside a handler would
        cancel that handler's own automatic update."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        loop.call_soon(self._show_status, status)

    def _show_status(self, status: SyncStatus) -> None:
        context.reset_auto_update()  # our own update flag, not the handler's
        badges = self.nav.badges()
        if self.session.user is None and not badges:
            return
        for badge in badges:
            badge.show(status)
        data_mark = (status.last_success, status.queued, status.rejected)
        if data_mark != self._last_sync:
            self._last_sync = data_mark
            self.refresh()
        try:
            self.page.update()
        except Exception as exc:  # the session may be closing
            log.info("status not shown (%s)", type(exc).__name__)


def create_main(config: AppConfig) -> Callable[[ft.Page], Awaitable[None]]:
    async def main(page: ft.Page) -> None:
        await RelaisApp(page, config).start()

    return main


def config_from_environment(server_url: str | None = None) -> AppConfig:
    return AppConfig(server_url=server_url or os.environ.get("RELAIS_SERVER_URL", ""))


main = create_main(config_from_environment())
