"""The supervisor's screens against a real server: a note in three taps after the worker,
with or without text; offline queueing then sending; statuses moving in "My notes" as the
counsellor acknowledges; retracting within 24 hours."""

from __future__ import annotations

import asyncio

import flet as ft
import httpx
import pytest

from field_app.state.notes import progress
from relais_testing.factories import PASSWORD, build_world
from relais_testing.ui_harness import open_app, session_of, sign_in, synced
from shared_models.vocabulary import categories_for
from sync_server.app import create_app
from tests.field_app.test_sync_client import LiveServer


@pytest.fixture
def live(db, settings):
    world = build_world(db)
    server = LiveServer(create_app(settings, db))
    server.start()
    server.world = world  # type: ignore[attr-defined]
    yield server
    if server._thread is not None and server._thread.is_alive():
        server.stop()


def my_notes(h):
    return {note.data.text: progress(note) for note in session_of(h).reads.notes()}


def test_a_note_without_text_takes_three_taps_after_the_worker(live, tmp_path):
    async def scenario() -> None:
        h = await open_app(live.url, tmp_path)
        await sign_in(h, "sup_a", PASSWORD)
        await synced(h)
        await h.click("worker-a1")
        assert h.find(key="capture-save").disabled
        assert (
            h.find(key="capture-text").hint_text == "décrivez ce que vous avez vu, pas la personne"
        )
        taps = h.taps

        await h.select("kind-signal", True)
        await h.select("category-housing", True)
        assert h.find(key="severity-attention").selected  # preselected for housing
        await h.click("capture-save")

        assert h.taps - taps == 3
        assert h.exists("nav") and not h.exists("capture-save")  # back on the roster
        store = session_of(h).require_store()
        [view] = store.notes_view()
        assert (view.data["category"], view.data["severity"], view.data["text"]) == (
            "housing",
            "attention",
            "",
        )
        await synced(h)
        assert store.notes_view()[0].status == "open"
        await h.close()

    asyncio.run(scenario())


def test_topics_stay_in_one_order_whatever_was_written_before(live, tmp_path):
    """Hands learn where each topic is: writing notes on one topic never moves it, from
    one worker to the next."""

    def topics(h) -> list[str]:
        return [chip.data for chip in h.find(key="category-chips").controls]

    async def scenario() -> None:
        h = await open_app(live.url, tmp_path)
        await sign_in(h, "sup_a", PASSWORD)
        await synced(h)
        await h.click("worker-a1")
        await h.select("kind-safety", True)
        before = topics(h)
        assert before == [*(c for c in categories_for("safety") if c != "other"), "other"]
        await h.click("back")
        for text in ("Fictional: no gloves near the hedge trimmer.", "Fictional: again no gloves."):
            await h.click("worker-a2")
            await h.select("kind-safety", True)
            await h.select("category-ergonomics", True)
            await h.type("capture-text", text)
            await h.click("capture-save")
        for ref in ("a1", "a2", "a3"):
            await h.click(f"worker-{ref}")
            await h.select("kind-safety", True)
            assert topics(h) == before, ref
            await h.click("back")
        await synced(h)
        assert set(my_notes(h).values()) == {"sent"}
        await h.close()

    asyncio.run(scenario())


def test_offline_notes_are_queued_then_sent_when_the_server_is_back(live, tmp_path):
    async def scenario() -> None:
        h = await open_app(live.url, tmp_path)
        await sign_in(h, "sup_a", PASSWORD)
        await synced(h)
        live.stop()
        await h.click("worker-a1")
        await h.select("kind-signal", True)
        await h.select("category-fatigue", True)
        await h.type("capture-text", "Fictional: sat down three times this morning.")
        await h.click("capture-save")
        await h.wait_until(lambda: session_of(h).status.state == "offline")
        await h.nav("nav", 1)
        assert h.has_text("En attente d'envoi")
        badge = h.find(key="sync-badge-semantics")
        assert "1" in badge.label and "pas de connexion" in badge.label
        assert h.find(key="sync-badge-text").value == "Hors ligne · 1 à envoyer"

        live.start()
        await h.click("sync-badge")  # "tap to retry"
        await synced(h, timeout=40)
        await h.wait_until(lambda: h.has_text("Envoyée") and not h.has_text("En attente d'envoi"))
        assert h.find(key="sync-badge-text").value == "À jour"
        await h.close()

    asyncio.run(scenario())


