"""The app's look: a calm default theme, a high-contrast theme, and the tones of severities
and statuses (always shown with their word and an icon, never by colour alone)."""

from __future__ import annotations

from dataclasses import dataclass

import flet as ft

from field_app.store import LocalStatus
from shared_models.vocabulary import NoteStatus, Severity

SEED = "#2F6B5E"  # a quiet green: worksites, green spaces
MAX_CONTENT_COLUMNS: dict[str | ft.ResponsiveRowBreakpoint, int | float] = {
    "xs": 12,
    "md": 10,
    "lg": 8,
    "xl": 6,
}
TAP_TARGET = 48  # minimum height of anything tappable, in logical pixels


@dataclass(frozen=True)
class Tone:
    background: str
    foreground: str
    icon: ft.IconData


SEVERITY_TONES: dict[str, Tone] = {
    Severity.URGENT: Tone("#FBE3E1", "#8A1C13", ft.Icons.PRIORITY_HIGH),
    Severity.ATTENTION: Tone("#FCEFD2", "#6B4500", ft.Icons.WARNING_AMBER_ROUNDED),
    Severity.INFO: Tone("#E3ECF5", "#1D456E", ft.Icons.INFO_OUTLINE),
}

# A note's status, and the two flags the review screens add ("overdue", "escalated").
STATUS_TONES: dict[str, Tone] = {
    LocalStatus.QUEUED: Tone("#ECEFF1", "#37474F", ft.Icons.SCHEDULE),
    LocalStatus.SENT: Tone("#E3ECF5", "#1D456E", ft.Icons.DONE),
    LocalStatus.SEEN: Tone("#E1EEF0", "#0D4F57", ft.Icons.VISIBILITY_OUTLINED),
    NoteStatus.OPEN: Tone("#E3ECF5", "#1D456E", ft.Icons.RADIO_BUTTON_UNCHECKED),
    NoteStatus.ACKNOWLEDGED: Tone("#E2F0E4", "#1E5A2B", ft.Icons.DONE_ALL),
    NoteStatus.CLOSED: Tone("#DDEBDF", "#174A22", ft.Icons.CHECK_CIRCLE_OUTLINE),
    LocalStatus.REJECTED: Tone("#FBE3E1", "#8A1C13", ft.Icons.ERROR_OUTLINE),
    NoteStatus.RETRACTED: Tone("#ECEFF1", "#455A64", ft.Icons.UNDO),
    "overdue": Tone("#FBE3E1", "#8A1C13", ft.Icons.ALARM),
    "escalated": Tone("#FCEFD2", "#6B4500", ft.Icons.TRENDING_UP),
}

# Chart series: distinguishable, colour-blind friendly (Okabe-Ito), with a text legend.
CHART_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#7A7A7A")


def tone(kind: str, high_contrast: bool) -> Tone:
    base = SEVERITY_TONES.get(kind) or STATUS_TONES.get(kind) or STATUS_TONES[LocalStatus.SENT]
    if high_contrast:
        return Tone(ft.Colors.WHITE, ft.Colors.BLACK, base.icon)
    return base


def default_theme() -> ft.Theme:
    return ft.Theme(
        color_scheme_seed=SEED,
        use_material3=True,
        visual_density=ft.VisualDensity.STANDARD,
    )


def high_contrast_theme() -> ft.Theme:
    """Black on white. The client derives ThemeData from the seed first, so surfaces are set
    explicitly, or they keep a tint of the seed colour."""
    black, white = ft.Colors.BLACK, ft.Colors.WHITE
    return ft.Theme(
        color_scheme_seed=black,
        scaffold_bgcolor=white,
        card_bgcolor=white,
        use_material3=True,
        color_scheme=ft.ColorScheme(
            primary=black,
            on_primary=white,
            secondary=ft.Colors.BLUE_900,
            on_secondary=white,
            secondary_container=ft.Colors.YELLOW_300,
            on_secondary_container=black,
            primary_container=ft.Colors.YELLOW_300,
            on_primary_container=black,
            surface=white,
            on_surface=black,
            on_surface_variant=black,
            surface_container_lowest=white,
            surface_container_low=white,
            surface_container=ft.Colors.GREY_200,
            surface_container_high=white,
            surface_container_highest=ft.Colors.GREY_200,
            outline=black,
            outline_variant=black,
            error=ft.Colors.RED_900,
            on_error=white,
        ),
    )


def apply_theme(page: ft.Page, high_contrast: bool) -> None:
    page.theme_mode = ft.ThemeMode.LIGHT
    page.theme = high_contrast_theme() if high_contrast else default_theme()
    page.dark_theme = page.theme
