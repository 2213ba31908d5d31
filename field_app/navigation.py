"""The routing table and the view stack: which screen each path shows, and how the page's
views follow the path (taps in the app, the browser's back and forward, a deep link, the
phone's back button or swipe).

Home is the bottom view; its sections are paths too (/inbox, /history, /settings...). Every
other screen is a view above it. A screen opens another with `ui.go(path)`; back pops.
On a wide screen (field_app/screens/home.py, `WIDE`), a note or a worker tapped in a list
section shows in home's detail pane instead, at its own path: back closes the pane.
The screen is built at once (no round trip to the client), then the client is told the
path; the route change it sends back for that path is recognised and ignored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import flet as ft

from field_app import paths
from field_app.components.layout import bar_frame
from field_app.screens.admin import AdminScreen
from field_app.screens.capture import CaptureScreen
from field_app.screens.context import Screen, Ui
from field_app.screens.heads_up import HeadsUpScreen
from field_app.screens.history import HistoryScreen
from field_app.screens.home import Home, is_wide
from field_app.screens.inbox import InboxScreen
from field_app.screens.meeting import MeetingScreen
from field_app.screens.my_notes import MyNotesScreen
from field_app.screens.note_detail import NoteDetailScreen
from field_app.screens.reports import ReportsScreen
from field_app.screens.roster import RosterScreen
from field_app.screens.settings import SettingsScreen
from field_app.screens.worker import WorkerScreen
from field_app.screens.workers import WorkersScreen

if TYPE_CHECKING:
    from field_app.components.sync_badge import SyncBadge

log = logging.getLogger(__name__)

# Home's sections, one tab each, at paths.tab(id); which ones a user gets: home.sections_for.
SECTIONS: Mapping[str, Callable[[Ui], Screen]] = {
    "team": RosterScreen,
    "my_notes": MyNotesScreen,
    "inbox": InboxScreen,
    "workers": WorkersScreen,
    "meeting": MeetingScreen,
    "history": HistoryScreen,
    "reports": ReportsScreen,
    "admin": AdminScreen,
    "settings": SettingsScreen,
}

# The screens above home: a path pattern and what builds its screen from the path's
# parameters (None when there is nothing to show there, say an unknown worker).
ROUTES: Mapping[str, Callable[..., Screen | None]] = {
    paths.NOTE: NoteDetailScreen,
    paths.WORKER: WorkerScreen,
    paths.CAPTURE: CaptureScreen.for_worker,
    paths.TEAM_CAPTURE: CaptureScreen.for_team,
    paths.HEADS_UP: HeadsUpScreen.for_worker,
}


def screen_for(ui: Ui, path: str) -> tuple[str, Screen] | None:
    """The screen above home at `path` and the pattern it matched, if the table has one and
    it has something to show."""
    for pattern, build in ROUTES.items():
        params = paths.match(pattern, path)
        if params is not None:
            screen = build(ui, **params)
            return None if screen is None else (pattern, screen)
    return None


def section_of(path: str) -> str | None:
    """The home section a path names ("/" names none: the user's first)."""
    return next((tab for tab in SECTIONS if paths.tab(tab) == paths.clean(path)), None)


@dataclass
class _Opened:
    path: str
    screen: Screen
    badge: SyncBadge


class Navigator:
    """The views of one signed-in session: home at the bottom, opened screens above it."""

    def __init__(self, ui: Ui, page: ft.Page) -> None:
        self.ui = ui
        self.page = page
        self.home: Home | None = None
        self._home_badge: SyncBadge | None = None
        self._opened: list[_Opened] = []
        self._detail: str | None = None  # the path shown in home's detail pane (wide)
        self.home_path = paths.HOME  # what the address bar shows while home is on top
        self.client_path = paths.clean(page.route)  # what the client's address bar shows
        self._told: list[str] = []  # paths sent to the client, their route change not back yet
        self._pending = self.client_path  # signed out: the path to show once signed in

    @property
    def path(self) -> str:
        """The path of what is on top (signed out: what will be, once signed in)."""
        if self.home is None:
            return self._pending
        if self._opened:
            return self._opened[-1].path
        return self._detail or self.home_path

    def badges(self) -> list[SyncBadge]:
        found = [self._home_badge] if self._home_badge else []
        return found + [o.badge for o in self._opened]

    def clear(self) -> None:
        """Signed out: no home, nothing open (the sign-in screen takes the page); the path
        stays, to be shown again after signing in."""
        self._pending = self.path
        self.home, self._home_badge = None, None
        self._opened.clear()
        self._detail = None

    def forget(self) -> None:
        """The user signed out: whoever signs in next starts at home."""
        self.clear()
        self._pending = paths.HOME
        self._tell(paths.HOME)

    # Showing a path --------------------------------------------------------------------

    def show(self, path: str) -> None:
        """Build the views for `path` afresh: home, and the screen at `path` above it (a deep
        link, a browser's back or forward to a screen no longer open)."""
        path = paths.clean(path)
        tab = section_of(path)
        self._show_home(tab)
        assert self.home is not None
        self.home_path = paths.tab(self.home.tab_id) if tab in self.home.tabs else paths.HOME
        if tab is None and path != paths.HOME:
            found = screen_for(self.ui, path)
            if found is not None:
                self._open(path, *found)
        self._tell(self.path)

    def rebuild(self) -> None:
        """Lay out again what is shown (the window crossed 840 px, a tablet turned, the
        language or the contrast changed): the same section, the same screens open, each
        with what the user had typed or chosen in it, unsaved work included."""
        if self.home is None:
            return
        detail = self.home.detail_screen
        shown = [(self._detail, detail)] if self._detail and detail else []
        shown += [(o.path, o.screen) for o in self._opened]
        home_path = self.home_path
        self._show_home(self.home.tab_id)
        self.home_path = home_path
        for path, previous in shown:
            found = screen_for(self.ui, path)
            if found is not None:
                self._open(path, *found)
                found[1].carry_over(previous)
        self._tell(self.path)

    def _show_home(self, tab: str | None) -> None:
        """Home alone, at section `tab` (None: the user's first)."""
        self.clear()
        self.home = Home(self.ui, SECTIONS, tab, wide=is_wide(self.page))
        self._home_badge = self.home.badge
        self.page.views.clear()
        self.page.views.append(self.home.view())
        self.home.screen.opened()

    @property
    def wide(self) -> bool:
        """Whether home shows as a rail and panes (False when signed out)."""
        return self.home is not None and self.home.wide

    def _open(self, path: str, pattern: str, screen: Screen) -> None:
        """Beside the list when home's section shows such paths there, else above home."""
        assert self.home is not None
        if not self._opened and self.home.accepts(pattern):
            self._detail = path
            self.home.show_detail(screen)
            screen.opened()
        else:
            self._push(path, screen)

    def _top(self) -> Screen | None:
        """The screen the user works in: the one on top, or the detail pane's beside home."""
        if self._opened:
            return self._opened[-1].screen
        return self.home.detail_screen if self.home is not None and self._detail else None

    def _loses_detail(self, path: str) -> bool:
        """Whether going to `path` would drop unsaved work in the detail pane: another
        section, or another item in its place (a screen opened above it keeps it)."""
        if self.home is None or self._opened or self._detail in (None, path):
            return False
        pattern = next((p for p in ROUTES if paths.match(p, path) is not None), None)
        replaced = pattern is None or self.home.accepts(pattern)
        detail = self.home.detail_screen
        return replaced and detail is not None and detail.unsaved()

    def _close_detail(self) -> None:
        if self.home is not None and self._detail is not None:
            self._detail = None
            self.home.clear_detail()

    def go(self, path: str, *, discard: bool = False) -> None:
        """Open `path` from a tap: a section of home, a screen already open (back down to
        it), or a new screen above the current one. Unsaved work in the detail pane that
        this would drop asks first, unless `discard`."""
        path = paths.clean(path)
        if self.home is None:
            return
        if not discard and self._loses_detail(path):
            self._keep_selection()
            self._ask_to_discard(lambda: self.go(path, discard=True))
            return
        tab = section_of(path)
        if path == paths.HOME or tab is not None:
            popped = bool(self._opened)
            self._pop_to(0)
            self._close_detail()
            if tab is not None and tab != self.home.tab_id and self.home.open_tab(tab):
                self.home_path = path  # a fresh section: it has just read its data
            elif popped:
                self.refresh()
        elif any(o.path == path for o in self._opened):
            self._pop_to(1 + next(i for i, o in enumerate(self._opened) if o.path == path))
            self.refresh()
        elif path == self._detail and not self._opened:
            self.refresh()
        else:
            found = screen_for(self.ui, path)
            if found is None:
                log.info("nothing to show at %s", path.split("/")[1])
                return
            self._open(path, *found)
        self._tell(self.path)

    def back(self, *, discard: bool = False) -> None:
        """Close the screen on top; one with unsaved work asks first, unless `discard`."""
        if not self._opened:
            if self._detail is not None:
                if not discard and self._loses_detail(self.home_path):
                    self._ask_to_discard(lambda: self.back(discard=True))
                    return
                self._close_detail()
                self._tell(self.path)
            return
        if not discard and self._opened[-1].screen.unsaved():
            self._ask_to_discard(lambda: self.back(discard=True))
            return
        self._pop_to(len(self._opened) - 1)
        self.refresh()
        self._tell(self.path)

    def refresh(self) -> None:
        if self.home is not None:
            self.home.refresh()
        for opened in self._opened:
            opened.screen.refresh()

    # Events from the client ----------------------------------------------------------------

    def route_changed(self, route: str) -> bool:
        """The client's address changed: our own navigation coming back (ignored), or the
        browser's back or forward, or an address typed in. True if the views changed."""
        path = paths.clean(route)
        self.client_path = path
        if path in self._told:
            del self._told[: self._told.index(path) + 1]
            return False
        if self.home is None:
            self._pending = path
            return False
        if path == self.path:
            return False
        top = self._top()
        if top is not None and top.unsaved() and (self._opened or self._loses_detail(path)):
            self._tell(self.path)  # stay, in the address bar too, until the user says
            self._ask_to_discard(lambda: self.go(path, discard=True))
            return True
        if path == self.home_path and not self._opened and self._detail is not None:
            self.back()  # the browser's back closes the pane
        elif path == self.home_path or any(o.path == path for o in self._opened):
            self.go(path)  # back down to it
        else:
            self.show(path)
        return True

    def view_popped(self, route: str) -> None:
        """The phone's back button or a swipe took the view at `route` off."""
        path = paths.clean(route)
        index = next((i for i, o in enumerate(self._opened) if o.path == path), None)
        if index is None:
            return
        self._pop_to(index)
        self.refresh()
        self._tell(self.path)

    async def _confirm_pop(self, view: ft.View, screen: Screen) -> None:
        """The phone's back button or a swipe, before the view goes: unsaved work stays
        until the user says to discard it (answered at once: the client waits for us)."""
        if not screen.unsaved():
            await view.confirm_pop(True)
            return
        await view.confirm_pop(False)
        self._ask_to_discard(lambda: self.back(discard=True))

    def _keep_selection(self) -> None:
        """The rail still shows the section the user is in while they decide."""
        if self.home is not None:
            self.home.nav.selected_index = self.home.tabs.index(self.home.tab_id)

    def _ask_to_discard(self, discard: Callable[[], None]) -> None:
        t = self.ui.t

        def discarded() -> None:
            discard()
            self.page.update()  # closing the dialog has updated the page: no automatic one

        self.ui.confirm(
            key="discard-dialog",
            title=t("discard.title"),
            text=t("discard.text"),
            confirm=t("discard.confirm"),
            on_confirm=discarded,
        )

    # The stack -------------------------------------------------------------------------

    def _push(self, path: str, screen: Screen) -> None:
        t = self.ui.t
        badge = self.ui.badge()
        self._opened.append(_Opened(path, screen, badge))
        back = ft.IconButton(
            key="back",
            icon=ft.Icon(ft.Icons.ARROW_BACK, semantics_label=t("nav.back")),
            tooltip=t("nav.back"),
            on_click=lambda e: self.back(),
        )
        view = ft.View(
            route=path,
            padding=0,
            scroll=ft.ScrollMode.AUTO,
            appbar=ft.AppBar(
                leading=back,
                # Two lines rather than "Note about Wor…" beside the sync badge on a phone:
                # the title often names the worker the screen is about.
                title=ft.Text(
                    screen.title(),
                    key="screen-title",
                    size=18,
                    max_lines=2,
                    overflow=ft.TextOverflow.ELLIPSIS,
                ),
                actions=[badge.control],
            ),
            controls=list(screen.content()),
        )
        if type(screen).unsaved is not Screen.unsaved:  # a screen that can hold unsaved work

            async def confirm_pop(e: ft.Event[ft.View]) -> None:
                await self._confirm_pop(view, screen)

            view.on_confirm_pop = confirm_pop
        bar = screen.bottom_bar()
        if bar is not None:
            view.bottom_appbar = ft.BottomAppBar(
                content=bar_frame(bar), height=80, padding=ft.Padding.symmetric(vertical=10)
            )
        self.page.views.append(view)
        screen.opened()

    def _pop_to(self, depth: int) -> None:
        """Keep the first `depth` opened screens (0: home alone)."""
        del self._opened[depth:]
        del self.page.views[1 + depth :]

    def _tell(self, path: str) -> None:
        """Show `path` in the client's address bar (and its history), once."""
        if path == self.client_path:
            return
        self.client_path = path
        self._told.append(path)
        self.page.navigate(path)
