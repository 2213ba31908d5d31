"""A note as a card: who it is about, kind and category, severity and status in words, the
text, and optional actions. Used by every list of notes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import flet as ft

from field_app.components.badges import pill
from field_app.theme import tone


@dataclass
class CardFacts:
    heading: str
    subheading: str
    severity: str
    severity_word: str
    text: str = ""
    pills: Sequence[tuple[str, str]] = ()  # (word, tone name)
    footer: Sequence[str] = ()
    actions: Sequence[ft.Control] = field(default_factory=list)
    max_lines: int | None = None


def note_card(
    facts: CardFacts,
    *,
    key: str,
    high_contrast: bool,
    on_click: Callable[[Any], Any] | None = None,
) -> ft.Control:
    strip = tone(facts.severity, high_contrast).foreground
    rows: list[ft.Control] = [
        ft.Row(
            vertical_alignment=ft.CrossAxisAlignment.START,
            controls=[
                ft.Text(facts.heading, weight=ft.FontWeight.W_600, size=16, expand=True),
                pill(facts.severity_word, facts.severity, high_contrast),
            ],
        ),
        ft.Text(facts.subheading, size=13, color=ft.Colors.ON_SURFACE_VARIANT),
    ]
    if facts.text:
        rows.append(
            ft.Text(
                facts.text,
                size=15,
                max_lines=facts.max_lines,
                overflow=ft.TextOverflow.ELLIPSIS if facts.max_lines else ft.TextOverflow.CLIP,
            )
        )
    if facts.pills:
        rows.append(
            ft.Row(
                wrap=True,
                spacing=6,
                run_spacing=6,
                controls=[pill(word, name, high_contrast) for word, name in facts.pills],
            )
        )
    rows += [ft.Text(line, size=12, color=ft.Colors.ON_SURFACE_VARIANT) for line in facts.footer]
    if facts.actions:
        rows.append(ft.Row(list(facts.actions), wrap=True, alignment=ft.MainAxisAlignment.END))
    return ft.Card(
        variant=ft.CardVariant.OUTLINED,
        margin=0,
        content=ft.Container(
            key=key,  # on the tappable part: tests and the semantics tree find it there
            on_click=on_click,
            ink=on_click is not None,
            border_radius=12,
            border=ft.Border.only(left=ft.BorderSide(5, strip)),
            padding=ft.Padding.only(left=12, right=12, top=10, bottom=10),
            content=ft.Column(rows, spacing=6, tight=True),
        ),
    )
