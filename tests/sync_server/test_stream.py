"""The live stream: pokes reach exactly those who may see the change, on one process or many."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from relais_testing.factories import PASSWORD, build_world, note_data
from relais_testing.serving import server_process, server_thread


def login(base_url: str, user: str) -> dict[str, str]:
    body = {"login": user, "password": PASSWORD, "device_name": "stream test"}
    token = httpx.post(f"{base_url}/api/v1/auth/login", json=body, timeout=60).json()["token"]
    return {"Authorization": f"Bearer {token}"}


def push_note(base_url: str, headers: dict[str, str], data: dict) -> None:
    mutation = {
        "id": data["id"],
        "type": "note.create",
        "data": data,
        "client_time": data["captured_at"],
    }
    response = httpx.post(
        f"{base_url}/api/v1/sync/push",
        json={"protocol": 1, "mutations": [mutation]},
        headers=headers,
        timeout=60,
    )
    assert response.json()["results"][0]["status"] == "applied"


@contextmanager
def listening(base_url: str, headers: dict[str, str]) -> Iterator[queue.Queue[tuple[str, str]]]:
    """Read the stream in a thread; yields a queue of ("poke", cursor) and ("comment", text)."""
    events: queue.Queue[tuple[str, str]] = queue.Queue()
    stop = threading.Event()

    def read() -> None:
        with httpx.Client(timeout=httpx.Timeout(5, read=30)) as http:
            try:
                with http.stream(
                    "GET", f"{base_url}/api/v1/sync/stream", headers=headers
                ) as response:
                    events.put(("content-type", response.headers["content-type"]))
                    event = None
                    for line in response.iter_lines():
                        if stop.is_set():
                            return
                        if line.startswith(":"):
                            events.put(("comment", line))
                        elif line.startswith("event:"):
                            event = line.split(":", 1)[1].strip()
                        elif line.startswith("data:") and event == "poke":
                            events.put(("poke", json.loads(line.split(":", 1)[1])["cursor"]))
            except httpx.HTTPError:
                return  # the server stopped at the end of the test

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    assert events.get(timeout=60)[1].startswith("text/event-stream")
    assert events.get(timeout=60)[0] == "poke"  # every stream opens with the current position
    try:
        yield events
    finally:
        stop.set()


def next_poke(events: queue.Queue[tuple[str, str]], timeout: float) -> str | None:
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            kind, value = events.get(timeout=left)
        except queue.Empty:
            return None
        if kind == "poke":
            return value
    return None


def test_poke_reaches_the_counsellor_and_not_another_team(db, settings):
    world = build_world(db)
    with server_thread(db, settings) as base_url:
        sup_a, couns_1, sup_b = (login(base_url, u) for u in ("sup_a", "couns_1", "sup_b"))
        with listening(base_url, couns_1) as counsellor, listening(base_url, sup_b) as other_team:
            push_note(base_url, sup_a, note_data(world, "a1"))
            assert next_poke(counsellor, timeout=60) is not None
            # The other team's supervisor is not told anything happened.
            assert next_poke(other_team, timeout=1.5) is None


def test_heartbeat_comment_keeps_the_stream_alive(db, settings):
    build_world(db)
    with server_thread(db, settings) as base_url:  # heartbeat 1 s in tests (20 s max in production)
        with listening(base_url, login(base_url, "couns_1")) as events:
            kind, text = events.get(timeout=60)
            assert (kind, text) == ("comment", ": keep-alive")


def test_revoked_device_stream_ends(db, settings):
    build_world(db)
    with server_thread(db, settings) as base_url:
        headers = login(base_url, "couns_1")
        with httpx.Client(timeout=60) as http:
            with http.stream("GET", f"{base_url}/api/v1/sync/stream", headers=headers) as response:
                lines = response.iter_lines()
                assert next(lines).startswith("event: poke")
                assert (
                    http.post(f"{base_url}/api/v1/auth/logout", headers=headers).status_code == 204
                )
                rest = list(lines)  # ends at the next heartbeat instead of running forever
                assert not any(line.startswith("event: poke") for line in rest)


@pytest.mark.slow
def test_pokes_cross_server_processes_through_postgres(pg_db):
    """Two server processes on one PostgreSQL: a push to one pokes a stream held by the other."""
    world = build_world(pg_db)
    with server_process(pg_db.url) as (first, _), server_process(pg_db.url) as (second, _):
        couns_1 = login(first, "couns_1")
        sup_a = login(second, "sup_a")
        with listening(first, couns_1) as events:
            time.sleep(0.3)  # let the listener of the first process subscribe
            push_note(second, sup_a, note_data(world, "a1"))
            assert next_poke(events, timeout=60) is not None


def test_a_change_made_by_the_admin_cli_pokes_open_streams(db, settings, tmp_path):
    """A commit from another process (here `relais user add`) still pokes: by NOTIFY on
    PostgreSQL, by the change-counter watch on SQLite."""
    import os
    import subprocess
    import sys

    world = build_world(db)
    with server_thread(db, settings) as base_url:
        with listening(base_url, login(base_url, "couns_1")) as events:
            env = dict(
                os.environ, RELAIS_DATABASE_URL=db.url, RELAIS_NEW_PASSWORD="a-long-password"
            )
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "sync_server",
                    "user",
                    "add",
                    "--org",
                    world.slug,
                    "--login",
                    "newcomer",
                    "--name",
                    "New Counsellor",
                    "--role",
                    "counsellor",
                ],
                env=env,
                check=True,
                capture_output=True,
            )
            assert next_poke(events, timeout=60) is not None
