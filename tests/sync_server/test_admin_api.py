"""The admin API over the real app (issue 11, item 5): accounts, devices, the roster and the
overview, for the organisation's admins only, each change audited, bad input a 4xx in the
protocol's shape. Every person here is invented."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select

from relais_testing.factories import PASSWORD, build_world, mutation
from sync_server.audit.models import AuditEvent
from sync_server.database import Database
from sync_server.orgs.models import Worker
from tests.sync_server.test_auth import assert_error, attempt, pull, sign_in

ADMIN = "/api/v1/admin"
NEW_PASSWORD = "fictional-new-password"


def audited(db: Database, action: str) -> list[AuditEvent]:
    with db.reading() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def users_by_login(client: Any, headers: dict[str, str]) -> dict[str, dict[str, Any]]:
    response = client.get(f"{ADMIN}/users", headers=headers)
    assert response.status_code == 200, response.text
    return {u["login"]: u for u in response.json()["users"]}


def test_only_the_organisations_admins_may_administer(client, db):
    world = build_world(db)
    other = build_world(db, slug="other", prefix="o_")
    coord, _ = sign_in(client, "coord")
    admin, _ = sign_in(client, "admin")
    other_admin, _ = sign_in(client, "o_admin")
    target = world.users["sup_a"]
    calls = [
        ("GET", "/overview", None),
        ("GET", "/users", None),
        (
            "POST",
            "/users",
            {"login": "x", "display_name": "X", "roles": ["supervisor"], "password": NEW_PASSWORD},
        ),
        ("POST", f"/users/{target}/disable", None),
        ("POST", f"/users/{target}/enable", None),
        ("POST", f"/users/{target}/unlock", None),
        ("POST", f"/users/{target}/password", {"password": NEW_PASSWORD}),
        ("GET", "/devices", None),
        ("POST", f"/devices/{uuid.uuid4()}/revoke", None),
    ]
    for method, path, body in calls:
        assert_error(client.request(method, ADMIN + path, json=body), 401, "missing_token")
        assert_error(client.request(method, ADMIN + path, json=body, headers=coord), 403)
    assert_error(client.post(f"{ADMIN}/roster", content=b"ref", headers=coord), 403)
    # Another organisation's admin: its users and devices look like unknown ids.
    assert_error(client.post(f"{ADMIN}/users/{target}/disable", headers=other_admin), 404)
    assert_error(client.post(f"{ADMIN}/users/{target}/unlock", headers=other_admin), 404)
    assert "sup_a" not in users_by_login(client, other_admin)
    # Nothing of the above changed anything.
    assert pull(client, sign_in(client, "sup_a")[0]).status_code == 200
    assert set(users_by_login(client, admin)) == {
        "sup_a",
        "sup_b",
        "couns_1",
        "couns_2",
        "coord",
        "admin",
    }
    assert other.org != world.org


def test_add_and_disable_a_user(client, db):
    world = build_world(db)
    admin, _ = sign_in(client, "admin")
    body = {
        "login": "sup_c",
        "display_name": "Chloé Supervisor (test)",
        "roles": ["supervisor"],
        "password": NEW_PASSWORD,
        "email": "sup_c@example.invalid",
    }
    created = client.post(f"{ADMIN}/users", json=body, headers=admin)
    assert created.status_code == 201, created.text
    user = created.json()
    assert user["display_name"] == "Chloé Supervisor (test)" and user["roles"] == ["supervisor"]
    assert user["language"] == "fr" and not user["disabled"] and not user["locked"]
    assert [e.entity_id for e in audited(db, "user.create")] == [uuid.UUID(user["id"])]
    assert attempt(client, "sup_c", NEW_PASSWORD).status_code == 200

    assert_error(client.post(f"{ADMIN}/users", json=body, headers=admin), 409, "login_taken")
    short = {**body, "login": "sup_d", "password": "short"}
    message = assert_error(client.post(f"{ADMIN}/users", json=short, headers=admin), 422)
    assert message == "invalid_body"
    unknown_role = {**body, "login": "sup_d", "roles": ["janitor"]}
    assert_error(client.post(f"{ADMIN}/users", json=unknown_role, headers=admin), 422)
    long_email = {**body, "login": "sup_d", "email": "a" * 320 + "@example.org"}
    refused = client.post(f"{ADMIN}/users", json=long_email, headers=admin)
    assert_error(refused, 422)
    assert "email: String should have at most 320 characters" in refused.json()["error"]["message"]

    phone, _ = sign_in(client, "sup_a")
    answer = client.post(f"{ADMIN}/users/{world.users['sup_a']}/disable", headers=admin)
    assert answer.status_code == 200, answer.text
    assert answer.json()["user"]["disabled"] is True
    assert answer.json()["user"]["active_devices"] == 0
    assert_error(pull(client, phone), 401, "user_disabled")
    assert_error(attempt(client, "sup_a"), 401, "invalid_credentials")
    assert len(audited(db, "user.disable")) == 1
    enabled = client.post(f"{ADMIN}/users/{world.users['sup_a']}/enable", headers=admin)
    assert enabled.json()["user"]["disabled"] is False
    assert attempt(client, "sup_a").status_code == 200
    assert len(audited(db, "user.enable")) == 1

    own = client.post(f"{ADMIN}/users/{world.users['admin']}/disable", headers=admin)
    assert_error(own, 409, "own_account")
    assert_error(client.post(f"{ADMIN}/users/not-an-id/disable", headers=admin), 422)
    assert_error(client.post(f"{ADMIN}/users/{uuid.uuid4()}/disable", headers=admin), 404)


def test_reset_a_password_and_unlock_a_login(client, db, settings):
    world = build_world(db)
    admin, _ = sign_in(client, "admin")
    phone, _ = sign_in(client, "sup_a", device="phone")
    tablet, _ = sign_in(client, "sup_a", device="tablet")
    assert users_by_login(client, admin)["sup_a"]["active_devices"] == 2

    for _ in range(settings.login_max_failures):
        assert_error(attempt(client, "sup_b", "wrong-password"), 401, "invalid_credentials")
    assert_error(attempt(client, "sup_b"), 429, "too_many_attempts")
    assert users_by_login(client, admin)["sup_b"]["locked"] is True
    unlocked = client.post(f"{ADMIN}/users/{world.users['sup_b']}/unlock", headers=admin)
    assert unlocked.status_code == 200, unlocked.text
    assert unlocked.json()["attempts_forgotten"] == settings.login_max_failures
    assert unlocked.json()["user"]["locked"] is False
    assert attempt(client, "sup_b").status_code == 200
    assert len(audited(db, "user.unlock")) == 1

    path = f"{ADMIN}/users/{world.users['sup_a']}/password"
    assert_error(client.post(path, json={"password": "short"}, headers=admin), 422)
    reset = client.post(path, json={"password": NEW_PASSWORD}, headers=admin)
    assert reset.status_code == 200, reset.text
    assert reset.json()["devices_signed_out"] == 2
    for headers in (phone, tablet):
        assert_error(pull(client, headers), 401, "token_revoked")
    assert_error(attempt(client, "sup_a"), 401, "invalid_credentials")
    assert attempt(client, "sup_a", NEW_PASSWORD).status_code == 200
    [event] = audited(db, "user.password_reset")
    assert event.actor_id == world.users["admin"] and "via app" in (event.detail or "")
    assert NEW_PASSWORD not in (event.detail or "")


def test_devices_by_person_and_revoking_one(client, db):
    world = build_world(db)
    build_world(db, slug="other", prefix="o_")
    admin, _ = sign_in(client, "admin", device="office PC")
    phone, phone_body = sign_in(client, "sup_a", device="Pixel de chantier")
    sign_in(client, "o_sup_a", device="elsewhere")
    listed = client.get(f"{ADMIN}/devices", headers=admin)
    assert listed.status_code == 200, listed.text
    devices = listed.json()["devices"]
    assert {(d["login"], d["name"]) for d in devices} == {
        ("admin", "office PC"),
        ("sup_a", "Pixel de chantier"),
    }
    pixel = next(d for d in devices if d["login"] == "sup_a")
    assert pixel["id"] == phone_body["device_id"] and pixel["state"] == "active"
    assert pixel["last_seen_at"] is not None and pixel["user_id"] == str(world.users["sup_a"])

    other_device = attempt(client, "o_sup_b", device="theirs").json()["device_id"]
    assert_error(client.post(f"{ADMIN}/devices/{other_device}/revoke", headers=admin), 404)
    revoked = client.post(f"{ADMIN}/devices/{pixel['id']}/revoke", headers=admin)
    assert revoked.status_code == 204
    assert_error(pull(client, phone), 401, "token_revoked")
    assert pull(client, admin).status_code == 200
    states = {
        d["name"]: d["state"]
        for d in client.get(f"{ADMIN}/devices", headers=admin).json()["devices"]
    }
    assert states == {"office PC": "active", "Pixel de chantier": "revoked"}
    [event] = audited(db, "device.revoke")
    assert event.entity_id == uuid.UUID(pixel["id"]) and event.actor_id == world.users["admin"]


ROSTER_CP1252 = (
    "ref;name;team;counsellor;contract_type;start;end\r\n"
    "r1;Zoé Étienne;a;couns_1;CDDI;2026-01-05;\r\n"
    "r2;François Gärtner;b;;CDDI;2026-02-01;2026-12-31\r\n"
).encode("cp1252")


def test_roster_upload_french_excel_and_problems_by_line_and_column(client, db):
    world = build_world(db)
    admin, _ = sign_in(client, "admin")
    bad = (
        "ref;name;team;counsellor;contract_type;start;end\r\n"
        "r1;Zoé Étienne;a;couns_1;CDDI;05/01/2026;\r\n"
        "r2;François Gärtner;z;nobody;CDDI;2026-02-01;\r\n"
    ).encode("cp1252")
    refused = client.post(
        f"{ADMIN}/roster", content=bad, headers={**admin, "Content-Type": "text/csv"}
    )
    assert refused.status_code == 200, refused.text
    report = refused.json()
    assert report["imported"] is False
    assert report["encoding"] == "Windows-1252 (cp1252)" and report["delimiter"] == ";"
    [problem] = report["problems"]
    assert (problem["line"], problem["column"], problem["code"]) == (2, "start", "not_a_date")
    assert problem["params"] == {"value": "05/01/2026"}  # the app says it in its language
    assert problem["message"] == "'05/01/2026' is not a date (YYYY-MM-DD)"  # scripts: English
    with db.reading() as session:
        assert (
            session.scalar(
                select(func.count()).select_from(Worker).where(Worker.ref.in_(["r1", "r2"]))
            )
            == 0
        )
    assert audited(db, "roster.import") == []

    imported = client.post(
        f"{ADMIN}/roster", content=ROSTER_CP1252, headers={**admin, "Content-Type": "text/csv"}
    ).json()
    assert imported["imported"] is True and imported["created"] == 2 and not imported["problems"]
    with db.reading() as session:
        names = set(session.scalars(select(Worker.display_name).where(Worker.org_id == world.org)))
    assert {"Zoé Étienne", "François Gärtner"} <= names
    [event] = audited(db, "roster.import")
    assert "2 created" in (event.detail or "")

    utf16 = client.post(
        f"{ADMIN}/roster", content="ref,name".encode("utf-16"), headers=admin
    ).json()
    assert utf16["imported"] is False and "UTF-16" in utf16["problems"][0]["message"]
    empty = client.post(f"{ADMIN}/roster", content=b"", headers=admin).json()
    assert empty["problems"][0]["message"] == "the file is empty"
    assert (utf16["problems"][0]["code"], empty["problems"][0]["code"]) == ("utf16", "empty")
    too_big = client.post(f"{ADMIN}/roster", content=b"x" * (2 * 1024 * 1024), headers=admin)
    assert_error(too_big, 413)
    # A CSV is not JSON: brackets in it are text, however many are left open.
    brackets = "ref,name,team\r\nr9,Zoé [[[" + "[" * 40 + ",a\r\n"
    with_brackets = client.post(
        f"{ADMIN}/roster", content=brackets.encode(), headers={**admin, "Content-Type": "text/csv"}
    )
    assert with_brackets.status_code == 200, with_brackets.text


def test_overview_counts_quarantine_and_staffing(client, db):
    world = build_world(db)
    admin, _ = sign_in(client, "admin")
    sup, _ = sign_in(client, "sup_a")
    bad = mutation("note.create", {"worker_id": str(world.workers["a1"])})
    pushed = client.post("/api/v1/sync/push", json={"protocol": 1, "mutations": [bad]}, headers=sup)
    assert pushed.json()["results"][0]["status"] == "rejected"
    with db.unit_of_work() as session:  # team A: 13 active workers for one supervisor
        for n in range(10):
            session.add(
                Worker(
                    id=uuid.uuid4(),
                    org_id=world.org,
                    ref=f"x{n}",
                    display_name=f"X {n}",
                    team_id=world.teams["A"],
                    counsellor_id=None,
                    active=True,
                )
            )
    body = client.get(f"{ADMIN}/overview", headers=admin).json()
    assert body["users"] == 6 and body["disabled_users"] == 0 and body["locked_logins"] == 0
    assert body["active_devices"] == 2 and body["active_workers"] == 15
    assert body["quarantined"] == 1 and body["quarantine"][0]["count"] == 1
    assert body["staffing"] == [
        {"team_id": str(world.teams["A"]), "team": "Team A", "workers": 13, "supervisors": 1}
    ]
    assert PASSWORD not in str(body)
