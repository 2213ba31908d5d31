"""Wide screens (issue 11, item 2): from 840 px the sections are a navigation rail and a tap
in a list shows beside it (inbox | note, history | note, meeting | worker); narrower, the
phone's bottom bar and screens above home. Crossing 840 px re-lays the page, keeping what is
open and what was typed in it."""

from __future__ import annotations

import asyncio

import flet as ft

from relais_testing.factories import PASSWORD
from relais_testing.ui_harness import (
    FletHarness,
    app_main,
    device_folder,
    open_app,
    session_of,
    sign_in,
    small_tap_targets,
    synced,
)


async def open_wide(url: str, tmp_path, width: int = 1280, height: int = 800) -> FletHarness:
    prefs: dict = {}
    return await FletHarness(
        app_main(url, device_folder(tmp_path, prefs)),
        page_props={"web": True, "width": width, "height": height},
        prefs=prefs,
    ).start()


async def resize(h: FletHarness, width: int, height: int) -> None:
    """What the browser sends when its window changes size."""
    size = {"width": width, "height": height}
    await h.event(h.page, "resize", size, size)


def detail_title(h: FletHarness) -> str:
    return h.find(key="detail-title").value


def pane_text(h: FletHarness) -> str:
    """What the detail pane shows."""
    pane = h.find(key="detail-pane")
    return "\n".join(
        c.value for c in h.walk(pane) if isinstance(c, ft.Text) and isinstance(c.value, str)
    )


async def note_from_sup_a(url, tmp_path, world, worker: str = "a1") -> str:
    sup = await open_app(url, tmp_path)
    await sign_in(sup, "sup_a", PASSWORD)
    await synced(sup)
    note_id = session_of(sup).capture_note(
        team_id=str(world.teams["A"]),
        worker_id=str(world.workers[worker]),
        kind="signal",
        category="housing",
        severity="attention",
        text="Fictional worry about the flat.",
    )
    await synced(sup)
    await sup.close()
    return note_id


def test_inbox_and_note_side_by_side_then_a_phone_width(world_url, tmp_path):
    world, url = world_url

    async def scenario() -> None:
        note_id = await note_from_sup_a(url, tmp_path, world)
        h = await open_wide(url, tmp_path)
        await sign_in(h, "couns_1", PASSWORD)
        await synced(h)
        assert isinstance(h.find(key="nav"), ft.NavigationRail)
        assert [d.label for d in h.find(key="nav").destinations][:2] == ["À traiter", "Salariés"]
        assert h.page.views[0].navigation_bar is None
        assert h.exists("detail-empty") and h.find(key="detail-box").visible
        # The list fills its pane (the window's breakpoints would make it a strip).
        frames = [r for r in h.find(key="home-body").controls if isinstance(r, ft.ResponsiveRow)]
        assert frames and all(cell.col == 12 for row in frames for cell in row.controls)

        await h.wait_until(lambda: h.exists(f"inbox-{note_id}"))
        await h.click(f"inbox-{note_id}")
        assert len(h.page.views) == 1  # beside the list, not above it
        assert h.exists(f"inbox-{note_id}") and detail_title(h) == "Note"
        assert "Fictional worry about the flat." in pane_text(h)
        await h.wait_until(lambda: h.page.route == f"/notes/{note_id}")
        assert small_tap_targets(h) == []

        await h.click("detail-close")
        assert h.exists("detail-empty")
        await h.wait_until(lambda: h.page.route == "/")  # home, as signed in

        # The browser's back closes the pane too.
        await h.click(f"inbox-{note_id}")
        await h.wait_until(lambda: h.page.route == f"/notes/{note_id}")
        await h.event(h.page, "route_change", {"route": "/"}, {"route": "/"})
        assert h.exists("detail-empty")

        # A section without panes (settings) hides the detail pane.
        await h.nav("nav", 2)
        assert h.find(key="detail-box").visible is False
        await h.nav("nav", 0)
        assert h.find(key="detail-box").visible is True

        # Narrower than 840 px with a note open: the phone's layout, the note above home.
        await h.click(f"inbox-{note_id}")
        await resize(h, 600, 800)
        assert isinstance(h.find(key="nav"), ft.NavigationBar)
        assert len(h.page.views) == 2 and h.find(key="screen-title").value == detail_title_of(h)
        assert h.exists("back")
        await resize(h, 1280, 800)
        assert isinstance(h.find(key="nav"), ft.NavigationRail)
        assert len(h.page.views) == 1 and "Fictional worry about the flat." in pane_text(h)
        rail = h.find(key="nav")
        await resize(h, 1300, 820)  # no threshold crossed: nothing is rebuilt
        assert h.find(key="nav") is rail
        assert not h.errors()
        await h.close()

    asyncio.run(scenario())


