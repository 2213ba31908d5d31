"""Real processes, real SIGKILLs: nothing is lost and nothing is duplicated (docs/design.md, invariant 1).

a. The headless device (`python -m field_app.sync`) is SIGKILLed again and again while it
   pushes, and restarted on the same store file; a last run finishes the job. The server (a
   `relais serve` process) then holds every note the device queued exactly once.
b. The server process is SIGKILLed while devices push notes (requests in flight are cut,
   transactions die half done), and restarted on the same database and port (SQLite: its
   WAL is recovered); every note a device heard `applied` or `duplicate` for survives every
   crash, and once the devices have synced, every queued note is on the server exactly once.

Both run on SQLite and PostgreSQL. Delays are random (the seed is in the failure message);
nothing asserts a timing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from field_app.store import LocalStore, OutboxCounts
from field_app.sync import RetryLater, SyncClient
from relais_testing.factories import PASSWORD, build_world, note_data
from relais_testing.serving import free_port, start_server_process
from sync_server.database import Database
from sync_server.notes.models import Note
from sync_server.sync.models import MutationRecord

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
NOTES_PER_RUN = 60


class Lines:
    """A subprocess's JSON lines, read in a thread so that the test can wait with a deadline."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with contextlib.suppress(ValueError):
                self.lines.put(json.loads(line))

    def wait_for(self, event: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                sigkill(self.process)
                assert self.process.stderr is not None
                raise AssertionError(
                    f"no {event!r} line from the device: {self.process.stderr.read()}"
                ) from None
            if line.get("event") == event:
                return

    def close(self) -> None:
        """After the process ended: the reader reaches the end of its output."""
        self._thread.join(timeout=10)
        close_pipes(self.process)


def headless(server: str, login: str, store: Path, *options: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "field_app.sync",
            "--server",
            server,
            "--login",
            login,
            "--db",
            str(store),
            "--timeout",
            "90",
            *options,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, RELAIS_PASSWORD=PASSWORD),
        cwd=REPO,
    )


def sigkill(process: subprocess.Popen[Any]) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def close_pipes(process: subprocess.Popen[Any]) -> None:
    for pipe in (process.stdout, process.stderr):
        if pipe is not None:
            pipe.close()


@contextlib.contextmanager
def relais_serve(database_url: str, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """`relais serve` on a fixed port (so that clients can reconnect after a restart)."""
    process = start_server_process(database_url, port)
    try:
        wait_until_healthy(port, process)
        yield process
    finally:
        sigkill(process)
        close_pipes(process)


def wait_until_healthy(port: int, process: subprocess.Popen[bytes], timeout: float = 90) -> None:
    """Like relais_testing.serving.wait_for_health, with one HTTP client for all the polls: a new one
    per poll loads the CA bundle each time, and steals the CPU the starting server needs."""
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=1) as http:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                assert process.stderr is not None
                raise RuntimeError(f"server exited: {process.stderr.read().decode()}")
            with contextlib.suppress(httpx.HTTPError):
                if http.get("/api/v1/health").status_code == 200:
                    return
            time.sleep(0.1)
    raise TimeoutError("the server did not become healthy")


def server_notes(db: Database, author_id: uuid.UUID) -> set[str]:
    with db.reading() as session:
        return {str(i) for i in session.scalars(select(Note.id).where(Note.author_id == author_id))}


def server_ledger(db: Database, user_ids: list[uuid.UUID]) -> Counter[str]:
    """The user's mutation records by status."""
    with db.reading() as session:
        rows = session.execute(
            select(MutationRecord.status, func.count())
            .where(MutationRecord.user_id.in_(user_ids))
            .group_by(MutationRecord.status)
        ).all()
    return Counter({status: count for status, count in rows})


def test_a_device_killed_mid_push_again_and_again_loses_and_duplicates_nothing(db, tmp_path):
    world = build_world(db)
    sup_a = world.users["sup_a"]
    store_path = tmp_path / "sup_a.sqlite3"
    seed = random.randrange(1_000_000)
    rng = random.Random(seed)
    # Each run queues notes, then pushes all it has; killed right after the notes are queued
    # (the push cannot have been answered yet), then after random short delays.
    delays = [0.0, rng.uniform(0.02, 0.6), rng.uniform(0.02, 0.6)]
    confirmed = 0  # notes the device printed as queued before it was killed
    kills: list[tuple[int, int]] = []  # (still queued on the device, on the server) per kill
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with relais_serve(db.url, port):
        for delay in delays:
            device = headless(url, "sup_a", store_path, "--create-notes", str(NOTES_PER_RUN))
            lines = Lines(device)
            try:
                lines.wait_for("queued_notes", timeout=60)
                confirmed += NOTES_PER_RUN
                time.sleep(delay)
            finally:
                sigkill(device)
                lines.close()
            with LocalStore(store_path) as store:
                kills.append((store.counts().queued, len(server_notes(db, sup_a))))

        # Killed at a random moment of its life: maybe while it queues (each note is its own
        # transaction: those it stored count, the others were never written).
        device = headless(url, "sup_a", store_path, "--create-notes", str(NOTES_PER_RUN))
        time.sleep(rng.uniform(0.3, 2.0))
        sigkill(device)
        close_pipes(device)

        final = headless(url, "sup_a", store_path)
        out, err = final.communicate(timeout=120)
        assert final.returncode == 0, err

    context = f"seed {seed}, delays {delays}, kills (queued, on server) {kills}"
    print(f"\ndevice killed mid-push: {context}")
    with LocalStore(store_path) as store:
        assert store.counts() == OutboxCounts(queued=0, rejected=0), context
        on_device = {view.id: view.status for view in store.notes_view()}
    assert set(on_device.values()) == {"open"}, context
    total = len(on_device)
    assert confirmed <= total <= confirmed + NOTES_PER_RUN, context
    # Every note the device holds is on the server once, and nothing else from it.
    assert server_notes(db, sup_a) == set(on_device), context
    assert server_ledger(db, [sup_a]) == Counter(applied=total), context
    # At least one kill caught the device with notes not yet acknowledged: mid-push.
    assert any(queued for queued, _ in kills), context
    assert json.loads(out.splitlines()[-1])["notes"] == total


