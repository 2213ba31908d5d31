"""Every control a finger can tap reserves at least 48 px in height, on every screen of every
role: supervisors wear gloves. The check reads the sizes the app asks Flutter for; the browser
tests look at the drawn result."""

from __future__ import annotations

import asyncio

from relais_testing.factories import PASSWORD
from relais_testing.ui_harness import (
    FletHarness,
    open_app,
    session_of,
    sign_in,
    small_tap_targets,
    synced,
)
from tests.field_app.ui.test_ui_counsellor import write_notes


async def every_tab(h: FletHarness, seen: dict[str, list[str]], role: str) -> None:
    """Open each tab of home in turn and record what is too small on it."""
    tabs = len(h.find(key="nav").destinations)
    for index in range(tabs):
        await h.nav("nav", index)
        seen[f"{role} tab {index}"] = small_tap_targets(h)


def test_every_tap_target_is_at_least_48_px(world_url, tmp_path):
    world, url = world_url

    async def scenario() -> None:
        seen: dict[str, list[str]] = {}
        sup = await write_notes(url, tmp_path, world)
        await sup.close()

        h = await open_app(url, tmp_path)
        seen["sign-in"] = small_tap_targets(h)
        await sign_in(h, "sup_a", PASSWORD)
        await synced(h)
        await every_tab(h, seen, "supervisor")
        await h.nav("nav", 0)
        await h.click("worker-a1")
        for kind in ("signal", "safety", "observation"):
            await h.select(f"kind-{kind}", True)
            seen[f"capture {kind}"] = small_tap_targets(h)
        await h.click("back")
        await h.click(f"team-safety-{world.teams['A']}")
        seen["team capture"] = small_tap_targets(h)
        await h.close()

        couns = await open_app(url, tmp_path)
        await sign_in(couns, "couns_1", PASSWORD)
        await synced(couns)
        await every_tab(couns, seen, "counsellor")
        await couns.nav("nav", 0)
        [note] = [
            v
            for v in session_of(couns).require_store().notes_view()
            if v.data["text"] == "Fictional: attention, written first."
        ]
        await couns.click(f"inbox-{note.id}")
        seen["note"] = small_tap_targets(couns)
        await couns.click("back")
        await couns.nav("nav", 1)
        await couns.click("worker-a1")
        seen["worker"] = small_tap_targets(couns)
        await couns.click("new-heads-up")
        seen["heads-up"] = small_tap_targets(couns)
        await couns.close()

        for login in ("coord", "admin"):
            other = await open_app(url, tmp_path)
            await sign_in(other, login, PASSWORD)
            await synced(other)
            await every_tab(other, seen, login)
            await other.close()

        assert len(seen) > 15
        assert {screen: faults for screen, faults in seen.items() if faults} == {}

    asyncio.run(scenario())
