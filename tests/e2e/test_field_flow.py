"""The field app end to end in a real browser, in French and in English.

Real processes: the sync server (`relais serve`, on a temporary SQLite file), which serves
the field app (the PWA, whose Python runs in the browser), driven through Debian's Chromium
by Playwright. Two browser contexts, both 360×640 phones: a supervisor and a counsellor.

1. Both sign in while the server is up (the roster and the empty inbox sync), after
   switching the language on the sign-in screen. Then the sync SERVER process is stopped;
   the supervisor writes a note about a worker (worker → kind → category → save) and the
   app says it is kept on the phone ("offline · 1 to send", "waiting to send").
2. The server comes back on the same port and database; the supervisor taps the sync
   badge ("tap to retry") and the note's status moves past "waiting to send".
3. The counsellor's open inbox shows the note without any action on their side (their app
   reconnects by itself); they open it, acknowledge it and send a heads-up from the
   worker's timeline.
4. The supervisor sees "acknowledged" ("Prise en compte") in My notes and the heads-up on
   top of the Team screen.

Every screen visited is saved to screenshots/<lang>/NN_name.png (git-ignored); in French,
the supervisor's screens also on a 1280×800 desk (the window widened), as desk_*.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from field_app.i18n import Translator
from relais_testing import browser as b
from relais_testing.factories import PASSWORD
from shared_models.vocabulary import default_severity

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SUPERVISOR, COUNSELLOR = "sup_a", "couns_1"
SUPERVISOR_NAME, COUNSELLOR_NAME = "Sup A (test)", "Couns 1 (test)"
WORKER = "Worker A1"  # team A, followed by couns_1 (relais_testing/factories.py)


@pytest.fixture
def database_url(world_url: tuple[object, str]) -> str:
    return world_url[1]


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[b.SyncServer]:
    with b.running_server(database_url, tmp_path) as running:
        yield running


def worker_row(page: Any) -> Any:
    """The worker's row on the roster: a button named by all its texts."""
    return page.get_by_role("button", name=re.compile(re.escape(WORKER)))


def note_button(page: Any, text: str) -> Any:
    """A tappable note card: a button named by all its texts."""
    return page.get_by_role("button", name=re.compile(re.escape(text)))


