"""Offline for real: the field app as a PWA whose Python runs in the browser.

The supervisor's browser has a profile on disk, so closing it and launching it again is a
real restart. "Offline" here means what a worksite means: the browser's network is cut
(`set_offline`) AND the sync server is stopped; no request may leave for another host.

1. The supervisor signs in online and pulls the team; the app's files are in the service
   worker's cache. The counsellor (another browser) signs in too.
2. The network is cut and the server stopped; the badge says "offline" at once.
3. A reload brings the app back, signed in, from the cache and the browser's storage.
4. Three notes are written.
5. The browser is closed and launched again, still offline: the three notes are still
   queued, as the browser's storage holds them.
6. The server and the network come back: the notes reach the counsellor's open inbox live.
7. The counsellor acknowledges one and sends a heads-up; 8. the supervisor sees both.

Then: two tabs of one user never lose a note, and signing out wipes what was synced from
the browser's storage but keeps the notes that never reached the server.
"""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from field_app.i18n import Translator
from relais_testing import browser as b
from relais_testing.factories import PASSWORD, World

pytestmark = [pytest.mark.browser, pytest.mark.slow]

FR = Translator("fr")
NOTES = [
    ("Worker A1", "fatigue", "Fictif : s'est assis trois fois ce matin."),
    ("Worker A2", "mobility", "Fictif : a raté le bus deux fois cette semaine."),
    ("Worker A1", "punctuality", "Fictif : arrivé à 9 h 40 sans prévenir."),
]
HEADS_UP = "Fictif : tâches plus légères cette semaine, je m'en occupe."


def row(page: Any, name: str) -> Any:
    return page.get_by_role("button", name=re.compile(re.escape(name)))


def capture(page: Any, worker: str, category: str, text: str) -> None:
    """Worker → signal → category → text → save, as a supervisor would."""
    b.tap(row(page, worker))
    b.wait_for(page, b.in_app(page, FR("capture.title_worker", name=worker)))
    b.pick(page, FR.kind("signal"))
    b.pick(page, FR.category(category))
    b.fill_form(page, {FR("capture.text"): text})
    b.tap(b.button(page, FR("capture.save")))
    b.wait_for(page, row(page, worker))  # back on the team screen once durable


def offline_cache_ready(page: Any) -> bool:
    return bool(
        page.evaluate(
            """async () => {
              for (const name of await caches.keys()) {
                const cache = await caches.open(name);
                if (await cache.match('__offline_ready__')) return true;
              }
              return false;
            }"""
        )
    )


def wait_until(condition: Any, what: str, timeout_ms: float = b.SYNC_MS) -> Any:
    deadline = time.monotonic() + timeout_ms / 1000
    while not (result := condition()):
        assert time.monotonic() < deadline, what
        time.sleep(0.2)
    return result


def stored(page: Any, user_id: uuid.UUID, folder: Path) -> dict[str, Any]:
    """The user's store as the browser's storage holds it (what survives a close)."""
    files = wait_until(
        lambda: (f := b.browser_files(page)) and any(str(user_id) in p for p in f) and f,
        "no store file in the browser's storage",
    )
    return b.store_facts(files, user_id, folder)


