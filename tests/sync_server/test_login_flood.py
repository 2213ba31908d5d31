"""A flood of failed logins must not stall work (issue 8, security item 7), through a real
uvicorn server: password checks hold neither the database writer nor more than their
share of threads, and pushes go on.

Password checks are watched by a spy around argon2's real `verify` (it counts the checks in
flight and can hold them until released); the checks themselves are real.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select

from relais_testing.factories import PASSWORD, build_world, note_data
from relais_testing.serving import server_thread
from sync_server.app import create_app
from sync_server.auth.models import LoginAttempt
from sync_server.database import Database
from sync_server.settings import Settings

pytestmark = pytest.mark.slow

LOGIN = "/api/v1/auth/login"
DEADLINE = 30.0  # seconds: generous, for a loaded machine; never a measured figure


class PasswordChecks:
    """A spy around argon2's verify: how many checks run at once, and a hold on them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.in_flight = 0
        self.peak = 0
        self.calls = 0
        self.niceness: set[int] = set()  # of the threads that ran checks (Linux)
        self.released = threading.Event()
        self.released.set()

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        real = PasswordHasher.verify
        checks = self

        def verify(hasher: PasswordHasher, hash: str | bytes, password: str | bytes) -> bool:
            with checks._lock:
                checks.in_flight += 1
                checks.calls += 1
                checks.peak = max(checks.peak, checks.in_flight)
                if sys.platform.startswith("linux"):
                    tid = threading.get_native_id()
                    checks.niceness.add(os.getpriority(os.PRIO_PROCESS, tid))
            try:
                checks.released.wait(DEADLINE * 2)
                return real(hasher, hash, password)
            finally:
                with checks._lock:
                    checks.in_flight -= 1

        monkeypatch.setattr(PasswordHasher, "verify", verify)


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> PasswordChecks:
    spy = PasswordChecks()
    spy.install(monkeypatch)
    return spy


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting, after {DEADLINE:.0f} s, for {what}")
        time.sleep(0.01)


def flood_settings(tmp_path: Path, concurrency: int, queue: int = 16) -> Settings:
    # One trusted proxy: each attempt below names its own client address, as a botnet's would.
    return Settings(
        data_dir=tmp_path,
        escalation_interval=0,
        stream_heartbeat=1.0,
        login_hash_concurrency=concurrency,
        login_hash_queue=queue,
        trusted_proxy_count=1,
    )


def failed_login(base_url: str, n: int, timeout: float = DEADLINE) -> httpx.Response:
    return httpx.post(
        base_url + LOGIN,
        json={"login": f"nobody-{n}", "password": "a-guess", "device_name": "flood"},
        headers={"X-Forwarded-For": f"198.51.{n // 250 % 256}.{n % 250 + 1}"},
        timeout=timeout,
    )


