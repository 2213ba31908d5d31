"""Escalation with a controllable clock, alert grouping, and exactly-once across processes."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from shared_models import mutations as m
from sync_server import policy
from sync_server.database import Database
from sync_server.notes import service as notes
from sync_server.orgs.models import Organization, User
from sync_server.routing.models import Delivery
from sync_server.routing.service import escalate_overdue
from tests.factories import World, build_world, login, mutation, note_data, pull_all, push

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def write_note(
    db: Database,
    world: World,
    *,
    at: datetime,
    worker: str = "a1",
    severity: str = "attention",
    category: str = "fatigue",
    author: str = "sup_a",
    copies: int = 1,
) -> uuid.UUID:
    """Write `copies` notes at time `at` through the real service; returns the last id."""
    with db.unit_of_work() as session:
        user = session.get_one(User, world.users[author])
        viewer = policy.load_viewer(session, user, at)
        for _ in range(copies):
            note_id = uuid.uuid4()
            data = m.NoteCreate(
                id=note_id,
                worker_id=world.workers[worker],
                team_id=world.team_of(worker),
                kind="signal",
                category=category,
                severity=severity,
                text="Fictional observation.",
                captured_at=at,
            )
            notes.create_note(session, viewer, data, at)
    return note_id


def acknowledge(db: Database, world: World, note_id: uuid.UUID, who: str, at: datetime) -> None:
    with db.unit_of_work() as session:
        user = session.get_one(User, world.users[who])
        notes.acknowledge_note(
            session, policy.load_viewer(session, user, at), m.NoteAcknowledge(note_id=note_id), at
        )


def sweep(db: Database, at: datetime) -> int:
    with db.unit_of_work() as session:
        return escalate_overdue(session, at)


def deliveries(db: Database, note_id: uuid.UUID) -> list[tuple[uuid.UUID, str, datetime | None]]:
    with db.reading() as session:
        return [
            (d.recipient_id, d.reason, d.escalated_at)
            for d in session.scalars(
                select(Delivery).where(Delivery.note_id == note_id).order_by(Delivery.delivered_at)
            )
        ]


@pytest.mark.parametrize(
    ("severity", "deadline"),
    [
        ("urgent", timedelta(hours=2)),
        ("attention", timedelta(hours=24)),
        ("info", timedelta(hours=72)),
    ],
)
def test_unacknowledged_delivery_escalates_once_after_its_deadline(db, severity, deadline):
    world = build_world(db)
    note_id = write_note(db, world, at=T0, severity=severity)
    assert sweep(db, T0 + deadline - timedelta(seconds=1)) == 0
    assert sweep(db, T0 + deadline) == 1
    assert sweep(db, T0 + deadline + timedelta(hours=1)) == 0  # exactly once
    rows = deliveries(db, note_id)
    referent = [r for r in rows if r[1] == "referent"]
    escalations = [r for r in rows if r[1] == "escalation"]
    assert referent[0][2] == T0 + deadline
    # An urgent note reached the coordinators at once; otherwise escalation brings it to them.
    expected = [] if severity == "urgent" else [world.users["coord"]]
    assert [r[0] for r in escalations] == expected


def test_acknowledged_in_time_is_not_escalated(db):
    world = build_world(db)
    note_id = write_note(db, world, at=T0)
    acknowledge(db, world, note_id, "couns_1", T0 + timedelta(hours=3))
    assert sweep(db, T0 + timedelta(days=5)) == 0
    assert [r[1] for r in deliveries(db, note_id)] == ["referent"]


def test_deadlines_come_from_the_organisation(db):
    world = build_world(db)
    with db.unit_of_work() as session:
        session.get_one(Organization, world.org).deadline_attention = 600
    write_note(db, world, at=T0)
    assert sweep(db, T0 + timedelta(seconds=599)) == 0
    assert sweep(db, T0 + timedelta(seconds=600)) == 1


def test_escalation_is_visible_in_the_note_deliveries(client, db):
    world = build_world(db)
    past = datetime.now(UTC) - timedelta(days=2)
    note_id = write_note(db, world, at=past)
    sweep(db, datetime.now(UTC))
    note = pull_all(client, login(client, "sup_a"))[0][("note", str(note_id))]
    reasons = {d["reason"]: d for d in note["deliveries"]}
    assert reasons["referent"]["escalated_at"] is not None
    assert reasons["escalation"]["recipient_id"] == str(world.users["coord"])


def test_five_signals_about_one_worker_page_once_with_a_count(client, db):
    world = build_world(db)
    sup_a, couns_1 = login(client, "sup_a"), login(client, "couns_1")
    sent = [note_data(world, "a1", category="money") for _ in range(5)]
    push(client, sup_a, *(mutation("note.create", d) for d in sent))
    other = note_data(world, "a1", category="housing")  # another category: its own alert
    push(client, sup_a, mutation("note.create", other))

    with db.reading() as session:
        rows = session.scalars(
            select(Delivery).where(Delivery.recipient_id == world.users["couns_1"])
        ).all()
    leads = [d for d in rows if d.grouped_into_id is None]
    assert len(leads) == 2
    money_lead = next(d for d in leads if str(d.note_id) == sent[0]["id"])
    assert sum(1 for d in rows if d.grouped_into_id == money_lead.id) == 4
    assert all(d.due_at is None for d in rows if d.grouped_into_id)  # only the alert is chased

    state = pull_all(client, couns_1)[0]
    lead_view = state[("note", sent[0]["id"])]["deliveries"][0]
    assert lead_view["group_count"] == 5
    member_view = state[("note", sent[3]["id"])]["deliveries"][0]
    assert member_view["grouped_into"] == sent[0]["id"]  # the note whose alert it joined

    # Acknowledging the alert acknowledges the whole group.
    push(client, couns_1, mutation("note.acknowledge", {"note_id": sent[4]["id"]}))
    state = pull_all(client, couns_1)[0]
    assert {state[("note", d["id"])]["status"] for d in sent} == {"acknowledged"}
    assert state[("note", other["id"])]["status"] == "open"


def test_a_signal_after_the_window_pages_again(db):
    world = build_world(db)
    first = write_note(db, world, at=T0, category="money")
    second = write_note(db, world, at=T0 + timedelta(hours=5), category="money")  # window is 4 h
    with db.reading() as session:
        grouped = session.scalars(
            select(Delivery.grouped_into_id).where(Delivery.note_id == second)
        ).all()
    assert grouped == [None]
    assert first != second


@pytest.mark.slow
def test_two_processes_escalate_each_delivery_exactly_once(pg_db):
    world = build_world(pg_db)
    with pg_db.unit_of_work() as session:
        session.get_one(Organization, world.org).group_window = 0  # every signal its own alert
    past = datetime.now(UTC) - timedelta(days=4)
    count = 1200  # more than two sweep batches, so that both processes work at once
    for worker in ("a1", "a2", "a3", "b1"):
        author = "sup_b" if worker == "b1" else "sup_a"
        write_note(pg_db, world, at=past, worker=worker, author=author, copies=count // 4)
    env = dict(os.environ, RELAIS_DATABASE_URL=pg_db.url)
    command = [sys.executable, "-m", "sync_server", "escalate", "--once"]
    runs = [
        subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120) for p in runs]
    assert [p.returncode for p in runs] == [0, 0], outputs
    reported = sum(int(out.split(" escalated")[0].split()[-1]) for out, _ in outputs)
    with pg_db.reading() as session:
        escalated = session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.escalated_at.is_not(None))
        )
        copies = session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.reason == "escalation")
        )
    # Each counsellor delivery escalated once, whichever process swept it; one copy each.
    assert escalated == count
    assert reported == count
    assert copies == count
