"""The sync client against the real server, served by uvicorn on 127.0.0.1, on both backends.

Faults come from the network only (a stopped server, lost answers); the server is never mocked.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import queue
import socket
import sqlite3
import stat
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import func, select

from field_app.store import LocalStore, OutboxCounts
from field_app.sync import Backoff, Offline, SignedOut, SyncClient, SyncLoop, UpdateRequired
from field_app.sync import client as sync_client
from field_app.sync.stream import EventParser, StreamEvent, poke_cursor
from relais_testing.factories import PASSWORD, build_world, note_data
from shared_models.wire import Change
from sync_server.app import create_app
from sync_server.auth.service import revoke_device
from sync_server.notes.models import Note
from sync_server.orgs.models import User
from sync_server.orgs.service import bump_sync_epoch
from sync_server.sync.models import MutationRecord

REPO = Path(__file__).resolve().parents[2]


class LiveServer:
    """The real app in a uvicorn thread; stop() and start() again on the same port."""

    def __init__(self, app: Any) -> None:
        self.app = app
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        config = uvicorn.Config(
            self.app, log_level="warning", lifespan="on", timeout_graceful_shutdown=1
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            assert self._thread.is_alive() and time.monotonic() < deadline, "server did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        assert self._server is not None and self._thread is not None
        self._server.should_exit = True
        self._thread.join(timeout=30)
        assert not self._thread.is_alive(), "server did not stop"


@pytest.fixture
def server(db, settings) -> Iterator[LiveServer]:
    live = LiveServer(create_app(settings, db))
    live.start()
    yield live
    if live._thread is not None and live._thread.is_alive():
        live.stop()


class Wiretap(httpx.AsyncBaseTransport):
    """The real network, plus a record of requests, lost answers and held pulls."""

    def __init__(self, lose_push_answers: int = 0) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.requests: list[tuple[str, bytes]] = []
        self.lose_push_answers = lose_push_answers
        self.pull_gate: asyncio.Event | None = None
        self.held = 0
        self.mangle_id: uuid.UUID | None = None
        self.mangle_protocol = False

    def sent(self, endpoint: str) -> list[bytes]:
        return [body for path, body in self.requests if path.endswith(endpoint)]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/sync/push"):
            request = self._mangled(request)
        self.requests.append((request.url.path, request.content))
        if self.pull_gate is not None and request.url.path.endswith("/sync/pull"):
            self.held += 1
            await self.pull_gate.wait()
            self.held -= 1
        response = await self.inner.handle_async_request(request)
        if request.url.path.endswith("/sync/push") and self.lose_push_answers:
            self.lose_push_answers -= 1
            await response.aread()  # the server has committed; the phone never hears back
            await response.aclose()
            raise httpx.ReadError("connection lost", request=request)
        return response

    def _mangled(self, request: httpx.Request) -> httpx.Request:
        body = request.content
        if self.mangle_id is not None:
            body = body.replace(f'"id":"{self.mangle_id}"'.encode(), b'"id":"mangled"')
        if self.mangle_protocol:
            body = body.replace(b'"protocol":1', b'"protocol":2')
        if body == request.content:
            return request
        headers = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
        return httpx.Request(request.method, request.url, headers=headers, content=body)

    async def aclose(self) -> None:
        await self.inner.aclose()


@contextlib.asynccontextmanager
async def device(
    server: LiveServer, tmp_path: Path, login: str, **client_options: Any
) -> AsyncIterator[SyncClient]:
    """A signed-in phone of `login`, with its own store file."""
    with LocalStore(tmp_path / f"{login}.sqlite3") as store:
        async with SyncClient(store, **client_options) as client:
            await client.login(server.url, login, PASSWORD, f"{login}'s phone")
            yield client


async def until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    """Poll `condition`; fail if it is still false at the deadline (no timing is asserted)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met before the deadline"
        await asyncio.sleep(0.05)