def assert_error_shape(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    return str(body["error"]["code"])


@pytest.fixture
def supervisor(db: Database) -> Iterator[Callable[[str], httpx.Client]]:
    """A signed-in supervisor's HTTP client on a given server, and what it may push."""
    clients: list[httpx.Client] = []

    def open_client(base_url: str) -> httpx.Client:
        response = httpx.post(
            base_url + LOGIN,
            json={"login": "sup_a", "password": PASSWORD, "device_name": "phone"},
            timeout=DEADLINE,
        )
        assert response.status_code == 200, response.text
        client = httpx.Client(
            base_url=base_url,
            headers={"Authorization": f"Bearer {response.json()['token']}"},
            timeout=DEADLINE,
        )
        clients.append(client)
        return client

    yield open_client
    for client in clients:
        client.close()


def push_note(client: httpx.Client, world: Any) -> None:
    mutation = {
        "id": str(uuid.uuid4()),
        "type": "note.create",
        "data": note_data(world, "a1"),
        "client_time": "2026-11-29T10:00:00+00:00",
    }
    response = client.post("/api/v1/sync/push", json={"protocol": 1, "mutations": [mutation]})
    assert response.status_code == 200, response.text
    assert response.json()["results"][0]["status"] == "applied", response.text


def test_pushes_go_on_while_passwords_are_checked_and_checks_stay_bounded(
    db, tmp_path, checks, supervisor
):
    """Two password checks are held in progress (the limit) and one more login waits for its
    turn (the queue): the database writer stays free (a push and a pull succeed meanwhile),
    and a fourth login gets 503 at once instead of a third check or a place in the queue."""
    world = build_world(db)
    settings = flood_settings(tmp_path, concurrency=2, queue=1)
    app = create_app(settings, db)
    gate = app.state.password_gate
    with server_thread(db, settings, app) as base_url:
        client = supervisor(base_url)
        checks.released.clear()
        answers: dict[int, httpx.Response] = {}

        def send(n: int) -> threading.Thread:
            thread = threading.Thread(
                target=lambda: answers.__setitem__(n, failed_login(base_url, n))
            )
            thread.start()
            return thread

        threads = []
        try:
            threads += [send(1), send(2)]
            wait_until(lambda: checks.in_flight == 2, "two password checks at once")
            threads.append(send(3))
            wait_until(lambda: gate.in_use == 3, "a third login waiting for its turn")

            push_note(client, world)
            pull = client.post("/api/v1/sync/pull", json={"protocol": 1, "cursor": None})
            assert pull.status_code == 200, pull.text

            fourth = failed_login(base_url, 4)
            assert fourth.status_code == 503, fourth.text
            assert assert_error_shape(fourth) == "unavailable"
            assert fourth.headers.get("retry-after") == "1"
            assert checks.in_flight == 2
        finally:
            checks.released.set()
            for thread in threads:
                thread.join(DEADLINE)
    assert [answers[n].status_code for n in (1, 2, 3)] == [401, 401, 401]
    assert checks.peak == 2
    with db.reading() as session:  # the refused fourth attempt was not counted
        logins = set(session.scalars(select(LoginAttempt.login).where(~LoginAttempt.succeeded)))
    assert logins == {"nobody-1", "nobody-2", "nobody-3"}


def test_a_flood_of_failed_logins_leaves_pushes_working(db, tmp_path, checks, supervisor):
    """Four clients send failed logins (unknown logins, each attempt from its own address)
    as fast as they are answered while a supervisor pushes notes one by one: every push is
    applied, at most one password is checked at a time, every refusal has the protocol's
    error shape, and exactly the checked attempts are counted."""
    world = build_world(db)
    stop = threading.Event()
    answers: list[httpx.Response] = []
    counter = iter(range(10, 1_000_000))
    lock = threading.Lock()

    def flood() -> None:
        while not stop.is_set():
            with lock:
                n = next(counter)
            response = failed_login(base_url, n)
            with lock:
                answers.append(response)

    with server_thread(db, flood_settings(tmp_path, concurrency=1, queue=1)) as base_url:
        client = supervisor(base_url)
        checks.peak = 0
        threads = [threading.Thread(target=flood) for _ in range(4)]
        for thread in threads:
            thread.start()
        try:
            wait_until(lambda: len(answers) >= 4, "the flood to be answered")
            for _ in range(15):
                push_note(client, world)
            wait_until(lambda: len(answers) >= 20, "twenty answers to the flood")
        finally:
            stop.set()
            for thread in threads:
                thread.join(DEADLINE)
    assert checks.peak == 1
    if sys.platform.startswith("linux"):  # checks yield the CPU to pushes and pulls
        assert min(checks.niceness) > os.getpriority(os.PRIO_PROCESS, 0), checks.niceness
    statuses: dict[int, int] = {}
    for response in answers:
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        code = assert_error_shape(response)
        assert (response.status_code, code) in {
            (401, "invalid_credentials"),
            (503, "unavailable"),
        }, response.text
    assert statuses.get(401, 0) >= 1, statuses
    with db.reading() as session:
        counted = session.scalar(
            select(func.count()).select_from(LoginAttempt).where(~LoginAttempt.succeeded)
        )
    assert counted == statuses[401], statuses


def test_sign_ins_that_arrive_together_wait_their_turn(db, tmp_path, checks):
    """Six people signing in at the same moment on a server that checks one password at a
    time (and lets 16 wait, the default): all get in, one check after the other."""
    build_world(db)
    logins = ["sup_a", "sup_b", "couns_1", "couns_2", "coord", "admin"]
    answers: dict[str, int] = {}
    start = threading.Barrier(len(logins))

    def sign_in(login: str) -> None:
        start.wait()
        response = httpx.post(
            base_url + LOGIN,
            json={"login": login, "password": PASSWORD, "device_name": "phone"},
            timeout=DEADLINE,
        )
        answers[login] = response.status_code

    with server_thread(db, flood_settings(tmp_path, concurrency=1)) as base_url:
        threads = [threading.Thread(target=sign_in, args=(login,)) for login in logins]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(DEADLINE)
    assert answers == dict.fromkeys(logins, 200)
    assert checks.peak == 1
