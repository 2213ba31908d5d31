"""Single-choice chips: big (48 px high, for gloved fingers), labelled, one selected at a
time (they read as checkboxes)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import flet as ft

from field_app.theme import TAP_TARGET


class ChoiceChips:
    """A wrap of chips of which at most one is selected; `on_pick(value)` after each tap."""

    def __init__(
        self,
        options: Sequence[tuple[str, str]],
        *,
        key_prefix: str,
        selected: str | None = None,
        on_pick: Callable[[str | None], None] | None = None,
        allow_none: bool = False,
    ) -> None:
        self.value = selected
        self._on_pick = on_pick
        self._allow_none = allow_none
        self._chips: dict[str, ft.Chip] = {}
        for value, label in options:
            self._chips[value] = ft.Chip(
                key=f"{key_prefix}-{value}",
                label=ft.Text(label, size=15),
                data=value,
                selected=value == selected,
                on_select=self._picked,
                padding=ft.Padding.symmetric(horizontal=6, vertical=8),
                height=TAP_TARGET,
            )
        self.control = ft.Row(
            key=f"{key_prefix}-chips", wrap=True, spacing=8, run_spacing=8,
            controls=list(self._chips.values()),
        )  # fmt: skip

    def _picked(self, e: ft.Event[ft.Chip]) -> None:
        value = e.control.data
        if e.control.selected:
            self.value = value
        elif self._allow_none or self.value != value:
            self.value = None if self.value == value else self.value
        else:  # a required choice cannot be unticked: tap another one instead
            e.control.selected = True
        self.select(self.value)
        if self._on_pick is not None:
            self._on_pick(self.value)

    def offer(self, values: Sequence[str]) -> None:
        """Show only the chips of `values`; a chosen one that is no longer offered is unset."""
        for chip_value, chip in self._chips.items():
            chip.visible = chip_value in values
        if self.value is not None and self.value not in values:
            self.select(None)

    def select(self, value: str | None) -> None:
        self.value = value
        for chip_value, chip in self._chips.items():
            chip.selected = chip_value == value
