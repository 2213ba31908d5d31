"""Retention: a worker's file is deleted once their contract ended longer ago than the
organisation keeps it, and every phone that held any of it is told to drop it."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from relais_testing.factories import build_world, login, mutation, note_data, pull_all, push
from sync_server import retention
from sync_server.audit.models import AuditEvent
from sync_server.database import utcnow
from sync_server.notes.models import FollowUp, HeadsUp, Note
from sync_server.orgs import provisioning
from sync_server.orgs.models import Organization, Worker
from sync_server.routing.models import Delivery
from sync_server.sweeps import purge_all_expired, sweep_once
from sync_server.sync.models import MutationRecord


def end_contract(db, world, ref: str, days_ago: int) -> None:
    with db.unit_of_work() as session:
        session.get_one(Worker, world.workers[ref]).contract_end = utcnow().date() - timedelta(
            days=days_ago
        )


def count(db, model, *where) -> int:
    with db.reading() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def about(changes, ids: set[str]) -> set[tuple[str, str, str]]:
    return {(c["entity"], c["op"], c["id"]) for c in changes if c["id"] in ids}


def test_a_closed_file_is_deleted_everywhere_and_the_rest_stays(client, db, settings):
    world = build_world(db)
    end_contract(db, world, "a1", days_ago=731)  # past the default 730 days
    end_contract(db, world, "a2", days_ago=729)  # not yet
    sup_a, sup_b = login(client, "sup_a"), login(client, "sup_b")
    couns_1, coord = login(client, "couns_1"), login(client, "coord")

    gone = note_data(world, "a1", category="health", severity="urgent")
    kept = note_data(world, "a2")
    follow_up = {
        "id": str(uuid.uuid4()),
        "note_id": gone["id"],
        "action": "interview_planned",
        "close": False,
    }
    heads_up = {"id": str(uuid.uuid4()), "worker_id": str(world.workers["a1"]), "text": "Calme."}
    refused = mutation("note.create", note_data(world, "a1"))  # sup_b: not their team
    results = [
        *push(client, sup_a, mutation("note.create", gone), mutation("note.create", kept)),
        *push(
            client,
            couns_1,
            mutation("note.acknowledge", {"note_id": gone["id"]}),
            mutation("note.follow_up", follow_up),
            mutation("heads_up.create", heads_up),
        ),
    ]
    assert [r["status"] for r in results] == ["applied"] * 5
    assert push(client, sup_b, refused)[0]["error"]["code"] == "forbidden"
    headers = {"sup_a": sup_a, "sup_b": sup_b, "couns_1": couns_1, "coord": coord}
    cursors = {name: pull_all(client, h)[2] for name, h in headers.items()}
    a1 = str(world.workers["a1"])
    purged_ids = {a1, gone["id"], follow_up["id"], heads_up["id"]}

    report = sweep_once(db, settings).purged
    assert (report.workers, report.notes, report.follow_ups, report.heads_ups) == (1, 1, 1, 1)
    assert report.refused_mutations == 1

    # Gone from the server, with what hung on it; the other workers' files are untouched.
    assert count(db, Worker, Worker.id == world.workers["a1"]) == 0
    assert count(db, Note, Note.worker_id == world.workers["a1"]) == 0
    assert count(db, Delivery, Delivery.note_id == uuid.UUID(gone["id"])) == 0
    assert count(db, FollowUp) == 0 and count(db, HeadsUp) == 0
    assert count(db, Note, Note.id == uuid.UUID(kept["id"])) == 1
    assert count(db, Delivery, Delivery.note_id == uuid.UUID(kept["id"])) == 1
    assert count(db, Worker, Worker.id == world.workers["a2"]) == 1
    # The refusal's verdict stays (a phone sending it again hears it), its content does not.
    with db.reading() as session:
        record = session.get_one(MutationRecord, uuid.UUID(refused["id"]))
        assert record.status == "rejected" and record.payload is None
        purges = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "retention.purge")
        ).all()
        assert [(e.entity, e.entity_id) for e in purges] == [("worker", world.workers["a1"])]
    assert push(client, sup_b, refused)[0]["error"]["code"] == "forbidden"

    # Each phone that held something is told to drop exactly that, and nothing else.
    expected = {
        "sup_a": {
            ("worker", "remove", a1),
            ("note", "remove", gone["id"]),
            ("heads_up", "remove", heads_up["id"]),
        },
        "sup_b": set(),
        "couns_1": {
            ("worker", "remove", a1),
            ("note", "remove", gone["id"]),
            ("follow_up", "remove", follow_up["id"]),
            ("heads_up", "remove", heads_up["id"]),
        },
        "coord": {
            ("worker", "remove", a1),
            ("note", "remove", gone["id"]),
            ("follow_up", "remove", follow_up["id"]),
            ("heads_up", "remove", heads_up["id"]),
        },
    }
    for name, cursor in cursors.items():
        _, changes, _ = pull_all(client, headers[name], cursor)
        assert about(changes, purged_ids) == expected[name], name
        fresh, _, _ = pull_all(client, headers[name])
        assert not {key[1] for key in fresh} & purged_ids, name
    assert ("note", kept["id"]) in pull_all(client, coord)[0]

    # A phone that was offline and still writes about the worker hears why it was refused.
    [late] = push(
        client, sup_a, mutation("note.create", dict(note_data(world, "a2"), worker_id=a1))
    )
    assert late["status"] == "rejected" and late["error"]["code"] == "not_found"
    # Nothing left to purge.
    assert purge_all_expired(db, utcnow()).workers == 0


def test_the_retention_period_comes_from_the_provisioning_file(db):
    spec = provisioning.parse(
        "organization: {slug: keep, name: ACI Garde (fictional), country: FR, language: fr}\n"
        "workers: []\n"
        "retention: {days_after_contract_end: 365}\n"
    )
    with db.unit_of_work() as session:
        org, _ = provisioning.apply(session, spec)
        assert org.retention_days == 365
    with pytest.raises(provisioning.ProvisioningError) as refused:
        provisioning.parse(
            "organization: {slug: keep, name: ACI Garde (fictional), country: FR, language: fr}\n"
            "retention: {days_after_contract_end: 7}\n"
        )
    assert any("retention.days_after_contract_end" in p for p in refused.value.problems)


def test_a_shorter_period_purges_sooner_and_other_organisations_keep_theirs(db):
    world = build_world(db)
    other = build_world(db, slug="other", prefix="o_")
    for w in (world, other):
        end_contract(db, w, "b1", days_ago=100)
    with db.unit_of_work() as session:
        session.get_one(Organization, world.org).retention_days = 90
    assert purge_all_expired(db, utcnow()).workers == 1
    assert count(db, Worker, Worker.id == world.workers["b1"]) == 0
    assert count(db, Worker, Worker.id == other.workers["b1"]) == 1


def test_repeat_alerts_grouped_together_go_together(client, db, monkeypatch):
    world = build_world(db)
    end_contract(db, world, "a1", days_ago=1000)
    sup_a = login(client, "sup_a")
    repeats = [mutation("note.create", note_data(world, "a1")) for _ in range(5)]
    assert {r["status"] for r in push(client, sup_a, *repeats)} == {"applied"}
    assert count(db, Delivery, Delivery.grouped_into_id.is_not(None)) == 4
    monkeypatch.setattr(retention, "CHUNK", 2)  # the group spans several IN (...) lists
    assert purge_all_expired(db, utcnow()).notes == 5
    assert count(db, Delivery) == 0 and count(db, Note) == 0
