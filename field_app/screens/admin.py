"""For a user whose only role is admin: a short notice. Administration is done with the
`relais` command on the server, and an admin role alone reads no notes."""

from __future__ import annotations

import flet as ft

from field_app.components.layout import frame, heading, hint
from field_app.screens.context import Screen


class AdminScreen(Screen):
    title_key = "tab.admin"

    def content(self) -> list[ft.Control]:
        t = self.t
        return [
            frame(
                ft.Icon(ft.Icons.ADMIN_PANEL_SETTINGS_OUTLINED, size=40, color=ft.Colors.PRIMARY),
                heading(t("admin.title"), level=1),
                ft.Text(t("admin.notice"), key="admin-notice", size=15),
                ft.Container(
                    bgcolor=ft.Colors.SURFACE_CONTAINER,
                    border_radius=8,
                    padding=12,
                    content=ft.Text(
                        t("admin.commands"),
                        font_family="monospace",
                        selectable=True,
                        size=13,
                    ),
                ),
                hint(t("admin.privacy")),
            )
        ]
