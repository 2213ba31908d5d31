"""Layout faults seen at 360×640: the chart's axis labels ran into each other, the sign-in
screen's server and device fields overlapped. The browser tests take the screenshots."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import flet as ft
import flet_charts as fch
import pytest

from field_app.components.category_chart import category_chart
from field_app.i18n import Translator
from field_app.state.review import WeeklyCategories
from relais_testing.ui_harness import FletHarness

LABEL_LINE = 1.2 * 14  # a left-axis label is one line of the default chart text, at most


@pytest.mark.parametrize("most", [1, 3, 7, 20, 37, 250])
def test_the_chart_axis_labels_have_room(most: int):
    mondays = [date(2026, 10, 19) + timedelta(weeks=n) for n in range(6)]
    counts = {
        m: Counter({"fatigue": most * (i + 1) // 6, "housing": 1}) for i, m in enumerate(mondays)
    }
    weekly = WeeklyCategories(weeks=mondays, counts=counts, top=["fatigue", "housing"])
    tree = category_chart(weekly, Translator("fr"), high_contrast=False)
    [chart] = [c for c in FletHarness.walk(None, tree) if isinstance(c, fch.BarChart)]  # type: ignore[arg-type]
    axis = chart.left_axis
    assert not axis.show_max
    assert chart.max_y % axis.label_spacing == 0 and chart.max_y > max(
        weekly.total(m) for m in mondays
    )
    labels = chart.max_y // axis.label_spacing + 1
    drawn = chart.height - chart.bottom_axis.label_size
    assert labels <= 6 and labels * LABEL_LINE < drawn
    assert chart.horizontal_grid_lines.interval == axis.label_spacing
    # six "dd/mm" labels of 11 px under the bars of a 360 px phone (minus paddings and axis)
    assert len(chart.bottom_axis.labels) * 5 * 11 * 0.6 < 360 - 32 - axis.label_size


def test_the_sign_in_screen_s_server_and_device_fields_are_apart(tmp_path):
    import asyncio

    from relais_testing.ui_harness import app_main

    async def scenario() -> None:
        h = await FletHarness(app_main("", tmp_path), page_props={"web": True}).start()
        more = h.find(key="signin-more")
        [column] = more.controls
        assert isinstance(column, ft.Column)
        assert [c.key for c in column.controls] == ["signin-server", "signin-device"]
        # a floating label is drawn above its field's box: there must be room for it
        assert column.spacing >= 16
        assert more.controls_padding.top >= 8
        await h.close()

    asyncio.run(scenario())


def test_long_settings_labels_wrap_instead_of_being_cut():
    from field_app.components.layout import switch_line

    switch = ft.Switch(key="s", value=True)
    line = switch_line(switch, "Signalements urgents et escalades : un e-mail tout de suite")
    # one node for screen readers: the switch named by the words beside it
    assert isinstance(line, ft.MergeSemantics) and isinstance(line.content, ft.Row)
    words, toggle = line.content.controls
    assert switch.label is None  # a switch's own label is one line: cut on a phone
    assert isinstance(words, ft.Text) and words.expand and not words.max_lines
    assert toggle is switch
