"""E-mail against a real SMTP server (aiosmtpd): right people, quiet hours, no sensitive text."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from email import message_from_bytes
from email.header import decode_header, make_header
from email.message import Message

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from relais_testing.factories import World, build_world
from relais_testing.serving import free_port
from shared_models.vocabulary import Language
from sync_server.notify.service import TEXTS, initials, local_now, send_due_notifications
from sync_server.orgs.models import User
from sync_server.routing.models import Delivery
from sync_server.routing.service import escalate_overdue
from sync_server.settings import Settings
from tests.sync_server.test_escalation import retract, write_note

SECRET_TEXT = "Fictional observation."


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server, session, envelope):
        message = message_from_bytes(envelope.content)
        message["X-Rcpt"] = ",".join(envelope.rcpt_tos)
        self.messages.append(message)
        return "250 OK"

    def to(self, address: str) -> list[Message]:
        return [m for m in self.messages if address in m["X-Rcpt"]]


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


@pytest.fixture
def mail_settings(smtp, tmp_path) -> Settings:
    _, port = smtp
    return Settings(
        data_dir=tmp_path,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_from="relais@example.invalid",
        public_url="https://relais.example.invalid",
    )


def email_of(world: World, login: str) -> str:
    return f"{login}@example.invalid"


def set_user(db, world: World, login: str, **values) -> None:
    with db.unit_of_work() as session:
        user = session.get_one(User, world.users[login])
        for name, value in values.items():
            setattr(user, name, value)


def assert_discreet(message: Message) -> None:
    """Nothing of the note itself: no text, no category, no kind."""
    content = (message["Subject"] or "") + message.get_payload(decode=True).decode()
    for leak in (SECRET_TEXT, "money", "fatigue", "health", "signal\u00a0:", "argent"):
        assert leak not in content


def test_urgent_signal_mails_counsellor_and_coordinator_once(db, smtp, mail_settings):
    inbox, _ = smtp
    world = build_world(db)
    write_note(db, world, at=datetime.now(UTC), severity="urgent", category="money")
    now = datetime.now(UTC).replace(hour=12)
    for login in ("couns_1", "coord"):
        set_user(db, world, login, timezone="UTC", email_digest=False)
    assert send_due_notifications(db, mail_settings, now) == 2
    assert len(inbox.to(email_of(world, "couns_1"))) == 1
    assert len(inbox.to(email_of(world, "coord"))) == 1
    assert not inbox.to(email_of(world, "sup_a"))  # the author is not mailed about their own note
    message = inbox.to(email_of(world, "couns_1"))[0]
    assert "W. A." in message["Subject"]  # initials of the fictional "Worker A1"
    assert "https://relais.example.invalid" in message.get_payload(decode=True).decode()
    for m in inbox.messages:
        assert_discreet(m)
    assert send_due_notifications(db, mail_settings, now) == 0  # each delivery mailed once


def test_attention_signal_waits_for_the_digest(db, smtp, mail_settings):
    inbox, _ = smtp
    world = build_world(db)
    for login in ("couns_1", "coord", "couns_2", "sup_a", "sup_b", "admin"):
        set_user(db, world, login, timezone="UTC", digest_time=time(7, 30))
    write_note(db, world, at=datetime.now(UTC), severity="attention", category="money")
    early = datetime.now(UTC).replace(hour=6, minute=0)
    assert send_due_notifications(db, mail_settings, early) == 0
    later = early.replace(hour=8)
    assert send_due_notifications(db, mail_settings, later) >= 1
    [digest] = inbox.to(email_of(world, "couns_1"))
    assert "Relais" in digest["Subject"]
    assert_discreet(digest)
    assert send_due_notifications(db, mail_settings, later + timedelta(hours=1)) == 0  # once a day


@pytest.mark.parametrize(
    ("language", "subject", "body"),
    [
        ("fr", "Relais : votre résumé du ", "Depuis votre dernier résumé : 1 nouvel élément, "),
        ("nl", "Relais: uw overzicht van ", "Sinds uw vorige overzicht: 1 nieuw item, "),
    ],
)
def test_the_digest_speaks_the_counsellors_language(
    db, smtp, mail_settings, language, subject, body
):
    inbox, _ = smtp
    world = build_world(db)
    for login in ("couns_1", "coord", "couns_2", "sup_a", "sup_b", "admin"):
        set_user(db, world, login, timezone="UTC", digest_time=time(7, 30), language=language)
    write_note(db, world, at=datetime.now(UTC), severity="attention", category="money")
    morning = datetime.now(UTC).replace(hour=8, minute=0)
    assert send_due_notifications(db, mail_settings, morning) >= 1

    [digest] = inbox.to(email_of(world, "couns_1"))
    day = morning.strftime("%d/%m/%Y" if language == "fr" else "%d-%m-%Y")
    assert str(make_header(decode_header(digest["Subject"]))) == subject + day
    text = digest.get_payload(decode=True).decode()
    assert text.startswith(body), text
    assert "(x)" not in text and "(s)" not in text
    assert_discreet(digest)


def test_every_language_has_every_mail_text():
    for language in Language:
        assert set(TEXTS[language]) == set(TEXTS[Language.FR]), language


def test_quiet_hours_defer_but_never_drop(db, smtp, mail_settings):
    inbox, _ = smtp
    world = build_world(db)
    for login in ("couns_1", "coord"):
        set_user(
            db,
            world,
            login,
            timezone="UTC",
            quiet_start=time(20, 0),
            quiet_end=time(7, 0),
            email_digest=False,
        )
    write_note(db, world, at=datetime.now(UTC), severity="urgent")
    night = datetime.now(UTC).replace(hour=23, minute=30)
    assert send_due_notifications(db, mail_settings, night) == 0
    assert send_due_notifications(db, mail_settings, night + timedelta(hours=2)) == 0  # 01:30
    morning = (night + timedelta(hours=8)).replace(hour=7, minute=5)
    assert send_due_notifications(db, mail_settings, morning) == 2
    assert {m["X-Rcpt"] for m in inbox.messages} == {
        email_of(world, "couns_1"),
        email_of(world, "coord"),
    }


def test_preferences_turn_mail_off(db, smtp, mail_settings):
    inbox, _ = smtp
    world = build_world(db)
    set_user(db, world, "couns_1", email_urgent=False, email_digest=False)
    set_user(db, world, "coord", email=None)
    write_note(db, world, at=datetime.now(UTC), severity="urgent")
    assert send_due_notifications(db, mail_settings, datetime.now(UTC).replace(hour=12)) == 0
    assert inbox.messages == []


def test_escalation_mails_the_coordinators(db, smtp, mail_settings):
    inbox, _ = smtp
    world = build_world(db)
    set_user(db, world, "couns_1", email=None)
    for login in ("coord",):
        set_user(db, world, login, timezone="UTC", email_digest=False)
    past = datetime.now(UTC) - timedelta(days=2)
    note_id = write_note(db, world, at=past, severity="attention")
    with db.unit_of_work() as session:
        assert escalate_overdue(session, datetime.now(UTC)) == 1
    assert send_due_notifications(db, mail_settings, datetime.now(UTC).replace(hour=12)) == 1
    [message] = inbox.to(email_of(world, "coord"))
    assert_discreet(message)
    with db.reading() as session:
        escalation = session.scalar(
            select(Delivery).where(Delivery.note_id == note_id, Delivery.reason == "escalation")
        )
        assert escalation is not None and escalation.notified_at is not None
    assert isinstance(uuid.UUID(str(note_id)), uuid.UUID)


def test_unreachable_mail_server_keeps_mail_for_later(db, tmp_path):
    world = build_world(db)
    write_note(db, world, at=datetime.now(UTC), severity="urgent")
    dead = Settings(data_dir=tmp_path, smtp_host="127.0.0.1", smtp_port=free_port())
    assert send_due_notifications(db, dead, datetime.now(UTC).replace(hour=12)) == 0
    with db.reading() as session:
        pending = session.scalars(select(Delivery).where(Delivery.notified_at.is_(None))).all()
    assert len(pending) == 2


@pytest.mark.parametrize(
    ("name", "expected"), [("Léa M.", "L. M."), ("Worker A1", "W. A."), ("", "?")]
)
def test_initials(name, expected):
    assert initials(name) == expected


def _mail_everyone_now(db, world: World) -> datetime:
    for login in ("couns_1", "couns_2", "coord"):
        set_user(db, world, login, timezone="UTC", email_digest=False)
    return datetime.now(UTC).replace(hour=12)


@pytest.mark.parametrize("mailed_first", [False, True], ids=["before any mail", "after its mail"])
def test_retracting_the_first_urgent_alert_still_mails_the_next(
    db, smtp, mail_settings, mailed_first
):
    inbox, _ = smtp
    world = build_world(db)
    noon = _mail_everyone_now(db, world)
    first = write_note(db, world, at=noon - timedelta(minutes=20), severity="urgent")
    if mailed_first:
        send_due_notifications(db, mail_settings, noon - timedelta(minutes=15))
        assert len(inbox.to(email_of(world, "couns_1"))) == 1
    write_note(db, world, at=noon - timedelta(minutes=10), severity="urgent")  # same alert
    if mailed_first:
        send_due_notifications(db, mail_settings, noon - timedelta(minutes=5))
        assert len(inbox.to(email_of(world, "couns_1"))) == 1  # grouped: no second page
    retract(db, world, first, noon - timedelta(minutes=1))
    send_due_notifications(db, mail_settings, noon)
    # The second signal is still urgent and unacknowledged: its counsellor hears of it.
    assert len(inbox.to(email_of(world, "couns_1"))) == (2 if mailed_first else 1)
    assert send_due_notifications(db, mail_settings, noon + timedelta(minutes=1)) == 0


def test_repeated_urgent_signals_page_the_counsellor_once(db, smtp, mail_settings):
    inbox, _ = smtp
    world = build_world(db)
    noon = _mail_everyone_now(db, world)
    write_note(db, world, at=noon - timedelta(minutes=20), severity="urgent", copies=3)
    send_due_notifications(db, mail_settings, noon)
    assert len(inbox.to(email_of(world, "couns_1"))) == 1  # one alert, one e-mail
    assert send_due_notifications(db, mail_settings, noon + timedelta(minutes=1)) == 0


def test_a_more_severe_signal_is_mailed_although_an_alert_is_open(db, smtp, mail_settings):
    inbox, _ = smtp
    world = build_world(db)
    noon = _mail_everyone_now(db, world)
    write_note(db, world, at=noon - timedelta(minutes=20), severity="attention")
    write_note(db, world, at=noon - timedelta(minutes=10), severity="urgent")
    send_due_notifications(db, mail_settings, noon)
    assert len(inbox.to(email_of(world, "couns_1"))) == 1


@pytest.mark.parametrize(
    ("kind", "category", "severity", "deadline", "mails"),
    [
        ("signal", "money", "attention", timedelta(hours=24), 1),
        ("safety", "injury", "urgent", timedelta(hours=2), 2),  # at once, then when late
    ],
    ids=["attention", "injury"],
)
def test_a_note_about_a_worker_without_counsellor_reminds_the_coordinators(
    db, smtp, mail_settings, kind, category, severity, deadline, mails
):
    inbox, _ = smtp
    world = build_world(db)
    noon = _mail_everyone_now(db, world)
    at = noon - deadline - timedelta(minutes=5)
    write_note(
        db,
        world,
        at=at,
        worker="b2",
        author="sup_b",
        kind=kind,
        category=category,
        severity=severity,
    )
    send_due_notifications(db, mail_settings, at + timedelta(minutes=1))
    assert len(inbox.to(email_of(world, "coord"))) == mails - 1
    with db.unit_of_work() as session:
        assert escalate_overdue(session, noon) == 1
    send_due_notifications(db, mail_settings, noon)
    received = inbox.to(email_of(world, "coord"))
    assert len(received) == mails
    assert "W. B." in received[-1]["Subject"]
    for message in received:
        assert_discreet(message)
    assert send_due_notifications(db, mail_settings, noon + timedelta(minutes=1)) == 0


@pytest.mark.parametrize("stored", ["Europe", "Mars/Olympus_Mons", "../etc", ""])
def test_a_time_zone_that_is_not_one_falls_back_to_utc(stored):
    """Preferences refuse such names; one already stored (by hand, by an older version)
    must not stop the mail sweep."""
    now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    assert local_now(User(timezone=stored), now) == now
    assert local_now(User(timezone=stored), now).utcoffset() == timedelta(0)
