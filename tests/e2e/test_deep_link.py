"""A link to a note, opened in a real browser (as from an e-mail): the app signs in first,
then shows that note, with back leading to the home screen; the address bar follows; the
browser's back button returns to the note; a reload of the link opens the note again, still
signed in. French, a 360×640 phone; screenshots in screenshots/deep_link/.

The note (an urgent signal about A1, routed to couns_1) is written by sup_a through the
HTTP API before the counsellor's browser opens the link.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from field_app import paths
from field_app.i18n import Translator
from relais_testing import browser as b
from relais_testing.factories import PASSWORD, World, mutation, note_data

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TEXT = "Fictif : s'est coupé la main à la taille de haie."


def note_shown(page: Any, t: Translator) -> Any:
    """The note's screen: its text, and the button to acknowledge it."""
    b.wait_for(page, b.in_app(page, re.compile(re.escape(TEXT))), b.SYNC_MS)
    return b.wait_for(page, b.button(page, t("note.acknowledge")), b.SYNC_MS)


def test_a_link_to_a_note_opens_it_after_sign_in_with_back_to_home(
    chromium: Any, world_url: tuple[World, str], tmp_path: Path
) -> None:
    world, database_url = world_url
    t = Translator("fr")
    shots = b.Shots("deep_link")
    with b.running_server(database_url, tmp_path) as server:
        note = note_data(
            world, "a1", kind="safety", category="injury", severity="urgent", text=TEXT
        )
        b.push_as(server.url, "sup_a", mutation("note.create", note))
        link = server.app_url.rstrip("/") + paths.note(note["id"])

        context = b.new_phone(chromium)
        try:
            page = b.open_app(context, link)
            b.wait_for(page, b.button(page, t("signin.submit")), b.START_S * 1000)
            shots(page, "link_sign_in")
            b.fill_form(page, {t("signin.login"): "couns_1", t("signin.password"): PASSWORD})
            b.tap(b.button(page, t("signin.submit")))
            note_shown(page, t)
            assert page.url == link  # the address stayed on the link
            shots(page, "link_note")

            b.tap(b.button(page, t("nav.back")))
            b.wait_for(page, b.tab(page, t, "inbox"))
            b.wait_for(page, b.in_app(page, t("inbox.to_handle", n=1)))
            page.wait_for_url(server.app_url, timeout=b.UI_MS)
            shots(page, "link_back_home")

            page.go_back()  # the browser's own back: to the link again
            note_shown(page, t)
            page.wait_for_url(link, timeout=b.UI_MS)

            page.reload()  # the link opened afresh: still signed in, straight to the note
            page.wait_for_selector(
                "flt-semantics-placeholder", state="attached", timeout=b.START_S * 1000
            )
            page.evaluate("document.querySelector('flt-semantics-placeholder').click()")
            note_shown(page, t)
            shots(page, "link_reloaded")
            b.tap(b.button(page, t("nav.back")))
            b.wait_for(page, b.tab(page, t, "inbox"))
        except BaseException:
            b.dump_pages(shots.folder, couns=context)
            raise
        finally:
            context.close()
