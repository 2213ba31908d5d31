"""Labelled drop-down filters whose first option means "all"."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence

import flet as ft

from field_app.i18n import Translator
from field_app.state.records import as_id
from shared_models.entities import TeamData

ALL = "all"


def filter_dropdown(
    *,
    key: str,
    label: str,
    all_label: str,
    options: Sequence[tuple[str, str]],
    value: str | None,
    on_change: Callable[[], None],
    include_all: bool = True,
    wide: bool = False,
) -> ft.Dropdown:
    """`wide`: a whole row on a phone (long names such as teams and workers)."""
    choices = [(ALL, all_label)] if include_all else []
    return ft.Dropdown(
        key=key,
        label=label,
        value=value or (ALL if include_all else None),
        options=[ft.DropdownOption(key=k, text=text) for k, text in [*choices, *options]],
        on_select=lambda e: on_change(),
        expand=True,
        col={"xs": 12, "md": 6} if wide else {"xs": 6, "md": 4},
        text_size=14,
        enable_filter=False,
        enable_search=False,
    )


def chosen(dropdown: ft.Dropdown) -> str | None:
    value = dropdown.value
    return None if value in (None, "", ALL) else str(value)


def chosen_id(dropdown: ft.Dropdown) -> uuid.UUID | None:
    """The id picked in a team or worker filter; None for "all"."""
    return as_id(chosen(dropdown))


def team_filter(
    t: Translator, *, key: str, teams: Iterable[TeamData], on_change: Callable[[], None]
) -> ft.Dropdown:
    """All teams, or one of them by name."""
    return filter_dropdown(
        key=key,
        label=t("filter.team"),
        all_label=t("filter.all_teams"),
        wide=True,
        options=sorted(((str(x.id), x.name) for x in teams), key=lambda o: o[1]),
        value=None,
        on_change=on_change,
    )
