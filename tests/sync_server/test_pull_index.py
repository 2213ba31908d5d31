"""Pull through the index of changes per audience sends what reading the whole log sends.

The index (`change_audience`) only narrows which changes pull looks at; the policy still
decides. These tests hold it to that: its keys cover everyone the policy lets see an
entity, and in a world where notes, follow-ups, heads-ups, absences, reassignments and
retractions happen, every member's pulls end in the state that reading the whole change
log gives, at any page size.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from alembic import command
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from relais_testing.factories import USERS as LOGINS
from relais_testing.factories import build_world, login, mutation, note_data
from relais_testing.factories import push as push_batch
from sync_server import policy
from sync_server.migrations import alembic_config, upgrade
from sync_server.notes.models import FollowUp, HeadsUp
from sync_server.orgs.models import Team, User, UserRole, Worker
from sync_server.orgs.service import Assignment, change_roles, reassign, set_team_supervisors
from sync_server.sync.models import ChangeAudience, ChangeLogEntry
from tests.sync_server.test_audience_index import (
    ORG,
    ROLES,
    TEAMS,
    USERS,
    WORKERS,
    note,
    viewers_strategy,
)


@settings(max_examples=150, deadline=None)
@given(
    viewers=viewers_strategy,
    author=st.sampled_from(USERS),
    other=st.sampled_from(USERS),
    worker=st.one_of(st.none(), st.sampled_from(WORKERS)),
    team=st.sampled_from(TEAMS),
    status=st.sampled_from(["open", "acknowledged", "closed", "retracted"]),
    disabled=st.booleans(),
    acted=st.frozensets(st.sampled_from(USERS), max_size=3),
    other_roles=st.sets(st.sampled_from(ROLES), max_size=2),
    other_teams=st.frozensets(st.sampled_from(TEAMS), max_size=2),
)
def test_whoever_may_see_a_change_reads_one_of_its_keys(
    viewers, author, other, worker, team, status, disabled, acted, other_roles, other_teams
):
    the_note = note(author, worker, status)
    worker_id = worker or WORKERS[0]
    facts = policy.Facts(
        worker_team={worker_id: team},
        notes={the_note.id: the_note},
        acted={the_note.id: acted},
        teams_supervised={other: other_teams},
    )
    entities: list[tuple[str, Any]] = [
        ("note", the_note),
        ("follow_up", FollowUp(id=uuid.uuid4(), org_id=ORG, note_id=the_note.id, author_id=other)),
        ("heads_up", HeadsUp(id=uuid.uuid4(), org_id=ORG, worker_id=worker_id, author_id=other)),
        ("worker", Worker(id=worker_id, org_id=ORG, team_id=team)),
        ("team", Team(id=team, org_id=ORG)),
        (
            "colleague",
            User(
                id=other,
                org_id=ORG,
                disabled=disabled,
                roles=[UserRole(user_id=other, role=r) for r in other_roles],
            ),
        ),
    ]
    for entity, obj in entities:
        keys = policy.index_keys(entity, obj, facts)
        for v in viewers:
            if policy.can_see(v, entity, obj, facts):
                read = policy.viewer_keys(v)
                assert read is None or read & keys, (entity, v)


def push(client, headers, *mutations: dict[str, Any]) -> None:
    results = push_batch(client, headers, *mutations)
    assert [r["status"] for r in results] == ["applied"] * len(mutations), results


def pull_pages(client, headers, cursor: str | None, limit: int) -> tuple[dict, str, bool]:
    """Pull until has_more is false, `limit` changes at a time; the final state by key, and
    whether the server said to start over (what the phone held is then dropped)."""
    state: dict[tuple[str, str], Any] = {}
    reset = False
    while True:
        body = client.post(
            "/api/v1/sync/pull",
            json={"protocol": 1, "cursor": cursor, "limit": limit},
            headers=headers,
        ).json()
        if body["reset"]:
            state, reset, cursor = {}, True, body["cursor"]
            continue
        for change in body["changes"]:
            key = (change["entity"], change["id"])
            if change["op"] == "upsert":
                state[key] = change["data"]
            else:
                state[key] = None  # removed: remembered, so that both sides must agree
        cursor = body["cursor"]
        if not body["has_more"]:
            return state, cursor, reset


class Phones:
    """Each member's phone twice: pulling through the index, and reading the whole log."""

    def __init__(self, client, monkeypatch: pytest.MonkeyPatch, limit: int) -> None:
        self.client, self.monkeypatch, self.limit = client, monkeypatch, limit
        self.headers: dict[str, dict[str, str]] = {}
        self.state: dict[tuple[str, bool], dict] = {}
        self.cursor: dict[tuple[str, bool], str | None] = {}

    def sync_and_compare(self) -> None:
        if not self.headers:
            self.headers = {name: login(self.client, name) for name in LOGINS}
        for name, headers in self.headers.items():
            for whole_log in (False, True):
                with self.monkeypatch.context() as patch:
                    if whole_log:
                        patch.setattr(policy, "viewer_keys", lambda v: None)
                    changes, cursor, reset = pull_pages(
                        self.client, headers, self.cursor.get((name, whole_log)), self.limit
                    )
                if reset:
                    self.state[(name, whole_log)] = {}
                self.state.setdefault((name, whole_log), {}).update(changes)
                self.cursor[(name, whole_log)] = cursor
            seen = {k: v for k, v in self.state[(name, False)].items() if v is not None}
            reference = {k: v for k, v in self.state[(name, True)].items() if v is not None}
            assert seen == reference, name