def detail_title_of(h: FletHarness) -> str:
    """The pushed screen's title (phone layout)."""
    return h.find(key="screen-title").value


def test_meeting_beside_worker_and_history_beside_note(world_url, tmp_path):
    world, url = world_url

    async def scenario() -> None:
        note_id = await note_from_sup_a(url, tmp_path, world)
        h = await open_wide(url, tmp_path, 1024, 768)
        await sign_in(h, "coord", PASSWORD)
        await synced(h)
        await h.wait_until(lambda: h.exists(f"meeting-{note_id}"))
        await h.click(f"meeting-{note_id}")
        assert len(h.page.views) == 1 and detail_title(h) == "Worker A1"
        assert h.exists("worker-summary") and "Worker A1" in pane_text(h)
        assert small_tap_targets(h) == []

        await h.nav("nav", 1)  # history
        assert h.exists("detail-empty")
        await h.wait_until(lambda: h.exists(f"history-{note_id}"))
        await h.click(f"history-{note_id}")
        assert len(h.page.views) == 1 and "Fictional worry about the flat." in pane_text(h)
        assert not h.errors()
        await h.close()

    asyncio.run(scenario())


def test_a_half_written_follow_up_in_the_pane_asks_before_it_is_lost(world_url, tmp_path):
    """Another note from the list, another section, the pane's close button or the browser's
    back: a follow-up begun in the pane asks first, as the note screen does on a phone."""
    world, url = world_url

    async def scenario() -> None:
        first = await note_from_sup_a(url, tmp_path, world)
        second = await note_from_sup_a(url, tmp_path, world, "a2")
        h = await open_wide(url, tmp_path)
        await sign_in(h, "couns_1", PASSWORD)
        await synced(h)
        await h.wait_until(lambda: h.exists(f"inbox-{first}") and h.exists(f"inbox-{second}"))
        await h.click(f"inbox-{first}")
        await h.click(f"inbox-{second}")  # nothing begun: no question
        assert not h.exists("discard-dialog")
        await h.wait_until(lambda: h.page.route == f"/notes/{second}")

        await h.type("follow-up-text", "Fictional: called the landlord")
        leaving = [
            lambda: h.click(f"inbox-{first}"),
            lambda: h.nav("nav", 1),
            lambda: h.click("detail-close"),
            lambda: h.event(h.page, "route_change", {"route": "/"}, {"route": "/"}),
        ]
        for leave in leaving:
            await leave()
            assert h.exists("discard-dialog")
            await h.click("discard-dialog-cancel")
            await h.dismiss("discard-dialog")
            assert h.find(key="follow-up-text").value == "Fictional: called the landlord"
            assert h.find(key="nav").selected_index == 0 and h.exists(f"inbox-{first}")
        await h.wait_until(lambda: h.page.route == f"/notes/{second}")

        await h.click(f"inbox-{first}")  # discarded: the other note
        await h.click("discard-dialog-confirm")
        await h.dismiss("discard-dialog")
        await h.wait_until(lambda: h.page.route == f"/notes/{first}")
        assert h.find(key="follow-up-text").value == ""

        await h.select("action-interview_planned", True)  # an action alone counts too
        await h.nav("nav", 1)
        await h.click("discard-dialog-confirm")
        await h.dismiss("discard-dialog")
        assert h.find(key="nav").selected_index == 1 and h.exists("detail-empty")
        assert not h.errors()
        await h.close()

    asyncio.run(scenario())


