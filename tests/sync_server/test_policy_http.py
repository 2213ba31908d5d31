"""The access policy as the HTTP API shows it: what pull returns to each role, what push
accepts or refuses (with which code), availability, and the audit of sensitive reads."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from relais_testing.factories import World, build_world, login, mutation, note_data, pull_all, push
from sync_server.audit.models import AuditEvent
from sync_server.audit.service import SENSITIVE_NOTE_READ
from sync_server.auth.models import Device
from sync_server.orgs.models import User


def by_entity(state: dict) -> dict[str, dict[str, dict]]:
    out: dict[str, dict[str, dict]] = {}
    for (entity, entity_id), data in state.items():
        out.setdefault(entity, {})[entity_id] = data
    return out


def ids(world: World, kind: str, *names: str) -> set[str]:
    table = {"worker": world.workers, "team": world.teams, "colleague": world.users}[kind]
    return {str(table[n]) for n in names}


def test_pull_returns_what_each_role_may_see(client, db):
    world = build_world(db)
    h = {name: login(client, name) for name in ("sup_a", "sup_b", "couns_1", "couns_2")}
    h["coord"], h["admin"] = login(client, "coord"), login(client, "admin")

    fatigue = note_data(world, "a1", category="fatigue", text="Sat down three times.")
    health = note_data(world, "a1", category="health", text="Mentioned pain in the back.")
    about_a3 = note_data(world, "a3", category="money", text="Asked for an advance.")
    about_b1 = note_data(world, "b1", category="family", text="Left early for the kids.")
    push(client, h["sup_a"], *(mutation("note.create", d) for d in (fatigue, health, about_a3)))
    push(client, h["sup_b"], mutation("note.create", about_b1))
    fu_id, hu_id = str(uuid.uuid4()), str(uuid.uuid4())
    follow_up_text = "Interview on Thursday about the back pain."
    results = push(
        client,
        h["couns_1"],
        mutation(
            "note.follow_up",
            {
                "id": fu_id,
                "note_id": fatigue["id"],
                "action": "interview_planned",
                "text": follow_up_text,
                "close": False,
            },
        ),
        mutation(
            "heads_up.create",
            {"id": hu_id, "worker_id": str(world.workers["a1"]), "text": "Go easy this week."},
        ),
    )
    assert [r["status"] for r in results] == ["applied", "applied"]

    notes = {n["id"]: n for n in (fatigue, health, about_a3, about_b1)}
    every_worker = ("a1", "a2", "a3", "b1", "b2")
    # Colleagues on need to know: oneself; the counsellors among counsellors; everyone for
    # coordinators and admins (docs/design.md).
    everyone = ids(world, "colleague", *world.users)
    counsellors = ids(world, "colleague", "couns_1", "couns_2")
    expected = {
        "sup_a": {
            "note": {fatigue["id"], health["id"], about_a3["id"]},
            "follow_up": set(),
            "heads_up": {hu_id},
            "worker": ids(world, "worker", "a1", "a2", "a3"),
            "team": ids(world, "team", "A"),
            "colleague": ids(world, "colleague", "sup_a"),
        },
        "sup_b": {
            "note": {about_b1["id"]},
            "follow_up": set(),
            "heads_up": set(),
            "worker": ids(world, "worker", "b1", "b2"),
            "team": ids(world, "team", "B"),
            "colleague": ids(world, "colleague", "sup_b"),
        },
        "couns_1": {
            "note": {fatigue["id"], health["id"]},
            "follow_up": {fu_id},
            "heads_up": {hu_id},
            "worker": ids(world, "worker", "a1", "a2"),
            "team": ids(world, "team", "A", "B"),
            "colleague": counsellors,
        },
        "couns_2": {
            "note": {about_a3["id"], about_b1["id"]},
            "follow_up": set(),
            "heads_up": set(),
            "worker": ids(world, "worker", "a3", "b1"),
            "team": ids(world, "team", "A", "B"),
            "colleague": counsellors,
        },
        "coord": {
            "note": set(notes),
            "follow_up": {fu_id},
            "heads_up": {hu_id},
            "worker": ids(world, "worker", *every_worker),
            "team": ids(world, "team", "A", "B"),
            "colleague": everyone,
        },
        "admin": {
            "note": set(),
            "follow_up": set(),
            "heads_up": set(),
            "worker": ids(world, "worker", *every_worker),
            "team": ids(world, "team", "A", "B"),
            "colleague": everyone,
        },
    }
    for role, want in expected.items():
        state = pull_all(client, h[role])[0]
        got = by_entity(state)
        for entity, wanted_ids in want.items():
            assert set(got.get(entity, {})) == wanted_ids, (role, entity)
        assert set(got["organization"]) == {str(world.org)}, role
        for note_id, data in got.get("note", {}).items():
            # Whoever may see a note sees its text; these viewers are all author,
            # recipient or coordinator, so they also see who it went to.
            assert data["text"] == notes[note_id]["text"], (role, note_id)
            assert isinstance(data["deliveries"], list), (role, note_id)
        dump = json.dumps(list(state.values()))
        if role not in ("couns_1", "coord"):
            assert follow_up_text not in dump, role
        for note_id, note in notes.items():
            if note_id not in want["note"]:
                assert note["text"] not in dump, (role, note_id)

    # The supervisor sees the note's progress (status, deliveries), not the follow-up.
    sup_view = by_entity(pull_all(client, h["sup_a"])[0])["note"][fatigue["id"]]
    assert sup_view["status"] == "acknowledged"
    [delivery] = sup_view["deliveries"]
    assert delivery["recipient_id"] == str(world.users["couns_1"])
    assert delivery["reason"] == "referent" and delivery["acknowledged_at"] is not None


def test_stand_in_sees_the_absent_counsellors_notes_only_while_the_absence_lasts(client, db):
    world = build_world(db)
    sup_a, couns_1, couns_2 = (
        login(client, "sup_a"),
        login(client, "couns_1"),
        login(client, "couns_2"),
    )
    health = note_data(world, "a1", category="health", text="Said the new pills make him dizzy.")
    push(client, sup_a, mutation("note.create", health))
    assert health["id"] not in by_entity(pull_all(client, couns_2)[0]).get("note", {})

    until = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    response = client.put(
        "/api/v1/me/availability",
        json={"away": True, "stand_in_id": str(world.users["couns_2"]), "until": until},
        headers=couns_1,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["away"] is True and body["stand_in_id"] == str(world.users["couns_2"])

    later = note_data(world, "a1", category="housing", text="Sleeping at a friend's place.")
    push(client, sup_a, mutation("note.create", later))
    state, _, cursor = pull_all(client, couns_2)
    seen = by_entity(state)
    assert str(world.workers["a1"]) in seen["worker"]
    # The older note: visible (sensitive included) but not a delivery to the stand-in.
    assert seen["note"][health["id"]]["text"] == health["text"]
    assert seen["note"][health["id"]]["deliveries"] is None
    # The new one was routed to the stand-in.
    [delivery] = seen["note"][later["id"]]["deliveries"]
    assert delivery["recipient_id"] == str(world.users["couns_2"])
    assert delivery["reason"] == "stand_in"
    with db.reading() as session:
        reads = session.scalars(
            select(AuditEvent).where(AuditEvent.actor_id == world.users["couns_2"])
        ).all()
    assert [(e.action, e.entity_id) for e in reads] == [
        (SENSITIVE_NOTE_READ, uuid.UUID(health["id"]))
    ]
    results = push(
        client,
        couns_2,
        mutation("note.acknowledge", {"note_id": later["id"]}),
        mutation(
            "note.follow_up",
            {"id": str(uuid.uuid4()), "note_id": health["id"], "action": "other"},
        ),
    )
    assert [r["status"] for r in results] == ["applied", "applied"]

    # couns_1 is back: the stand-in is told to drop what it saw.
    response = client.put(
        "/api/v1/me/availability", json={"away": False, "stand_in_id": None}, headers=couns_1
    )
    assert response.status_code == 200, response.text
    changes = pull_all(client, couns_2, cursor)[1]
    removed = {c["id"] for c in changes if c["op"] == "remove" and c["entity"] == "note"}
    assert {health["id"], later["id"]} <= removed
    assert not by_entity(pull_all(client, couns_2)[0]).get("note")

    # An absence that has expired (not yet swept) gives no access either.
    with db.unit_of_work() as session:
        user = session.get_one(User, world.users["couns_1"])
        user.away, user.stand_in_id = True, world.users["couns_2"]
        user.away_until = datetime.now(UTC) - timedelta(minutes=5)
    assert not by_entity(pull_all(client, couns_2)[0]).get("note")
    [r] = push(
        client,
        couns_2,
        mutation(
            "note.follow_up", {"id": str(uuid.uuid4()), "note_id": health["id"], "action": "other"}
        ),
    )
    assert r["error"]["code"] == "not_found"


def test_going_away_without_a_stand_in_gives_nobody_the_notes(client, db):
    """`stand_in_id: null` means nobody covers; an earlier stand-in must not keep access."""
    world = build_world(db)
    sup_a, couns_1, couns_2 = (
        login(client, "sup_a"),
        login(client, "couns_1"),
        login(client, "couns_2"),
    )
    health = note_data(world, "a1", category="health", text="Said he has not slept for days.")
    push(client, sup_a, mutation("note.create", health))
    for body in (
        {"away": True, "stand_in_id": str(world.users["couns_2"]), "until": None},
        {"away": False, "stand_in_id": None, "until": None},
    ):
        response = client.put("/api/v1/me/availability", json=body, headers=couns_1)
        assert response.status_code == 200, response.text

    response = client.put(
        "/api/v1/me/availability",
        json={"away": True, "stand_in_id": None, "until": None},
        headers=couns_1,
    )
    assert response.status_code == 200, response.text
    seen_by_previous_stand_in = set(by_entity(pull_all(client, couns_2)[0]).get("note", {}))
    assert health["id"] not in seen_by_previous_stand_in, (
        "the previous stand-in still reads the absent counsellor's notes"
    )
    assert response.json()["stand_in_id"] is None


def test_push_accepts_or_refuses_by_role(client, db):
    world = build_world(db)
    other = build_world(db, slug="other", prefix="o_")
    h = {name: login(client, name) for name in ("sup_a", "sup_b", "couns_1", "couns_2")}
    h["coord"], h["admin"] = login(client, "coord"), login(client, "admin")
    old_time = (datetime.now(UTC) - timedelta(hours=25)).isoformat()
    # Different categories, so that no note joins another's alert group.
    n = note_data(world, "a1", category="fatigue")
    u = note_data(world, "a1", category="health", severity="urgent")
    old = dict(note_data(world, "a1", category="punctuality"), captured_at=old_time)
    r = note_data(world, "a1", category="absence")
    team_level = dict(note_data(world, None, team="A", kind="safety", category="ppe"))
    foreign_team = dict(team_level, id=str(uuid.uuid4()), team_id=str(world.teams["B"]))
    unknown_team = dict(team_level, id=str(uuid.uuid4()), team_id=str(uuid.uuid4()))
    wrong_team = dict(note_data(world, "a1"), team_id=str(world.teams["B"]))
    unknown_worker = dict(note_data(world, "a1"), worker_id=str(uuid.uuid4()))
    foreign_org = note_data(other, "a1")

    def create(data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        return ("note.create", data)

    def on(type_: str, note: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        return (type_, {"note_id": note["id"]})

    def follow_up(note: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        return (
            "note.follow_up",
            {"id": str(uuid.uuid4()), "note_id": note["id"], "action": "work_adapted"},
        )

    def heads_up(worker_id: uuid.UUID) -> tuple[str, dict[str, Any]]:
        return (
            "heads_up.create",
            {"id": str(uuid.uuid4()), "worker_id": str(worker_id), "text": "Go easy."},
        )

    a1, b1, b2 = (world.workers[w] for w in ("a1", "b1", "b2"))
    phases: list[list[tuple[str, tuple[str, dict[str, Any]], str]]] = [
        [
            ("sup_a", create(n), "applied"),
            ("sup_a", create(u), "applied"),
            ("sup_a", create(old), "applied"),
            ("sup_a", create(r), "applied"),
            ("sup_a", create(team_level), "applied"),
            ("sup_a", create(foreign_team), "forbidden"),
            ("sup_a", create(unknown_team), "not_found"),
            ("sup_a", create(wrong_team), "forbidden"),
            ("sup_a", create(unknown_worker), "not_found"),
            ("sup_a", create(foreign_org), "not_found"),
            ("sup_a", create(note_data(world, "b1")), "forbidden"),
            ("sup_b", create(note_data(world, "a1")), "forbidden"),
            ("couns_1", create(note_data(world, "a2")), "applied"),
            ("couns_1", create(note_data(world, "a3")), "forbidden"),
            ("coord", create(note_data(world, "b2")), "applied"),
            ("admin", create(note_data(world, "a1")), "forbidden"),
        ],
        [
            ("sup_a", on("note.acknowledge", n), "forbidden"),  # sees it, not a recipient
            ("sup_b", on("note.acknowledge", n), "not_found"),
            ("couns_2", on("note.acknowledge", n), "not_found"),
            ("admin", on("note.acknowledge", n), "not_found"),
            ("coord", on("note.acknowledge", n), "forbidden"),  # not urgent: not a recipient
            ("coord", on("note.acknowledge", u), "applied"),  # urgent: a recipient
            ("couns_1", on("delivery.seen", n), "applied"),
            ("sup_a", on("delivery.seen", n), "forbidden"),
            ("coord", on("delivery.seen", n), "forbidden"),
            ("couns_1", on("note.acknowledge", n), "applied"),
            ("sup_a", follow_up(n), "forbidden"),
            ("sup_b", follow_up(n), "not_found"),
            ("couns_2", follow_up(n), "not_found"),
            ("admin", follow_up(n), "not_found"),
            ("couns_1", follow_up(n), "applied"),
            ("coord", follow_up(n), "applied"),
            ("couns_1", heads_up(a1), "applied"),
            ("couns_2", heads_up(b1), "applied"),
            ("coord", heads_up(b2), "applied"),
            ("sup_a", heads_up(a1), "forbidden"),
            ("admin", heads_up(a1), "forbidden"),
            ("couns_2", heads_up(a1), "not_found"),
            ("sup_b", heads_up(a1), "not_found"),
            ("couns_1", heads_up(other.workers["a1"]), "not_found"),
        ],
        [
            ("couns_1", on("note.retract", r), "forbidden"),
            ("coord", on("note.retract", r), "forbidden"),
            ("sup_b", on("note.retract", r), "not_found"),
            # Captured 25 h ago, but reached the server just now: the window runs from then.
            ("sup_a", on("note.retract", old), "applied"),
            ("sup_a", on("note.retract", r), "applied"),
        ],
        [
            ("couns_1", on("note.acknowledge", r), "not_found"),  # retracted: not theirs now
            ("couns_1", follow_up(r), "not_found"),
        ],
    ]
    wrong = []
    for phase in phases:
        for actor, (type_, data), want in phase:
            [result] = push(client, h[actor], mutation(type_, data))
            got = result["status"] if result["status"] == "applied" else result["error"]["code"]
            if got != want:
                wrong.append(f"{actor} {type_} {data.get('category', '')}: {got}, expected {want}")
    assert not wrong, "\n".join(wrong)

    # After the retraction: its author and the coordinators keep it, as retracted.
    for role, sees in (("sup_a", True), ("coord", True), ("couns_1", False)):
        notes = by_entity(pull_all(client, h[role])[0])["note"]
        assert (r["id"] in notes) is sees, role
        if sees:
            assert notes[r["id"]]["status"] == "retracted"

    # Availability: counsellors only, with another counsellor of their organisation.
    availability = [
        ("sup_a", None, 403),
        ("coord", None, 403),
        ("admin", None, 403),
        ("couns_1", world.users["sup_a"], 403),
        ("couns_1", world.users["couns_1"], 403),
        ("couns_1", other.users["couns_1"], 422),  # like an unknown id: no oracle
        ("couns_1", uuid.uuid4(), 422),
        ("couns_1", world.users["couns_2"], 200),
    ]
    for actor, stand_in, status in availability:
        response = client.put(
            "/api/v1/me/availability",
            json={"away": True, "stand_in_id": str(stand_in) if stand_in else None},
            headers=h[actor],
        )
        assert response.status_code == status, (actor, stand_in, response.text)
        if status == 403:
            assert response.json()["error"]["code"] == "forbidden"


def test_sensitive_reads_are_audited_except_the_authors_own(client, db):
    world = build_world(db)
    sup_a, couns_1, coord = login(client, "sup_a"), login(client, "couns_1"), login(client, "coord")
    health = note_data(world, "a1", category="health", text="Mentioned a hospital appointment.")
    fatigue = note_data(world, "a2", category="fatigue")
    push(client, sup_a, mutation("note.create", health), mutation("note.create", fatigue))

    def reads_by(login_name: str) -> list[AuditEvent]:
        with db.reading() as session:
            return list(
                session.scalars(
                    select(AuditEvent).where(AuditEvent.actor_id == world.users[login_name])
                )
            )

    assert health["id"] in by_entity(pull_all(client, sup_a)[0])["note"]
    assert reads_by("sup_a") == []

    assert health["id"] in by_entity(pull_all(client, couns_1)[0])["note"]
    [event] = reads_by("couns_1")
    assert event.action == SENSITIVE_NOTE_READ
    assert (event.entity, event.entity_id) == ("note", uuid.UUID(health["id"]))
    assert event.org_id == world.org
    with db.reading() as session:
        device = session.scalar(select(Device).where(Device.user_id == world.users["couns_1"]))
    assert device is not None and event.device_id == device.id

    pull_all(client, coord)
    assert [(e.action, e.entity_id) for e in reads_by("coord")] == [
        (SENSITIVE_NOTE_READ, uuid.UUID(health["id"]))
    ]


def test_nothing_crosses_organisations(client, db):
    world = build_world(db)
    other = build_world(db, slug="other", prefix="o_")
    sup_a, o_coord = login(client, "sup_a"), login(client, "o_coord")
    health = note_data(world, "a1", category="health")
    push(client, sup_a, mutation("note.create", health))

    state = pull_all(client, o_coord)[0]
    acme_ids = {str(world.org), health["id"]} | {
        str(i) for table in (world.users, world.teams, world.workers) for i in table.values()
    }
    assert not acme_ids & {key[1] for key in state}
    assert {key[1] for key in state if key[0] == "organization"} == {str(other.org)}
    results = push(
        client,
        o_coord,
        mutation("note.acknowledge", {"note_id": health["id"]}),
        mutation("note.retract", {"note_id": health["id"]}),
        mutation(
            "note.follow_up", {"id": str(uuid.uuid4()), "note_id": health["id"], "action": "other"}
        ),
        mutation(
            "heads_up.create",
            {"id": str(uuid.uuid4()), "worker_id": str(world.workers["a1"]), "text": "Hi."},
        ),
        mutation("note.create", note_data(world, "a1")),
    )
    assert [r["error"]["code"] for r in results] == ["not_found"] * 5
    with db.reading() as session:
        assert session.scalars(select(AuditEvent)).all() == []


def test_another_organisations_user_as_stand_in_looks_like_an_unknown_id(client, db):
    """No answer of PUT /me/availability tells whether an id belongs to another
    organisation: status, code and message are those of an id nobody holds, whoever asks
    and whatever that user is (counsellor or not, enabled or not)."""
    world = build_world(db)
    other = build_world(db, slug="other", prefix="o_")
    with db.unit_of_work() as session:
        session.get_one(User, other.users["couns_2"]).disabled = True
    unknown = [uuid.uuid4() for _ in range(3)]
    foreign = [other.users[name] for name in ("couns_1", "couns_2", "sup_a", "coord", "admin")]
    for actor in ("couns_1", "sup_a", "coord"):
        headers = login(client, actor)

        def answer(stand_in: uuid.UUID, headers: dict[str, str] = headers) -> tuple:
            body = {"away": True, "stand_in_id": str(stand_in), "until": None}
            response = client.put("/api/v1/me/availability", json=body, headers=headers)
            return response.status_code, response.json()

        expected = answer(unknown[0])
        assert expected == (
            422,
            {"error": {"code": "invalid_body", "message": "stand_in_id: no such colleague"}},
        )
        answers = {str(s): answer(s) for s in [*unknown[1:], *foreign]}
        assert all(got == expected for got in answers.values()), (actor, answers)
    with db.reading() as session:  # and nothing changed
        assert not session.get_one(User, world.users["couns_1"]).away
