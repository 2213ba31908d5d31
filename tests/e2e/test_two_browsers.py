"""Web mode serves many people from one process: two browsers on ONE web app process, signed
in at the same time as two different people, each see only their own data and their own
queue, in their own language.

- Browser A: the supervisor sup_a, on a 360×640 phone, in French.
- Browser B: the counsellor couns_2, on a 1280×800 desktop, switched to English.

Before they sign in, sup_b (another team) writes a note about worker B1 (routed to couns_2)
and couns_2 a heads-up about B1 for team B's supervisors: B must see the note, A must see
neither. Then the sync server is stopped and A writes a note about worker A3, whose
counsellor is couns_2: while it waits in A's queue it is nowhere in B's browser, nor in B's
local store, and B's sync badge shows no queue of its own. When the server is back, A's
note reaches B through the server, as it should, which proves that B's screen was live.
"""

from __future__ import annotations

import re
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from field_app.i18n import Translator
from shared_models.mutations import NOTE_TEXT_MAX
from tests.e2e import browser as b
from tests.factories import PASSWORD, World, mutation, note_data

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DESKTOP = {"width": 1280, "height": 800}
SEED_NOTE = "Fictional seed: asked twice about the rent letter during the break."
SEED_HEADS_UP = "Fictional seed: B1 has appointments on Tuesday mornings for a month."
QUEUED_NOTE = "Fictional queued: left the site at 3 pm without telling anyone."


def store_of(data_dir: Path, user_id: object) -> Path:
    """The store file of one user in the one browser folder that holds it."""
    [path] = list((data_dir / "browsers").glob(f"*/relais-{user_id}.sqlite3"))
    return path


