"""Severity and status badges (icon + word + tone, never colour alone) and initials avatars."""

from __future__ import annotations

import flet as ft

from field_app.state.records import initials
from field_app.theme import tone


def pill(word: str, tone_name: str, high_contrast: bool, *, key: str | None = None) -> ft.Control:
    colours = tone(tone_name, high_contrast)
    return ft.Container(
        key=key,
        bgcolor=colours.background,
        border=ft.Border.all(2 if high_contrast else 1, colours.foreground),
        border_radius=16,
        padding=ft.Padding.symmetric(horizontal=8, vertical=3),
        content=ft.Row(
            tight=True,
            spacing=4,
            controls=[
                ft.Icon(colours.icon, size=15, color=colours.foreground),
                ft.Text(word, size=12, weight=ft.FontWeight.W_600, color=colours.foreground),
            ],
        ),
    )


def avatar(name: str, *, high_contrast: bool = False) -> ft.Control:
    """Initials in a circle; decorative, the name is always written beside it."""
    return ft.CircleAvatar(
        content=ft.Text(initials(name), weight=ft.FontWeight.W_600),
        bgcolor=ft.Colors.WHITE if high_contrast else ft.Colors.PRIMARY_CONTAINER,
        color=ft.Colors.BLACK if high_contrast else ft.Colors.ON_PRIMARY_CONTAINER,
        radius=22,
    )
