"""The signed-in home: an app bar with the sync badge and one navigation tab per section of
the user's roles (the union when they hold several).

On a phone the sections are a bottom bar and every other screen opens above. From 840 px
wide (a desk), they are a navigation rail, and the list sections show what is tapped in a
pane beside the list (inbox | note, history | note, meeting | worker): `PANES`."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import flet as ft

from field_app import paths
from field_app.components.layout import in_pane
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


# Width from which home is a rail with list and detail panes (Material's "expanded" class).
WIDE = 840

# The sections that show a tapped path beside their list, and which paths.
PANES: dict[str, frozenset[str]] = {
    "inbox": frozenset({paths.NOTE}),
    "history": frozenset({paths.NOTE}),
    "meeting": frozenset({paths.WORKER, paths.NOTE}),
    "workers": frozenset({paths.WORKER, paths.NOTE}),
}
# A supervisor's sections have none: a worker opens the capture screen, a note of their own
# is read in its card; an empty pane beside them would promise what never comes.


def is_wide(page: ft.Page) -> bool:
    return (page.width or 0) >= WIDE


class Home:
    """The bottom view: one tab per section; `sections` builds a section's screen."""

    def __init__(
        self,
        ui: Ui,
        sections: Mapping[str, Callable[[Ui], Screen]],
        tab_id: str | None = None,
        *,
        wide: bool = False,
    ) -> None:
        self.ui = ui
        self.wide = wide
        self.detail_screen: Screen | None = None
        self._sections = sections
        self.tabs = sections_for(ui.session.roles)
        self.tab_id = tab_id if tab_id in self.tabs else self.tabs[0]
        self.screen = sections[self.tab_id](ui)
        self.badge = ui.badge()
        self.title = ft.Text(self.screen.title(), key="home-title")
        self.body = ft.Column(self._content(), key="home-body", spacing=0)
        self.detail = ft.Column(key="detail-pane", spacing=0, scroll=ft.ScrollMode.AUTO)
        self.list_pane = ft.Container(
            ft.Column([self.body], scroll=ft.ScrollMode.AUTO, expand=True),
            key="list-pane",
            expand=2,
        )
        self.detail_box = ft.Container(self.detail, expand=3, key="detail-box")
        self.divider = ft.VerticalDivider(width=1)
        if wide:
            self.nav: ft.NavigationBar | ft.NavigationRail = ft.NavigationRail(
                key="nav",
                selected_index=self.tabs.index(self.tab_id),
                on_change=self._on_nav,
                label_type=ft.NavigationRailLabelType.ALL,
                min_width=88,
                destinations=[
                    ft.NavigationRailDestination(
                        icon=TAB_ICONS[tab][0],
                        selected_icon=TAB_ICONS[tab][1],
                        label=ui.t(f"tab.{tab}"),
                    )
                    for tab in self.tabs
                ],
            )
            self.clear_detail()
            self._show_panes()
            self._count_new()
            return
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
        appbar = ft.AppBar(
            title=self.title,
            actions=[self.badge.control],
            automatically_imply_leading=False,
        )
        if isinstance(self.nav, ft.NavigationBar):
            return ft.View(
                route=paths.HOME,
                padding=0,
                scroll=ft.ScrollMode.AUTO,
                appbar=appbar,
                navigation_bar=self.nav,
                controls=[self.body],
            )
        return ft.View(
            route=paths.HOME,
            padding=0,
            appbar=appbar,
            controls=[
                ft.Row(
                    [
                        self.nav,
                        ft.VerticalDivider(width=1),
                        self.list_pane,
                        self.divider,
                        self.detail_box,
                    ],
                    expand=True,
                    spacing=0,
                    vertical_alignment=ft.CrossAxisAlignment.STRETCH,
                )
            ],
        )

    # Panes (wide screens) -------------------------------------------------------------------

    def _content(self) -> list[ft.Control]:
        """The section's screen; beside a detail pane, as wide as its own pane."""
        controls = list(self.screen.content())
        return in_pane(controls) if self.wide and self.tab_id in PANES else controls

    def accepts(self, pattern: str) -> bool:
        """Whether this section shows a path of `pattern` in its detail pane."""
        return self.wide and pattern in PANES.get(self.tab_id, frozenset())

    def _show_panes(self) -> None:
        self.detail_box.visible = self.divider.visible = self.wide and self.tab_id in PANES

    def show_detail(self, screen: Screen) -> None:
        """`screen` beside the list, with its title and a button that closes it."""
        t = self.ui.t
        self.detail_screen = screen
        header = ft.Container(
            padding=ft.Padding.only(left=16, right=8, top=8),
            content=ft.Row(
                [
                    ft.Text(
                        screen.title(),
                        key="detail-title",
                        size=18,
                        weight=ft.FontWeight.W_600,
                        expand=True,
                    ),
                    ft.IconButton(
                        key="detail-close",
                        icon=ft.Icon(ft.Icons.CLOSE, semantics_label=t("nav.close_pane")),
                        tooltip=t("nav.close_pane"),
                        on_click=lambda e: self.ui.back(),
                    ),
                ]
            ),
        )
        bar = screen.bottom_bar()
        footer = [ft.Container(bar, padding=16)] if bar is not None else []
        self.detail.controls = [header, *in_pane(list(screen.content())), *footer]

    def clear_detail(self) -> None:
        self.detail_screen = None
        self.detail.controls = [
            ft.Container(
                ft.Text(
                    self.ui.t("nav.pick_one"),
                    color=ft.Colors.ON_SURFACE_VARIANT,
                    text_align=ft.TextAlign.CENTER,
                ),
                key="detail-empty",
                alignment=ft.Alignment.CENTER,
                padding=32,
            )
        ]

    def _on_nav(self, e: ft.Event[ft.NavigationBar] | ft.Event[ft.NavigationRail]) -> None:
        index = e.control.selected_index or 0
        self.ui.go(paths.tab(self.tabs[index]))

    def open_tab(self, tab_id: str) -> bool:
        """Show another section; False if this user has no such section."""
        if tab_id not in self.tabs:
            return False
        self.tab_id = tab_id
        self.nav.selected_index = self.tabs.index(tab_id)
        self.clear_detail()
        self._show_panes()
        self.screen = self._sections[tab_id](self.ui)
        self.title.value = self.screen.title()
        self.body.controls = self._content()
        self.screen.opened()
        return True

    def refresh(self) -> None:
        self.screen.refresh()
        self._count_new()
        if self.detail_screen is not None:
            self.detail_screen.refresh()