def test_notes_queued_offline_reach_the_counsellor_once_the_server_is_back(
    server, db, tmp_path, caplog
):
    caplog.set_level(logging.DEBUG)
    world = build_world(db)
    delays: list[float] = []

    async def wait_and_see(seconds: float) -> None:
        delays.append(seconds)
        if len(delays) == 2:  # the network comes back during the second wait
            server.start()

    async def scenario() -> None:
        async with device(server, tmp_path, "sup_a", random=lambda: 1.0, sleep=wait_and_see) as sup:
            await sup.sync_once()
            assert sup.store.count_entities("worker") == 3
            server.stop()
            notes = [note_data(world, "a1", text=f"Fictional offline note {i}.") for i in range(3)]
            for data in notes:
                sup.store.queue("note.create", data)
            with pytest.raises(Offline):
                await sup.sync_once()
            assert sup.store.counts() == OutboxCounts(queued=3, rejected=0)
            assert {v.status for v in sup.store.notes_view()} == {"queued"}

            report = await sup.sync_with_retry(attempts=5)

            assert delays == [0.5, 1.0]  # full jitter with random() = 1: the ceiling itself
            assert report.pushed.applied == 3
            assert sup.store.counts().queued == 0
            assert {v.id: v.status for v in sup.store.notes_view()} == {
                d["id"]: "open" for d in notes
            }
        async with device(server, tmp_path, "couns_1") as couns:
            await couns.sync_once()
            received = {n["id"]: n["text"] for n in couns.store.list_entities("note")}
            assert received == {d["id"]: d["text"] for d in notes}

    asyncio.run(scenario())
    assert "Fictional offline note" not in caplog.text  # counts and codes only


def test_a_lost_answer_is_retried_and_the_note_stored_once(server, db, tmp_path):
    world = build_world(db)
    tap = Wiretap(lose_push_answers=1)
    data = note_data(world, "a2", text="Fictional: forgot gloves again.")

    async def scenario() -> None:
        async with device(server, tmp_path, "sup_a", transport=tap) as sup:
            mutation_id = sup.store.queue("note.create", data)
            with pytest.raises(Offline):
                await sup.push_once()
            [still_queued] = sup.store.pending()
            assert (still_queued.id, still_queued.attempts) == (mutation_id, 1)

            outcome = await sup.push_once()

            assert (outcome.applied, outcome.duplicate) == (0, 1)
            assert sup.store.pending() == []
            assert [v.status for v in sup.store.notes_view()] == ["sent"]
            await sup.pull_until_done()
            assert [v.status for v in sup.store.notes_view()] == ["open"]

    asyncio.run(scenario())
    first, second = tap.sent("/sync/push")
    assert first == second  # the very same mutation, byte for byte
    with db.reading() as session:
        assert session.scalar(select(func.count()).select_from(Note)) == 1
        assert session.scalar(select(func.count()).select_from(MutationRecord)) == 1


def test_a_rejected_mutation_is_kept_locally_and_never_sent_again(server, db, tmp_path):
    world = build_world(db)
    tap = Wiretap()
    foreign = note_data(world, "b1")  # team B: not sup_a's
    good = note_data(world, "a1")

    async def scenario() -> None:
        async with device(server, tmp_path, "sup_a", transport=tap) as sup:
            foreign_id = sup.store.queue("note.create", foreign)
            sup.store.queue("note.create", good)

            report = await sup.sync_once()

            assert (report.pushed.applied, report.pushed.rejected) == (1, 1)
            [rejected] = sup.store.rejected_mutations()
            assert (rejected.id, rejected.code) == (foreign_id, "forbidden")
            assert {v.id: (v.status, v.error_code) for v in sup.store.notes_view()} == {
                foreign["id"]: ("rejected", "forbidden"),
                good["id"]: ("open", None),
            }

            tap.requests.clear()
            sup.store.queue("note.create", note_data(world, "a3"))
            await sup.sync_once()
            await sup.sync_once()
            [only_push] = tap.sent("/sync/push")
            assert str(foreign_id).encode() not in only_push
            assert sup.store.counts() == OutboxCounts(queued=0, rejected=1)

    asyncio.run(scenario())