def test_offline_for_real_notes_survive_reload_and_restart_then_reach_the_counsellor(
    playwright: Any, world_url: tuple[World, str], tmp_path: Path
) -> None:
    world, database_url = world_url
    shots = b.Shots("offline")
    profile = tmp_path / "supervisor-profile"
    t = FR
    with b.running_server(database_url, tmp_path) as server:
        sup_ctx = b.launch_phone(playwright, profile)
        couns_browser = b.launch(playwright)
        couns_ctx = b.new_phone(couns_browser)
        try:
            # --- 1. online: sign in, pull the team; the counsellor signs in too ------------
            sup = b.open_app(sup_ctx, server.app_url, page=sup_ctx.pages[0])
            b.sign_in(sup, t, "sup_a", PASSWORD)
            b.wait_for(sup, row(sup, "Worker A1"), b.SYNC_MS)
            b.wait_for(sup, b.button(sup, t("sync.ok")), b.SYNC_MS)
            wait_until(lambda: offline_cache_ready(sup), "the app never became ready offline")
            # Chromium would offer to install it: no installability error at all.
            devtools = sup_ctx.new_cdp_session(sup)
            assert devtools.send("Page.getInstallabilityErrors")["installabilityErrors"] == []
            manifest = devtools.send("Page.getAppManifest")
            # the browser's language picks the manifest (this Chromium speaks English)
            assert re.search(r"/manifest\.(fr|en|it|nl)\.json$", manifest["url"]), manifest["url"]
            assert not manifest["errors"]
            shots(sup, "online_team")
            couns = b.open_app(couns_ctx, server.app_url)
            b.sign_in(couns, t, "couns_1", PASSWORD)
            b.wait_for(couns, b.in_app(couns, t("inbox.empty")), b.SYNC_MS)

            # --- 2. the network is cut and the server stopped --------------------------------
            sup_ctx.set_offline(True)
            server.stop()
            b.wait_for(sup, b.button(sup, t("sync.offline")), b.UI_MS)
            shots(sup, "offline_badge")

            # --- 3. reload: the app comes back, signed in -----------------------------------
            sup.reload(wait_until="commit")
            b.wait_for_app(sup)
            b.wait_for(sup, row(sup, "Worker A1"))
            b.wait_for(sup, b.button(sup, t("sync.offline")), b.SYNC_MS)
            shots(sup, "offline_reloaded")

            # --- 4. three notes --------------------------------------------------------------
            for worker, category, text in NOTES:
                capture(sup, worker, category, text)
            b.wait_for(sup, b.button(sup, t("sync.offline_queued", n=3)))
            shots(sup, "offline_three_queued")

            # --- 5. close the browser, launch it again, still offline ------------------------
            sup_ctx.close()
            sup_ctx = b.launch_phone(playwright, profile)
            sup_ctx.set_offline(True)
            sup = b.open_app(sup_ctx, server.app_url, page=sup_ctx.pages[0])
            b.wait_for(sup, b.button(sup, t("sync.offline_queued", n=3)), b.SYNC_MS)
            facts = stored(sup, world.users["sup_a"], tmp_path)
            assert facts["queued"] == 3
            assert all(any(text in row for row in facts["texts"]) for _, _, text in NOTES)
            b.open_tab(sup, t, "my_notes")
            for _, _, text in NOTES:
                b.wait_for(sup, b.in_app(sup, text))
            shots(sup, "restarted_offline_my_notes")

            # --- 6. the server and the network come back -------------------------------------
            server.start()
            sup_ctx.set_offline(False)
            b.wait_for(sup, b.button(sup, t("sync.ok")), b.SYNC_MS)
            couns.bring_to_front()
            for _, _, text in NOTES:  # the counsellor's open inbox, without a tap
                b.wait_for(couns, b.in_app(couns, text), b.SYNC_MS)
            shots(couns, "couns_inbox_three")

            # --- 7. the counsellor acknowledges one and sends a heads-up ---------------------
            first = NOTES[0][2]
            b.tap(couns.get_by_role("button", name=re.compile(re.escape(first))))
            b.tap(b.wait_for(couns, b.button(couns, t("note.acknowledge"))))
            b.wait_until_gone(b.button(couns, t("note.acknowledge")))
            b.tap(b.button(couns, t("note.timeline")))
            b.tap(b.wait_for(couns, b.button(couns, t("headsup.new"))))
            b.fill_form(couns, {t("headsup.text"): HEADS_UP})
            b.tap(b.button(couns, t("headsup.send")))
            b.wait_for(couns, b.in_app(couns, HEADS_UP), b.SYNC_MS)
            b.wait_for(couns, b.button(couns, t("sync.ok")), b.SYNC_MS)

            # --- 8. the supervisor sees both --------------------------------------------------
            sup.bring_to_front()
            b.wait_for(sup, b.in_app(sup, re.compile(re.escape(t.status("acknowledged")))))
            shots(sup, "sup_acknowledged")
            b.open_tab(sup, t, "team")
            b.wait_for(sup, b.in_app(sup, re.compile(re.escape(HEADS_UP))), b.SYNC_MS)
            shots(sup, "sup_heads_up")
        except BaseException:
            b.dump_pages(shots.folder, sup=sup_ctx, couns=couns_ctx)
            raise
        finally:
            sup_ctx.close()
            couns_ctx.close()
            couns_browser.close()


