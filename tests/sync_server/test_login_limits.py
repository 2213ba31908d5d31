"""Login limits (issue 8, security item 7): per login and per client address, counted in
the database so that they hold across server processes; X-Forwarded-For read only behind
trusted proxies; unknown logins checked like known ones; old attempts purged by the sweeps.
"""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from relais_testing.factories import PASSWORD, build_world
from relais_testing.serving import server_process
from sync_server.app import create_app
from sync_server.auth.models import Device, LoginAttempt
from sync_server.auth.service import hash_password
from sync_server.auth.throttle import address_key, client_address
from sync_server.database import Database, utcnow
from sync_server.orgs.models import User
from sync_server.settings import Settings
from sync_server.sweeps import sweep_once
from tests.sync_server.test_auth import assert_error

LOGIN = "/api/v1/auth/login"


def attempt(client: Any, login: str, password: str = "a-guess", via: str | None = None) -> Any:
    headers = {"X-Forwarded-For": via} if via else {}
    body = {"login": login, "password": password, "device_name": "phone"}
    return client.post(LOGIN, json=body, headers=headers)


def failures(db: Database, column: Any = None, value: str | None = None) -> int:
    query = select(func.count()).select_from(LoginAttempt).where(~LoginAttempt.succeeded)
    if column is not None:
        query = query.where(column == value)
    with db.reading() as session:
        return int(session.scalar(query) or 0)


def app_client(db: Database, tmp_path: Path, **settings: Any) -> TestClient:
    config = Settings(data_dir=tmp_path, escalation_interval=0, stream_heartbeat=1.0, **settings)
    return TestClient(create_app(config, db))


def test_failures_from_one_address_are_limited_whatever_the_login(db, tmp_path):
    """Five failures from one address, each for another (unknown) login: the sixth
    attempt from there is refused, even a right password; other addresses are not."""
    build_world(db)
    with app_client(db, tmp_path, login_max_failures_per_address=5, trusted_proxy_count=1) as c:
        for n in range(5):
            assert_error(attempt(c, f"nobody-{n}", via="192.0.2.7"), 401, "invalid_credentials")
        refused = attempt(c, "nobody-5", via="192.0.2.7")
        assert_error(refused, 429, "too_many_attempts")
        assert "address" in refused.json()["error"]["message"]
        assert_error(attempt(c, "sup_a", PASSWORD, via="192.0.2.7"), 429, "too_many_attempts")
        assert attempt(c, "sup_a", PASSWORD, via="192.0.2.8").status_code == 200
        # An IPv6 client is one /64: stepping through its own addresses does not help.
        for n in range(5):
            response = attempt(c, f"nobody-v6-{n}", via=f"2001:db8:1:2::{n + 1}")
            assert_error(response, 401, "invalid_credentials")
        assert_error(attempt(c, "nobody", via="2001:db8:1:2:ffff::9"), 429, "too_many_attempts")
        assert attempt(c, "sup_b", PASSWORD, via="2001:db8:1:3::1").status_code == 200
    # Refused attempts are not counted: 5 + 5 failures.
    assert failures(db) == 10


def test_the_per_login_limit_is_unchanged(db, tmp_path):
    """docs/protocol.md §3: 10 failed attempts within 15 minutes for the same login give 429
    `too_many_attempts`, from any number of addresses."""
    build_world(db)
    with app_client(db, tmp_path, trusted_proxy_count=1) as c:
        for n in range(10):
            response = attempt(c, "sup_a", via=f"192.0.2.{n + 1}")
            assert_error(response, 401, "invalid_credentials")
        refused = attempt(c, "sup_a", PASSWORD, via="192.0.2.99")
        assert_error(refused, 429, "too_many_attempts")
        assert "login" in refused.json()["error"]["message"]


def test_forwarded_for_is_ignored_unless_proxies_are_trusted(db, tmp_path):
    build_world(db)
    with app_client(db, tmp_path, login_max_failures_per_address=3) as c:
        for n in range(3):
            assert_error(attempt(c, f"nobody-{n}", via=f"192.0.2.{n}"), 401)
        # Another header does not make another client.
        assert_error(attempt(c, "sup_a", PASSWORD, via="192.0.2.200"), 429, "too_many_attempts")
    with db.reading() as session:
        addresses = set(session.scalars(select(LoginAttempt.address)))
    assert addresses == {"testclient"}  # the TestClient's own peer address


def test_client_address_behind_trusted_proxies():
    peer = "10.0.0.5"
    # Without trusted proxies: the connection's address, whatever the header says.
    assert client_address(peer, ["198.51.100.1"], 0) == peer
    # One proxy: the entry it appended (the rightmost); what the client wrote is ignored.
    assert client_address(peer, ["6.6.6.6, 198.51.100.1"], 1) == "198.51.100.1"
    assert client_address(peer, ["6.6.6.6", "198.51.100.1"], 1) == "198.51.100.1"
    # Two proxies: the client is the second entry from the right.
    assert client_address(peer, ["6.6.6.6, 198.51.100.1, 10.0.0.2"], 2) == "198.51.100.1"
    # No header although a proxy is expected: the connection's address.
    assert client_address(peer, [], 1) == peer
    assert client_address(None, [], 0) == "unknown"
    # Address forms: ports dropped, IPv4-mapped IPv6 as IPv4, IPv6 by /64.
    assert address_key("198.51.100.1:443") == "198.51.100.1"
    assert address_key("[2001:db8::1]:443") == "2001:db8::/64"
    assert address_key("::ffff:198.51.100.1") == "198.51.100.1"
    assert address_key("2001:db8:0:0:abcd::1") == address_key("2001:db8::ffff")
    assert len(address_key("x" * 500)) == 64


