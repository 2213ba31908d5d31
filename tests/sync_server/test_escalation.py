"""Escalation with a controllable clock, alert grouping, and exactly-once across processes."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from relais_testing.factories import (
    World,
    add_co_supervisor,
    build_world,
    login,
    mutation,
    note_data,
    pull_all,
    push,
)
from shared_models import mutations as m
from sync_server import policy
from sync_server.database import Database, table
from sync_server.notes import service as notes
from sync_server.notes.models import Note
from sync_server.orgs.models import Organization, User
from sync_server.routing.models import Delivery
from sync_server.routing.service import escalate_overdue
from sync_server.sync import changelog
from sync_server.sync.models import ChangeAudience, ChangeLogEntry
from sync_server.sync.pending import PendingChange

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
    kind: str = "signal",
    captured: datetime | None = None,
) -> uuid.UUID:
    """Write `copies` notes that reach the server at `at` (captured at `captured`, by
    default the same moment) through the real service; returns the last id."""
    with db.unit_of_work() as session:
        user = session.get_one(User, world.users[author])
        viewer = policy.load_viewer(session, user, at)
        for _ in range(copies):
            note_id = uuid.uuid4()
            data = m.NoteCreate(
                id=note_id,
                worker_id=world.workers[worker],
                team_id=world.team_of(worker),
                kind=kind,
                category=category,
                severity=severity,
                text="Fictional observation.",
                captured_at=captured or at,
            )
            notes.create_note(session, viewer=viewer, data=data, now=at)
    return note_id


def acknowledge(db: Database, world: World, note_id: uuid.UUID, who: str, at: datetime) -> None:
    with db.unit_of_work() as session:
        user = session.get_one(User, world.users[who])
        notes.acknowledge_note(
            session,
            viewer=policy.load_viewer(session, user, at),
            data=m.NoteAcknowledge(note_id=note_id),
            now=at,
        )


def retract(
    db: Database, world: World, note_id: uuid.UUID, at: datetime, who: str = "sup_a"
) -> None:
    """The author retracts, with the server's clock at `at`."""
    with db.unit_of_work() as session:
        user = session.get_one(User, world.users[who])
        notes.retract_note(
            session,
            viewer=policy.load_viewer(session, user, at),
            data=m.NoteRetract(note_id=note_id),
            now=at,
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
    assert all(d.due_at is not None for d in rows)  # every signal keeps its own chase

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


@pytest.mark.parametrize("path", ["one flush", "one by one"])
def test_a_retraction_in_the_same_push_hands_the_alert_on(client, db, path):
    """Signals A and B, then A retracted and C, all in one push: B takes the alert's lead and
    C joins it, whether the push runs in one flush or (after a repeated entity id, which
    is refused) one mutation at a time."""
    world = build_world(db)
    sup_a = login(client, "sup_a")
    a, b, c = (note_data(world, "a1", category="money") for _ in range(3))
    sent = [
        mutation("note.create", a),
        mutation("note.create", b),
        mutation("note.retract", {"note_id": a["id"], "reason": "wrong worker"}),
        mutation("note.create", c),
    ]
    if path == "one by one":
        sent.append(mutation("note.create", {**a, "text": "Another text."}))
    results = push(client, sup_a, *sent)
    assert [r["status"] for r in results[:4]] == ["applied"] * 4
    if path == "one by one":
        assert results[4]["error"]["code"] == "id_conflict"

    with db.reading() as session:
        lead_of = {
            str(note_id): grouped_into
            for note_id, grouped_into in session.execute(
                select(Delivery.note_id, Delivery.grouped_into_id).where(
                    Delivery.recipient_id == world.users["couns_1"]
                )
            )
        }
        b_delivery = session.scalar(
            select(Delivery.id).where(
                Delivery.note_id == uuid.UUID(b["id"]),
                Delivery.recipient_id == world.users["couns_1"],
            )
        )
    assert lead_of == {a["id"]: None, b["id"]: None, c["id"]: b_delivery}


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
    count = 1200  # four sweep batches of 300, so that both processes work at once
    for worker in ("a1", "a2", "a3", "b1"):
        author = "sup_b" if worker == "b1" else "sup_a"
        write_note(pg_db, world, at=past, worker=worker, author=author, copies=count // 4)
    env = dict(os.environ, RELAIS_DATABASE_URL=pg_db.url, RELAIS_ESCALATION_BATCH="300")
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


@pytest.mark.parametrize("first_retracted", [False, True], ids=["group kept", "first retracted"])
def test_every_signal_of_a_group_keeps_its_own_chase(db, first_retracted):
    """Grouping pages once; it never lets a signal go unchased, even when the signal that
    opened the alert is retracted."""
    world = build_world(db)
    first = write_note(db, world, at=T0, category="money")
    second = write_note(db, world, at=T0 + timedelta(hours=1), category="money")
    with db.reading() as session:
        lead = session.scalars(select(Delivery).where(Delivery.note_id == first)).one()
        member = session.scalars(select(Delivery).where(Delivery.note_id == second)).one()
        assert member.grouped_into_id == lead.id  # one alert in the counsellor's inbox
        assert member.due_at == T0 + timedelta(hours=25)
    if first_retracted:
        retract(db, world, first, T0 + timedelta(hours=2))
    day = timedelta(hours=24)
    assert sweep(db, T0 + day) == (0 if first_retracted else 1)
    assert sweep(db, T0 + day + timedelta(hours=1)) == 1  # the second signal's own deadline
    escalated = [r for r in deliveries(db, second) if r[1] == "escalation"]
    assert [r[0] for r in escalated] == [world.users["coord"]]


def test_a_more_severe_signal_opens_its_own_alert(db):
    world = build_world(db)
    write_note(db, world, at=T0, category="money", severity="info")
    urgent = write_note(
        db, world, at=T0 + timedelta(minutes=5), category="money", severity="urgent"
    )
    with db.reading() as session:
        grouped = session.scalars(
            select(Delivery.grouped_into_id).where(
                Delivery.note_id == urgent, Delivery.recipient_id == world.users["couns_1"]
            )
        ).all()
    assert grouped == [None]


@pytest.mark.parametrize(
    ("worker", "author", "kind", "category", "severity", "deadline"),
    [
        ("b2", "sup_b", "signal", "money", "attention", timedelta(hours=24)),
        ("b2", "sup_b", "safety", "injury", "urgent", timedelta(hours=2)),
    ],
    ids=["no counsellor", "no counsellor, injury"],
)
def test_a_note_about_a_worker_without_counsellor_is_chased(
    db, worker, author, kind, category, severity, deadline
):
    world = build_world(db)
    note_id = write_note(
        db,
        world,
        at=T0,
        worker=worker,
        author=author,
        kind=kind,
        category=category,
        severity=severity,
    )
    with db.reading() as session:
        [delivery] = session.scalars(select(Delivery).where(Delivery.note_id == note_id)).all()
    assert (delivery.recipient_id, delivery.reason) == (world.users["coord"], "unassigned")
    assert delivery.due_at == T0 + deadline
    assert sweep(db, T0 + deadline - timedelta(seconds=1)) == 0
    assert sweep(db, T0 + deadline) == 1
    assert sweep(db, T0 + deadline + timedelta(days=1)) == 0  # once
    assert deliveries(db, note_id) == [(world.users["coord"], "unassigned", T0 + deadline)]


def write_team_safety_note(db, world, text: str) -> uuid.UUID:
    """sup_a's safety note about team A as a whole (no worker), at T0."""
    with db.unit_of_work() as session:
        user = session.get_one(User, world.users["sup_a"])
        data = m.NoteCreate(
            id=uuid.uuid4(),
            team_id=world.teams["A"],
            kind="safety",
            category="equipment",
            severity="attention",
            text=text,
            captured_at=T0,
        )
        notes.create_note(session, viewer=policy.load_viewer(session, user, T0), data=data, now=T0)
    return data.id


def test_a_team_level_safety_note_is_chased(db):
    world = build_world(db)
    write_team_safety_note(db, world, "Fictional: the hedge trimmer's guard is cracked.")
    assert sweep(db, T0 + timedelta(hours=24)) == 1


# --- the sweep's change log is the general one -------------------------------------------


def test_the_sweep_indexes_and_pokes_its_notes_as_if_the_change_log_loaded_them(db):
    """The sweep hands the change log the note fields it read (`policy.NOTE_FIELDS`) instead
    of letting it reload each note: the pull index keys and the pokes must not differ."""
    world = build_world(db)
    ids = [
        write_note(db, world, at=T0, worker="a1"),  # a counsellor who is away, covered
        write_note(db, world, at=T0, worker="a3"),
        write_note(db, world, at=T0, worker="b2", author="sup_b"),  # no counsellor
        write_note(db, world, at=T0, worker="b1", author="sup_b"),  # a disabled author
    ]
    retracted = write_note(db, world, at=T0, worker="a2", category="money")
    retract(db, world, retracted, T0 + timedelta(minutes=5))
    # About a team, no worker.
    ids.append(write_team_safety_note(db, world, "Fictional: a ladder is missing a rung."))
    with db.unit_of_work() as session:
        counsellor = session.get_one(User, world.users["couns_1"])
        counsellor.away, counsellor.stand_in_id = True, world.users["couns_2"]
        session.get_one(User, world.users["sup_b"]).disabled = True

    note_table = table(Note)
    with db.unit_of_work() as session:
        rows = session.execute(select(*(note_table.c[name] for name in policy.NOTE_FIELDS))).all()
        assert {r.id for r in rows} == {*ids, retracted}
        loaded = [PendingChange(world.org, "note", r.id) for r in rows]
        handed = [PendingChange(world.org, "note", r.id, row=r) for r in rows]
        assert changelog.audiences(session, world.org, handed) == changelog.audiences(
            session, world.org, loaded
        )
        session.rollback()

    with db.reading() as session:
        before = changelog.current_position(session, world.org)
    assert sweep(db, T0 + timedelta(hours=24)) == len(ids)  # the retracted one is not chased
    with db.reading() as session:
        logged = session.execute(
            select(ChangeLogEntry.entity_id, ChangeAudience.audience)
            .join(
                ChangeAudience,
                (ChangeAudience.org_id == ChangeLogEntry.org_id)
                & (ChangeAudience.seq == ChangeLogEntry.seq),
            )
            .where(ChangeLogEntry.org_id == world.org, ChangeLogEntry.seq > before)
        ).all()
        indexed: dict[uuid.UUID, set[uuid.UUID]] = {}
        for note_id, key in logged:
            indexed.setdefault(note_id, set()).add(key)
        expected = {
            note.id: policy.index_keys("note", note, policy.Facts())
            for note in session.scalars(select(Note).where(Note.id.in_(ids)))
        }
        assert indexed == expected
        copies = session.scalars(select(Delivery).where(Delivery.reason == "escalation")).all()
    # Their ids are made by the database: random version 4 UUIDs, like the others.
    # The coordinator received b2's note and the team's note from the start: no copy.
    assert {d.note_id for d in copies} == {ids[0], ids[1], ids[3]}
    assert {d.id.version for d in copies} == {4} and len({d.id for d in copies}) == len(copies)


# --- grouping is no side channel ----------------------------------------------------------


def _second_supervisor(db: Database, world: World, login_name: str) -> None:
    """A colleague of sup_a on team A, who may write about the same workers."""
    add_co_supervisor(db, world, login_name)


def _normalised(value: Any, names: dict[str, str], origin: datetime) -> Any:
    """A note as its author saw it, comparable across organisations: known ids by name,
    times as whole minutes from when the note reached the server."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key.endswith("_at") and isinstance(item, str):
                out[key] = round((datetime.fromisoformat(item) - origin).total_seconds() / 60)
            else:
                out[key] = _normalised(item, names, origin)
        return out
    if isinstance(value, list):
        return [_normalised(item, names, origin) for item in value]
    if isinstance(value, str):
        return names.get(value, value)
    return value


def _what_the_author_sees(client, db, slug: str, colleague: str | None) -> list[Any]:
    """sup_a writes a health signal about a1 and follows it through every step; the colleague,
    if any, writes one too ("before" or "after" sup_a's), then retracts it. Returns every
    change sup_a's pulls bring about that note, normalised."""
    world = build_world(db, slug=slug, prefix=f"{slug}_")
    _second_supervisor(db, world, f"{slug}_sup_a2")
    author = login(client, f"{slug}_sup_a")
    other = login(client, f"{slug}_sup_a2")
    counsellor = login(client, f"{slug}_couns_1")
    theirs = note_data(world, "a1", category="health", severity="attention")
    if colleague == "before":
        push(client, other, mutation("note.create", theirs))
    ours = note_data(world, "a1", category="health", severity="attention")
    push(client, author, mutation("note.create", ours))
    _, changes, cursor = pull_all(client, author)
    seen = [[c for c in changes if c["id"] == ours["id"]]]
    later = ours if colleague == "before" else theirs

    def counsellor_opens_theirs() -> None:
        # The counsellor's inbox does group the two signals: one alert.
        state = pull_all(client, counsellor)[0]
        [delivery] = state[("note", later["id"])]["deliveries"]
        assert delivery["grouped_into"] is not None
        push(client, counsellor, mutation("delivery.seen", {"note_id": theirs["id"]}))

    steps = []
    if colleague == "after":
        steps.append(lambda: push(client, other, mutation("note.create", theirs)))
    if colleague:
        steps.append(counsellor_opens_theirs)
        steps.append(
            lambda: push(client, other, mutation("note.retract", {"note_id": theirs["id"]}))
        )
    steps.append(
        lambda: push(client, counsellor, mutation("delivery.seen", {"note_id": ours["id"]}))
    )
    for step in steps:
        step()
        _, changes, cursor = pull_all(client, author, cursor)
        mine = [c for c in changes if c["id"] == ours["id"]]
        if mine or not colleague:
            seen.append(mine)
    with db.reading() as session:
        origin = session.get_one(Note, uuid.UUID(ours["id"])).received_at
    names = {str(v): k for k, v in (world.users | world.teams | world.workers).items()}
    names[ours["id"]] = "ours"
    return _normalised(seen, names, origin)


@pytest.mark.parametrize("colleague", ["before", "after"])
def test_an_author_learns_nothing_of_other_notes_through_their_own(client, db, colleague):
    """Whether or not a colleague wrote about the same worker (and then retracted it), the
    author receives exactly the same changes, with the same fields, about their own note."""
    alone = _what_the_author_sees(client, db, "alone", None)
    crowded = _what_the_author_sees(client, db, "crowded", colleague)
    assert crowded == alone
    for changes in crowded:
        for change in changes:
            for delivery in change["data"]["deliveries"]:
                assert delivery["group_count"] == 1 and delivery["grouped_into"] is None
                assert delivery["due_at"] is not None