def test_a_phone_keeps_the_bottom_bar(world_url, tmp_path):
    world, url = world_url

    async def scenario() -> None:
        note_id = await note_from_sup_a(url, tmp_path, world)
        h = await open_app(url, tmp_path)  # 360 x 640
        await sign_in(h, "couns_1", PASSWORD)
        await synced(h)
        assert isinstance(h.find(key="nav"), ft.NavigationBar)
        assert not h.exists("detail-box")
        await h.wait_until(lambda: h.exists(f"inbox-{note_id}"))
        await h.click(f"inbox-{note_id}")
        assert len(h.page.views) == 2 and h.exists("back")
        await h.close()

    asyncio.run(scenario())


def widest(h: FletHarness, key: str) -> float:
    """At most how wide the control `key` is drawn in the window: the narrowest cell of a
    ResponsiveRow (at the window's breakpoint) or explicit width around it."""
    window = h.page.width or 0

    def inside(control, target) -> bool:
        return any(c is target for c in h.walk(control))

    target = h.find(key=key)
    width = float(window)
    for control in h.walk(h.page.views[-1]):
        if not inside(control, target):
            continue
        if isinstance(getattr(control, "width", None), (int, float)):
            width = min(width, control.width)
        if isinstance(control, ft.ResponsiveRow):
            cell = next(c for c in control.controls if inside(c, target))
            points = [
                getattr(p, "value", p) for p, at in control.breakpoints.items() if window >= at
            ]
            cols = cell.col if isinstance(cell.col, dict) else {"xs": cell.col}
            cols = {getattr(p, "value", p): span for p, span in cols.items()}
            span = next(cols[p] for p in reversed(points) if p in cols)
            width = min(width, window * span / 12)
    return width


def chosen(h: FletHarness, prefix: str) -> list[str]:
    """The keys of the chips selected in a group (kind, category, severity...)."""
    chips = h.find_all(cls=ft.Chip, pred=lambda c: str(c.key or "").startswith(prefix))
    return [c.key for c in chips if c.selected]


def test_a_supervisors_sections_on_the_desk_have_no_empty_pane(world_url, tmp_path):
    """Nothing a supervisor taps opens beside the list (a worker opens the capture screen), so
    their sections promise no pane: no "choose an item" beside the team or their notes."""
    _world, url = world_url

    async def scenario() -> None:
        h = await open_wide(url, tmp_path)
        await sign_in(h, "sup_a", PASSWORD)
        await synced(h)
        assert isinstance(h.find(key="nav"), ft.NavigationRail)
        for index in range(len(h.find(key="nav").destinations)):
            await h.nav("nav", index)
            assert h.find(key="detail-box").visible is False, index
        await h.close()

    asyncio.run(scenario())


def test_a_half_written_note_stays_across_the_layout_switch(world_url, tmp_path):
    """A supervisor turns the tablet mid-note: the same note, the same topic, severity and
    words, on the phone's layout and back on the desk's."""
    _world, url = world_url

    async def scenario() -> None:
        h = await open_wide(url, tmp_path)
        await sign_in(h, "sup_a", PASSWORD)
        await synced(h)
        await h.click("worker-a1")
        route = h.page.route
        await h.select("kind-signal", True)
        await h.select("category-fatigue", True)
        await h.select("severity-urgent", True)  # not the topic's own severity
        await h.type("capture-text", "Fictional: sat down three times this")
        for width in (600, 1280):  # wide → narrow → wide
            await resize(h, width, 800)
            wide = isinstance(h.find(key="nav"), ft.NavigationRail)
            assert wide is (width == 1280)
            assert len(h.page.views) == 2 and h.page.route == route
            assert h.find(key="capture-text").value == "Fictional: sat down three times this"
            assert h.find(key="capture-text").counter.startswith("36 ")
            assert chosen(h, "kind-") == ["kind-signal"]
            assert chosen(h, "category-") == ["category-fatigue"]
            assert chosen(h, "severity-") == ["severity-urgent"]
            assert h.find(key="capture-save").disabled is False
            # On a desk the form is a column, and its Save button under it, not 1280 px.
            assert widest(h, "capture-save") <= (720 if wide else 600)
            assert widest(h, "capture-text") <= (720 if wide else 600)
        await h.click("back")  # still unsaved: leaving asks first
        assert h.exists("discard-dialog")
        assert not h.errors()
        await h.close()

    asyncio.run(scenario())