def test_a_malformed_mutation_is_rejected_alone_and_never_blocks_the_rest(server, db, tmp_path):
    world = build_world(db)
    malformed = uuid.uuid4()

    async def scenario() -> None:
        async with device(server, tmp_path, "sup_a") as sup:
            for _ in range(5):
                sup.store.queue("note.create", note_data(world, "a1"))
            # Say an older app version stored a client_time that is not RFC 3339.
            with sqlite3.connect(sup.store.path) as side:
                side.execute(
                    "INSERT INTO outbox (mutation_id, type, data, client_time, created_at)"
                    " VALUES (?, 'note.create', ?, 'yesterday', 'yesterday')",
                    (str(malformed), json.dumps(note_data(world, "a2"))),
                )
            for _ in range(2):
                sup.store.queue("note.create", note_data(world, "a3"))

            outcome = await sup.push_all()

            assert (outcome.applied, outcome.rejected) == (7, 1)
            [rejected] = sup.store.rejected_mutations()
            # Refused by the server on its own (invalid_data), or, by a server that refuses
            # the whole request, isolated by the client's bisection (invalid_envelope).
            assert rejected.id == malformed
            assert rejected.code in ("invalid_data", "invalid_envelope")
            assert "client_time" in rejected.message
            assert sup.store.pending() == []

    asyncio.run(scenario())


def test_a_request_refused_as_a_whole_is_bisected_down_to_the_bad_mutation(server, db, tmp_path):
    world = build_world(db)
    tap = Wiretap()

    async def scenario() -> None:
        async with device(server, tmp_path, "sup_a", transport=tap) as sup:
            queued = [sup.store.queue("note.create", note_data(world, "a1")) for _ in range(8)]
            tap.mangle_id = queued[5]  # a middlebox breaks one mutation's id: 422 for all

            outcome = await sup.push_all()

            assert (outcome.applied, outcome.rejected) == (7, 1)
            [rejected] = sup.store.rejected_mutations()
            assert (rejected.id, rejected.code) == (queued[5], "invalid_envelope")
            assert 2 < len(tap.sent("/sync/push")) <= 8  # by halves: about 2 log2(8) requests

            # A protocol mismatch is the app's problem, not the notes': nothing is rejected.
            sup.store.queue("note.create", note_data(world, "a2"))
            tap.mangle_protocol = True
            with pytest.raises(UpdateRequired):
                await sup.push_once()
            assert sup.store.counts() == OutboxCounts(queued=1, rejected=1)

    asyncio.run(scenario())


def test_a_reset_rebuilds_the_synced_copies_and_keeps_queued_notes(server, db, tmp_path):
    world = build_world(db)

    async def scenario() -> None:
        async with device(server, tmp_path, "sup_a") as sup:
            await sup.sync_once()
            workers = sup.store.list_entities("worker")
            ghost = uuid.uuid4()  # a copy the server no longer stands behind
            assert sup.store.apply_pull(
                [Change(entity="worker", op="upsert", id=ghost, data={"id": str(ghost)})],
                sup.store.cursor(),
            )
            queued = sup.store.queue("note.create", note_data(world, "a1"))
            with db.unit_of_work() as session:  # say the supervisor's roles changed
                bump_sync_epoch(session.get_one(User, world.users["sup_a"]))

            report = await sup.pull_until_done()

            assert report.resets == 1
            assert sup.store.get_entity("worker", ghost) is None
            assert sup.store.list_entities("worker") == workers
            assert [m.id for m in sup.store.pending()] == [queued]
            assert (await sup.push_all()).applied == 1

    asyncio.run(scenario())