def test_two_tabs_of_one_user_lose_no_note(
    chromium: Any, world_url: tuple[World, str], tmp_path: Path
) -> None:
    world, database_url = world_url
    shots = b.Shots("two_tabs")
    with b.running_server(database_url, tmp_path) as server:
        ctx = b.new_phone(chromium)
        try:
            first = b.open_app(ctx, server.app_url)
            b.sign_in(first, FR, "sup_a", PASSWORD)
            b.wait_for(first, row(first, "Worker A1"), b.SYNC_MS)
            server.stop()  # the notes stay queued in the first tab's store
            capture(first, *NOTES[0])

            # A second tab: the store belongs to the first one; it says so and waits.
            second = ctx.new_page()
            second.goto(server.app_url)
            b.wait_for_app(second)
            b.wait_for(second, b.in_app(second, FR("app.other_tab")))
            shots(second, "second_tab_waits")
            capture(first, *NOTES[1])  # the first tab goes on writing

            first.close()  # the second tab takes over, with both notes
            b.wait_for(second, b.button(second, FR("sync.offline_queued", n=2)), b.SYNC_MS)
            assert stored(second, world.users["sup_a"], tmp_path)["queued"] == 2
            capture(second, *NOTES[2])
            b.wait_for(second, b.button(second, FR("sync.offline_queued", n=3)))
            shots(second, "second_tab_three_queued")
            server.start()
            b.tap(b.sync_badge(second, FR))
            b.wait_for(second, b.button(second, FR("sync.ok")), b.SYNC_MS)
            b.open_tab(second, FR, "my_notes")
            for _, _, text in NOTES:
                b.wait_for(second, b.in_app(second, text))
        except BaseException:
            b.dump_pages(shots.folder, tabs=ctx)
            raise
        finally:
            ctx.close()


def test_sign_out_wipes_the_browser_but_keeps_unsent_notes(
    chromium: Any, world_url: tuple[World, str], tmp_path: Path
) -> None:
    world, database_url = world_url
    shots = b.Shots("sign_out")
    user = world.users["sup_a"]
    with b.running_server(database_url, tmp_path) as server:
        ctx = b.new_phone(chromium)
        try:
            page = b.open_app(ctx, server.app_url)
            b.sign_in(page, FR, "sup_a", PASSWORD)
            b.wait_for(page, row(page, "Worker A1"), b.SYNC_MS)
            capture(page, *NOTES[0])  # sent: it reaches the server
            b.wait_for(page, b.button(page, FR("sync.ok")), b.SYNC_MS)
            server.stop()
            capture(page, *NOTES[1])  # never reaches the server before sign-out
            b.wait_for(page, b.button(page, FR("sync.offline_queued", n=1)), b.SYNC_MS)
            before = stored(page, user, tmp_path)
            assert before["entities"] > 0 and before["token"] == 1 and before["queued"] == 1

            b.sign_out(page, FR)
            shots(page, "signed_out")
            after = wait_until(
                lambda: (f := stored(page, user, tmp_path))["token"] == 0 and f,
                "the token is still in the browser's storage",
            )
            assert after["entities"] == 0 and after["queued"] == 1
            texts = "\n".join(after["texts"])
            assert NOTES[1][2] in texts  # the unsent note, kept
            assert NOTES[0][2] not in texts and "Worker A1" not in texts  # synced: wiped

            server.start()  # the next sign-in sends what waited
            b.sign_in(page, FR, "sup_a", PASSWORD)
            b.wait_for(page, b.button(page, FR("sync.ok")), b.SYNC_MS)
            wait_until(
                lambda: stored(page, user, tmp_path)["queued"] == 0,
                "the kept note was not sent after signing in again",
            )
        except BaseException:
            b.dump_pages(shots.folder, page=ctx)
            raise
        finally:
            ctx.close()