def test_my_notes_follow_the_counsellor_and_a_note_can_be_retracted(live, tmp_path):
    async def scenario() -> None:
        sup = await open_app(live.url, tmp_path)
        await sign_in(sup, "sup_a", PASSWORD)
        await synced(sup)
        for text, category in (
            ("Fictional: late three days in a row.", "punctuality"),
            ("Fictional: written by mistake.", "mobility"),
        ):  # two categories: two alerts (repeats of one category group into one)
            await sup.click("worker-a1")
            await sup.select("kind-signal", True)
            await sup.select(f"category-{category}", True)
            await sup.type("capture-text", text)
            await sup.click("capture-save")
        await synced(sup)

        couns = await open_app(live.url, tmp_path)
        await sign_in(couns, "couns_1", PASSWORD)
        await synced(couns)
        await couns.wait_until(
            lambda: (
                len(
                    couns.find_all(
                        pred=lambda c: str(c.key).startswith("inbox-") and c.key != "inbox-list"
                    )
                )
                == 2
            )
        )
        late = next(
            v for v in session_of(couns).require_store().notes_view() if "late" in v.data["text"]
        )
        await couns.click(f"inbox-{late.id}")  # opening it: seen
        await synced(couns)
        await sup.wait_until(
            lambda: my_notes(sup)["Fictional: late three days in a row."] == "seen", 30
        )
        await couns.click("acknowledge")
        await synced(couns)
        assert session_of(couns).require_store().rejected_mutations() == []

        await sup.wait_until(
            lambda: my_notes(sup)["Fictional: late three days in a row."] == "acknowledged", 30
        )

        await sup.nav("nav", 1)
        mistake = next(
            v for v in session_of(sup).require_store().notes_view() if "mistake" in v.data["text"]
        )
        assert sup.has_text("Prise en compte")
        assert sup.exists(f"retract-{mistake.id}")
        await sup.click(f"retract-{mistake.id}")
        assert sup.exists("retract-dialog")
        await sup.click("retract-dialog-confirm")
        await synced(sup)
        await sup.wait_until(lambda: my_notes(sup)["Fictional: written by mistake."] == "retracted")
        assert not sup.exists(f"retract-{mistake.id}")
        await couns.wait_until(
            lambda: session_of(couns).require_store().get_entity("note", mistake.id) is None, 30
        )
        await sup.close()
        await couns.close()

    asyncio.run(scenario())


def test_the_capture_screen_names_whoever_the_note_goes_to_now(live, tmp_path):
    """couns_1 is away with couns_2 standing in: a note about a1 goes to couns_2, and the
    supervisor's capture screen says so; it names couns_1 again once she is back."""

    async def scenario() -> None:
        def availability(body: dict) -> None:
            with httpx.Client(base_url=live.url, timeout=60) as http:
                token = http.post(
                    "/api/v1/auth/login",
                    json={"login": "couns_1", "password": PASSWORD, "device_name": "test"},
                ).json()["token"]
                response = http.put(
                    "/api/v1/me/availability",
                    json=body,
                    headers={"Authorization": f"Bearer {token}"},
                )
                assert response.status_code == 200, response.text

        world = live.world
        h = await open_app(live.url, tmp_path)
        await sign_in(h, "sup_a", PASSWORD)
        await synced(h)
        await h.click("worker-a1")
        assert h.has_text("Transmise à Couns 1 (test).")
        await h.click("back")

        availability({"away": True, "stand_in_id": str(world.users["couns_2"]), "until": None})
        await synced(h)
        await h.wait_until(
            lambda: (
                (session_of(h).require_store().get_entity("worker", world.workers["a1"]) or {}).get(
                    "recipient_name"
                )
                == "Couns 2 (test)"
            ),
            30,
        )
        await h.click("worker-a1")
        assert h.has_text("Transmise à Couns 2 (test).")
        assert not h.has_text("Transmise à Couns 1")
        await h.click("back")

        availability({"away": False, "stand_in_id": None, "until": None})
        await synced(h)
        await h.wait_until(
            lambda: (
                (session_of(h).require_store().get_entity("worker", world.workers["a1"]) or {}).get(
                    "recipient_name"
                )
                == "Couns 1 (test)"
            ),
            30,
        )
        await h.click("worker-a1")
        assert h.has_text("Transmise à Couns 1 (test).")
        await h.close()

    asyncio.run(scenario())


