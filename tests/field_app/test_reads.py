"""The read layer: the store's JSON comes out as the shared_models types, once, in one place;
one note is read on its own; what this app cannot read is left out, never shown half-read
and never logged with its content."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from field_app.state.reads import Reads
from field_app.state.records import Note
from field_app.store import LocalStore
from shared_models.entities import (
    ColleagueData,
    DeliveryData,
    FollowUpData,
    HeadsUpData,
    NoteData,
    OrganizationData,
    TeamData,
    WorkerData,
)
from shared_models.mutations import NoteCreate
from shared_models.wire import Change

ME = uuid.uuid4()
NOW = datetime.now(UTC).replace(microsecond=0)


def change(entity: str, model: BaseModel) -> Change:
    data = model.model_dump(mode="json")
    return Change(entity=entity, op="upsert", id=uuid.UUID(data["id"]), data=data)


def raw(entity: str, data: dict[str, Any]) -> Change:
    return Change(entity=entity, op="upsert", id=uuid.UUID(str(data["id"])), data=data)


class World:
    """A small fictional organisation as pulled by ME, a supervisor and counsellor."""

    def __init__(self) -> None:
        self.org = OrganizationData(
            id=uuid.uuid4(), name="ACI Test (fictional)", country="FR", language="fr",
            deadlines={"urgent": 7200, "attention": 86400, "info": 259200},
        )  # fmt: skip
        self.team = TeamData(id=uuid.uuid4(), name="Espaces verts", supervisor_ids=[ME])
        self.other_team = TeamData(id=uuid.uuid4(), name="Bâtiment", supervisor_ids=[])
        self.worker = WorkerData(
            id=uuid.uuid4(), ref="a1", display_name="Léa M.", team_id=self.team.id,
            counsellor_id=ME, counsellor_name="Me (test)", active=True,
        )  # fmt: skip
        self.gone = WorkerData(
            id=uuid.uuid4(), ref="a2", display_name="Ancien S.", team_id=self.team.id,
            active=False,
        )  # fmt: skip
        self.me = ColleagueData(id=ME, display_name="Me (test)", roles=["supervisor", "counsellor"])
        self.colleague = ColleagueData(
            id=uuid.uuid4(), display_name="Couns 2 (test)", roles=["counsellor"]
        )
        self.note = NoteData(
            id=uuid.uuid4(), author_id=uuid.uuid4(), author_name="Sup (test)",
            worker_id=self.worker.id, team_id=self.team.id, kind="signal", category="housing",
            severity="attention", text="Fictional: lost the flat.",
            captured_at=NOW - timedelta(hours=3), received_at=NOW - timedelta(hours=3),
            status="open",
            deliveries=[
                DeliveryData(
                    recipient_id=ME, recipient_name="Me (test)", reason="referent",
                    delivered_at=NOW - timedelta(hours=3), due_at=NOW + timedelta(hours=21),
                    seen_at=NOW - timedelta(hours=2),
                )
            ],
        )  # fmt: skip
        self.follow_up = FollowUpData(
            id=uuid.uuid4(), note_id=self.note.id, action="interview_planned", close=False,
            author_id=ME, created_at=NOW - timedelta(hours=1),
        )  # fmt: skip
        self.heads_up = HeadsUpData(
            id=uuid.uuid4(), worker_id=self.worker.id, text="Fictional: lighter tasks.",
            valid_until=date.today() + timedelta(days=7), author_id=ME,
            created_at=NOW - timedelta(minutes=30),
        )  # fmt: skip

    def changes(self) -> list[Change]:
        return [
            change("organization", self.org),
            change("team", self.team),
            change("team", self.other_team),
            change("worker", self.worker),
            change("worker", self.gone),
            change("colleague", self.me),
            change("colleague", self.colleague),
            change("note", self.note),
            change("follow_up", self.follow_up),
            change("heads_up", self.heads_up),
        ]


def captured(world: World, **fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "worker_id": str(world.worker.id),
        "team_id": str(world.team.id),
        "kind": "safety",
        "category": "ppe",
        "severity": "info",
        "text": "Fictional: no gloves.",
        "captured_at": NOW.isoformat(),
    }
    return data | fields


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def reads(tmp_path: Path, world: World):
    with LocalStore(tmp_path / "device.sqlite3") as store:
        store.apply_pull(world.changes(), "c1")
        yield Reads(store, ME)


def test_synced_entities_read_as_their_shared_models_types(reads: Reads, world: World):
    assert reads.worker(world.worker.id) == world.worker
    assert reads.worker(str(world.worker.id)) == world.worker  # as a route holds it
    assert reads.worker("not-an-id") is None and reads.worker(uuid.uuid4()) is None
    assert reads.team(world.team.id) == world.team
    assert reads.colleague(ME) == world.me
    directory = reads.directory()
    assert directory.organization == world.org
    assert directory.workers == {world.worker.id: world.worker, world.gone.id: world.gone}
    assert directory.team_name(world.team.id) == "Espaces verts"

    note = reads.note(world.note.id)
    assert isinstance(note, Note) and note.data == world.note and note.synced == world.note
    assert note.delivery_to(ME) == world.note.deliveries[0]  # type: ignore[index]
    assert note.delivery_to(uuid.uuid4()) is None

    assert [r.workers for r in reads.roster()] == [[world.worker]]  # active workers only
    assert reads.counselled_workers() == [world.worker]
    assert reads.stand_ins() == [world.colleague]  # a counsellor, and not me
    [heads_up] = reads.current_heads_ups(date.today())
    assert (heads_up.heads_up, heads_up.worker) == (world.heads_up, world.worker)
    entries = reads.timeline(world.worker.id)
    assert [type(e.item) for e in entries] == [HeadsUpData, FollowUpData, Note]  # newest first
    assert entries[1].answers == note


def test_a_note_written_here_reads_as_what_was_captured_until_the_server_has_it(
    reads: Reads, world: World
):
    data = captured(world)
    reads.store.queue("note.create", data)
    note = reads.note(data["id"])
    assert note is not None and isinstance(note.data, NoteCreate)
    assert (note.status, note.author_id, note.deliveries) == ("queued", None, [])
    assert note in reads.my_notes()  # a note not yet synced is always this user's
    assert reads.note(world.note.id) not in reads.my_notes()  # written by someone else


def test_one_note_reads_as_it_does_in_the_list_whatever_its_state(reads: Reads, world: World):
    store = reads.store
    sent, queued, rejected = (captured(world) for _ in range(3))
    for data in (sent, queued, rejected):
        store.queue("note.create", data)
    sent_id, _, rejected_id = (m.id for m in store.pending())
    from shared_models.wire import MutationResult

    store.apply_push_results(
        [
            MutationResult.model_validate({"id": sent_id, "status": "applied"}),
            MutationResult.model_validate(
                {"id": rejected_id, "status": "rejected", "error": {"code": "x", "message": "y"}}
            ),
        ]
    )
    store.queue("note.acknowledge", {"note_id": str(world.note.id)})
    notes = reads.notes()
    assert {n.status for n in notes} == {"open", "sent", "queued", "rejected"}
    for note in notes:
        assert reads.note(note.id) == note
    assert reads.note(world.note.id).pending == ("note.acknowledge",)  # type: ignore[union-attr]
    assert reads.note("not-an-id") is None and reads.note(uuid.uuid4()) is None


@pytest.mark.parametrize(
    ("entity", "spoil"),
    [
        ("note", {"status": "archived"}),  # a status a newer server might add
        ("note", {"kind": None}),
        ("worker", {"display_name": None}),
        ("heads_up", {"created_at": "yesterday"}),
    ],
)
def test_what_this_app_cannot_read_is_left_out_and_logged_without_its_content(
    reads: Reads, world: World, caplog: pytest.LogCaptureFixture, entity: str, spoil: dict
):
    bad_id = str(uuid.uuid4())
    secret = "Fictional: never in a log line."
    models = {"note": world.note, "worker": world.worker, "heads_up": world.heads_up}
    data = models[entity].model_dump(mode="json") | {"id": bad_id, "text": secret} | spoil
    reads.store.apply_pull([raw(entity, data)], "c2")
    with caplog.at_level(logging.WARNING, logger="field_app.state.reads"):
        notes = reads.notes()
        directory = reads.directory()
        heads_ups = reads.current_heads_ups(date.today())
        assert reads.note(bad_id) is None
    assert [n.id for n in notes] == [str(world.note.id)]
    assert set(directory.workers) == {world.worker.id, world.gone.id}
    assert [h.heads_up for h in heads_ups] == [world.heads_up]
    assert bad_id in caplog.text and secret not in caplog.text
