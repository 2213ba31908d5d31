"""Routes against a real server: a page opened at a path (a deep link from an e-mail, a reload)
shows that screen with back leading home, before or after signing in; a tap tells the
client the new path; the browser's back and forward and the phone's back move through the
views; an unknown or forbidden path lands home."""

from __future__ import annotations

import asyncio

from field_app import paths
from relais_testing.factories import PASSWORD
from relais_testing.ui_harness import (
    FletHarness,
    app_main,
    app_of,
    device_folder,
    session_of,
    sign_in,
    synced,
)

TEXT = "Fictional: the note an e-mail links to."


async def browser_at(url, data_dir, route: str, prefs: dict) -> FletHarness:
    """A browser tab opened at `route` (prefs: that browser's local storage)."""
    return await FletHarness(
        app_main(url, device_folder(data_dir, prefs)),
        route=route,
        page_props={"web": True},
        prefs=prefs,
    ).start()


async def a_note_for_couns_1(url, tmp_path, world) -> str:
    sup = await browser_at(url, tmp_path, "/", {})
    await sign_in(sup, "sup_a", PASSWORD)
    await synced(sup)
    note_id = session_of(sup).capture_note(
        team_id=str(world.team_of("a1")),
        worker_id=str(world.workers["a1"]),
        kind="signal",
        category="housing",
        severity="attention",
        text=TEXT,
    )
    await synced(sup)
    await sup.close()
    return note_id


def told(h: FletHarness) -> list[str]:
    """The paths the app sent to the client's address bar, in order."""
    return [b["args"]["route"] for b in h.conn.invocations if b["name"] == "push_route"]


def on_note_screen(h: FletHarness) -> bool:
    return h.exists("note-card") and h.has_text(TEXT) and h.exists("back")


def test_a_deep_link_shows_its_note_with_back_to_home_before_and_after_signing_in(
    world_url, tmp_path
):
    world, url = world_url

    async def scenario() -> None:
        note_id = await a_note_for_couns_1(url, tmp_path, world)
        browser: dict = {}

        # Not signed in yet: sign in first, then the note the link named.
        first = await browser_at(url, tmp_path, paths.note(note_id), browser)
        assert first.exists("signin-submit") and not first.exists("note-card")
        await sign_in(first, "couns_1", PASSWORD)
        await first.wait_until(lambda: on_note_screen(first))
        assert first.find(key="nav")  # home is under it
        reads = session_of(first).reads
        await first.wait_until(  # opened through a link is opened: the author sees "seen"
            lambda: reads.note(note_id).delivery_to(reads.me).seen_at is not None
        )
        await first.click("back")
        assert not first.exists("note-card") and first.exists("inbox-list")
        assert told(first) == ["/"]
        await first.disconnect()
        await first.close()

        # The same browser, reopened on the link (a reload, a second e-mail): no sign-in.
        again = await browser_at(url, tmp_path, paths.note(note_id), browser)
        assert on_note_screen(again) and not again.exists("signin-submit")
        assert len(again.page.views) == 2 and told(again) == []
        await again.click("back")
        assert len(again.page.views) == 1 and again.exists("inbox-list")
        assert again.errors() == [] and first.errors() == []
        await again.close()

    asyncio.run(scenario())


def test_section_paths_unknown_paths_and_sections_a_user_does_not_have(world_url, tmp_path):
    _, url = world_url

    async def scenario() -> None:
        browser: dict = {}
        coord = await browser_at(url, tmp_path, "/", browser)
        await sign_in(coord, "coord", PASSWORD)
        await coord.disconnect()
        await coord.close()

        history = await browser_at(url, tmp_path, paths.tab("history"), browser)
        assert history.find(key="nav").selected_index == 1 and history.exists("history-count")
        await history.nav("nav", 2)  # a tap on Reports: the address follows
        assert told(history) == ["/reports"] and history.exists("chart-area")
        await history.close()

        for route in ("/inbox", "/no/such/page", paths.worker("not-an-id") + "/capture"):
            h = await browser_at(url, tmp_path, route, browser)
            assert h.find(key="nav").selected_index == 0 and h.exists("meeting-list")
            assert len(h.page.views) == 1 and told(h) == ["/"], route
            assert h.errors() == []
            await h.close()

    asyncio.run(scenario())


def test_taps_tell_the_path_and_back_forward_and_the_phone_back_follow_it(world_url, tmp_path):
    world, url = world_url

    async def scenario() -> None:
        note_id = await a_note_for_couns_1(url, tmp_path, world)
        h = await browser_at(url, tmp_path, "/", {})
        await sign_in(h, "couns_1", PASSWORD)
        await synced(h)
        await h.wait_until(lambda: h.exists(f"inbox-{note_id}"))

        await h.click(f"inbox-{note_id}")
        await h.click("open-timeline")
        worker = paths.worker(world.workers["a1"])
        assert [v.route for v in h.page.views] == ["/", paths.note(note_id), worker]
        await h.wait_until(lambda: h.page.route == worker)  # the client has the path
        assert told(h) == [paths.note(note_id), worker]

        async def client_route(route: str) -> None:  # the browser's back or forward
            h.session.apply_page_patch({"route": route})
            await h.session.dispatch_event(h.page._i, "route_change", {"route": route})
            await h.settle()

        await client_route(paths.note(note_id))  # back
        assert [v.route for v in h.page.views] == ["/", paths.note(note_id)]
        await client_route("/")  # back
        assert [v.route for v in h.page.views] == ["/"] and h.exists("inbox-list")
        await client_route(paths.note(note_id))  # forward
        assert [v.route for v in h.page.views] == ["/", paths.note(note_id)]
        assert on_note_screen(h)

        # From the note, its worker's timeline, then the note again: back down, not a copy.
        await h.click("open-timeline")
        await h.click(f"timeline-note-{note_id}")
        assert [v.route for v in h.page.views] == ["/", paths.note(note_id)]

        # The phone's back button (or a swipe) pops the top view.
        await h.session.dispatch_event(h.page._i, "view_pop", {"route": paths.note(note_id)})
        await h.settle()
        assert [v.route for v in h.page.views] == ["/"]
        await h.wait_until(lambda: h.page.route == "/")
        assert told(h)[-1] == "/" and h.errors() == []
        await h.close()

    asyncio.run(scenario())


def test_opening_a_note_reads_that_note_alone(world_url, tmp_path):
    world, url = world_url

    async def scenario() -> None:
        note_id = await a_note_for_couns_1(url, tmp_path, world)
        h = await browser_at(url, tmp_path, "/", {})
        await sign_in(h, "couns_1", PASSWORD)
        await synced(h)
        await h.nav("nav", 2)  # settings: a section that reads no note
        store = session_of(h).require_store()
        calls: list[str] = []
        for name in ("notes_view", "note_view"):
            original = getattr(store, name)

            def counted(*args, _name=name, _original=original, **kwargs):
                calls.append(_name)
                return _original(*args, **kwargs)

            setattr(store, name, counted)
        app_of(h).go(paths.note(note_id))  # what a tap on the note does
        assert calls == ["note_view"]  # not every note, three times, as before
        assert on_note_screen(h)
        await h.close()

    asyncio.run(scenario())
