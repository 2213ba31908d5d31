"""The counsellor's screens against a real server: the inbox order (urgent, attention, info,
then deadline), delivery.seen sent once, acknowledge, follow-up with closing, a heads-up the
supervisor then sees on top of the roster, the timeline, and an absence with a stand-in."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

from relais_testing.factories import PASSWORD
from relais_testing.ui_harness import open_app, session_of, sign_in, synced

NOTES = [  # (worker, kind, category, severity, text) in the order they are written
    ("a1", "signal", "housing", "attention", "Fictional: attention, written first."),
    ("a2", "signal", "fatigue", "info", "Fictional: info."),
    ("a1", "safety", "injury", "urgent", "Fictional: urgent cut on the hand."),
    ("a2", "signal", "money", "attention", "Fictional: attention, written second."),
]


async def write_notes(url, tmp_path, world):
    sup = await open_app(url, tmp_path)
    await sign_in(sup, "sup_a", PASSWORD)
    await synced(sup)
    app_session = session_of(sup)
    for ref, kind, category, severity, text in NOTES:
        app_session.capture_note(
            team_id=str(world.team_of(ref)),
            worker_id=str(world.workers[ref]),
            kind=kind,
            category=category,
            severity=severity,
            text=text,
        )
        await synced(sup)  # one by one: distinct delivery times and deadlines
    return sup


def banner_text(control) -> str:
    return " ".join(getattr(c, "value", "") or "" for c in _walk(control))


def _walk(control):
    from relais_testing.ui_harness import FletHarness

    return FletHarness.walk(None, control)  # type: ignore[arg-type]


def inbox_texts(h):
    cards = [c for c in h.find(key="inbox-list").controls if c.__class__.__name__ == "Card"]
    return [
        next(t.value for t in h.walk(card) if getattr(t, "value", "").startswith("Fictional"))
        for card in cards
    ]


def test_inbox_order_seen_once_acknowledge_and_follow_up(world_url, tmp_path):
    world, url = world_url

    async def scenario() -> None:
        sup = await write_notes(url, tmp_path, world)
        couns = await open_app(url, tmp_path)
        await sign_in(couns, "couns_1", PASSWORD)
        await synced(couns)
        await couns.wait_until(lambda: couns.has_text("À traiter (4)"))
        assert inbox_texts(couns) == [
            "Fictional: urgent cut on the hand.",
            "Fictional: attention, written first.",
            "Fictional: attention, written second.",
            "Fictional: info.",
        ]

        store = session_of(couns).require_store()
        urgent = next(v for v in store.notes_view() if v.data["severity"] == "urgent")
        queued: list[str] = []
        original_queue = store.queue

        def counting_queue(mutation_type, data, **options):
            queued.append(mutation_type)
            return original_queue(mutation_type, data, **options)

        store.queue = counting_queue
        for _ in range(3):  # opened three times, before and after syncing
            await couns.click(f"inbox-{urgent.id}")
            await synced(couns)
            await couns.click("back")
        assert queued.count("delivery.seen") == 1
        await couns.click(f"inbox-{urgent.id}")
        delivery = next(
            d
            for d in store.get_entity("note", urgent.id)["deliveries"]
            if d["recipient_id"] == session_of(couns).user_id
        )
        assert delivery["seen_at"] is not None

        await couns.click("acknowledge")
        assert not couns.find(key="acknowledge").visible
        await couns.select("action-interview_planned", True)
        await couns.type("follow-up-text", "Fictional: interview on Monday.")
        await couns.switch("follow-up-close", True)
        await couns.click("follow-up-save")
        await synced(couns)
        await couns.wait_until(lambda: store.get_entity("note", urgent.id)["status"] == "closed")
        [follow_up] = store.list_entities("follow_up")
        assert (follow_up["action"], follow_up["close"]) == ("interview_planned", True)
        await couns.click("back")
        await couns.wait_until(lambda: couns.has_text("À traiter (3)"))
        assert "Fictional: urgent cut on the hand." not in inbox_texts(couns)

        from field_app.state.notes import progress

        await sup.wait_until(
            lambda: progress(session_of(sup).reads.note(urgent.id)) == "closed", 30
        )
        await sup.close()
        await couns.close()

    asyncio.run(scenario())


def test_heads_up_reaches_the_supervisor_and_the_timeline_shows_everything(world_url, tmp_path):
    world, url = world_url

    async def scenario() -> None:
        sup = await write_notes(url, tmp_path, world)
        couns = await open_app(url, tmp_path)
        await sign_in(couns, "couns_1", PASSWORD)
        await synced(couns)
        await couns.nav("nav", 1)
        await couns.click("worker-a1")
        await couns.wait_until(lambda: couns.has_text("Fictional: urgent cut on the hand."))
        timeline = couns.find(key="timeline").controls
        assert len(timeline) == 2  # a1's two notes, newest first
        await couns.click("new-heads-up")
        assert couns.find(key="heads-up-send").disabled
        await couns.type("heads-up-text", "Fictional: adapt expectations this week; I'm on it.")
        await couns.event(couns.page.views[-1].appbar.leading, "click")  # written, not sent:
        assert couns.exists("discard-dialog")  # leaving asks first
        await couns.click("discard-dialog-cancel")
        await couns.dismiss("discard-dialog")
        assert couns.find(key="heads-up-text").value.startswith("Fictional: adapt")
        await couns.select("until-week", True)
        assert couns.find(key="heads-up-until").value.startswith("valable jusqu'au")
        await couns.click("heads-up-send")
        await synced(couns)
        await couns.wait_until(lambda: len(couns.find(key="timeline").controls) == 3)
        assert couns.has_text("Fictional: adapt expectations this week; I'm on it.")

        await sup.wait_until(lambda: sup.find(key="roster-heads-ups").controls, 30)
        [banner] = sup.find(key="roster-heads-ups").controls
        assert any("adapt expectations" in t for t in sup.texts())
        assert (
            sup.find(key="roster-heads-ups")
            is sup.find(key="home-body").controls[0].controls[0].content.controls[0]
        )  # first thing on the supervisor's home
        assert banner is not None
        await sup.close()
        await couns.close()

    asyncio.run(scenario())


def test_away_with_a_stand_in_routes_new_notes_to_the_stand_in(world_url, tmp_path):
    world, url = world_url

    async def scenario() -> None:
        couns = await open_app(url, tmp_path)
        await sign_in(couns, "couns_1", PASSWORD)
        await synced(couns)
        await couns.nav("nav", 2)
        assert couns.find(key="away-state").value == "Vous êtes indiqué·e présent·e."
        await couns.switch("away", True)
        await couns.dropdown("stand-in", str(world.users["couns_2"]))
        await couns.select("away-until-week", True)
        await couns.click("away-save")
        await couns.wait_until(lambda: couns.has_text("Absence enregistrée"))
        await couns.wait_until(lambda: "Couns 2" in couns.find(key="away-state").value, 30)

        sup = await write_notes(url, tmp_path, world)
        stand_in = await open_app(url, tmp_path)
        await sign_in(stand_in, "couns_2", PASSWORD)
        await synced(stand_in)
        await stand_in.wait_until(lambda: stand_in.has_text("Fictional: info."), 30)
        assert stand_in.has_text("En remplacement d'un collègue")
        await sup.close()
        await couns.close()
        await stand_in.close()

    asyncio.run(scenario())


def test_email_preferences_are_read_from_and_saved_to_the_server(world_url, tmp_path, db):
    from datetime import time

    from sync_server.orgs.models import User

    world, url = world_url

    async def scenario() -> None:
        couns = await open_app(url, tmp_path)
        await sign_in(couns, "couns_1", PASSWORD)
        await synced(couns)
        await couns.nav("nav", 2)
        await couns.wait_until(lambda: not couns.find(key="notify-save").disabled, 20)
        assert couns.find(key="notify-urgent").value is True
        await couns.switch("notify-digest", False)
        await couns.dropdown("notify-quiet", "21:00-08:00")
        await couns.dropdown("notify-digest-time", "08:30")
        await couns.click("notify-save")
        await couns.wait_until(lambda: couns.has_text("Préférences enregistrées."), 20)
        await couns.close()

    asyncio.run(scenario())
    with db.reading() as session:
        user = session.get_one(User, world.users["couns_1"])
        assert (user.email_digest, user.quiet_start, user.quiet_end, user.digest_time) == (
            False,
            time(21),
            time(8),
            time(8, 30),
        )


def test_a_note_she_acknowledged_stays_on_her_phone_when_its_author_retracts_it(
    world_url, tmp_path
):
    """Her record of what she did is hers: the note stays, marked retracted, and takes no
    more follow-ups; one she never touched goes."""
    world, url = world_url

    async def scenario() -> None:
        sup = await write_notes(url, tmp_path, world)
        couns = await open_app(url, tmp_path)
        await sign_in(couns, "couns_1", PASSWORD)
        await synced(couns)
        await couns.wait_until(lambda: couns.has_text("À traiter (4)"))
        store = session_of(couns).require_store()
        by_text = {v.data["text"]: v.id for v in store.notes_view()}
        handled = by_text["Fictional: attention, written first."]
        untouched = by_text["Fictional: info."]
        await couns.click(f"inbox-{handled}")
        await couns.click("acknowledge")
        await synced(couns)

        for note_id in (handled, untouched):
            session_of(sup).retract(note_id)
        await synced(sup)
        await synced(couns)
        await couns.wait_until(lambda: store.get_entity("note", untouched) is None, 30)
        await couns.wait_until(lambda: store.get_entity("note", handled)["status"] == "retracted")
        assert couns.find(key="note-detail") is not None  # still open, now marked retracted
        follow_area = couns.find(
            pred=lambda c: (
                any(getattr(x, "key", None) == "follow-up-text" for x in c.controls)
                if isinstance(getattr(c, "controls", None), list)
                else False
            )
        )
        assert not follow_area.visible
        assert not couns.find(key="acknowledge").visible
        await sup.close()
        await couns.close()

    asyncio.run(scenario())


def test_a_heads_up_ends_in_two_weeks_unless_its_author_ends_it_early(world_url, tmp_path):
    """Two weeks by default (editable); the supervisor sees it on top and as a marker on the
    worker's row; its author ends it from the timeline and it goes from the supervisor's
    screen."""
    _, url = world_url

    async def scenario() -> None:
        sup = await open_app(url, tmp_path)
        await sign_in(sup, "sup_a", PASSWORD)
        await synced(sup)
        assert not sup.exists("heads-up-marker-a1")
        couns = await open_app(url, tmp_path)
        await sign_in(couns, "couns_1", PASSWORD)
        await synced(couns)
        await couns.nav("nav", 1)
        await couns.click("worker-a1")
        await couns.click("new-heads-up")
        assert couns.find(key="until-two_weeks").selected
        in_two_weeks = date.today() + timedelta(days=14)
        shown = couns.find(key="heads-up-until").value
        assert shown == f"valable jusqu'au {in_two_weeks:%d/%m/%Y}"
        await couns.type("heads-up-text", "Fictional: shorter days this fortnight.")
        await couns.click("heads-up-send")
        await synced(couns)
        [heads_up] = session_of(couns).require_store().list_entities("heads_up")
        assert heads_up["valid_until"] == in_two_weeks.isoformat()

        await sup.wait_until(lambda: sup.exists("heads-up-marker-a1"), 30)
        assert not sup.exists("heads-up-marker-a2")
        assert sup.find(key="heads-up-marker-a1").semantics_label.startswith("Info du conseiller")

        end = f"end-heads-up-{heads_up['id']}"
        await couns.wait_until(lambda: couns.exists(end))
        await couns.click(end)
        await couns.click("end-heads-up-dialog-confirm")
        await couns.dismiss("end-heads-up-dialog")
        assert not couns.exists(end)  # at once, before the server has it
        assert couns.has_text("terminée (valable jusqu'au")
        await synced(couns)
        yesterday = date.today() - timedelta(days=1)
        await sup.wait_until(lambda: not sup.exists("heads-up-marker-a1"), 30)
        assert sup.find(key="roster-heads-ups").controls == []
        [ended] = session_of(sup).require_store().list_entities("heads_up")
        assert date.fromisoformat(ended["valid_until"]) <= yesterday
        assert session_of(couns).require_store().rejected_mutations() == []
        await sup.close()
        await couns.close()

    asyncio.run(scenario())


def test_new_notes_come_first_and_the_inbox_tab_counts_them(world_url, tmp_path):
    """A note not opened yet is on top of the inbox, above older urgent ones already opened,
    and the inbox tab shows how many there are, from any tab."""
    world, url = world_url

    def badge(h) -> str | None:
        found = h.find_all(key="badge-inbox")
        return found[0].label if found else None

    async def scenario() -> None:
        sup = await write_notes(url, tmp_path, world)
        couns = await open_app(url, tmp_path)
        await sign_in(couns, "couns_1", PASSWORD)
        await synced(couns)
        await couns.wait_until(lambda: couns.has_text("À traiter (4)"))
        assert badge(couns) == "4"
        store = session_of(couns).require_store()
        for view in store.notes_view():  # all opened once
            await couns.click(f"inbox-{view.id}")
            await couns.click("back")
        await synced(couns)
        await couns.wait_until(lambda: badge(couns) is None)

        session_of(sup).capture_note(
            team_id=str(world.team_of("a2")),
            worker_id=str(world.workers["a2"]),
            kind="signal",
            category="mobility",
            severity="info",
            text="Fictional: new, and only info.",
        )
        await synced(sup)
        await couns.nav("nav", 1)  # on another tab, the count still shows
        await couns.wait_until(lambda: badge(couns) == "1", 30)
        await couns.nav("nav", 0)
        assert inbox_texts(couns)[0] == "Fictional: new, and only info."
        assert inbox_texts(couns)[1] == "Fictional: urgent cut on the hand."
        await sup.close()
        await couns.close()

    asyncio.run(scenario())
