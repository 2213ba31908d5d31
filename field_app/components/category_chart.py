"""Notes by category per week as stacked bars (flet_charts), wrapped in Semantics with a text
summary, and a written legend: the chart is never the only way to read the numbers."""

from __future__ import annotations

import math
from datetime import date

import flet as ft

from field_app.i18n import Translator
from field_app.state.review import WeeklyCategories
from field_app.theme import CHART_COLOURS

OTHERS = "__others__"


def series(weekly: WeeklyCategories) -> list[str]:
    return [*weekly.top, OTHERS]


def week_counts(weekly: WeeklyCategories, week: date) -> dict[str, int]:
    counts = weekly.counts[week]
    out = {c: counts.get(c, 0) for c in weekly.top}
    out[OTHERS] = sum(n for c, n in counts.items() if c not in weekly.top)
    return out


def summary_text(weekly: WeeklyCategories, t: Translator) -> str:
    parts = []
    for week in weekly.weeks:
        counts = {c: n for c, n in week_counts(weekly, week).items() if n}
        detail = ", ".join(f"{label(c, t)} {n}" for c, n in counts.items())
        parts.append(
            t("chart.week", week=week.strftime("%d/%m"), total=weekly.total(week), detail=detail)
        )
    return t("chart.summary", weeks="; ".join(parts))


def axis_step(top: int) -> int:
    """The count between two labels of the left axis: at most five labels whatever the
    counts, so that they never run into each other (one label per unit did at 20 notes)."""
    return max(1, math.ceil(top / 4))


def label(category: str, t: Translator) -> str:
    return t("chart.others") if category == OTHERS else t.category(category)


def category_chart(weekly: WeeklyCategories, t: Translator, *, high_contrast: bool) -> ft.Control:
    # Imported here: flet_charts is the app's heaviest import, and only the reports draw it
    # (every screen is imported at start, with the routing table).
    import flet_charts as fch

    names = series(weekly)
    colours = {c: CHART_COLOURS[i % len(CHART_COLOURS)] for i, c in enumerate(names)}
    if high_contrast:
        colours[OTHERS] = ft.Colors.BLACK
    top = max([weekly.total(w) for w in weekly.weeks] + [1])
    step = axis_step(top)
    groups = []
    for x, week in enumerate(weekly.weeks):
        counts = week_counts(weekly, week)
        stack, start = [], 0
        for category in names:
            if counts[category]:
                stack.append(
                    fch.BarChartRodStackItem(
                        from_y=start, to_y=start + counts[category], color=colours[category]
                    )
                )
                start += counts[category]
        groups.append(
            fch.BarChartGroup(
                x=x,
                rods=[
                    fch.BarChartRod(
                        from_y=0,
                        to_y=start,
                        width=22,
                        stack_items=stack,
                        color=ft.Colors.OUTLINE,
                        border_radius=3,
                        tooltip=str(start),
                    )
                ],
            )
        )
    chart = fch.BarChart(
        key="category-chart",
        height=220,
        max_y=step * math.ceil((top + 1) / step),  # on a label: no extra label at the top
        interactive=False,
        groups=groups,
        left_axis=fch.ChartAxis(label_size=28, label_spacing=step, show_max=False),
        bottom_axis=fch.ChartAxis(
            label_size=24,
            labels=[
                fch.ChartAxisLabel(value=i, label=ft.Text(w.strftime("%d/%m"), size=11))
                for i, w in enumerate(weekly.weeks)
            ],
        ),
        horizontal_grid_lines=fch.ChartGridLines(interval=step, width=0.5),
    )
    legend = ft.Row(
        wrap=True,
        spacing=12,
        run_spacing=4,
        controls=[
            ft.Row(
                tight=True,
                spacing=4,
                controls=[
                    ft.Container(width=12, height=12, bgcolor=colours[c], border_radius=2),
                    ft.Text(label(c, t), size=12),
                ],
            )
            for c in names
        ],
    )
    return ft.Column(
        spacing=6,
        controls=[
            ft.Semantics(
                key="category-chart-semantics",
                label=summary_text(weekly, t),
                container=True,
                content=chart,
            ),
            legend,
        ],
    )
