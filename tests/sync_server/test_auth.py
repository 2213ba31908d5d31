"""Logins, device tokens and throttling (docs/protocol.md §3)."""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from relais_testing.factories import PASSWORD, add_user, build_world, mutation, note_data
from sync_server.auth.models import Device, LoginAttempt
from sync_server.auth.service import revoke_device
from sync_server.database import Base, utcnow
from sync_server.orgs.models import User

LOGIN = "/api/v1/auth/login"
PULL = "/api/v1/sync/pull"
PUSH = "/api/v1/sync/push"


def assert_error(response: Any, status: int, code: str | None = None) -> str:
    """The protocol's one error shape; returns the code."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message"}, body
    assert isinstance(body["error"]["code"], str) and isinstance(body["error"]["message"], str)
    assert re.fullmatch(r"[a-z][a-z0-9_]*", body["error"]["code"]), body
    assert body["error"]["message"], body
    if code is not None:
        assert body["error"]["code"] == code, body
    return str(body["error"]["code"])


def attempt(client: Any, login: str, password: str = PASSWORD, device: str = "phone") -> Any:
    return client.post(LOGIN, json={"login": login, "password": password, "device_name": device})


def sign_in(client: Any, login: str, device: str = "phone") -> tuple[dict[str, str], dict]:
    response = attempt(client, login, device=device)
    assert response.status_code == 200, response.text
    body = response.json()
    return {"Authorization": f"Bearer {body['token']}"}, body


def pull(client: Any, headers: dict[str, str]) -> Any:
    return client.post(PULL, json={"protocol": 1, "cursor": None}, headers=headers)


def push_one(client: Any, headers: dict[str, str], world: Any) -> Any:
    body = {"protocol": 1, "mutations": [mutation("note.create", note_data(world, "a1"))]}
    return client.post(PUSH, json=body, headers=headers)


def test_login_returns_the_documented_body(client, db):
    world = build_world(db)
    add_user(db, world, "both", ("admin", "coordinator"))
    headers, body = sign_in(client, "couns_1", device="Sophie's phone")
    assert set(body) == {"token", "device_id", "user"}
    assert set(body["user"]) == {"id", "display_name", "roles", "org_id", "language"}
    assert isinstance(body["token"], str) and len(body["token"]) >= 32
    assert uuid.UUID(body["device_id"])
    user = body["user"]
    assert user["id"] == str(world.users["couns_1"])
    assert user["org_id"] == str(world.org)
    assert user["display_name"] == "Couns 1 (test)"
    assert user["roles"] == ["counsellor"]
    assert user["language"] == "fr"
    assert pull(client, headers).status_code == 200
    with db.reading() as session:
        device = session.get_one(Device, uuid.UUID(body["device_id"]))
        assert device.user_id == world.users["couns_1"]
        assert device.name == "Sophie's phone"
        assert device.revoked_at is None
    both = sign_in(client, "both")[1]
    assert sorted(both["user"]["roles"]) == ["admin", "coordinator"]


def test_token_is_stored_only_as_a_hash(client, db):
    build_world(db)
    _, body = sign_in(client, "sup_a")
    token = body["token"]
    with db.reading() as session:
        device = session.get_one(Device, uuid.UUID(body["device_id"]))
        assert device.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert device.token_hash != token
        # Not in the device table, nor anywhere else in the database.
        for table in Base.metadata.sorted_tables:
            for row in session.execute(select(table)):
                assert token not in repr(tuple(row)), table.name


@pytest.mark.parametrize("case", ["wrong password", "unknown login", "disabled user"])
def test_bad_credentials_get_401_invalid_credentials(client, db, case):
    world = build_world(db)
    if case == "disabled user":
        with db.unit_of_work() as session:
            session.get_one(User, world.users["sup_a"]).disabled = True
    login, password = {
        "wrong password": ("sup_a", PASSWORD + "!"),
        "unknown login": ("nobody_here", PASSWORD),
        "disabled user": ("sup_a", PASSWORD),
    }[case]
    response = attempt(client, login, password)
    assert_error(response, 401, "invalid_credentials")
    assert "token" not in response.text
    with db.reading() as session:
        attempts = session.scalars(select(LoginAttempt).where(LoginAttempt.login == login)).all()
        assert [a.succeeded for a in attempts] == [False]
        assert session.scalars(select(Device)).all() == []


def test_the_eleventh_failed_attempt_is_throttled(client, db):
    world = build_world(db)
    for i in range(10):
        response = attempt(client, "sup_a", f"guess-{i}")
        assert_error(response, 401, "invalid_credentials")
    assert_error(attempt(client, "sup_a", "guess-10"), 429, "too_many_attempts")
    # Even the right password waits now.
    assert_error(attempt(client, "sup_a", PASSWORD), 429, "too_many_attempts")
    # Other logins are not affected.
    assert attempt(client, "sup_b").status_code == 200
    with db.reading() as session:
        devices = session.scalars(select(Device)).all()
        assert [d.user_id for d in devices] == [world.users["sup_b"]]


def test_failures_older_than_the_window_do_not_count(client, db):
    build_world(db)
    now = utcnow()
    with db.unit_of_work() as session:
        for _ in range(10):
            session.add(LoginAttempt(login="sup_a", at=now - timedelta(minutes=16)))
        for _ in range(9):
            session.add(LoginAttempt(login="sup_a", at=now - timedelta(minutes=1)))
    assert attempt(client, "sup_a").status_code == 200  # 9 recent failures: still allowed
    assert_error(attempt(client, "sup_a", "wrong"), 401, "invalid_credentials")  # the 10th
    assert_error(attempt(client, "sup_a"), 429, "too_many_attempts")


def test_logout_revokes_only_the_callers_token(client, db):
    world = build_world(db)
    first, body = sign_in(client, "sup_a", device="phone")
    second, _ = sign_in(client, "sup_a", device="tablet")
    assert pull(client, first).status_code == 200
    response = client.post("/api/v1/auth/logout", headers=first)
    assert response.status_code == 204
    assert_error(pull(client, first), 401)
    assert_error(push_one(client, first, world), 401)
    assert_error(client.post("/api/v1/auth/logout", headers=first), 401)
    assert pull(client, second).status_code == 200
    with db.reading() as session:
        assert session.get_one(Device, uuid.UUID(body["device_id"])).revoked_at is not None


BAD_AUTHORIZATION = [
    None,
    "",
    "Bearer",
    "Bearer ",
    "Bearer    ",
    "Basic c3VwX2E6Y29ycmVjdC1ob3JzZQ==",
    "Token abc",
    "Bearer garbage",
    "bearer garbage",
    "Bearer " + "x" * 5000,
    "Bearer " + hashlib.sha256(b"x").hexdigest(),
]
PROTECTED = [
    ("post", PULL, {"protocol": 1, "cursor": None}),
    ("post", PUSH, {"protocol": 1, "mutations": []}),
    ("post", "/api/v1/auth/logout", None),
    ("put", "/api/v1/me/availability", {"away": False, "stand_in_id": None}),
    ("get", "/api/v1/me/preferences", None),
    ("put", "/api/v1/me/preferences", {"timezone": "Europe/Paris"}),
    ("get", "/api/v1/sync/stream", None),
]


def test_missing_or_garbage_bearer_gets_401(client, db):
    build_world(db)
    wrong = []
    for method, path, body in PROTECTED:
        for authorization in BAD_AUTHORIZATION:
            headers = {} if authorization is None else {"Authorization": authorization}
            kwargs: dict[str, Any] = {"headers": headers}
            if body is not None:
                kwargs["json"] = body
            response = client.request(method.upper(), path, **kwargs)
            try:
                assert_error(response, 401)
            except AssertionError:
                wrong.append(f"{method} {path} {authorization!r:.30}: {response.status_code}")
    assert not wrong, "\n".join(wrong)


def test_revoked_device_and_disabled_user_get_401(client, db):
    world = build_world(db)
    first, body = sign_in(client, "sup_a", device="lost phone")
    second, _ = sign_in(client, "sup_a", device="new phone")
    with db.unit_of_work() as session:
        assert revoke_device(session, uuid.UUID(body["device_id"])) is True
        assert revoke_device(session, uuid.uuid4()) is False
    assert_error(pull(client, first), 401)
    assert_error(push_one(client, first, world), 401)
    assert pull(client, second).status_code == 200
    assert push_one(client, second, world).status_code == 200
    with db.unit_of_work() as session:
        session.get_one(User, world.users["sup_a"]).disabled = True
    assert_error(pull(client, second), 401)
    assert_error(push_one(client, second, world), 401)