def test_a_revoked_device_is_signed_out_and_keeps_its_queued_notes(server, db, tmp_path):
    world = build_world(db)

    async def scenario() -> None:
        async with device(server, tmp_path, "sup_a") as sup:
            await sup.sync_once()
            with db.unit_of_work() as session:
                revoke_device(session, sup.store.credentials().device_id)
            queued = sup.store.queue("note.create", note_data(world, "a1"))

            with pytest.raises(SignedOut) as signed_out:
                await sup.sync_once()

            assert signed_out.value.code == "token_revoked"
            assert sup.store.credentials() is None
            assert sup.store.count_entities("worker") == 0 and sup.store.cursor() is None
            assert [m.id for m in sup.store.pending()] == [queued]
            await sup.login(server.url, "sup_a", PASSWORD, "sup_a's phone")
            assert (await sup.sync_once()).pushed.applied == 1

    asyncio.run(scenario())


def test_a_poke_makes_the_counsellor_pull_without_waiting_for_the_timer(server, db, tmp_path):
    world = build_world(db)
    data = note_data(world, "a1", severity="urgent")

    async def scenario() -> None:
        async with (
            device(server, tmp_path, "couns_1") as couns,
            device(server, tmp_path, "sup_a") as sup,
        ):
            loop = SyncLoop(couns, interval=3600)  # the timer never fires during the test
            runner = asyncio.create_task(loop.run())
            await until(lambda: loop.status.live and loop.status.last_success is not None)

            sup.store.queue("note.create", data)
            await sup.push_all()

            await until(lambda: couns.store.get_entity("note", data["id"]) is not None)
            assert loop.status.state in ("idle", "sending")
            loop.stop()
            assert (await runner).last_error is None

    asyncio.run(scenario())


def test_pokes_during_a_pull_coalesce_into_one_more_pull(server, db, tmp_path):
    world = build_world(db)
    tap = Wiretap()

    async def scenario() -> None:
        async with device(server, tmp_path, "couns_1", transport=tap) as couns:
            loop = SyncLoop(couns, interval=3600, live=False)
            runner = asyncio.create_task(loop.run())
            await until(lambda: loop.status.last_success is not None)
            pulls_before = len(tap.sent("/sync/pull"))
            tap.pull_gate = asyncio.Event()

            loop.request_pull()
            await until(lambda: tap.held == 1)  # one pull in flight
            for _ in range(10):
                loop.request_pull()
            assert loop.sync_pending
            tap.pull_gate.set()

            await until(
                lambda: (
                    len(tap.sent("/sync/pull")) == pulls_before + 2 and loop.status.state == "idle"
                )
            )
            assert not loop.sync_pending
            assert len(tap.sent("/sync/pull")) == pulls_before + 2

            def tap_save_on_a_ui_thread() -> None:  # as a plain Flet event handler would
                couns.store.queue("note.create", note_data(world, "a1"))
                loop.request_sync()

            await asyncio.to_thread(tap_save_on_a_ui_thread)
            await until(lambda: len(tap.sent("/sync/push")) == 1 and loop.status.queued == 0)
            await asyncio.to_thread(loop.stop)
            assert (await runner).last_error is None

    asyncio.run(scenario())