def test_the_severity_shows_beside_save_and_an_observation_cannot_be_urgent(live, tmp_path):
    """The pinned bar under the screen holds the severity the note will be sent with, so it
    is never below the fold; an observation alerts nobody: no "urgent", no "passed on"."""

    def pinned(h) -> str:
        bar = h.page.views[-1].bottom_appbar
        words = [c.value for c in h.walk(bar) if isinstance(c, ft.Text)]
        return " ".join(words + [c.content for c in h.walk(bar) if isinstance(c, ft.Button)])

    async def scenario() -> None:
        h = await open_app(live.url, tmp_path)
        await sign_in(h, "sup_a", PASSWORD)
        await synced(h)
        await h.click("worker-a1")
        assert not h.find(key="capture-severity-chosen").visible
        await h.select("kind-signal", True)
        await h.select("category-housing", True)
        assert "Attention" in pinned(h) and "Passer le relais" in pinned(h)
        await h.select("severity-urgent", True)
        assert "Urgent" in pinned(h) and "Attention" not in pinned(h)
        assert h.has_text("Transmise à Couns 1 (test).")

        await h.select("kind-observation", True)
        assert not h.find(key="severity-urgent").visible
        assert h.find(key="severity-urgent").selected is False  # unset, not carried over
        assert not h.find(key="capture-severity-chosen").visible
        assert h.has_text("Transmise à personne.") and not h.has_text("Transmise à Couns")
        await h.select("category-autonomy", True)
        assert "Info" in pinned(h) and "Enregistrer" in pinned(h)
        await h.click("capture-save")
        [view] = session_of(h).require_store().notes_view()
        assert (view.data["kind"], view.data["severity"]) == ("observation", "info")

        await h.click("worker-a1")
        await h.select("kind-safety", True)
        assert h.find(key="severity-urgent").visible
        await h.close()

    asyncio.run(scenario())


def test_leaving_a_half_written_note_asks_first(live, tmp_path):
    """Back, a swipe (the client asks before popping the view) or the browser's back on a
    note with something written or chosen asks before discarding it; an untouched one or a
    saved one just goes."""

    def confirm_pops(h) -> list[bool]:
        return [i["args"]["should_pop"] for i in h.conn.invocations if i["name"] == "confirm_pop"]

    async def scenario() -> None:
        h = await open_app(live.url, tmp_path)
        await sign_in(h, "sup_a", PASSWORD)
        await synced(h)
        await h.click("worker-a1")
        await h.click("back")  # nothing written: no question
        assert not h.exists("discard-dialog") and not h.exists("capture-save")

        await h.click("worker-a1")
        await h.type("capture-text", "Fictional: half a sentence")
        await h.click("back")
        assert h.exists("discard-dialog") and h.exists("capture-save")
        await h.click("discard-dialog-cancel")
        await h.dismiss("discard-dialog")  # the client says the dialog has gone
        assert h.find(key="capture-text").value == "Fictional: half a sentence"

        await h.event(h.page.views[-1], "confirm_pop")  # a swipe
        assert confirm_pops(h) == [False]
        assert h.exists("discard-dialog") and h.exists("capture-save")
        await h.click("discard-dialog-confirm")
        await h.dismiss("discard-dialog")
        assert not h.exists("capture-save") and h.exists("nav")

        await h.click("worker-a2")
        await h.event(h.page.views[-1], "confirm_pop")  # untouched: the swipe goes through
        assert confirm_pops(h) == [False, True]

        await h.select("kind-signal", True)
        await h.select("category-money", True)
        await h.event(h.page, "route_change", {"route": "/"}, {"route": "/"})  # browser back
        assert h.exists("discard-dialog") and h.exists("capture-save")
        await h.click("discard-dialog-confirm")
        await h.dismiss("discard-dialog")
        assert not h.exists("capture-save")

        await h.click("worker-a2")
        await h.select("kind-signal", True)
        await h.select("category-money", True)
        await h.click("capture-save")  # saved: nothing to ask
        assert not h.exists("discard-dialog") and not h.exists("capture-save")
        assert len(session_of(h).require_store().notes_view()) == 1
        await h.close()

    asyncio.run(scenario())


def test_pasting_too_much_says_what_was_cut(live, tmp_path):
    kept = "Fictional: " + "a" * (2000 - len("Fictional: "))
    pasted = kept + " The rest of a long e-mail, pasted by mistake. " + "b" * 300

    async def scenario() -> None:
        h = await open_app(live.url, tmp_path)
        await sign_in(h, "sup_a", PASSWORD)
        await synced(h)
        await h.click("worker-a1")
        notice = h.find(key="capture-text-cut")
        assert not notice.visible
        await h.type("capture-text", pasted)
        assert h.find(key="capture-text").value == kept
        assert notice.visible
        cut = len(pasted) - 2000
        assert notice.value == (
            f"Trop long : 2\u202f000 caractères au plus. Les {cut} derniers ont été retirés, "
            "à partir de « The rest of a long e-mail, pasted by mis… »."
        )
        assert h.find(key="capture-text").counter == "2\u202f000 / 2\u202f000"
        await h.select("kind-signal", True)
        await h.select("category-money", True)
        await h.click("capture-save")
        [view] = session_of(h).require_store().notes_view()
        assert view.data["text"] == kept
        await h.close()

    asyncio.run(scenario())
