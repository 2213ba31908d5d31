"""The review screens in a real browser, in French, on 360×640 phones: the coordinator's
meeting list, history and reports, the counsellor's caseload, and the admin's notice; the
coordinator's and the counsellor's then again with the window widened to a 1280×800 desk.

Seeded through the HTTP API by the people who would write them (all invented):
- sup_a: an urgent signal about A1 (couns_1 then acknowledges it), an observation about A2
  and a safety note about A3;
- sup_b: a signal about B2, who has no counsellor (routed to the coordinators).

The meeting list holds what is still open (the safety note and B2's signal), not what was
acknowledged nor the observation; the history holds all four notes; the reports draw the
chart and list the workers. Every screen is saved to screenshots/review/.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from field_app.i18n import Translator
from relais_testing import browser as b
from relais_testing.factories import PASSWORD, World, mutation, note_data

pytestmark = [pytest.mark.browser, pytest.mark.slow]

URGENT = "Fictif : s'est endormi deux fois sur la tondeuse."
OBSERVATION = "Fictif : a taillé la haie seul pour la première fois."
SAFETY = "Fictif : pas de gants à la broyeuse."
UNASSIGNED = "Fictif : dit dormir dans sa voiture cette semaine."


def seed(server_url: str, world: World) -> None:
    urgent = note_data(world, "a1", category="fatigue", severity="urgent", text=URGENT)
    b.push_as(
        server_url,
        "sup_a",
        mutation("note.create", urgent),
        mutation(
            "note.create",
            note_data(
                world,
                "a2",
                kind="observation",
                category="skill_progress",
                severity="info",
                text=OBSERVATION,
            ),
        ),
        mutation("note.create", note_data(world, "a3", kind="safety", category="ppe", text=SAFETY)),
    )
    b.push_as(
        server_url,
        "sup_b",
        mutation("note.create", note_data(world, "b2", category="housing", text=UNASSIGNED)),
    )
    b.push_as(server_url, "couns_1", mutation("note.acknowledge", {"note_id": urgent["id"]}))


def signed_in(
    chromium: Any, url: str, login: str, viewport: dict[str, int] = b.PHONE
) -> tuple[Any, Any, Translator]:
    context = b.new_phone(chromium, viewport)
    page = b.open_app(context, url)
    fr = b.choose_language(page, "fr")
    # Every control says what it does, the password's reveal button too.
    b.wait_for(page, page.get_by_role("button", name=fr("signin.password.show")))
    b.sign_in(page, fr, login, PASSWORD)
    b.wait_for(page, b.button(page, fr("sync.ok")), b.SYNC_MS)
    return context, page, fr


def test_review_screens_show_what_is_open_everything_written_and_the_figures(
    chromium: Any, world_url: tuple[World, str], tmp_path: Any
) -> None:
    world, database_url = world_url
    shots = b.Shots("review")
    contexts: dict[str, Any] = {}
    with b.running_server(database_url, tmp_path) as server:
        seed(server.url, world)
        try:
            contexts["coord"], page, fr = signed_in(chromium, server.app_url, "coord")
            # Réunion (the coordinator's first tab): what is still open, nothing settled.
            b.wait_for(page, b.in_app(page, fr("meeting.count", n=2)), b.SYNC_MS)
            b.wait_for(page, b.in_app(page, SAFETY))
            b.wait_for(page, b.in_app(page, UNASSIGNED))
            text = b.page_text(page)
            assert URGENT not in text and OBSERVATION not in text
            shots(page, "coord_meeting")

            b.open_tab(page, fr, "history")
            b.wait_for(page, b.in_app(page, fr("history.count", n=4)))
            for written in (URGENT, OBSERVATION, SAFETY):
                b.wait_for(page, b.in_app(page, written))
            shots(page, "coord_history")

            b.open_tab(page, fr, "reports")
            b.wait_for(page, b.in_app(page, fr("reports.chart")))
            b.wait_for(page, page.get_by_role("button", name=re.compile("Worker A1")))
            assert fr("reports.chart.empty") not in b.page_text(page)
            shots(page, "coord_reports")

            b.tap(page.get_by_role("button", name=re.compile("Worker A1")))
            b.wait_for(page, b.in_app(page, URGENT))
            shots(page, "coord_worker_timeline")

            # The same browser on a desk: the window widened, the screens laid out anew in the
            # same section (the reports, which have no pane beside them), then the meeting list
            # with what is tapped in it beside.
            b.tap(b.button(page, fr("nav.back")))
            b.widen(page, fr)
            b.wait_for(page, b.in_app(page, fr("reports.chart")))
            shots(page, "desk_coord_reports")
            b.open_tab(page, fr, "meeting")
            b.tap(page.get_by_role("button", name=re.compile(re.escape(SAFETY))))
            b.wait_for(page, b.button(page, fr("nav.close_pane")))
            shots(page, "desk_coord_meeting_worker")
            b.open_tab(page, fr, "history")
            b.tap(page.get_by_role("button", name=re.compile(re.escape(OBSERVATION))))
            b.wait_for(page, b.button(page, fr("nav.close_pane")))
            shots(page, "desk_coord_history_note")

            contexts["couns"], page, fr = signed_in(chromium, server.app_url, "couns_1")
            b.open_tab(page, fr, "workers")
            for name in ("Worker A1", "Worker A2"):
                b.wait_for(page, page.get_by_role("button", name=re.compile(name)))
            text = b.page_text(page)
            assert "Worker B1" not in text and "Worker A3" not in text  # couns_2's
            shots(page, "couns_workers")
            b.open_tab(page, fr, "settings")
            b.wait_for(page, page.get_by_role("heading").filter(has_text="Couns 1 (test)"))
            shots(page, "couns_settings")
            b.widen(page, fr)
            b.open_tab(page, fr, "workers")
            b.tap(page.get_by_role("button", name=re.compile("Worker A1")))
            b.wait_for(page, b.button(page, fr("headsup.new")))
            b.wait_for(page, b.button(page, fr("nav.close_pane")))
            shots(page, "desk_couns_worker")
            b.tap(b.button(page, fr("headsup.new")))
            b.wait_for(page, b.button(page, fr("headsup.send")))
            shots(page, "desk_couns_heads_up")

            contexts["admin"], page, fr = signed_in(chromium, server.app_url, "admin")
            b.wait_for(page, b.tab(page, fr, "admin"))
            text = b.page_text(page)
            for note_text in (URGENT, OBSERVATION, SAFETY, UNASSIGNED):
                assert note_text not in text
            shots(page, "admin_notice")

        except BaseException:
            b.dump_pages(b.SCREENSHOTS / "review", **contexts)
            raise
        finally:
            for context in contexts.values():
                context.close()
    print(f"\n[review] steps: {shots.steps()}; retyped: {b.RETRIES}")
