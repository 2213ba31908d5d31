"""Sessions end when they should (issue 8, security item 8): a new password ends the
sessions opened with the old one, an admin unlocks a login or resets a password (audited),
and devices unseen for the configured time must sign in again.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from relais_testing.factories import PASSWORD, build_world
from sync_server.app import create_app
from sync_server.audit import service as audit
from sync_server.audit.models import AuditEvent
from sync_server.auth import service as auth
from sync_server.auth.models import Device
from sync_server.auth.passwords import hash_password
from sync_server.database import Database, utcnow
from sync_server.errors import Unauthenticated
from sync_server.orgs.models import User
from sync_server.settings import Settings
from tests.sync_server.test_auth import assert_error, attempt, pull, sign_in
from tests.sync_server.test_provisioning import PASSWORD as PROVISIONED_PASSWORD
from tests.sync_server.test_provisioning import provision, render

NEW_PASSWORD = "fictional-new-password"


def stream(client: TestClient, headers: dict[str, str]) -> Any:
    return client.get("/api/v1/sync/stream", headers=headers)


def device_id(body: dict[str, Any]) -> uuid.UUID:
    return uuid.UUID(body["device_id"])


def test_a_new_password_from_provisioning_ends_the_sessions_opened_with_the_old_one(client, db):
    """Today the only way to change a password is to re-provision: the tokens issued
    before must stop working, and nothing else."""
    provision(db, render())
    phone, _ = sign_in_with(client, "p_sup", PROVISIONED_PASSWORD)
    colleague, _ = sign_in_with(client, "p_couns1", PROVISIONED_PASSWORD)
    assert pull(client, phone).status_code == 200

    def new_password(spec: dict[str, Any]) -> None:
        spec["users"][0]["password"] = NEW_PASSWORD

    provision(db, render(new_password))
    for request in (pull, stream):  # one after the other: a working stream never ends
        response = request(client, phone)
        assert_error(response, 401, "token_revoked")
        assert "password" in response.json()["error"]["message"]
    assert pull(client, colleague).status_code == 200
    assert_error(attempt(client, "p_sup", PROVISIONED_PASSWORD), 401, "invalid_credentials")
    fresh, _ = sign_in_with(client, "p_sup", NEW_PASSWORD)
    assert pull(client, fresh).status_code == 200
    provision(db, render(new_password))  # the same file again: the new session stays
    assert pull(client, fresh).status_code == 200


def sign_in_with(client: TestClient, login: str, password: str) -> tuple[dict[str, str], dict]:
    response = attempt(client, login, password)
    assert response.status_code == 200, response.text
    body = response.json()
    return {"Authorization": f"Bearer {body['token']}"}, body


def test_set_password_ends_every_session_but_the_one_it_came_from(client, db):
    world = build_world(db)
    phone, phone_body = sign_in(client, "sup_a", device="phone")
    tablet, _ = sign_in(client, "sup_a", device="tablet")
    other_user, _ = sign_in(client, "sup_b")
    new_hash = hash_password(NEW_PASSWORD)
    with db.unit_of_work() as session:
        user = session.get_one(User, world.users["sup_a"])
        ended = auth.set_password(session, user, new_hash, keep_device_id=device_id(phone_body))
    assert ended == 1
    assert pull(client, phone).status_code == 200
    assert_error(pull(client, tablet), 401, "token_revoked")
    assert pull(client, other_user).status_code == 200
    assert_error(attempt(client, "sup_a", PASSWORD), 401, "invalid_credentials")
    assert sign_in_with(client, "sup_a", NEW_PASSWORD)


def test_a_login_checked_against_the_old_password_opens_a_finished_session(db):
    """A login whose password was checked just before the password changed gets a token
    that does not work: the device is bound to the password it was checked against."""
    world = build_world(db)
    with db.reading() as session:
        old_hash = session.get_one(User, world.users["sup_a"]).password_hash
    with db.unit_of_work() as session:
        user = session.get_one(User, world.users["sup_a"])
        auth.set_password(session, user, hash_password(NEW_PASSWORD))
    with db.unit_of_work() as session:
        _, _, token = auth.open_device(
            session,
            user_id=world.users["sup_a"],
            password_hash=old_hash,
            device_name="late",
            now=utcnow(),
        )
    with db.reading() as session, pytest.raises(Unauthenticated) as refused:
        auth.authenticate(session, token, expire_after=timedelta(days=90))
    assert refused.value.code == "token_revoked"


def audit_events(db: Database, action: str) -> list[AuditEvent]:
    with db.reading() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_an_admin_unlocks_a_login_and_it_is_audited(client, db):
    world = build_world(db)
    for n in range(10):
        assert_error(attempt(client, "sup_a", f"guess-{n}"), 401, "invalid_credentials")
    assert_error(attempt(client, "sup_a"), 429, "too_many_attempts")
    admin = auth.AdminActor(via="admin screen", user_id=world.users["admin"], device_id=None)
    with db.unit_of_work() as session:
        user = session.get_one(User, world.users["sup_a"])
        assert auth.unlock_login(session, user, actor=admin) == 10
    assert sign_in(client, "sup_a")
    [event] = audit_events(db, audit.LOGIN_UNLOCKED)
    assert (event.org_id, event.actor_id, event.entity, event.entity_id) == (
        world.org,
        world.users["admin"],
        "user",
        world.users["sup_a"],
    )
    assert event.detail == "via admin screen; 10 failed attempt(s) forgotten"


def test_an_admin_resets_a_password_every_session_ends_and_it_is_audited(client, db):
    world = build_world(db)
    phone, _ = sign_in(client, "sup_a", device="phone")
    tablet, _ = sign_in(client, "sup_a", device="tablet")
    for n in range(10):
        attempt(client, "sup_a", f"guess-{n}")
    new_hash = hash_password(NEW_PASSWORD)
    with db.unit_of_work() as session:
        user = session.get_one(User, world.users["sup_a"])
        assert auth.reset_password(session, user, new_hash, actor=auth.COMMAND_LINE) == 2
    for headers in (phone, tablet):
        assert_error(pull(client, headers), 401, "token_revoked")
    # The reset also lifts the block, so that the user can sign in with the new password.
    assert sign_in_with(client, "sup_a", NEW_PASSWORD)
    [event] = audit_events(db, audit.PASSWORD_RESET)
    assert (event.org_id, event.actor_id, event.entity_id) == (
        world.org,
        None,
        world.users["sup_a"],
    )
    assert event.detail == "via command line; 2 device(s) signed out"
    assert NEW_PASSWORD not in repr(event.__dict__)


def set_last_seen(db: Database, body: dict[str, Any], ago: timedelta) -> None:
    with db.unit_of_work() as session:
        session.get_one(Device, device_id(body)).last_seen_at = utcnow() - ago


@pytest.mark.parametrize("expiry_days", [None, 7])
def test_devices_unseen_for_the_expiry_time_must_sign_in_again(db, tmp_path: Path, expiry_days):
    world = build_world(db)
    days = expiry_days or 90  # None: the default setting
    extra = {"device_expiry_days": expiry_days} if expiry_days else {}
    settings = Settings(data_dir=tmp_path, escalation_interval=0, stream_heartbeat=1.0, **extra)
    with TestClient(create_app(settings, db)) as client:
        unseen, unseen_body = sign_in(client, "sup_a", device="drawer phone")
        recent, recent_body = sign_in(client, "sup_a", device="daily phone")
        set_last_seen(db, unseen_body, timedelta(days=days, minutes=1))
        set_last_seen(db, recent_body, timedelta(days=days) - timedelta(hours=1))
        for request in (pull, stream):  # one after the other: a working stream never ends
            response = request(client, unseen)
            assert_error(response, 401, "token_revoked")
            assert f"unused for {days} days" in response.json()["error"]["message"]
        assert pull(client, recent).status_code == 200
        # Being used keeps a device alive: its last_seen_at moved to now.
        with db.reading() as session:
            seen = session.get_one(Device, device_id(recent_body)).last_seen_at
        assert seen is not None and utcnow() - seen < timedelta(hours=1)
        with db.reading() as session:
            user = session.get_one(User, world.users["sup_a"])
            states = {
                d.name: auth.device_state(
                    d, user, now=utcnow(), expire_after=settings.device_expiry
                )
                for d in session.scalars(select(Device))
            }
        assert states == {"drawer phone": "expired", "daily phone": "active"}


def test_an_admin_signs_a_device_out_or_disables_an_account_and_it_is_audited(client, db):
    world = build_world(db)
    lost, lost_body = sign_in(client, "sup_a", device="lost phone")
    kept, _ = sign_in(client, "sup_a", device="new phone")
    leaving, _ = sign_in(client, "sup_b")
    admin = auth.AdminActor(via="admin screen", user_id=world.users["admin"])
    with db.unit_of_work() as session:
        assert auth.sign_out_device(session, device_id(lost_body), actor=admin) is True
        assert auth.sign_out_device(session, uuid.uuid4(), actor=admin) is False
        auth.disable_account(session, session.get_one(User, world.users["sup_b"]), actor=admin)
    assert_error(pull(client, lost), 401, "token_revoked")
    assert pull(client, kept).status_code == 200
    assert_error(pull(client, leaving), 401, "user_disabled")
    [revoked] = audit_events(db, audit.DEVICE_REVOKED)
    assert (revoked.org_id, revoked.actor_id, revoked.entity, revoked.entity_id) == (
        world.org,
        world.users["admin"],
        "device",
        device_id(lost_body),
    )
    [disabled] = audit_events(db, audit.USER_DISABLED)
    assert (disabled.actor_id, disabled.entity, disabled.entity_id) == (
        world.users["admin"],
        "user",
        world.users["sup_b"],
    )
