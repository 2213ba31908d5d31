"""The signed-in home: an app bar with the sync badge and one navigation tab per section of
the user's roles (the union when they hold several)."""

from __future__ import annotations

import flet as ft

from field_app.screens.context import Screen, Ui
from shared_models.vocabulary import Role


def sections_for(roles: set[str]) -> list[str]:
    """Tab ids in order; an admin-only user gets the notice and settings, never notes."""
    tabs: list[str] = []
    if Role.SUPERVISOR in roles:
        tabs += ["team", "my_notes"]
    if Role.COUNSELLOR in roles:
        tabs += ["inbox", "workers"]
    if Role.COORDINATOR in roles:
        tabs += ["meeting", "history", "reports"]
    if not tabs:
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


def make_tab(tab_id: str, ui: Ui) -> Screen:
    from field_app.screens import (
        admin,
        inbox,
        meeting,
        my_notes,
        reports,
        roster,
        settings,
        workers,
    )
    from field_app.screens import history as history_screen

    factories = {
        "team": roster.RosterScreen,
        "my_notes": my_notes.MyNotesScreen,
        "inbox": inbox.InboxScreen,
        "workers": workers.WorkersScreen,
        "meeting": meeting.MeetingScreen,
        "history": history_screen.HistoryScreen,
        "reports": reports.ReportsScreen,
        "admin": admin.AdminScreen,
        "settings": settings.SettingsScreen,
    }
    return factories[tab_id](ui)


class Home:
    def __init__(self, ui: Ui) -> None:
        self.ui = ui
        self.tabs = sections_for(ui.session.roles)
        self.tab_id = self.tabs[0]
        self.screen = make_tab(self.tab_id, ui)
        self.title = ft.Text(self.screen.title(), key="home-title")
        self.body = ft.Column(self.screen.content(), key="home-body", spacing=0)
        many = len(self.tabs) > 5
        self.nav = ft.NavigationBar(
            key="nav",
            selected_index=0,
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

    def view(self) -> ft.View:
        return ft.View(
            route="/",
            padding=0,
            scroll=ft.ScrollMode.AUTO,
            appbar=ft.AppBar(
                title=self.title,
                actions=[self.ui.badge()],  # type: ignore[attr-defined]
                automatically_imply_leading=False,
            ),
            navigation_bar=self.nav,
            controls=[self.body],
        )

    def _on_nav(self, e: ft.Event[ft.NavigationBar]) -> None:
        self.open_tab(self.tabs[e.control.selected_index])

    def open_tab(self, tab_id: str) -> None:
        if tab_id not in self.tabs:
            return
        self.tab_id = tab_id
        self.nav.selected_index = self.tabs.index(tab_id)
        self.screen = make_tab(tab_id, self.ui)
        self.title.value = self.screen.title()
        self.body.controls = self.screen.content()
        self.screen.opened()

    def refresh(self) -> None:
        self.screen.refresh()
