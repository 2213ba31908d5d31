"""Small builders for test data. Every person here is invented."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from sync_server.database import Database
from sync_server.orgs.models import Organization, Team, User, UserRole, Worker
from sync_server.orgs.service import set_roles, set_team_supervisors
from sync_server.sync.changelog import record_change

PASSWORD = "correct-horse-battery"
# Still argon2id, with cheap parameters: verification cost comes from the stored hash, and
# the suite logs in hundreds of times. Production hashes use argon2-cffi's defaults.
_PASSWORD_HASH = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)

# login -> roles; teams: A = green spaces, B = renovation.
USERS: dict[str, tuple[str, ...]] = {
    "sup_a": ("supervisor",),
    "sup_b": ("supervisor",),
    "couns_1": ("counsellor",),
    "couns_2": ("counsellor",),
    "coord": ("coordinator",),
    "admin": ("admin",),
}
SUPERVISES = {"A": ["sup_a"], "B": ["sup_b"]}
# worker ref -> (team, counsellor login or None)
WORKERS: dict[str, tuple[str, str | None]] = {
    "a1": ("A", "couns_1"),
    "a2": ("A", "couns_1"),
    "a3": ("A", "couns_2"),
    "b1": ("B", "couns_2"),
    "b2": ("B", None),
}


@dataclass
class World:
    """Ids of a small fictional organisation, by short name."""

    org: uuid.UUID
    slug: str
    users: dict[str, uuid.UUID] = field(default_factory=dict)
    teams: dict[str, uuid.UUID] = field(default_factory=dict)
    workers: dict[str, uuid.UUID] = field(default_factory=dict)

    def team_of(self, worker: str) -> uuid.UUID:
        return self.teams[WORKERS[worker][0]]


def build_world(db: Database, slug: str = "acme", country: str = "FR", prefix: str = "") -> World:
    with db.unit_of_work() as session:
        org = Organization(
            id=uuid.uuid4(),
            slug=slug,
            name=f"ACI {slug} (fictional)",
            country=country,
            language="fr",
        )
        session.add(org)
        session.flush()
        record_change(session, org.id, "organization", org.id)
        world = World(org=org.id, slug=slug)
        users = {}
        for login, roles in USERS.items():
            user = User(
                id=uuid.uuid4(),
                org_id=org.id,
                login=prefix + login,
                display_name=f"{login.replace('_', ' ').title()} (test)",
                password_hash=_PASSWORD_HASH,
                language="fr",
                email=f"{prefix}{login}@example.invalid",
            )
            session.add(user)
            user.roles = [UserRole(user_id=user.id, role=r) for r in roles]
            users[login] = user
            world.users[login] = user.id
            record_change(session, org.id, "colleague", user.id)
        session.flush()
        for name, sups in SUPERVISES.items():
            team = Team(
                id=uuid.uuid4(),
                org_id=org.id,
                slug=name.lower(),
                name=f"Team {name}",
                supervisors=[users[s] for s in sups],
            )
            session.add(team)
            world.teams[name] = team.id
            record_change(session, org.id, "team", team.id)
        session.flush()
        for ref, (team_name, counsellor) in WORKERS.items():
            worker = Worker(
                id=uuid.uuid4(),
                org_id=org.id,
                ref=ref,
                display_name=f"Worker {ref.upper()}",
                team_id=world.teams[team_name],
                counsellor_id=users[counsellor].id if counsellor else None,
                active=True,
            )
            session.add(worker)
            world.workers[ref] = worker.id
            record_change(session, org.id, "worker", worker.id)
    return world


def add_user(db: Database, world: World, login: str, roles: tuple[str, ...]) -> uuid.UUID:
    with db.unit_of_work() as session:
        user = User(
            id=uuid.uuid4(),
            org_id=world.org,
            login=login,
            display_name=login,
            password_hash=_PASSWORD_HASH,
            language="fr",
        )
        session.add(user)
        set_roles(user, roles)
        record_change(session, world.org, "colleague", user.id)
    world.users[login] = user.id
    return user.id


def add_co_supervisor(db: Database, world: World, login: str, team: str = "A") -> uuid.UUID:
    """A new supervisor who joins `team` beside its supervisors, as provisioning does it
    (the colleagues of the team then see each other)."""
    user_id = add_user(db, world, login, ("supervisor",))
    with db.unit_of_work() as session:
        row = session.scalar(
            select(Team).where(Team.id == world.teams[team]).options(selectinload(Team.supervisors))
        )
        assert row is not None
        joined = [*row.supervisors, session.get_one(User, user_id)]
        set_team_supervisors(session, world.org, {row: joined})
        record_change(session, world.org, "team", row.id)
    return user_id


def open_session(
    db: Database, login: str, password: str = PASSWORD, device: str = "test device"
) -> tuple[uuid.UUID, User, str]:
    """Sign in without HTTP, as the login endpoint does: the password is checked outside any
    transaction, then the device is opened. Returns (device id, user, token)."""
    from sync_server.auth import service
    from sync_server.auth.passwords import verify_password
    from sync_server.database import utcnow

    with db.reading() as session:
        candidate = service.find_candidate(session, login)
    assert verify_password(candidate.password_hash, password), f"wrong password for {login}"
    assert candidate.user_id is not None and not candidate.disabled
    with db.unit_of_work() as session:
        device, user, token = service.open_device(
            session,
            user_id=candidate.user_id,
            password_hash=candidate.password_hash,
            device_name=device,
            now=utcnow(),
        )
        return device.id, user, token


def login(
    client: TestClient, login: str, password: str = PASSWORD, device: str = "test device"
) -> dict[str, str]:
    response = client.post(
        "/api/v1/auth/login", json={"login": login, "password": password, "device_name": device}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def note_data(
    world: World,
    worker: str | None,
    *,
    team: str | None = None,
    kind: str = "signal",
    category: str = "fatigue",
    severity: str = "attention",
    text: str = "Sat down three times during the morning shift.",
    note_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(note_id or uuid.uuid4()),
        "team_id": str(world.team_of(worker) if worker else world.teams[team or "A"]),
        "kind": kind,
        "category": category,
        "severity": severity,
        "text": text,
        "captured_at": now_iso(),
    }
    if worker:
        data["worker_id"] = str(world.workers[worker])
    return data


def mutation(
    type_: str, data: dict[str, Any], mutation_id: uuid.UUID | None = None
) -> dict[str, Any]:
    return {
        "id": str(mutation_id or uuid.uuid4()),
        "type": type_,
        "data": data,
        "client_time": now_iso(),
    }


def push(
    client: TestClient, headers: dict[str, str], *mutations: dict[str, Any]
) -> list[dict[str, Any]]:
    response = client.post(
        "/api/v1/sync/push", json={"protocol": 1, "mutations": list(mutations)}, headers=headers
    )
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    return results


def pull_all(
    client: TestClient, headers: dict[str, str], cursor: str | None = None
) -> tuple[dict[tuple[str, str], dict[str, Any] | None], list[dict[str, Any]], str]:
    """Pull until has_more is false. Returns (final state by key, every change, cursor)."""
    state: dict[tuple[str, str], dict[str, Any] | None] = {}
    changes: list[dict[str, Any]] = []
    while True:
        response = client.post(
            "/api/v1/sync/pull", json={"protocol": 1, "cursor": cursor}, headers=headers
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert not body["reset"], body
        for change in body["changes"]:
            changes.append(change)
            key = (change["entity"], change["id"])
            if change["op"] == "upsert":
                state[key] = change["data"]
            else:
                state.pop(key, None)
        cursor = body["cursor"]
        if not body["has_more"]:
            return state, changes, cursor
