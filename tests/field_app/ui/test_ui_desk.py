"""The coordinator's papers from the app (issue 11, items 3 and 4): the meeting brief of a
team or a worker over a period, downloaded or shared, and a worker's subject-access export,
each fetched with the device's own token (never a link carrying it) and audited."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime, timedelta, timezone

from sqlalchemy import func, select

from relais_testing.factories import PASSWORD
from relais_testing.ui_harness import open_app, session_of, sign_in, small_tap_targets, synced
from sync_server.audit.models import AuditEvent
from sync_server.notes.models import Note
from tests.pdfs import read_pdf


def audited(db, action: str) -> list[AuditEvent]:
    with db.reading() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_brief_and_subject_access_export_from_the_meeting_screen(world_url, db, tmp_path):
    world, url = world_url

    def note_on_server() -> bool:
        with db.unit_of_work() as session:
            return session.scalar(select(func.count()).select_from(Note)) == 1

    async def scenario() -> None:
        sup = await open_app(url, tmp_path)
        await sign_in(sup, "sup_a", PASSWORD)
        await synced(sup)
        session_of(sup).capture_note(
            team_id=str(world.teams["A"]),
            worker_id=str(world.workers["a1"]),
            kind="signal",
            category="housing",
            severity="attention",
            text="Fictional worry about the flat.",
        )
        await sup.wait_until(note_on_server, 120)  # pushed, not only queued
        await synced(sup)
        await sup.close()

        h = await open_app(url, tmp_path)
        saved: list[dict] = []
        shared: list[dict] = []
        h.conn.method_handlers["FilePicker.save_file"] = lambda args: saved.append(args)
        h.conn.method_handlers["Share.share_files"] = lambda args: (
            shared.append(args)
            or {
                "status": "success",
                "raw": "",
            }
        )
        await sign_in(h, "coord", PASSWORD)
        await synced(h)
        await h.wait_until(lambda: h.exists("brief-panel"))
        # A team is chosen first: no subject-access export for a team.
        assert h.find(key="brief-subject").value == f"team:{world.teams['A']}"
        assert h.find(key="export-actions").visible is False

        await h.dropdown("brief-subject", f"worker:{world.workers['a1']}")
        assert h.find(key="export-actions").visible is True
        assert small_tap_targets(h) == []
        await h.dropdown("brief-period", "30")
        await h.click("brief-download")
        await h.wait_until(lambda: saved)
        brief = saved[-1]
        assert brief["file_name"].startswith("relais-brief-") and brief["file_name"].endswith(
            ".pdf"
        )
        pdf = read_pdf(bytes(brief["src_bytes"]), tmp_path, "brief.pdf")
        text = "\n".join(pdf.pages)
        assert "Worker A1" in text and "Logement" in text
        assert "Fictional worry about the flat." in text  # housing is not a sensitive topic
        assert h.find(key="brief-status").value == f"{brief['file_name']} est prêt."
        [event] = audited(db, "export.brief")
        assert event.actor_id == world.users["coord"]

        await h.click("brief-share")
        await h.wait_until(lambda: shared)
        assert "relais-brief-" in str(shared[-1])

        # Dates of one's own: each end on a calendar, checked before anything is fetched.
        assert h.find(key="brief-range").visible is False
        await h.dropdown("brief-period", "custom")
        assert h.find(key="brief-range").visible is True
        today = date.today()
        await pick_day(h, "brief-from", today - timedelta(days=3))
        await pick_day(h, "brief-to", today - timedelta(days=10))
        assert h.find(key="brief-range-error").value == (
            "La date de début doit précéder la date de fin."
        )
        await pick_day(h, "brief-to", today + timedelta(days=2))
        assert h.find(key="brief-range-error").value.startswith("La période ne peut pas finir")
        await h.click("brief-download")
        await h.wait_until(lambda: h.find(key="brief-status").value.startswith("La période"))
        assert len(saved) == 1
        await pick_day(h, "brief-from", today - timedelta(days=10))
        await pick_day(h, "brief-to", today - timedelta(days=3))
        assert h.find(key="brief-range-error").value == ""
        assert h.find(key="brief-from").content == f"Du {t_day(today - timedelta(days=10))}"
        await h.click("brief-download")
        await h.wait_until(lambda: len(saved) == 2)
        period = f"{today - timedelta(days=10)}-{today - timedelta(days=3)}.pdf"
        assert saved[-1]["file_name"].endswith(period)
        del saved[-1]

        await h.click("export-json")
        await h.wait_until(lambda: len(saved) == 2)
        export = saved[-1]
        assert export["file_name"].endswith(".json")
        body = json.loads(bytes(export["src_bytes"]))
        assert body["worker"]["ref"] == "a1"
        assert "Fictional worry about the flat." in json.dumps(body, ensure_ascii=False)
        await h.click("export-pdf")
        await h.wait_until(lambda: len(saved) == 3)
        read_pdf(bytes(saved[-1]["src_bytes"]), tmp_path, "export.pdf")
        assert len(audited(db, "export.subject_access")) == 2
        assert not h.errors()
        await h.close()

    asyncio.run(scenario())


def test_the_server_unreachable_is_said_not_hidden(world_url, tmp_path):
    _world, url = world_url

    async def scenario() -> None:
        h = await open_app(url, tmp_path)
        await sign_in(h, "coord", PASSWORD)
        await synced(h)
        saved: list[dict] = []
        h.conn.method_handlers["FilePicker.save_file"] = lambda args: saved.append(args)
        client = session_of(h).client
        assert client is not None
        credentials = client.store.credentials()
        assert credentials is not None
        client.store.sign_in("http://127.0.0.1:9", _login_response(credentials))  # nobody there
        await h.click("brief-download")
        await h.wait_until(lambda: h.find(key="brief-status").value.startswith("Le serveur"))
        assert saved == []
        await h.close()

    asyncio.run(scenario())


async def pick_day(h, button: str, day: date) -> None:
    """Tap a period's end, then choose `day` on the calendar: the client answers with the
    day's midnight in its time zone, sent in UTC (here Paris, an hour ahead in winter)."""
    await h.click(button)
    picker = h.find(key=f"{button}-picker")
    midnight = datetime(day.year, day.month, day.day, tzinfo=timezone(timedelta(hours=1)))
    answer = midnight.astimezone(UTC)
    await h.event(picker, "change", answer, {"value": answer})
    await h.dismiss(f"{button}-picker")


def t_day(day: date) -> str:
    return day.strftime("%d/%m/%Y")


def _login_response(credentials):
    from shared_models.wire import LoginResponse

    return LoginResponse(
        token=credentials.token, device_id=credentials.device_id, user=credentials.user
    )
