"""Push and pull end to end through the API: routing, visibility, removal, idempotency."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from relais_testing.factories import build_world, login, mutation, note_data, pull_all, push
from sync_server.orgs.models import Worker
from sync_server.orgs.service import Assignment, reassign
from tests.sync_server.test_escalation import write_note


def notes_in(state: dict) -> dict[str, dict]:
    return {key[1]: data for key, data in state.items() if key[0] == "note"}


def test_note_reaches_the_counsellor_and_no_other_team(client, db):
    world = build_world(db)
    sup_a, sup_b = login(client, "sup_a"), login(client, "sup_b")
    couns_1, couns_2 = login(client, "couns_1"), login(client, "couns_2")
    data = note_data(world, "a1", text="Arrived at 9:40, second time this week.")
    [result] = push(client, sup_a, mutation("note.create", data))
    assert result == {"id": result["id"], "status": "applied"}

    seen_by_c1 = notes_in(pull_all(client, couns_1)[0])
    assert data["id"] in seen_by_c1
    assert seen_by_c1[data["id"]]["text"] == "Arrived at 9:40, second time this week."
    deliveries = seen_by_c1[data["id"]]["deliveries"]
    assert [(d["recipient_id"], d["reason"]) for d in deliveries] == [
        (str(world.users["couns_1"]), "referent")
    ]
    assert data["id"] not in notes_in(pull_all(client, couns_2)[0])
    assert data["id"] not in notes_in(pull_all(client, sup_b)[0])
    own = notes_in(pull_all(client, sup_a)[0])
    assert own[data["id"]]["status"] == "open"


def test_same_mutation_twice_is_duplicate_and_changes_nothing(client, db):
    world = build_world(db)
    sup_a = login(client, "sup_a")
    m = mutation("note.create", note_data(world, "a1"))
    assert push(client, sup_a, m)[0]["status"] == "applied"
    assert push(client, sup_a, m)[0]["status"] == "duplicate"
    other_device = login(client, "sup_a", device="second phone")
    assert push(client, other_device, m)[0]["status"] == "duplicate"
    altered = dict(m, data=dict(m["data"], text="something else"))
    [conflict] = push(client, sup_a, altered)
    assert conflict["status"] == "rejected" and conflict["error"]["code"] == "id_conflict"
    state = pull_all(client, login(client, "coord"))[0]
    assert len(notes_in(state)) == 1


def test_rejected_mutation_is_kept_and_does_not_block_the_batch(client, db):
    world = build_world(db)
    sup_a = login(client, "sup_a")
    good_1 = mutation("note.create", note_data(world, "a1"))
    foreign = mutation("note.create", note_data(world, "b1"))  # team B: not sup_a's
    invalid = mutation(
        "note.create", dict(note_data(world, "a2"), category="ppe")
    )  # not a signal category
    unknown = mutation("note.teleport", {})
    good_2 = mutation("note.create", note_data(world, "a2"))
    results = push(client, sup_a, good_1, foreign, invalid, unknown, good_2)
    assert [r["status"] for r in results] == [
        "applied",
        "rejected",
        "rejected",
        "rejected",
        "applied",
    ]
    assert [r.get("error", {}).get("code") for r in results] == [
        None,
        "forbidden",
        "invalid_data",
        "unknown_type",
        None,
    ]
    # A refusal is final and is repeated, never turned into "duplicate".
    again = push(client, sup_a, foreign)[0]
    assert again["status"] == "rejected" and again["error"]["code"] == "forbidden"


def test_reassignment_removes_from_old_counsellor_and_gives_to_new(client, db):
    world = build_world(db)
    sup_a, couns_1, couns_2 = (
        login(client, "sup_a"),
        login(client, "couns_1"),
        login(client, "couns_2"),
    )
    data = note_data(world, "a1")
    push(client, sup_a, mutation("note.create", data))
    state_1, _, cursor_1 = pull_all(client, couns_1)
    state_2, _, cursor_2 = pull_all(client, couns_2)
    assert data["id"] in notes_in(state_1) and data["id"] not in notes_in(state_2)

    with db.unit_of_work() as session:
        worker = session.get_one(Worker, world.workers["a1"])
        reassign(session, world.org, [Assignment(worker, worker.team_id, world.users["couns_2"])])

    _, changes_1, _ = pull_all(client, couns_1, cursor_1)
    assert {"entity": "note", "op": "remove", "id": data["id"], "data": None} in changes_1
    assert any(c["entity"] == "worker" and c["op"] == "remove" for c in changes_1)
    _, changes_2, _ = pull_all(client, couns_2, cursor_2)
    upserts = [c for c in changes_2 if c["op"] == "upsert" and c["entity"] == "note"]
    assert [c["id"] for c in upserts] == [data["id"]]


def test_retraction_removes_from_recipients_and_keeps_for_author_and_coordinators(client, db):
    world = build_world(db)
    sup_a, couns_1, coord = login(client, "sup_a"), login(client, "couns_1"), login(client, "coord")
    data = note_data(world, "a1")
    push(client, sup_a, mutation("note.create", data))
    _, _, c1 = pull_all(client, couns_1)
    _, _, ca = pull_all(client, sup_a)
    _, _, cc = pull_all(client, coord)
    [r] = push(
        client, sup_a, mutation("note.retract", {"note_id": data["id"], "reason": "wrong worker"})
    )
    assert r["status"] == "applied"
    assert [c["op"] for c in pull_all(client, couns_1, c1)[1] if c["id"] == data["id"]] == [
        "remove"
    ]
    for headers, cursor in ((sup_a, ca), (coord, cc)):
        changes = [c for c in pull_all(client, headers, cursor)[1] if c["id"] == data["id"]]
        assert [(c["op"], c["data"]["status"]) for c in changes] == [("upsert", "retracted")]


def test_stale_or_foreign_cursor_gets_reset(client, db):
    build_world(db)
    sup_a = login(client, "sup_a")
    for cursor in ("garbage", "YzE6MDAwMDAwMDAwMDAwOjA6MA", "x" * 150):
        body = client.post(
            "/api/v1/sync/pull", json={"protocol": 1, "cursor": cursor}, headers=sup_a
        ).json()
        assert body["reset"] is True and body["changes"] == []


def test_unknown_note_and_other_org_look_the_same(client, db):
    world = build_world(db)
    other = build_world(db, slug="other", prefix="o_")
    sup_a = login(client, "sup_a")
    foreign_worker_note = note_data(other, "a1")
    [r] = push(client, sup_a, mutation("note.create", foreign_worker_note))
    assert r["error"]["code"] == "not_found"
    [r] = push(client, sup_a, mutation("note.acknowledge", {"note_id": str(uuid.uuid4())}))
    assert r["error"]["code"] == "not_found"
    assert world.org != other.org


def test_one_malformed_mutation_is_rejected_alone(client, db):
    world = build_world(db)
    sup_a = login(client, "sup_a")
    good = mutation("note.create", note_data(world, "a1"))
    malformed = [
        {
            "id": str(uuid.uuid4()),
            "type": "x" * 300,
            "data": {},
            "client_time": "2026-01-01T00:00:00Z",
        },
        {
            "id": str(uuid.uuid4()),
            "type": "note.create",
            "data": [1, 2],
            "client_time": "2026-01-01T00:00:00Z",
        },
        {
            "id": str(uuid.uuid4()),
            "type": "note.create",
            "data": good["data"],
            "client_time": "yesterday",
        },
        {"id": str(uuid.uuid4()), "type": 42, "data": None},
    ]
    results = push(client, sup_a, *malformed, good)
    assert [r["status"] for r in results] == ["rejected"] * 4 + ["applied"]
    assert {r["error"]["code"] for r in results[:4]} <= {"invalid_data", "unknown_type"}


def test_a_mutation_id_belongs_to_its_user(client, db):
    world = build_world(db)
    m = mutation(
        "heads_up.create",
        {
            "id": str(uuid.uuid4()),
            "worker_id": str(world.workers["a1"]),
            "text": "Adapt the pace this week.",
        },
    )
    assert push(client, login(client, "couns_1"), m)[0]["status"] == "applied"
    [replayed] = push(client, login(client, "coord"), m)
    assert replayed["status"] == "rejected" and replayed["error"]["code"] == "id_conflict"


def test_a_follow_up_goes_away_with_its_retracted_note_unless_it_is_yours(client, db):
    """couns_1 wrote a follow-up: she keeps the note and it. Her stand-in, who sees the
    worker's notes but did nothing with this one, loses both."""
    world = build_world(db)
    sup_a, couns_1, couns_2 = (
        login(client, "sup_a"),
        login(client, "couns_1"),
        login(client, "couns_2"),
    )
    data = note_data(world, "a1")
    push(client, sup_a, mutation("note.create", data))
    follow = {"id": str(uuid.uuid4()), "note_id": data["id"], "action": "other", "close": False}
    push(client, couns_1, mutation("note.follow_up", follow))
    away = {"away": True, "stand_in_id": str(world.users["couns_2"]), "until": None}
    assert client.put("/api/v1/me/availability", json=away, headers=couns_1).status_code == 200
    _, _, cursor_1 = pull_all(client, couns_1)
    state_2, _, cursor_2 = pull_all(client, couns_2)
    assert ("follow_up", follow["id"]) in state_2  # the stand-in covers couns_1's workers
    push(client, sup_a, mutation("note.retract", {"note_id": data["id"]}))
    _, changes, _ = pull_all(client, couns_1, cursor_1)
    assert {(c["entity"], c["op"]) for c in changes} == {
        ("note", "upsert"),
        ("follow_up", "upsert"),
    }
    _, changes, _ = pull_all(client, couns_2, cursor_2)
    assert {(c["entity"], c["op"]) for c in changes} == {
        ("note", "remove"),
        ("follow_up", "remove"),
    }