def acknowledged_line(t: Translator) -> re.Pattern[str]:
    """The delivery line's "acknowledged <when>" ("prise en compte aujourd'hui 10:02"),
    written from the server's acknowledged_at: not the toast, not the queued action."""
    return re.compile(re.escape(t("delivery.acknowledged", when="")) + r"\S")


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_offline_note_reaches_the_counsellor_and_comes_back_acknowledged(
    lang: str, chromium: Any, server: b.SyncServer
) -> None:
    shots = b.Shots(lang)
    note_text = f"Fictional ({lang}): sat down three times during the morning shift."
    heads_up_text = f"Fictional ({lang}): lighter tasks this week, I am on it."
    timings: dict[str, float] = {}

    # --- 1. both sign in while the server is up ---------------------------------------
    sup_ctx, couns_ctx = b.new_phone(chromium), b.new_phone(chromium)
    try:
        sup = b.open_app(sup_ctx, server.app_url)
        default = Translator("fr")  # the app opens in French until a language is chosen
        b.wait_for(sup, b.button(sup, default("signin.submit")), b.START_S * 1000)
        shots(sup, "sign_in")
        t = b.choose_language(sup, lang)
        shots(sup, f"sign_in_{lang}")
        b.sign_in(sup, t, SUPERVISOR, PASSWORD)
        b.wait_for(sup, worker_row(sup), b.SYNC_MS)
        assert b.tab(sup, t, "team").get_attribute("aria-selected") == "true"
        b.wait_for(sup, b.button(sup, t("sync.ok")), b.SYNC_MS)
        shots(sup, "sup_team")

        couns = b.open_app(couns_ctx, server.app_url)
        b.choose_language(couns, lang)
        b.sign_in(couns, t, COUNSELLOR, PASSWORD)
        b.wait_for(couns, b.in_app(couns, t("inbox.empty")), b.SYNC_MS)
        shots(couns, "couns_inbox_empty")

        # --- the server goes away; the supervisor writes a note -------------------------
        started = time.monotonic()
        server.stop()
        timings["server_stop_s"] = time.monotonic() - started

        sup.bring_to_front()
        b.tap(worker_row(sup))
        b.wait_for(sup, b.in_app(sup, t("capture.title_worker", name=WORKER)))
        b.wait_for(sup, b.in_app(sup, t("capture.for_worker", counsellor=COUNSELLOR_NAME)))
        save = b.button(sup, t("capture.save"))
        assert save.is_disabled()
        shots(sup, "sup_capture")
        b.pick(sup, t.kind("signal"))
        b.pick(sup, t.category("fatigue"))
        # a severity is preselected for the category: the note is ready to go
        preselected = t.severity(default_severity("signal", "fatigue").value)
        b.wait_for(sup, sup.get_by_role("checkbox", name=preselected, exact=True, checked=True))
        b.fill_form(sup, {t("capture.text"): note_text})
        assert save.is_enabled()
        shots(sup, "sup_capture_filled")
        b.tap(save)

        queued_badge = b.button(sup, t("sync.offline_queued", n=1))
        b.wait_for(sup, queued_badge, b.SYNC_MS)
        b.wait_for(sup, worker_row(sup))
        shots(sup, "sup_team_offline")
        b.open_tab(sup, t, "my_notes")
        b.wait_for(sup, b.in_app(sup, note_text))
        b.wait_for(sup, b.in_app(sup, t.status("queued")))
        b.wait_for(sup, b.in_app(sup, t("mynotes.queued_help")))
        shots(sup, "sup_my_notes_queued")

        # --- 2. the server comes back: the note leaves the phone ------------------------
        server.start()
        started = time.monotonic()
        sup.bring_to_front()
        # "Tap to retry" (the app may already be retrying by itself: tap whatever it says)
        b.tap(b.sync_badge(sup, t))
        b.wait_until_gone(b.in_app(sup, t.status("queued")), b.SYNC_MS)
        past_queued = "|".join(re.escape(t.status(s)) for s in ("sent", "seen", "acknowledged"))
        b.wait_for(sup, b.in_app(sup, re.compile(past_queued)), b.SYNC_MS)
        timings["sup_sent_s"] = time.monotonic() - started
        b.wait_for(sup, b.button(sup, t("sync.ok")), b.SYNC_MS)
        shots(sup, "sup_my_notes_sent")

        # --- 3. the counsellor's open inbox shows it; open, acknowledge, heads-up ------
        card = note_button(couns, note_text)
        b.wait_for(couns, card, b.SYNC_MS)
        timings["couns_inbox_s"] = time.monotonic() - started
        name = card.first.get_attribute("aria-label") or card.first.inner_text()
        assert WORKER in name and t("inbox.new") in name, name
        assert (
            t("note.kind_category", kind=t.kind("signal"), category=t.category("fatigue")) in name
        )
        shots(couns, "couns_inbox_new")

        couns.bring_to_front()
        b.tap(card)
        acknowledge = b.wait_for(couns, b.button(couns, t("note.acknowledge")))
        b.wait_for(
            couns, b.in_app(couns, t("inbox.from", author=SUPERVISOR_NAME, when="").rstrip(", "))
        )
        shots(couns, "couns_note")
        b.tap(acknowledge)
        b.wait_until_gone(b.button(couns, t("note.acknowledge")))
        b.wait_for(couns, b.in_app(couns, t("note.acknowledged")))  # the toast
        # then the server's word: the delivery line says when it was acknowledged
        b.wait_for(couns, b.in_app(couns, acknowledged_line(t)), b.SYNC_MS)
        b.wait_until_gone(b.in_app(couns, t("note.sending")), b.SYNC_MS)
        shots(couns, "couns_note_acknowledged")

        b.tap(b.button(couns, t("note.timeline")))
        b.wait_for(couns, b.button(couns, t("headsup.new")))
        b.wait_for(couns, b.in_app(couns, t("worker.timeline")))
        shots(couns, "couns_worker_timeline")
        b.tap(b.button(couns, t("headsup.new")))
        send = b.wait_for(couns, b.button(couns, t("headsup.send")))
        assert send.is_disabled()
        b.fill_form(couns, {t("headsup.text"): heads_up_text})
        b.pick(couns, t("headsup.until.week"))
        b.wait_for(couns, b.in_app(couns, re.compile(re.escape(t("headsup.valid_until", day="")))))
        assert send.is_enabled()
        shots(couns, "couns_heads_up")
        b.tap(send)
        b.wait_for(couns, b.in_app(couns, t("headsup.sent")))
        b.wait_for(couns, b.in_app(couns, heads_up_text), b.SYNC_MS)  # on the timeline
        b.wait_for(couns, b.button(couns, t("sync.ok")), b.SYNC_MS)
        shots(couns, "couns_worker_heads_up_sent")

        # --- 4. back on the supervisor's phone -------------------------------------------
        sup.bring_to_front()
        pill = re.compile(re.escape(t.status("acknowledged")))  # "Prise en compte", capitalised
        b.wait_for(sup, b.in_app(sup, pill), b.SYNC_MS)
        b.wait_for(sup, b.in_app(sup, acknowledged_line(t)))
        shots(sup, "sup_my_notes_acknowledged")
        b.open_tab(sup, t, "team")
        banner = b.wait_for(sup, b.in_app(sup, re.compile(re.escape(heads_up_text))), b.SYNC_MS)
        banner_text = banner.inner_text()
        assert COUNSELLOR_NAME in banner_text and WORKER in banner_text, banner_text
        search = b.textbox(sup, t("roster.search"))
        banner_box, search_box = banner.bounding_box(), search.bounding_box()
        assert banner_box and search_box and banner_box["y"] < search_box["y"]  # on top
        shots(sup, "sup_team_heads_up")

        if lang == "fr":  # the supervisor's screens on a desk: the window widened
            sup.bring_to_front()
            b.widen(sup, t)
            b.wait_for(sup, b.in_app(sup, re.compile(re.escape(heads_up_text))))
            shots(sup, "desk_sup_team")
            b.open_tab(sup, t, "my_notes")
            b.wait_for(sup, b.in_app(sup, note_text))
            shots(sup, "desk_sup_my_notes")
            b.open_tab(sup, t, "settings")
            b.wait_for(sup, sup.get_by_role("heading").filter(has_text=SUPERVISOR_NAME))
            shots(sup, "desk_sup_settings")
            b.open_tab(sup, t, "team")
            b.tap(worker_row(sup))
            b.wait_for(sup, b.in_app(sup, t("capture.title_worker", name=WORKER)))
            shots(sup, "desk_sup_capture")
    except BaseException:
        b.dump_pages(shots.folder, sup=sup_ctx, couns=couns_ctx)
        raise
    finally:
        sup_ctx.close()
        couns_ctx.close()
    print(f"\n[{lang}] timings: " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()))
    print(f"[{lang}] screenshots: {shots.folder} ({shots.count}); retyped: {b.RETRIES}")
    print(f"[{lang}] steps: {shots.steps()}")