@pytest.mark.parametrize("limit", [3, 500])
def test_pulls_through_the_index_end_where_the_whole_log_does(client, db, monkeypatch, limit):
    scenario(client, db, Phones(client, monkeypatch, limit))


def colleagues_filed_for_everyone(db) -> int:
    with db.reading() as session:
        return session.scalar(
            select(func.count())
            .select_from(ChangeAudience)
            .join(
                ChangeLogEntry,
                (ChangeLogEntry.org_id == ChangeAudience.org_id)
                & (ChangeLogEntry.seq == ChangeAudience.seq),
            )
            .where(ChangeLogEntry.entity == "colleague", ChangeAudience.audience == policy.EVERYONE)
        )


def test_the_migration_indexes_an_existing_change_log(client, db, monkeypatch):
    """A database that predates the index: its log is indexed by revisions 0007 (colleagues
    for everyone) and 0008 (colleagues on need to know)."""
    scenario(client, db, Phones(client, monkeypatch, 500))
    command.downgrade(alembic_config(db), "0006")
    command.upgrade(alembic_config(db), "0007")
    assert colleagues_filed_for_everyone(db) > 0
    # (No pulls here: today's code reads columns that later revisions add.)
    upgrade(db)
    assert colleagues_filed_for_everyone(db) == 0
    Phones(client, monkeypatch, 7).sync_and_compare()


def scenario(client, db, phones: Phones) -> None:
    """Members pull after each step; their index and whole-log pulls must agree."""
    world = build_world(db)
    phones.sync_and_compare()
    h = phones.headers

    notes = {w: note_data(world, w) for w in ("a1", "a2", "a3", "b1", "b2")}
    notes["b1 again"] = note_data(
        world, "b1", kind="observation", category="skill_progress", severity="info"
    )
    for worker, data in notes.items():
        push(
            client,
            h["sup_a"] if worker[0] == "a" else h["sup_b"],
            mutation("note.create", data),
        )
    phones.sync_and_compare()

    follow = {"id": str(uuid.uuid4()), "note_id": notes["a1"]["id"], "action": "other"}
    push(client, h["couns_1"], mutation("note.follow_up", follow))
    heads_up = {
        "id": str(uuid.uuid4()),
        "worker_id": str(world.workers["a2"]),
        "text": "Rendez-vous médical jeudi.",
    }
    push(client, h["couns_1"], mutation("heads_up.create", heads_up))
    push(client, h["couns_1"], mutation("note.acknowledge", {"note_id": notes["a2"]["id"]}))
    phones.sync_and_compare()

    away = {"away": True, "stand_in_id": str(world.users["couns_2"]), "until": None}
    assert client.put("/api/v1/me/availability", json=away, headers=h["couns_1"]).status_code == 200
    phones.sync_and_compare()

    push(client, h["sup_a"], mutation("note.retract", {"note_id": notes["a1"]["id"]}))
    push(client, h["sup_a"], mutation("note.retract", {"note_id": notes["a2"]["id"]}))
    phones.sync_and_compare()

    back = {"away": False, "stand_in_id": None, "until": None}
    assert client.put("/api/v1/me/availability", json=back, headers=h["couns_1"]).status_code == 200
    with db.unit_of_work() as session:
        moves = [
            Assignment(
                session.get_one(Worker, world.workers["a3"]),
                world.teams["B"],
                world.users["couns_1"],
            ),
            Assignment(session.get_one(Worker, world.workers["b1"]), world.teams["A"], None),
        ]
        reassign(session, world.org, moves)
    phones.sync_and_compare()
    # The test has teeth: members saw different things, and something was removed.
    states = {name: phones.state[(name, False)] for name in LOGINS}
    assert states["couns_1"] != states["couns_2"] != states["sup_a"]
    assert any(v is None for v in states["couns_2"].values())

    # Colleagues on need to know: a supervisor sees their co-supervisors (as they come and
    # go), a counsellor the counsellors (as long as they are one).
    def colleague(name: str, of: str) -> Any:
        return phones.state[(name, False)].get(("colleague", str(world.users[of])), "unseen")

    assert colleague("sup_a", "sup_b") == colleague("sup_a", "couns_1") == "unseen"
    assert colleague("sup_a", "sup_a") != "unseen"
    assert colleague("couns_1", "couns_2") != "unseen"
    assert colleague("couns_1", "sup_a") == "unseen"
    for sups in (["sup_a", "sup_b"], ["sup_a"]):
        with db.unit_of_work() as session:
            team = session.scalar(
                select(Team)
                .where(Team.id == world.teams["A"])
                .options(selectinload(Team.supervisors))
            )
            wanted = [session.get_one(User, world.users[s]) for s in sups]
            set_team_supervisors(session, world.org, {team: wanted})
        phones.sync_and_compare()
        if len(sups) == 2:
            assert colleague("sup_a", "sup_b")["display_name"]
            assert colleague("sup_b", "sup_a")["display_name"]
    assert colleague("sup_a", "sup_b") is None
    with db.unit_of_work() as session:
        change_roles(session, session.get_one(User, world.users["couns_2"]), ["supervisor"])
    phones.sync_and_compare()
    assert colleague("couns_1", "couns_2") is None