def test_a_follow_up_begun_in_the_pane_stays_across_the_layout_switch(world_url, tmp_path):
    """A coordinator narrows the window mid-sentence in history | note: the note, above the
    history on a phone's layout, then beside it again, with the follow-up as it was."""
    world, url = world_url

    async def scenario() -> None:
        note_id = await note_from_sup_a(url, tmp_path, world)
        h = await open_wide(url, tmp_path)
        await sign_in(h, "coord", PASSWORD)
        await synced(h)
        await h.nav("nav", 1)  # history
        await h.wait_until(lambda: h.exists(f"history-{note_id}"))
        await h.click(f"history-{note_id}")
        await h.select("action-interview_planned", True)
        await h.type("follow-up-text", "Fictional: meeting set for")
        await h.switch("follow-up-close", True)
        area = h.find(
            pred=lambda c: (
                any(x.key == "follow-up-text" for x in c.controls)
                if isinstance(getattr(c, "controls", None), list)
                else False
            )
        )
        assert area.horizontal_alignment == ft.CrossAxisAlignment.STRETCH  # not 300 px

        def follow_up_as_written() -> bool:
            return (
                h.find(key="follow-up-text").value == "Fictional: meeting set for"
                and chosen(h, "action-") == ["action-interview_planned"]
                and h.find(key="follow-up-close").value is True
                and h.find(key="follow-up-save").disabled is False
            )

        await resize(h, 600, 800)
        assert isinstance(h.find(key="nav"), ft.NavigationBar)
        assert len(h.page.views) == 2 and h.page.route == f"/notes/{note_id}"
        assert follow_up_as_written()
        assert h.find(key="nav").selected_index == 1  # back leads to the history

        await resize(h, 1280, 800)
        assert isinstance(h.find(key="nav"), ft.NavigationRail)
        assert h.find(key="nav").selected_index == 1 and h.exists(f"history-{note_id}")
        assert len(h.page.views) == 1 and "Fictional worry about the flat." in pane_text(h)
        assert follow_up_as_written()
        await h.click("detail-close")  # still unsaved: closing the pane asks first
        assert h.exists("discard-dialog")
        assert not h.errors()
        await h.close()

    asyncio.run(scenario())


def test_a_heads_up_being_written_stays_across_the_layout_switch(world_url, tmp_path):
    """A counsellor widens the window while writing a heads-up: the worker beside the list
    and the heads-up above, as written; narrower again, back leads to the worker."""
    _world, url = world_url

    async def scenario() -> None:
        h = await open_app(url, tmp_path)  # 360 x 640
        await sign_in(h, "couns_1", PASSWORD)
        await synced(h)
        await h.nav("nav", 1)  # workers
        await h.click("worker-a1")
        await h.click("new-heads-up")
        await h.type("heads-up-text", "Fictional: shorter days this")
        await h.select("until-week", True)
        until = h.find(key="heads-up-until").value
        route = h.page.route

        def heads_up_as_written() -> bool:
            return (
                h.find(key="heads-up-text").value == "Fictional: shorter days this"
                and chosen(h, "until-") == ["until-week"]
                and h.find(key="heads-up-until").value == until
                and h.find(key="heads-up-send").disabled is False
            )

        await resize(h, 1280, 800)  # narrow → wide
        assert isinstance(h.find(key="nav"), ft.NavigationRail)
        assert len(h.page.views) == 2 and h.page.route == route and heads_up_as_written()
        assert h.exists("worker-summary")  # beside the list, under the heads-up

        await resize(h, 600, 800)  # wide → narrow
        assert isinstance(h.find(key="nav"), ft.NavigationBar)
        assert len(h.page.views) == 3 and h.page.route == route and heads_up_as_written()
        await h.event(h.page.views[-1].appbar.leading, "click")  # back
        assert h.exists("discard-dialog")
        await h.click("discard-dialog-confirm")
        await h.dismiss("discard-dialog")
        assert len(h.page.views) == 2 and h.exists("worker-summary")
        assert not h.errors()
        await h.close()

    asyncio.run(scenario())