def store_facts(path: Path, text: str) -> tuple[int, bool]:
    """(rows in the outbox, whether `text` is anywhere in the file's data), read-only."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        queued = db.execute("SELECT count(*) FROM outbox").fetchone()[0]
        rows = [
            row[0]
            for table in ("entity", "outbox", "sent")
            for row in db.execute(f"SELECT data FROM {table}")
        ]
    return queued, any(text in row for row in rows)


def settings_headings(page: Any, t: Translator, name: str) -> list[str]:
    """The Settings tab's headings once `name` is among them (the signed-in person's name
    is the first heading of the tab)."""
    b.open_tab(page, t, "settings")
    headings = page.get_by_role("heading")
    b.wait_for(page, headings.filter(has_text=name))
    return [h.inner_text().strip() for h in headings.all()]


def test_two_people_on_one_web_app_process_see_only_their_own(
    chromium: Any, world_url: tuple[World, str], tmp_path: Path
) -> None:
    world, database_url = world_url
    shots = b.Shots("two_browsers")
    with b.running_stack(database_url, tmp_path) as (server, app):
        b1 = str(world.workers["b1"])
        b.push_as(
            server.url, "sup_b", mutation("note.create", note_data(world, "b1", text=SEED_NOTE))
        )
        b.push_as(
            server.url,
            "couns_2",
            mutation(
                "heads_up.create", {"id": str(uuid.uuid4()), "worker_id": b1, "text": SEED_HEADS_UP}
            ),
        )

        ctx_a = b.new_phone(chromium)
        ctx_b = chromium.new_context(viewport=DESKTOP)
        try:
            # Both browsers open the same app process before anyone signs in.
            page_a = b.open_app(ctx_a, app.url)
            page_b = b.open_app(ctx_b, app.url)
            fr = b.choose_language(page_a, "fr")
            en = b.choose_language(page_b, "en")
            b.sign_in(page_a, fr, "sup_a", PASSWORD)
            b.sign_in(page_b, en, "couns_2", PASSWORD)

            # A: team A's roster, in French; nothing of team B, of the seed, or of B's inbox.
            b.wait_for(
                page_a, page_a.get_by_role("button", name=re.compile("Worker A1")), b.SYNC_MS
            )
            b.wait_for(page_a, b.button(page_a, fr("sync.ok")), b.SYNC_MS)
            # B: its inbox, in English, with the note routed to couns_2.
            b.wait_for(page_b, b.in_app(page_b, SEED_NOTE), b.SYNC_MS)
            b.wait_for(page_b, b.button(page_b, en("sync.ok")), b.SYNC_MS)
            shots(page_a, "a_team_fr")
            shots(page_b, "b_inbox_en_desktop")
            text_a, text_b = b.page_text(page_a), b.page_text(page_b)
            for leaked in (SEED_NOTE, SEED_HEADS_UP, "Worker B1", "Worker B2", en("tab.inbox")):
                assert leaked not in text_a, leaked
            assert fr("tab.team") in text_a and en("tab.inbox") in text_b
            assert fr("tab.team") not in text_b  # B's language did not leak into A, or back

            assert "Couns 2 (test)" not in settings_headings(page_a, fr, "Sup A (test)")
            assert "Sup A (test)" not in settings_headings(page_b, en, "Couns 2 (test)")
            shots(page_a, "a_settings")
            shots(page_b, "b_settings")
            b.open_tab(page_a, fr, "team")
            b.open_tab(page_b, en, "inbox")

            # The server goes away; A writes a note about A3 (whose counsellor is couns_2).
            server.stop()
            page_a.bring_to_front()
            b.tap(page_a.get_by_role("button", name=re.compile("Worker A3")))
            b.pick(page_a, fr.kind("signal"))
            b.pick(page_a, fr.category("punctuality"))
            b.fill_form(page_a, {fr("capture.text"): QUEUED_NOTE}, max_length=NOTE_TEXT_MAX)
            b.tap(b.button(page_a, fr("capture.save")))
            b.wait_for(page_a, b.button(page_a, fr("sync.offline_queued", n=1)), b.SYNC_MS)
            shots(page_a, "a_team_offline_queued")

            # A's queue is A's alone: not on B's screen, not in B's store, not in B's badge.
            store_a = store_of(app.data_dir, world.users["sup_a"])
            store_b = store_of(app.data_dir, world.users["couns_2"])
            assert store_a.parent != store_b.parent  # one folder per browser
            assert store_facts(store_a, QUEUED_NOTE) == (1, True)
            assert store_facts(store_b, QUEUED_NOTE) == (0, False)
            deadline = time.monotonic() + 3  # a few sync rounds of B, each one checked
            while time.monotonic() < deadline:
                text_b = b.page_text(page_b)
                assert QUEUED_NOTE not in text_b and "Worker A3" not in text_b
                assert not re.search(r"\d+ to send", text_b), text_b
                page_b.wait_for_timeout(250)
            shots(page_b, "b_inbox_while_a_offline")

            # The server is back: A's note leaves A's queue and reaches B through the server.
            server.start()
            b.tap(b.sync_badge(page_a, fr))  # "tap to retry", unless it already has
            b.wait_for(page_a, b.button(page_a, fr("sync.ok")), b.SYNC_MS)
            # B's app would find it by itself once its live stream reconnects (up to 30 s of
            # backoff after an outage: tests/e2e/test_field_flow.py waits for that); here B
            # taps "sync now", which keeps this test short.
            b.tap(b.sync_badge(page_b, en))
            b.wait_for(page_b, b.in_app(page_b, QUEUED_NOTE), b.SYNC_MS)
            assert store_facts(store_a, QUEUED_NOTE)[0] == 0
            shots(page_b, "b_inbox_after_a_synced")

            # A's own notes: only the one A wrote; B's inbox items never reach A's screens.
            b.open_tab(page_a, fr, "my_notes")
            b.wait_for(page_a, b.in_app(page_a, QUEUED_NOTE))
            text_a = b.page_text(page_a)
            assert SEED_NOTE not in text_a and SEED_HEADS_UP not in text_a
            shots(page_a, "a_my_notes")
            b.open_tab(page_a, fr, "team")
            b.wait_for(page_a, page_a.get_by_role("button", name=re.compile("Worker A1")))
            assert SEED_HEADS_UP not in b.page_text(page_a)

            # A's browser goes away; B's session goes on, in the same process.
            ctx_a.close()
            page_b.bring_to_front()
            b.tap(page_b.get_by_role("button", name=re.compile(re.escape(QUEUED_NOTE))))
            b.wait_for(page_b, b.button(page_b, en("note.acknowledge")))
            shots(page_b, "b_note_after_a_left")
        except BaseException:
            b.dump_pages(shots.folder, a=ctx_a, b=ctx_b)
            raise
        finally:
            ctx_a.close()
            ctx_b.close()
    print(f"\n[two browsers] steps: {shots.steps()}; retyped: {b.RETRIES}")
