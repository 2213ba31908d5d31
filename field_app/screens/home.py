"""The signed-in home: an app bar with the sync badge and one navigation tab per section of
the user's roles (the union when they hold several)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import flet as ft

from field_app import paths
from field_app.screens.context import Screen, Ui
from field_app.state.records import now
from shared_models.vocabulary import Role


def sections_for(roles: set[str]) -> list[str]:
    """Tab ids in order; an admin gets administration, which shows no notes."""
    tabs: list[str] = []
    if Role.SUPERVISOR in roles:
        tabs += ["team", "my_notes"]
    if Role.COUNSELLOR in roles:
        tabs += ["inbox", "workers"]
    if Role.COORDINATOR in roles:
        tabs += ["meeting", "history", "reports"]
    if Role.ADMIN in roles or not tabs:
        tabs.append("admin")
    return [*tabs, "settings"]


TAB_ICONS: dict[str, tuple[ft.IconData, ft.IconData]] = {
    "team": (ft.Icons.GROUPS_OUTLINED, ft.Icons.GROUPS),
    "my_notes": (ft.Icons.STICKY_NOTE_2_OUTLINED, ft.Icons.STICKY_NOTE_2),
    "inbox": (ft.Icons.INBOX_OUTLINED, ft.Icons.INBOX),
    "workers": (ft.Icons.PEOPLE_OUTLINE, ft.Icons.PEOPLE),
    "meeting": (ft.Icons.EVENT_NOTE_OUTLINED, ft.Icons.EVENT_NOTE),
    "history": (ft.Icons.HISTORY, ft.Icons.HISTORY),
    "reports": (ft.Icons.INSIGHTS_OUTLINED, ft.Icons.INSIGHTS),
    "admin": (ft.Icons.ADMIN_PANEL_SETTINGS_OUTLINED, ft.Icons.ADMIN_PANEL_SETTINGS),
    "settings": (ft.Icons.SETTINGS_OUTLINED, ft.Icons.SETTINGS),
}


class Home:
    """The bottom view: one tab per section; `sections` builds a section's screen."""

    def __init__(
        self, ui: Ui, sections: Mapping[str, Callable[[Ui], Screen]], tab_id: str | None = None
    ) -> None:
        self.ui = ui
        self._sections = sections
        self.tabs = sections_for(ui.session.roles)
        self.tab_id = tab_id if tab_id in self.tabs else self.tabs[0]
        self.screen = sections[self.tab_id](ui)
        self.badge = ui.badge()
        self.title = ft.Text(self.screen.title(), key="home-title")
        self.body = ft.Column(self.screen.content(), key="home-body", spacing=0)
        many = len(self.tabs) > 5
        self.nav = ft.NavigationBar(
            key="nav",
            selected_index=self.tabs.index(self.tab_id),
            on_change=self._on_nav,
            label_behavior=(
                ft.NavigationBarLabelBehavior.ONLY_SHOW_SELECTED
                if many
                else ft.NavigationBarLabelBehavior.ALWAYS_SHOW
            ),
            destinations=[
                ft.NavigationBarDestination(
                    icon=TAB_ICONS[tab][0],
                    selected_icon=TAB_ICONS[tab][1],
                    label=ui.t(f"tab.{tab}"),
                )
                for tab in self.tabs
            ],
        )
        self._count_new()

    def _count_new(self) -> None:
        """The inbox tab carries the number of notes not opened yet, seen from any tab."""
        if "inbox" not in self.tabs:
            return
        new = self.ui.session.reads.new_in_inbox(now())
        destination = self.nav.destinations[self.tabs.index("inbox")]
        badge = ft.Badge(label=str(new), key="badge-inbox") if new else None
        destination.icon = ft.Icon(TAB_ICONS["inbox"][0], badge=badge)
        destination.selected_icon = ft.Icon(TAB_ICONS["inbox"][1], badge=badge)

    def view(self) -> ft.View:
        return ft.View(
            route=paths.HOME,
            padding=0,
            scroll=ft.ScrollMode.AUTO,
            appbar=ft.AppBar(
                title=self.title,
                actions=[self.badge.control],
                automatically_imply_leading=False,
            ),
            navigation_bar=self.nav,
            controls=[self.body],
        )

    def _on_nav(self, e: ft.Event[ft.NavigationBar]) -> None:
        self.ui.go(paths.tab(self.tabs[e.control.selected_index]))

    def open_tab(self, tab_id: str) -> bool:
        """Show another section; False if this user has no such section."""
        if tab_id not in self.tabs:
            return False
        self.tab_id = tab_id
        self.nav.selected_index = self.tabs.index(tab_id)
        self.screen = self._sections[tab_id](self.ui)
        self.title.value = self.screen.title()
        self.body.controls = list(self.screen.content())
        self.screen.opened()
        return True

    def refresh(self) -> None:
        self.screen.refresh()
        self._count_new()
