"""Administration and the wide layout in a real browser (issue 11, items 2 and 5), at
1280×800 (a desk: navigation rail, list and detail panes) and 360×640 (a phone): the
sign-in screen on the desk, the admin's overview, accounts and devices, the new-account
form, and the coordinator's meeting beside a worker. No note text ever reaches the admin.
Screenshots go to screenshots/admin/."""

from __future__ import annotations

from typing import Any

import pytest

from relais_testing import browser as b
from relais_testing.factories import PASSWORD, World, mutation, note_data

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SIGNAL = "Fictif : dit dormir dans sa voiture cette semaine."


def signed_in(
    chromium: Any, url: str, login: str, viewport: dict[str, int], shots: b.Shots | None = None
) -> Any:
    context = b.new_phone(chromium, viewport)
    page = b.open_app(context, url)
    fr = b.choose_language(page, "fr")
    if shots is not None:
        shots(page, "desk_sign_in")
    b.sign_in(page, fr, login, PASSWORD)
    b.wait_for(page, b.button(page, fr("sync.ok")), b.SYNC_MS)
    return context, page, fr


def test_admin_screens_and_the_wide_layout(
    chromium: Any, world_url: tuple[World, str], tmp_path: Any
) -> None:
    world, database_url = world_url
    shots = b.Shots("admin")
    contexts: dict[str, Any] = {}
    with b.running_server(database_url, tmp_path) as server:
        b.push_as(
            server.url,
            "sup_a",
            mutation("note.create", note_data(world, "a1", category="housing", text=SIGNAL)),
        )
        try:
            for size, viewport in (("desk", b.DESK), ("phone", b.PHONE)):
                contexts[size], page, fr = signed_in(
                    chromium, server.app_url, "admin", viewport, shots if size == "desk" else None
                )
                b.wait_for(page, b.in_app(page, fr("admin.count.users", n=6)), b.SYNC_MS)
                b.wait_for(page, b.in_app(page, "Sup A (test)"))
                assert SIGNAL not in b.page_text(page)
                shots(page, f"{size}_admin_overview")
                page.mouse.move(viewport["width"] // 2, viewport["height"] // 2)
                page.mouse.wheel(0, 5000 if size == "phone" else 1500)
                b.wait_for(page, b.in_app(page, fr("admin.devices")))
                shots(page, f"{size}_admin_devices")
                page.mouse.wheel(0, 5000)
                b.wait_for(page, b.button(page, fr("admin.roster.pick")))
                shots(page, f"{size}_admin_roster")
                page.mouse.wheel(0, -20000)
                b.tap(b.button(page, fr("admin.add_user")))
                b.wait_for(page, b.textbox(page, fr("admin.user.login")))
                shots(page, f"{size}_admin_new_account")
                b.tap(b.button(page, fr("common.cancel")))

            contexts["coord"], page, fr = signed_in(chromium, server.app_url, "coord", b.DESK)
            card = b.in_app(page, SIGNAL)
            b.wait_for(page, card, b.SYNC_MS)
            shots(page, "desk_coord_meeting")
            b.tap(page.get_by_role("button").filter(has_text=SIGNAL))
            b.wait_for(page, b.button(page, fr("nav.close_pane")))
            b.wait_for(page, b.in_app(page, fr("brief.title")))  # the list stays beside
            shots(page, "desk_coord_meeting_worker")
        except BaseException:
            b.dump_pages(b.SCREENSHOTS / "admin", **contexts)
            raise
        finally:
            for context in contexts.values():
                context.close()
