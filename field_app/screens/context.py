"""What every screen gets: the page, the session and its reads, the translator, and helpers
(go to a path, go back, a short message, a confirmation dialog)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, Self

import flet as ft

from field_app.components.sync_badge import SyncBadge
from field_app.i18n import Translator
from field_app.state.reads import Reads
from field_app.state.session import AppSession

if TYPE_CHECKING:
    from collections.abc import Awaitable


class Ui(Protocol):
    page: ft.Page
    t: Translator
    session: AppSession
    high_contrast: bool

    def go(self, path: str) -> None:
        """Open the screen at `path` (field_app/paths.py), above this one."""

    def back(self) -> None: ...
    def badge(self) -> SyncBadge: ...
    def toast(self, text: str) -> None: ...
    def confirm(
        self, *, key: str, title: str, text: str, confirm: str, on_confirm: Callable[[], Any]
    ) -> None: ...
    def show_dialog(self, dialog: ft.AlertDialog) -> None: ...
    def close_dialog(self, dialog: ft.AlertDialog) -> None: ...
    def refresh(self) -> None: ...
    def run(self, task: Callable[..., Awaitable[Any]], *args: Any) -> None: ...
    def set_language(self, language: str) -> None: ...
    def set_high_contrast(self, on: bool) -> None: ...
    async def signed_in(self) -> None: ...
    async def sign_out(self) -> None: ...


class Screen:
    """A full screen: `content()` is built once, `refresh()` re-reads the data in place."""

    title_key = "app.name"

    def __init__(self, ui: Ui) -> None:
        self.ui = ui
        self.t = ui.t
        self.session = ui.session

    @property
    def reads(self) -> Reads:
        """Everything a screen shows comes from here, never from the store itself."""
        return self.session.reads

    def title(self) -> str:
        return self.t(self.title_key)

    def link(self, path: str | None) -> Callable[[object], None] | None:
        """A tap handler that opens `path` (field_app/paths.py); None when there is none."""
        if path is None:
            return None

        def open_path(e: object) -> None:
            self.ui.go(path)

        return open_path

    def content(self) -> list[ft.Control]:
        raise NotImplementedError

    def bottom_bar(self) -> ft.Control | None:
        """A bar pinned under the screen (say, the Save button), if any."""
        return None

    def refresh(self) -> None:
        """Called after each completed sync and after the user's own actions."""

    def unsaved(self) -> bool:
        """Something typed or chosen here that leaving would lose: back, a swipe or the
        browser's back then ask first (navigation.py)."""
        return False

    def carry_over(self, previous: Self) -> None:
        """Take what the user typed or chose in `previous`, this same screen as it was before
        the views were laid out again (navigation.py, `Navigator.rebuild`)."""

    def opened(self) -> None:
        """Called once the screen is on the page (for effects such as delivery.seen)."""