def test_a_large_outbox_goes_out_in_requests_under_the_size_limit(
    server, db, tmp_path, monkeypatch
):
    world = build_world(db)
    tap = Wiretap()
    # A 24 KiB limit instead of 1 MiB keeps the server's work small; the rule is the same.
    limit = 24 * 1024
    monkeypatch.setattr(sync_client, "MAX_PUSH_BYTES", limit)
    # 2000 characters of 4 bytes each: about 8 KiB per note, so two per request.
    notes = [note_data(world, "a1", text="\N{DECIDUOUS TREE}" * 2000) for _ in range(7)]

    async def scenario() -> None:
        async with device(server, tmp_path, "sup_a", transport=tap) as sup:
            for data in notes:
                sup.store.queue("note.create", data)
            first = await sup.push_once()
            assert first.applied == 2
            assert (await sup.push_all()).applied == 5
            assert sup.store.counts().queued == 0

            monkeypatch.setattr(sync_client, "MAX_PUSH_BYTES", 4 * 1024)
            too_large = sup.store.queue(
                "note.create", note_data(world, "a1", text=notes[0]["text"])
            )
            assert (await sup.push_once()).rejected == 1
            [rejected] = sup.store.rejected_mutations()
            assert (rejected.id, rejected.code) == (too_large, "too_large")

    asyncio.run(scenario())
    bodies = tap.sent("/sync/push")
    assert len(bodies) == 4  # 2 + 2 + 2 + 1; the oversized note was never sent
    assert all(len(body) <= limit for body in bodies)


def test_backoff_doubles_up_to_the_cap_with_full_jitter():
    ceiling = Backoff(random=lambda: 1.0)
    assert [ceiling.next_delay() for _ in range(8)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    ceiling.reset()
    assert ceiling.next_delay() == 0.5
    jittered = Backoff(random=lambda: 0.25)
    assert [jittered.next_delay() for _ in range(3)] == [0.125, 0.25, 0.5]
    assert Backoff(random=lambda: 0.0).next_delay(at_least=120) == 30  # Retry-After, capped


def test_stream_parser_reads_pokes_and_skips_heartbeats():
    parser = EventParser()
    lines = [": keep-alive", "", "event: poke", 'data: {"cursor": "c-7"}', "", ": keep-alive", ""]
    events = [e for e in map(parser.feed, lines) if e is not None]
    assert events == [StreamEvent("poke", '{"cursor": "c-7"}')]
    assert poke_cursor(events[0].data) == "c-7"
    assert poke_cursor("not json") is None


class LineReader:
    """Reads a subprocess's JSON lines in a thread, so the test can wait with a deadline."""

    def __init__(self, stream: Any) -> None:
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            self.lines.put(json.loads(line))

    def wait_for(self, condition: Callable[[dict[str, Any]], bool], timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            if condition(line):
                return


def headless(server: LiveServer, tmp_path: Path, login: str, *options: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "field_app.sync",
        "--server",
        server.url,
        "--login",
        login,
        "--db",
        str(tmp_path / f"{login}.sqlite3"),
        *options,
    ]


@pytest.mark.slow
def test_the_headless_device_syncs_notes_as_a_subprocess(server, db, tmp_path):
    build_world(db)
    env = dict(os.environ, RELAIS_PASSWORD=PASSWORD)
    watcher = subprocess.Popen(
        headless(server, tmp_path, "couns_1", "--watch", "--duration", "60"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )
    try:
        writer = subprocess.run(
            headless(server, tmp_path, "sup_a", "--create-notes", "5", "--worker-ref", "a2"),
            capture_output=True,
            text=True,
            env=env,
            cwd=REPO,
            timeout=60,
        )
        assert writer.returncode == 0, writer.stderr
        last = json.loads(writer.stdout.splitlines()[-1])
        assert (last["event"], last["queued"], last["rejected"], last["notes"]) == (
            "synced",
            0,
            0,
            5,
        )
        assert "Simulated note" not in writer.stdout + writer.stderr
        assert stat.S_IMODE((tmp_path / "sup_a.sqlite3").stat().st_mode) == 0o600

        LineReader(watcher.stdout).wait_for(lambda line: line.get("notes") == 5)
    finally:
        watcher.terminate()  # stdout belongs to the reader thread: wait, then read stderr
        watcher.wait(timeout=20)
    assert watcher.returncode == 0, watcher.stderr.read()
    with LocalStore(tmp_path / "couns_1.sqlite3") as store:
        notes = store.list_entities("note")
        assert len(notes) == 5 and {n["status"] for n in notes} == {"open"}