# --- retraction: the server's clock, and what recipients keep ------------------------------


def _retract(client, headers, note_id, client_time: datetime) -> dict:
    retraction = mutation("note.retract", {"note_id": str(note_id)})
    retraction["client_time"] = client_time.isoformat()
    [result] = push(client, headers, retraction)
    return result


@pytest.mark.parametrize(
    "client_offset",
    [
        timedelta(days=-2),
        timedelta(0),
        timedelta(minutes=1),
        timedelta(hours=23, minutes=59),
        timedelta(hours=25),
        timedelta(days=30),
    ],
    ids=["days before", "at reception", "a minute after", "just in time", "now", "far ahead"],
)
def test_a_client_time_never_widens_the_retraction_window(client, db, client_offset):
    """The note reached the server 25 hours ago: whatever time the phone claims, too late."""
    world = build_world(db)
    received = datetime.now(UTC) - timedelta(hours=25)
    note_id = write_note(db, world, at=received)
    result = _retract(client, login(client, "sup_a"), note_id, received + client_offset)
    assert result["status"] == "rejected" and result["error"]["code"] == "forbidden"
    state = pull_all(client, login(client, "couns_1"))[0]
    assert state[("note", str(note_id))]["status"] == "open"


@pytest.mark.parametrize(
    "client_offset", [timedelta(days=-5), timedelta(0), timedelta(days=5)], ids=str
)
def test_the_retraction_window_runs_from_when_the_note_reached_the_server(
    client, db, client_offset
):
    """Captured offline three days ago, synced an hour ago: its author may still retract it."""
    world = build_world(db)
    now = datetime.now(UTC)
    note_id = write_note(db, world, at=now - timedelta(hours=1), captured=now - timedelta(days=3))
    result = _retract(client, login(client, "sup_a"), note_id, now + client_offset)
    assert result["status"] == "applied", result


