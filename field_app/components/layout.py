"""The page frame (a centred column with a maximum width on large screens), section titles
and empty states with a helpful sentence."""

from __future__ import annotations

from collections.abc import Callable

import flet as ft

from field_app.theme import MAX_CONTENT_COLUMNS


def frame(*controls: ft.Control, key: str | None = None) -> ft.Control:
    """Full width on a phone; a centred column of at most half to two thirds on a desktop."""
    return ft.ResponsiveRow(
        key=key,
        alignment=ft.MainAxisAlignment.CENTER,
        controls=[
            ft.Container(
                col=MAX_CONTENT_COLUMNS,
                padding=ft.Padding.symmetric(horizontal=16, vertical=12),
                content=ft.Column(
                    list(controls),
                    spacing=12,
                    tight=True,
                    horizontal_alignment=ft.CrossAxisAlignment.STRETCH,
                ),
            )
        ],
    )


def bar_frame(bar: ft.Control) -> ft.Control:
    """A bar pinned under a screen, as wide as `frame`'s column above it: on a desk's
    1280 px window the Save button stays under the form rather than across the window."""
    return ft.ResponsiveRow(
        key="bar-frame",
        alignment=ft.MainAxisAlignment.CENTER,
        controls=[
            ft.Container(
                col=MAX_CONTENT_COLUMNS,
                padding=ft.Padding.symmetric(horizontal=16),
                content=bar,
            )
        ],
    )


def in_pane(controls: list[ft.Control]) -> list[ft.Control]:
    """`controls` for a pane of a wide screen: each frame takes the pane's whole width
    (a ResponsiveRow's breakpoints follow the window, so a frame would shrink to a strip)."""
    for control in controls:
        if isinstance(control, ft.ResponsiveRow):
            for cell in control.controls:
                cell.col = 12
    return controls


def heading(text: str, *, key: str | None = None, level: int = 2) -> ft.Control:
    size = {1: 22, 2: 18, 3: 15}.get(level, 15)
    return ft.Semantics(
        header=True,
        heading_level=level,
        content=ft.Text(text, key=key, size=size, weight=ft.FontWeight.W_600),
    )


def switch_line(switch: ft.Switch, text: str) -> ft.Control:
    """A switch with its words on the left, wrapping onto more lines when they need them: a
    switch's own label is one line that a phone cut off. The words and the switch are one
    node for screen readers: a switch named by its words."""
    switch.label = None
    return ft.MergeSemantics(
        content=ft.Row(
            vertical_alignment=ft.CrossAxisAlignment.CENTER,
            controls=[ft.Text(text, expand=True, size=15), switch],
        )
    )


def notice(text: str, *, key: str, close: str, on_close: Callable[[], None]) -> ft.Control:
    """A one-off message at the top of a screen, in its own room (a toast covered the foot
    of the lists), with a button that closes it."""
    return ft.Container(
        key=key,
        bgcolor=ft.Colors.SECONDARY_CONTAINER,
        padding=ft.Padding.only(left=16, right=4, top=4, bottom=4),
        content=ft.Row(
            vertical_alignment=ft.CrossAxisAlignment.CENTER,
            controls=[
                ft.Icon(ft.Icons.OFFLINE_PIN_OUTLINED, color=ft.Colors.ON_SECONDARY_CONTAINER),
                ft.Text(text, expand=True, color=ft.Colors.ON_SECONDARY_CONTAINER),
                ft.IconButton(
                    key=f"{key}-close",
                    icon=ft.Icon(ft.Icons.CLOSE, semantics_label=close),
                    tooltip=close,
                    on_click=lambda e: on_close(),
                ),
            ],
        ),
    )


def hint(text: str, *, key: str | None = None) -> ft.Text:
    return ft.Text(text, key=key, size=13, color=ft.Colors.ON_SURFACE_VARIANT)


def empty_state(icon: ft.IconData, text: str, *, key: str | None = None) -> ft.Control:
    return ft.Container(
        key=key,
        padding=ft.Padding.symmetric(vertical=32, horizontal=16),
        alignment=ft.Alignment.CENTER,
        content=ft.Column(
            horizontal_alignment=ft.CrossAxisAlignment.CENTER,
            spacing=8,
            controls=[
                ft.Icon(icon, size=40, color=ft.Colors.OUTLINE),
                ft.Text(
                    text,
                    text_align=ft.TextAlign.CENTER,
                    color=ft.Colors.ON_SURFACE_VARIANT,
                    size=15,
                ),
            ],
        ),
    )


def empty_or_syncing(
    synced: bool, icon: ft.IconData, text: str, first_sync_text: str, *, key: str | None = None
) -> ft.Control:
    """An empty list's state; until the first sync has completed on this device (`synced`),
    say that the data is on its way instead (an empty roster then is not "you have no team")."""
    if not synced:
        return empty_state(ft.Icons.CLOUD_SYNC_OUTLINED, first_sync_text, key=key)
    return empty_state(icon, text, key=key)


def banner(
    text: str,
    *,
    icon: ft.IconData,
    background: str,
    foreground: str,
    key: str | None = None,
    actions: list[ft.Control] | None = None,
) -> ft.Control:
    return ft.Container(
        key=key,
        bgcolor=background,
        border_radius=12,
        border=ft.Border.all(1, foreground),
        padding=12,
        content=ft.Column(
            tight=True,
            spacing=6,
            controls=[
                ft.Row(
                    vertical_alignment=ft.CrossAxisAlignment.START,
                    controls=[
                        ft.Icon(icon, color=foreground),
                        ft.Text(text, color=foreground, expand=True, size=14),
                    ],
                ),
                *(
                    [ft.Row(actions, alignment=ft.MainAxisAlignment.END, wrap=True)]
                    if actions
                    else []
                ),
            ],
        ),
    )