class Recorder(httpx.AsyncBaseTransport):
    """The real network, plus what the device heard: the push verdicts and the cut requests."""

    def __init__(self, acked: set[str], errors: Counter[str]) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.acked = acked
        self.errors = errors

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = await self.inner.handle_async_request(request)
            body = await response.aread()
        except httpx.HTTPError as exc:
            self.errors[type(exc).__name__] += 1
            raise
        if request.url.path.endswith("/sync/push") and response.status_code == 200:
            for result in json.loads(body)["results"]:
                if result["status"] in ("applied", "duplicate"):
                    self.acked.add(result["id"])
        return httpx.Response(
            response.status_code,
            headers=[(k, v) for k, v in response.headers.raw if k.lower() != b"transfer-encoding"],
            content=body,
            request=request,
        )

    async def aclose(self) -> None:
        await self.inner.aclose()


def test_a_server_killed_mid_transaction_loses_nothing_acknowledged(db, tmp_path):
    world = build_world(db)
    # Who writes, about whom: each note is valid, so each must end up applied.
    writers = {"sup_a": "a1", "sup_b": "b1", "couns_1": "a2", "coord": "b2"}
    authors = [world.users[login] for login in writers]
    seed = random.randrange(1_000_000)
    rng = random.Random(seed)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    acked: set[str] = set()  # mutation ids some device heard applied/duplicate for
    queued: dict[str, str] = {}  # mutation id -> note id, for every note queued
    errors: Counter[str] = Counter()
    crashes = 0
    server: subprocess.Popen[bytes] | None = None

    def lost_after_crash() -> set[str]:
        """Acknowledged notes missing from the database (none may be)."""
        on_server = set().union(*(server_notes(db, author) for author in authors))
        return {queued[m] for m in acked} - on_server

    async def scenario() -> None:
        stop = asyncio.Event()
        clients = []
        for login in writers:
            store = LocalStore(tmp_path / f"{login}.sqlite3")
            client = SyncClient(store, transport=Recorder(acked, errors))
            await client.login(url, login, PASSWORD, f"{login}'s phone")
            clients.append((login, client))

        async def write(login: str, client: SyncClient) -> None:
            while not stop.is_set():
                if client.store.counts().queued < 30:  # a supervisor writes a few more
                    for _ in range(rng.randint(3, 15)):
                        data = note_data(world, writers[login], text="Fictional load note.")
                        mutation_id = client.store.queue("note.create", data)
                        queued[str(mutation_id)] = data["id"]
                try:
                    await client.push_all()
                except RetryLater:
                    await asyncio.sleep(0.1)  # the server is down: try again soon

        async def crash_and_restart() -> None:
            nonlocal server, crashes
            for _ in range(2):
                await asyncio.sleep(rng.uniform(0.6, 1.5))  # under load by then
                assert server is not None
                await asyncio.to_thread(sigkill, server)
                close_pipes(server)
                crashes += 1
                missing = await asyncio.to_thread(lost_after_crash)
                assert not missing, f"acknowledged notes lost in crash {crashes}: {missing}"
                server = start_server_process(db.url, port)
                await asyncio.to_thread(wait_until_healthy, port, server)
            await asyncio.sleep(0.5)
            stop.set()

        try:
            await asyncio.gather(crash_and_restart(), *(write(*c) for c in clients))
            deadline = time.monotonic() + 90
            for _login, client in clients:
                await client.sync_with_retry(deadline=deadline)
                assert client.store.counts() == OutboxCounts(queued=0, rejected=0)
        finally:
            for _login, client in clients:
                await client.aclose()
                client.store.close()

    try:
        server = start_server_process(db.url, port)
        wait_until_healthy(port, server)
        asyncio.run(scenario())
    finally:
        if server is not None:
            sigkill(server)
            close_pipes(server)

    context = f"seed {seed}, {len(queued)} queued, {len(acked)} acked, errors {dict(errors)}"
    print(f"\nserver killed under load: {context}")
    assert crashes == 2
    assert not lost_after_crash(), context
    on_server = set().union(*(server_notes(db, author) for author in authors))
    assert on_server == set(queued.values()), context  # every queued note, and no other
    assert server_ledger(db, authors) == Counter(applied=len(queued)), context  # each once
    # The crashes cut requests in flight (not only refused new connections).
    cut = errors["ReadError"] + errors["RemoteProtocolError"] + errors["ReadTimeout"]
    assert cut >= 1, context