@pytest.mark.parametrize("action", ["note.acknowledge", "note.follow_up", "delivery.seen"])
def test_a_retraction_never_erases_what_a_recipient_did(client, db, action):
    """Acknowledged or followed up: the counsellor keeps the note, marked retracted, with her
    follow-up. Only seen: nothing of hers is in it, and it goes."""
    world = build_world(db)
    sup_a, couns_1 = login(client, "sup_a"), login(client, "couns_1")
    data = note_data(world, "a1", category="health")
    push(client, sup_a, mutation("note.create", data))
    body: dict = {"note_id": data["id"]}
    if action == "note.follow_up":
        body = {
            "id": str(uuid.uuid4()),
            "note_id": data["id"],
            "action": "interview_planned",
            "text": "Fictional: interview planned on Thursday.",
            "close": False,
        }
    assert push(client, couns_1, mutation(action, body))[0]["status"] == "applied"
    before, _, cursor = pull_all(client, couns_1)
    assert (
        push(client, sup_a, mutation("note.retract", {"note_id": data["id"]}))[0]["status"]
        == "applied"
    )
    after, changes, _ = pull_all(client, couns_1, cursor)
    key = ("note", data["id"])
    if action == "delivery.seen":
        assert key not in after
        assert {"entity": "note", "op": "remove", "id": data["id"], "data": None} in changes
        return
    assert [c["op"] for c in changes] == ["upsert"] * len(changes)
    state = {**before, **after}
    assert state[key]["status"] == "retracted"
    assert state[key]["deliveries"] == before[key]["deliveries"]  # her acknowledgement stays
    follow_ups = {k: v for k, v in state.items() if k[0] == "follow_up"}
    assert follow_ups == {k: v for k, v in before.items() if k[0] == "follow_up"}
    # What she keeps is a record: acting on it again says why it cannot be done.
    [again] = push(client, couns_1, mutation("note.acknowledge", {"note_id": data["id"]}))
    assert again["error"]["code"] == "retracted"


