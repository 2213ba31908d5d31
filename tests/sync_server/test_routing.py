"""Routing scenarios, table-driven, through the real push API (docs/design.md, Routing)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from relais_testing.factories import build_world, login, mutation, note_data, pull_all, push
from sync_server.orgs.models import Worker
from sync_server.orgs.service import Assignment, reassign
from sync_server.routing.models import Delivery
from sync_server.routing.service import plan_recipients


@dataclass(frozen=True)
class Scenario:
    name: str
    author: str
    worker: str | None
    kind: str = "signal"
    category: str = "fatigue"
    severity: str = "attention"
    away: str | None = None  # counsellor who is away
    stand_in: str | None = None
    reassign_to: str | None = None  # counsellor the worker moves to after capture
    expected: tuple[tuple[str, str], ...] = ()


SCENARIOS = [
    Scenario("referent", "sup_a", "a1", expected=(("couns_1", "referent"),)),
    Scenario(
        "away with a stand-in",
        "sup_a",
        "a1",
        away="couns_1",
        stand_in="couns_2",
        expected=(("couns_2", "stand_in"),),
    ),
    Scenario(
        "away without a stand-in",
        "sup_a",
        "a1",
        away="couns_1",
        expected=(("couns_1", "referent"), ("coord", "unassigned")),
    ),
    Scenario("unassigned worker", "sup_b", "b2", expected=(("coord", "unassigned"),)),
    Scenario(
        "urgent",
        "sup_a",
        "a1",
        severity="urgent",
        expected=(("couns_1", "referent"), ("coord", "urgent")),
    ),
    Scenario(
        "injury",
        "sup_a",
        "a1",
        kind="safety",
        category="injury",
        severity="attention",
        expected=(("couns_1", "referent"), ("coord", "urgent")),
    ),
    Scenario(
        "team-level safety",
        "sup_a",
        None,
        kind="safety",
        category="equipment",
        expected=(("coord", "referent"),),
    ),
    Scenario(
        "observation", "sup_a", "a1", kind="observation", category="skill_progress", severity="info"
    ),
    Scenario(  # the app does not offer it; a client that sends one is never silent
        "urgent observation",
        "sup_a",
        "a1",
        kind="observation",
        category="difficulty",
        severity="urgent",
        expected=(("couns_1", "referent"), ("coord", "urgent")),
    ),
    Scenario(
        "reassigned between capture and delivery",
        "sup_a",
        "a1",
        reassign_to="couns_2",
        expected=(("couns_2", "referent"),),
    ),
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_routing(client, db, scenario: Scenario):
    world = build_world(db)
    names = {v: k for k, v in world.users.items()}
    if scenario.away:
        body = {
            "away": True,
            "stand_in_id": str(world.users[scenario.stand_in]) if scenario.stand_in else None,
            "until": None,
        }
        response = client.put(
            "/api/v1/me/availability", json=body, headers=login(client, scenario.away)
        )
        assert response.status_code == 200, response.text
    data = note_data(
        world,
        scenario.worker,
        kind=scenario.kind,
        category=scenario.category,
        severity=scenario.severity,
    )
    if scenario.reassign_to:  # captured offline, synced after the worker changed counsellor
        with db.unit_of_work() as session:
            worker = session.get_one(Worker, world.workers[scenario.worker])
            reassign(
                session,
                world.org,
                [Assignment(worker, worker.team_id, world.users[scenario.reassign_to])],
            )
    [result] = push(client, login(client, scenario.author), mutation("note.create", data))
    assert result["status"] == "applied", result
    with db.reading() as session:
        deliveries = session.scalars(
            select(Delivery).where(Delivery.note_id == uuid.UUID(data["id"]))
        ).all()
    assert sorted((names[d.recipient_id], d.reason) for d in deliveries) == sorted(
        scenario.expected
    )
    for d in deliveries:  # every delivery is chased, except the coordinators' urgent copies
        assert (d.due_at is not None) == (d.reason != "urgent"), d.reason


def test_stand_in_sees_the_absent_counsellors_notes_and_loses_them_on_return(client, db):
    world = build_world(db)
    couns_1, couns_2, sup_a = (
        login(client, "couns_1"),
        login(client, "couns_2"),
        login(client, "sup_a"),
    )
    before = note_data(world, "a1", category="health")  # sensitive, written before the absence
    push(client, sup_a, mutation("note.create", before))
    _, _, cursor = pull_all(client, couns_2)
    away = {"away": True, "stand_in_id": str(world.users["couns_2"]), "until": None}
    assert client.put("/api/v1/me/availability", json=away, headers=couns_1).status_code == 200
    state, changes, cursor = pull_all(client, couns_2, cursor)
    assert ("note", before["id"]) in state  # the stand-in now covers couns_1's workers
    back = {"away": False, "stand_in_id": None, "until": None}
    assert client.put("/api/v1/me/availability", json=back, headers=couns_1).status_code == 200
    _, changes, _ = pull_all(client, couns_2, cursor)
    assert {"entity": "note", "op": "remove", "id": before["id"], "data": None} in changes


def test_availability_is_for_counsellors_with_a_counsellor_stand_in(client, db):
    world = build_world(db)
    body = {"away": True, "stand_in_id": str(world.users["sup_b"]), "until": None}
    assert (
        client.put(
            "/api/v1/me/availability", json=body, headers=login(client, "couns_1")
        ).status_code
        == 403
    )
    body = {"away": True, "stand_in_id": str(world.users["couns_2"]), "until": None}
    assert (
        client.put("/api/v1/me/availability", json=body, headers=login(client, "sup_a")).status_code
        == 403
    )
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    body = {"away": True, "stand_in_id": str(world.users["couns_2"]), "until": past}
    response = client.put("/api/v1/me/availability", json=body, headers=login(client, "couns_1"))
    assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_body"


def test_supervisor_sees_delivery_progress_but_never_follow_up_text(client, db):
    world = build_world(db)
    sup_a, couns_1 = login(client, "sup_a"), login(client, "couns_1")
    data = note_data(world, "a1")
    push(client, sup_a, mutation("note.create", data))
    push(client, couns_1, mutation("delivery.seen", {"note_id": data["id"]}))
    push(client, couns_1, mutation("note.acknowledge", {"note_id": data["id"]}))
    follow = {
        "id": str(uuid.uuid4()),
        "note_id": data["id"],
        "action": "interview_planned",
        "text": "Private detail",
        "close": False,
    }
    assert push(client, couns_1, mutation("note.follow_up", follow))[0]["status"] == "applied"
    state = pull_all(client, sup_a)[0]
    note = state[("note", data["id"])]
    [delivery] = note["deliveries"]
    assert delivery["recipient_name"] and delivery["seen_at"] and delivery["acknowledged_at"]
    assert note["status"] == "acknowledged"
    assert not [k for k in state if k[0] == "follow_up"]
    assert "Private detail" not in str(state)


def test_only_a_recipient_acknowledges(client, db):
    world = build_world(db)
    data = note_data(world, "a1")
    push(client, login(client, "sup_a"), mutation("note.create", data))
    [r] = push(
        client, login(client, "coord"), mutation("note.acknowledge", {"note_id": data["id"]})
    )
    assert r["status"] == "rejected" and r["error"]["code"] == "forbidden"
    [r] = push(
        client, login(client, "couns_1"), mutation("note.acknowledge", {"note_id": data["id"]})
    )
    assert r["status"] == "applied"


def test_plan_never_delivers_to_the_author():
    class Obj:
        def __init__(self, **kw):
            self.__dict__.update(kw)

    counsellor = Obj(id=uuid.uuid4(), disabled=False, is_away=lambda _now: False)
    note = Obj(kind="signal", severity="urgent", category="money", author_id=counsellor.id)
    plan = plan_recipients(note, Obj(), counsellor, [], None, datetime.now(UTC))  # type: ignore[arg-type]
    assert plan == []


def test_an_absence_that_runs_out_takes_the_notes_back_from_the_stand_in(client, db):
    from sync_server.orgs.service import end_expired_absences

    world = build_world(db)
    couns_1, couns_2, sup_a = (
        login(client, "couns_1"),
        login(client, "couns_2"),
        login(client, "sup_a"),
    )
    data = note_data(world, "a1")
    push(client, sup_a, mutation("note.create", data))
    until = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    body = {"away": True, "stand_in_id": str(world.users["couns_2"]), "until": until}
    assert client.put("/api/v1/me/availability", json=body, headers=couns_1).status_code == 200
    state, _, cursor = pull_all(client, couns_2)
    assert ("note", data["id"]) in state
    with db.unit_of_work() as session:  # the sweep, once `until` has passed
        assert end_expired_absences(session, datetime.now(UTC) + timedelta(hours=2)) == 1
    _, changes, _ = pull_all(client, couns_2, cursor)
    assert {"entity": "note", "op": "remove", "id": data["id"], "data": None} in changes


def test_disabling_an_away_counsellor_takes_the_notes_from_the_stand_in(client, db):
    from sync_server.orgs.models import User
    from sync_server.orgs.service import disable_user

    world = build_world(db)
    couns_1, couns_2, sup_a = (
        login(client, "couns_1"),
        login(client, "couns_2"),
        login(client, "sup_a"),
    )
    data = note_data(world, "a1")
    push(client, sup_a, mutation("note.create", data))
    body = {"away": True, "stand_in_id": str(world.users["couns_2"]), "until": None}
    assert client.put("/api/v1/me/availability", json=body, headers=couns_1).status_code == 200
    _, _, cursor = pull_all(client, couns_2)
    with db.unit_of_work() as session:
        disable_user(session, session.get_one(User, world.users["couns_1"]))
    _, changes, _ = pull_all(client, couns_2, cursor)
    assert {"entity": "note", "op": "remove", "id": data["id"], "data": None} in changes


def test_away_without_a_stand_in_clears_the_previous_one(client, db):
    world = build_world(db)
    couns_1 = login(client, "couns_1")
    with_stand_in = {"away": True, "stand_in_id": str(world.users["couns_2"]), "until": None}
    assert (
        client.put("/api/v1/me/availability", json=with_stand_in, headers=couns_1).status_code
        == 200
    )
    alone = {"away": True, "stand_in_id": None, "until": None}
    response = client.put("/api/v1/me/availability", json=alone, headers=couns_1)
    assert response.json() == {"away": True, "stand_in_id": None, "until": None}
    data = note_data(world, "a1")
    push(client, login(client, "sup_a"), mutation("note.create", data))
    with db.reading() as session:
        recipients = {d.recipient_id for d in session.scalars(select(Delivery))}
    assert world.users["couns_2"] not in recipients


# A story per case: (step, who a note about a1 goes to afterwards; None: the coordinators).
STORIES: dict[str, list[tuple[tuple[str, ...], str | None]]] = {
    "away with a stand-in, then back": [(("away", "couns_2"), "couns_2"), (("back",), "couns_1")],
    "away, nobody covering": [(("away",), "couns_1")],
    "an absence that runs out": [(("away until", "couns_2"), "couns_2"), (("sweep",), "couns_1")],
    "the stand-in's account disabled, then enabled": [
        (("away", "couns_2"), "couns_2"),
        (("disable", "couns_2"), "couns_1"),
        (("enable", "couns_2"), "couns_2"),
    ],
    "the counsellor's account disabled, then enabled": [
        (("disable", "couns_1"), None),
        (("enable", "couns_1"), "couns_1"),
    ],
}


@pytest.mark.parametrize("story", list(STORIES), ids=list(STORIES))
def test_the_worker_names_who_receives_a_note_now(client, db, story):
    """The supervisor's phone learns who a note about the worker goes to, and learns it again
    each time that changes: the very recipient routing then picks."""
    from sync_server.orgs.models import User
    from sync_server.orgs.service import disable_user, enable_user, end_expired_absences

    world = build_world(db)
    sup_a, couns_1 = login(client, "sup_a"), login(client, "couns_1")
    state, _, cursor = pull_all(client, sup_a)
    a1 = ("worker", str(world.workers["a1"]))
    assert (state[a1]["recipient_id"], state[a1]["recipient_name"]) == (
        str(world.users["couns_1"]),
        "Couns 1 (test)",
    )
    b2 = ("worker", str(world.workers["b2"]))
    assert pull_all(client, login(client, "sup_b"))[0][b2]["recipient_id"] is None  # coordinators
    names = {"couns_1": "Couns 1 (test)", "couns_2": "Couns 2 (test)", None: None}
    for step, expected in STORIES[story]:
        action, *who = step
        if action in ("away", "away until", "back"):
            until = datetime.now(UTC) + timedelta(hours=1) if action == "away until" else None
            body = {
                "away": action != "back",
                "stand_in_id": str(world.users[who[0]]) if who else None,
                "until": until.isoformat() if until else None,
            }
            response = client.put("/api/v1/me/availability", json=body, headers=couns_1)
            assert response.status_code == 200, response.text
        else:
            with db.unit_of_work() as session:
                if action == "sweep":  # once `until` has passed
                    end_expired_absences(session, datetime.now(UTC) + timedelta(hours=2))
                else:
                    user = session.get_one(User, world.users[who[0]])
                    (disable_user if action == "disable" else enable_user)(session, user)
        state, changes, cursor = pull_all(client, sup_a, cursor)
        assert a1 in {(c["entity"], c["id"]) for c in changes}, step  # re-sent
        recipient = state[a1]["recipient_id"]
        assert recipient == (str(world.users[expected]) if expected else None), step
        assert state[a1]["recipient_name"] == names[expected], step
        data = note_data(world, "a1")
        push(client, sup_a, mutation("note.create", data))
        with db.reading() as session:
            routed = session.scalars(
                select(Delivery.recipient_id).where(
                    Delivery.note_id == uuid.UUID(data["id"]),
                    Delivery.reason.in_(["referent", "stand_in"]),
                )
            ).all()
        assert [str(r) for r in routed] == ([recipient] if recipient else []), step
        _, _, cursor = pull_all(client, sup_a, cursor)