@pytest.mark.slow
def test_relais_serve_ignores_a_spoofed_forwarded_for(db):
    """Through the real `relais serve`: by default a client cannot pose as many
    addresses (uvicorn's own header handling would trust any local client)."""
    build_world(db)
    with server_process(db.url, RELAIS_LOGIN_MAX_FAILURES_PER_ADDRESS="3") as (base_url, _):
        for n in range(3):
            response = httpx.post(
                base_url + LOGIN,
                json={"login": f"nobody-{n}", "password": "guess", "device_name": "x"},
                headers={"X-Forwarded-For": f"192.0.2.{n}"},
                timeout=30,
            )
            assert_error(response, 401, "invalid_credentials")
        response = httpx.post(
            base_url + LOGIN,
            json={"login": "sup_a", "password": PASSWORD, "device_name": "x"},
            headers={"X-Forwarded-For": "192.0.2.250"},
            timeout=30,
        )
        assert_error(response, 429, "too_many_attempts")
    with db.reading() as session:
        assert set(session.scalars(select(LoginAttempt.address))) == {"127.0.0.1"}


@pytest.mark.slow
def test_the_limits_hold_across_server_processes(db):
    """Two server processes on one database, 24 simultaneous failed attempts for one login:
    exactly 10 are checked (401), the others refused (429)."""
    build_world(db)
    env = {"RELAIS_LOGIN_HASH_CONCURRENCY": "32"}
    with server_process(db.url, **env) as (first, _), server_process(db.url, **env) as (second, _):
        answers: list[int] = []
        lock = threading.Lock()
        start = threading.Barrier(24)

        def guess(n: int) -> None:
            base_url = first if n % 2 else second
            start.wait()
            response = httpx.post(
                base_url + LOGIN,
                json={"login": "sup_a", "password": f"guess-{n}", "device_name": "x"},
                timeout=60,
            )
            with lock:
                answers.append(response.status_code)

        threads = [threading.Thread(target=guess, args=(n,)) for n in range(24)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(90)
    assert sorted(answers) == [401] * 10 + [429] * 14
    assert failures(db, LoginAttempt.login, "sup_a") == 10


def test_unknown_logins_are_checked_like_known_ones(db, tmp_path, monkeypatch):
    """An unknown login costs one password check against a hash with the production
    parameters, and leaves the same trace as a wrong password for a known login."""
    world = build_world(db)
    real_hash = hash_password("fictional-production-like")
    with db.unit_of_work() as session:  # a production-strength hash, as provisioning makes
        session.get_one(User, world.users["sup_a"]).password_hash = real_hash
    checked: list[str] = []
    real_verify = PasswordHasher.verify

    def spy(hasher: PasswordHasher, hash: str, password: str) -> bool:
        checked.append(hash)
        return real_verify(hasher, hash, password)

    monkeypatch.setattr(PasswordHasher, "verify", spy)
    with app_client(db, tmp_path) as c:
        known = attempt(c, "sup_a")
        unknown = attempt(c, "nobody-at-all")
    assert known.json() == unknown.json()
    assert known.status_code == unknown.status_code == 401
    assert len(checked) == 2

    def parameters(encoded: str) -> str:
        return encoded.split("$")[3]  # "m=65536,t=3,p=4"

    assert parameters(checked[1]) == parameters(checked[0]) == parameters(real_hash)
    with db.reading() as session:
        rows = session.scalars(select(LoginAttempt).order_by(LoginAttempt.id)).all()
        assert [(r.login, r.succeeded) for r in rows] == [
            ("sup_a", False),
            ("nobody-at-all", False),
        ]
        assert session.scalars(select(Device)).all() == []


def test_the_sweeps_purge_attempts_older_than_the_window(db, tmp_path):
    build_world(db)
    settings = Settings(data_dir=tmp_path, escalation_interval=0, login_window_seconds=900)
    now = utcnow()
    with db.unit_of_work() as session:
        for n in range(7):  # more than one batch's worth is not needed to tell
            session.add(LoginAttempt(login=f"old-{n}", at=now - timedelta(minutes=16 + n)))
        session.add(LoginAttempt(login="recent", at=now - timedelta(minutes=14)))
        session.add(LoginAttempt(login="ok", at=now - timedelta(days=3), succeeded=True))
    report = sweep_once(db, settings, now)
    assert report.login_attempts_purged == 8
    with db.reading() as session:
        assert list(session.scalars(select(LoginAttempt.login))) == ["recent"]
    assert sweep_once(db, settings, now).login_attempts_purged == 0


def test_purging_many_attempts_goes_batch_by_batch(db, tmp_path, monkeypatch):
    import sync_server.sweeps as sweeps

    monkeypatch.setattr(sweeps, "ATTEMPTS_BATCH", 3)
    settings = Settings(data_dir=tmp_path, escalation_interval=0)
    now = utcnow()
    with db.unit_of_work() as session:
        session.add_all(
            LoginAttempt(login=uuid.uuid4().hex, at=now - timedelta(hours=1)) for _ in range(10)
        )
    assert sweeps.purge_login_attempts(db, settings, now) == 10
    assert failures(db) == 0