def test_only_the_recipients_who_acted_keep_a_retracted_note(client, db):
    """couns_1 is away; her stand-in couns_2 receives the note and follows it up. After the
    retraction couns_2 keeps it, couns_1 (who did nothing with it) loses it; when couns_1
    comes back, couns_2's cover ends and the note goes from her phone too."""
    world = build_world(db)
    sup_a, couns_1, couns_2, coord = (
        login(client, "sup_a"),
        login(client, "couns_1"),
        login(client, "couns_2"),
        login(client, "coord"),
    )
    away = {"away": True, "stand_in_id": str(world.users["couns_2"]), "until": None}
    assert client.put("/api/v1/me/availability", json=away, headers=couns_1).status_code == 200
    data = note_data(world, "a1", category="addiction")
    push(client, sup_a, mutation("note.create", data))
    follow = {"id": str(uuid.uuid4()), "note_id": data["id"], "action": "other", "close": False}
    assert push(client, couns_2, mutation("note.follow_up", follow))[0]["status"] == "applied"
    cursors = {}
    for name, headers in (("couns_1", couns_1), ("couns_2", couns_2), ("coord", coord)):
        state, _, cursors[name] = pull_all(client, headers)
        assert ("note", data["id"]) in state and ("follow_up", follow["id"]) in state, name
    push(client, sup_a, mutation("note.retract", {"note_id": data["id"]}))
    keys = {("note", data["id"]), ("follow_up", follow["id"])}
    _, changes, cursors["couns_1"] = pull_all(client, couns_1, cursors["couns_1"])
    assert {(c["entity"], c["id"], c["op"]) for c in changes} == {(*k, "remove") for k in keys}
    for name, headers in (("couns_2", couns_2), ("coord", coord)):
        state, changes, cursors[name] = pull_all(client, headers, cursors[name])
        assert {(c["entity"], c["id"], c["op"]) for c in changes} == {
            (*k, "upsert") for k in keys
        }, name
        assert state[("note", data["id"])]["status"] == "retracted"
    back = {"away": False, "stand_in_id": None, "until": None}
    assert client.put("/api/v1/me/availability", json=back, headers=couns_1).status_code == 200
    _, changes, _ = pull_all(client, couns_2, cursors["couns_2"])
    assert {(c["entity"], c["id"], c["op"]) for c in changes} >= {(*k, "remove") for k in keys}
    _, changes, _ = pull_all(client, couns_1, cursors["couns_1"])
    assert not [c for c in changes if c["id"] in {k[1] for k in keys}]


def test_nul_in_text_is_one_rejection_not_a_500(client, db):
    world = build_world(db)
    sup_a = login(client, "sup_a")
    good = mutation("note.create", note_data(world, "a2"))
    bad = mutation("note.create", note_data(world, "a1", text="before\x00after"))
    odd_type = {
        "id": str(uuid.uuid4()),
        "type": "note\x00create",
        "data": {"k\x00": "v\x00"},
        "client_time": "2026-01-01T00:00:00Z",
    }
    results = push(client, sup_a, good, bad, odd_type)
    assert [r["status"] for r in results] == ["applied", "rejected", "rejected"]
    assert results[1]["error"]["code"] == "invalid_data"
    response = client.post(
        "/api/v1/auth/login", json={"login": "sup\x00a", "password": "x", "device_name": "d"}
    )
    assert response.status_code == 422
