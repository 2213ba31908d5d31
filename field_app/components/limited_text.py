"""A multi-line text field with a length limit that says what it cut. Flutter's own limit
drops the end of a long paste without a word; here the field takes everything, keeps the
first `limit` characters and tells the user how much was cut and where it began."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flet as ft

from field_app.i18n import Translator

CUT_PREVIEW = 40  # characters of the cut part quoted back, so that it can be found again


class LimitedText:
    def __init__(
        self,
        t: Translator,
        *,
        key: str,
        label: str,
        hint_text: str,
        limit: int,
        min_lines: int,
        max_lines: int,
        on_change: Callable[[], Any] | None = None,
    ) -> None:
        self.t = t
        self.limit = limit
        self._on_change = on_change
        self.field = ft.TextField(
            key=key,
            label=label,
            hint_text=hint_text,
            multiline=True,
            min_lines=min_lines,
            max_lines=max_lines,
            counter=self._counter(0),
            on_change=self._changed,
        )
        self.notice = ft.Text(key=f"{key}-cut", color=ft.Colors.ERROR, size=13, visible=False)
        # Stretched: a field left to its own width is 300 px wide, half a desk's column.
        self.control = ft.Column(
            [self.field, self.notice],
            spacing=4,
            tight=True,
            horizontal_alignment=ft.CrossAxisAlignment.STRETCH,
        )

    @property
    def value(self) -> str:
        return self.field.value or ""

    def carry_over(self, previous: LimitedText) -> None:
        """The text of `previous`, with its count and what was cut (the views were rebuilt)."""
        self.field.value = previous.value
        self.field.counter = self._counter(len(self.value))  # in this one's language
        self.notice.value, self.notice.visible = previous.notice.value, previous.notice.visible

    def _counter(self, length: int) -> str:
        return f"{self.t.number(length)} / {self.t.number(self.limit)}"

    def _changed(self, e: object) -> None:
        text = self.value
        if len(text) > self.limit:
            cut = text[self.limit :]
            self.field.value = text = text[: self.limit]
            preview = " ".join(cut.split())[:CUT_PREVIEW]
            self.notice.value = self.t(
                "text.cut",
                limit=self.t.number(self.limit),
                n=len(cut),
                start=preview + ("…" if len(cut) > len(preview) else ""),
            )
            self.notice.visible = True
        elif not text:
            self.notice.visible = False
        self.field.counter = self._counter(len(text))
        if self._on_change is not None:
            self._on_change()
