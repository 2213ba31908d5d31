"""Offline-first sync proven under faults: a Hypothesis state machine of phones on a bad network.

Several simulated devices (a real SyncClient over a real LocalStore file each) talk to the real
server (uvicorn in a thread, on SQLite and on PostgreSQL) through a transport that wraps
httpx's real one and injects faults, request by request, on a schedule Hypothesis draws:

- a request dropped before it leaves (ConnectError), an answer lost after the server
  committed (ReadError), a request sent twice (one after the other, or both at once),
  a request delayed, or held in the network and delivered later, after other requests;
- the app killed: at a request (before it is sent, or after the server answered), or just
  before any store operation during a sync, or between two steps; its objects are dropped
  and the store is reopened from its file, as a restarted app would.

Meanwhile supervisors write notes (some the server must refuse), counsellors acknowledge,
follow up, mark seen and send heads-ups, authors retract, and workers are reassigned between
counsellors and teams. The invariants (DESIGN.md 1-4):

- after every step: a mutation leaves a device's outbox only once the server holds it, with the
  verdict the device shows (applied, or rejected with the same code); every answer `applied`
  or `duplicate` a device received is durable on the server; the server holds no note that no
  device wrote; a note written on a device never disappears from that device's list; a
  supervisor's device never holds another author's note or any follow-up; cursors only move
  forward;
- right after a complete pull: the device holds exactly what the policy lets its user see
  now, in the shape pull sends it (nothing leaked, nothing stale, nothing missing);
- at the end (faults off, held requests delivered, every device synced): every outbox is
  empty, every note written exists exactly once on the server or is rejected with the reason
  the device shows, and each device holds exactly what a fresh pull by its user returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import json
import shutil
import sqlite3
import tempfile
import uuid
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
from hypothesis import HealthCheck, Phase
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select

from field_app.store import LocalStore
from field_app.sync import Offline, SyncClient
from shared_models.vocabulary import CATEGORIES, FollowUpAction, NoteKind, Severity
from sync_server import policy
from sync_server.database import Database, utcnow
from sync_server.notes.models import FollowUp, HeadsUp, Note
from sync_server.orgs.models import Organization, Team, User, Worker
from sync_server.orgs.service import Assignment, reassign
from sync_server.sync import entities
from sync_server.sync.models import MutationRecord
from sync_server.sync.pull import Cursor
from tests.factories import PASSWORD, WORKERS, World, build_world, note_data
from tests.servers import server_thread

T = TypeVar("T")

# Simulated devices: name -> login. Two phones for sup_a: same user, separate files.
DEVICES: dict[str, str] = {
    "sup_a#1": "sup_a",
    "sup_a#2": "sup_a",
    "sup_b": "sup_b",
    "couns_1": "couns_1",
    "couns_2": "couns_2",
    "coord": "coord",
}
SUPERVISOR_TEAM = {"sup_a": "A", "sup_b": "B"}
COUNSELLOR_SIDE = ("couns_1", "couns_2", "coord")
ENTITY_MODELS: dict[str, Any] = {
    "note": Note,
    "follow_up": FollowUp,
    "heads_up": HeadsUp,
    "worker": Worker,
    "team": Team,
    "colleague": User,
    "organization": Organization,
}

FAULTS = (
    "drop_request",  # ConnectError before anything is sent
    "drop_response",  # the server answered (and committed); the answer is lost
    "duplicate",  # sent twice in a row; the client gets the second answer
    "concurrent_duplicate",  # sent twice at once (a retry racing the original)
    "delay",  # arrives late: others overtake it
    "hold",  # stuck in the network: the client times out, it is delivered later
    "kill_before_send",  # the app dies as it sends
    "kill_after_answer",  # the app dies after the server answered, before reading it
)
# Up to four requests of a sync get a fault (or "ok"); later ones go through.
fault_schedules = st.lists(st.sampled_from(("ok", *FAULTS)), max_size=4)
# Die just before the n-th store operation of a sync (a sync makes about a dozen), or, in
# about two syncs out of three, not at all (None first: examples shrink towards no kill).
kill_points = st.sampled_from([None] * 30 + list(range(15)))


class Killed(Exception):
    """The app process dies here: nothing after this point runs; its files stay."""


class KillableStore(LocalStore):
    """The real store; `kill_in = n` makes the app die just before its n-th next operation.

    Every operation is one transaction, so dying before one of them is dying "between any two
    store operations".
    """

    OPERATIONS = (
        "credentials",
        "signed_out_reason",
        "pending",
        "note_attempt",
        "apply_push_results",
        "reject_locally",
        "counts",
        "cursor",
        "apply_pull",
        "sent_watermark",
        "forget_sent",
    )

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.kill_in: int | None = None
        for name in self.OPERATIONS:
            setattr(self, name, self._killable(getattr(self, name)))

    def _killable(self, operation: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(operation)
        def run(*args: Any, **kwargs: Any) -> T:
            if self.kill_in is not None:
                if self.kill_in == 0:
                    self.kill_in = None
                    raise Killed(f"before {operation.__name__}")
                self.kill_in -= 1
            return operation(*args, **kwargs)

        return run


@dataclass
class Held:
    """A request stuck in the network, delivered later (its sender gave up on it)."""

    device: str
    method: str
    url: str
    headers: list[tuple[bytes, bytes]]
    content: bytes


@dataclass
class Network:
    """What the wire saw: held requests, and every push verdict that reached anyone."""

    held: list[Held] = field(default_factory=list)
    acked: set[uuid.UUID] = field(default_factory=set)  # applied/duplicate, as received
    refused: dict[uuid.UUID, str] = field(default_factory=dict)  # rejected, with its code
    server_errors: list[str] = field(default_factory=list)
    stats: Counter[str] = field(default_factory=Counter)

    def observe(self, request: httpx.Request, response: httpx.Response) -> None:
        if response.status_code >= 500:
            self.server_errors.append(f"{request.url.path}: {response.status_code}")
        if not request.url.path.endswith("/sync/push") or response.status_code != 200:
            return
        for result in response.json()["results"]:
            mutation_id = uuid.UUID(result["id"])
            self.stats[f"answer_{result['status']}"] += 1
            if result["status"] == "rejected":
                self.refused[mutation_id] = result["error"]["code"]
            else:
                self.acked.add(mutation_id)


_DROPPED_HEADERS = (b"content-length", b"transfer-encoding", b"content-encoding")


async def send_for_real(
    inner: httpx.AsyncBaseTransport, method: str, url: Any, headers: Any, content: bytes
) -> httpx.Response:
    """One real exchange with the server, read to the end."""
    request = httpx.Request(method, url, headers=headers, content=content)
    response = await inner.handle_async_request(request)
    body = await response.aread()
    await response.aclose()
    kept = [(k, v) for k, v in response.headers.raw if k.lower() not in _DROPPED_HEADERS]
    return httpx.Response(response.status_code, headers=kept, content=body, request=request)


class FaultyTransport(httpx.AsyncBaseTransport):
    """httpx's real transport to the real server, with the faults of `faults` in front."""

    def __init__(self, device: str, network: Network) -> None:
        self.device = device
        self.network = network
        self.inner = httpx.AsyncHTTPTransport()
        self.faults: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        fault = self.faults.pop(0) if self.faults else "ok"
        self.network.stats[fault] += 1
        if fault == "drop_request":
            raise httpx.ConnectError("fault: request dropped", request=request)
        if fault == "kill_before_send":
            raise Killed("while sending")
        if fault == "hold":
            self.network.held.append(
                Held(
                    self.device,
                    request.method,
                    str(request.url),
                    list(request.headers.raw),
                    request.content,
                )
            )
            raise httpx.ReadTimeout("fault: request stuck in the network", request=request)
        if fault == "delay":
            await asyncio.sleep(0.03)
        if fault == "duplicate":
            await self._send(request)  # the first answer is lost; the retry's comes back
        if fault == "concurrent_duplicate":
            _, response = await asyncio.gather(self._send(request), self._send(request))
        else:
            response = await self._send(request)
        if fault == "drop_response":
            raise httpx.ReadError("fault: answer lost", request=request)
        if fault == "kill_after_answer":
            raise Killed("after the server answered")
        self.network.observe(request, response)
        return response

    async def _send(self, request: httpx.Request) -> httpx.Response:
        return await send_for_real(
            self.inner, request.method, request.url, request.headers, request.content
        )

    async def aclose(self) -> None:
        await self.inner.aclose()


async def _no_sleep(_seconds: float) -> None:
    return None


@dataclass
class Device:
    name: str
    login: str
    user_id: uuid.UUID
    path: Path
    store: KillableStore
    transport: FaultyTransport
    client: SyncClient
    cursor: tuple[int, int] | None = None  # (epoch, position) of the furthest cursor seen

    @property
    def is_supervisor(self) -> bool:
        return self.login in SUPERVISOR_TEAM


@dataclass(frozen=True)
class Expected:
    """A mutation queued on a device, as the test remembers it."""

    device: str
    login: str
    type: str
    entity_id: str | None  # the note, follow-up or heads-up it creates
    always_rejected: bool = False


Key = tuple[str, str]


def device_view(path: Path) -> dict[Key, dict[str, Any]]:
    """Every synced copy in a device's file (read-only, beside the app's own connection)."""
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        rows = conn.execute("SELECT entity, id, data FROM entity").fetchall()
    return {(entity, entity_id): json.loads(data) for entity, entity_id, data in rows}


def policy_view(db: Database, org_id: uuid.UUID, user_id: uuid.UUID) -> dict[Key, dict[str, Any]]:
    """What sync_server.policy lets the user see now, shaped as pull sends it."""
    with db.reading() as session:
        objects: list[tuple[str, Any]] = []
        for name, model in ENTITY_MODELS.items():
            owner = model.id if name == "organization" else model.org_id
            objects += [
                (name, obj) for obj in session.scalars(select(model).where(owner == org_id))
            ]
        facts = policy.Facts(
            worker_team={o.id: o.team_id for n, o in objects if n == "worker"},
            notes={o.id: o for n, o in objects if n == "note"},
        )
        viewer = policy.load_viewer(session, session.get_one(User, user_id), utcnow())
        visible = [(n, o.id) for n, o in objects if policy.can_see(viewer, n, o, facts)]
        loaded = entities.load(session, org_id, visible)
        return {
            (n, str(i)): entities.shape(viewer, n, loaded.get(n, i), loaded) for n, i in visible
        }


def fresh_pull(base_url: str, token: str) -> dict[Key, dict[str, Any]]:
    """What the server sends this user pulling from null (a reinstalled app), on a clean
    network."""
    with httpx.Client(base_url=base_url, timeout=30) as http:
        headers = {"Authorization": f"Bearer {token}"}
        state: dict[Key, dict[str, Any]] = {}
        cursor = None
        while True:
            response = http.post(
                "/api/v1/sync/pull", json={"protocol": 1, "cursor": cursor}, headers=headers
            )
            assert response.status_code == 200, response.text
            page = response.json()
            assert not page["reset"]
            for change in page["changes"]:
                key = (change["entity"], change["id"])
                if change["op"] == "upsert":
                    state[key] = change["data"]
                else:
                    state.pop(key, None)
            cursor = page["cursor"]
            if not page["has_more"]:
                return state


def describe(keys: Any) -> list[str]:
    return sorted(f"{entity}:{entity_id}" for entity, entity_id in keys)


import time

TIMES = Counter()


def _guarded(method: Callable[..., T]) -> Callable[..., T]:
    """Remember that a step failed, so that teardown only cleans up."""

    @functools.wraps(method)
    def run(self: SyncUnderFaults, *args: Any, **kwargs: Any) -> T:
        t0 = time.perf_counter()
        try:
            return method(self, *args, **kwargs)
        except BaseException:
            self.failed = True
            raise
        finally:
            TIMES[method.__name__] += time.perf_counter() - t0
            TIMES[method.__name__ + "#"] += 1
        try:
            pass
        except BaseException:
            self.failed = True
            raise

    return run


class SyncUnderFaults(RuleBasedStateMachine):
    """One example: a fresh organisation on the shared server, six phones, a faulty network."""

    db: Database
    base_url: str
    workdir: Path
    examples = itertools.count()
    totals: Counter[str] = Counter()

    def __init__(self) -> None:
        t0 = time.perf_counter()
        self._init()
        TIMES["init"] += time.perf_counter() - t0

    def _init(self) -> None:
        super().__init__()
        self.failed = False
        self.loop = asyncio.new_event_loop()
        number = next(self.examples)
        slug = f"faults{number}-{uuid.uuid4().hex[:8]}"
        self.prefix = f"{slug}_"
        self.world: World = build_world(self.db, slug=slug, prefix=self.prefix)
        self.dir = Path(tempfile.mkdtemp(prefix=f"{slug}-", dir=self.workdir))
        self.network = Network()
        self.replayer = httpx.AsyncHTTPTransport()
        self.mutations: dict[uuid.UUID, Expected] = {}
        self.creates: dict[str, uuid.UUID] = {}  # note id -> its note.create mutation id
        self.devices: dict[str, Device] = {}

        async def sign_in_all() -> list[Device]:
            return await asyncio.gather(
                *(self._open(name, login, sign_in=True) for name, login in DEVICES.items())
            )

        self.devices = {device.name: device for device in self.run(sign_in_all())}
        self.stats: Counter[str] = Counter()

    # Plumbing ----------------------------------------------------------------------------

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coroutine)

    async def _open(self, name: str, login: str, *, sign_in: bool) -> Device:
        path = self.dir / f"{name.replace('#', '-')}.sqlite3"
        store = KillableStore(path)
        transport = FaultyTransport(name, self.network)
        client = SyncClient(store, transport=transport, random=lambda: 0.0, sleep=_no_sleep)
        if sign_in:
            await client.login(self.base_url, self.prefix + login, PASSWORD, f"{name} phone")
        credentials = store.credentials()
        assert credentials is not None
        return Device(name, login, credentials.user.id, path, store, transport, client)

    def _restart(self, device: Device) -> None:
        """The app died: drop its objects, reopen its file as a restarted app would."""
        self.stats["kills"] += 1
        with contextlib.suppress(Exception):
            self.run(device.client.aclose())
        device.store.close()
        reopened = self.run(self._open(device.name, device.login, sign_in=False))
        reopened.cursor = device.cursor
        self.devices[device.name] = reopened

    def _queue(
        self,
        device: Device,
        mutation_type: str,
        data: dict[str, Any],
        *,
        entity_id: str | None = None,
        always_rejected: bool = False,
    ) -> None:
        mutation_id = device.store.queue(mutation_type, data)
        self.mutations[mutation_id] = Expected(
            device.name, device.login, mutation_type, entity_id, always_rejected
        )
        if mutation_type == "note.create":
            assert entity_id is not None
            self.creates[entity_id] = mutation_id
        self.stats[f"queued_{mutation_type}"] += 1

    async def _sync(self, device: Device, mode: str) -> str:
        """One sync attempt: "complete" (push then a whole pull), "parallel" (push and pull at
        once, both finished), "pushed", "offline" or "killed"."""
        client = device.client
        try:
            if mode == "push":
                await client.push_all()
                return "pushed"
            if mode == "parallel":
                tasks = [
                    asyncio.ensure_future(client.push_all()),
                    asyncio.ensure_future(client.pull_until_done()),
                ]
                await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
                if any(t.done() and isinstance(t.exception(), Killed) for t in tasks):
                    for task in tasks:  # the whole app dies, not just one call
                        task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                errors = [t.exception() for t in tasks if not t.cancelled()]
                for error in sorted(
                    (e for e in errors if e is not None), key=lambda e: not isinstance(e, Killed)
                ):
                    raise error  # Killed first: the app is dead, whatever else happened
                return "parallel"
            await client.sync_once()
            return "complete"
        except Killed:
            return "killed"
        except Offline:
            return "offline"

    def _after_sync(self, device: Device, outcome: str) -> None:
        self.stats[f"sync_{outcome}"] += 1
        if outcome == "killed":
            self._restart(device)
        elif outcome == "complete":
            self._check_view(device, exact=True)
        elif outcome == "parallel":
            self._check_view(device, exact=False)

    def _check_view(self, device: Device, *, exact: bool) -> None:
        """Right after a complete pull: exactly what the policy allows now, as pull shapes it.

        `exact=False` (a push ran alongside the pull): nothing the policy forbids.
        """
        t0 = time.perf_counter()
        expected = policy_view(self.db, self.world.org, device.user_id)
        TIMES["policy_view"] += time.perf_counter() - t0
        held = device_view(device.path)
        leaked = held.keys() - expected.keys()
        assert not leaked, f"{device.name} holds what its user may not see: {describe(leaked)}"
        if not exact:
            return
        missing = expected.keys() - held.keys()
        assert not missing, (
            f"{device.name} misses what a complete pull owes it: {describe(missing)}"
        )
        stale = {k for k in expected if held[k] != expected[k]}
        assert not stale, f"{device.name} holds stale copies: {describe(stale)}" + "".join(
            f"\n  {k}: device {held[k]!r}\n  {' ' * len(str(k))}  server {expected[k]!r}"
            for k in sorted(stale)
        )
        self.stats["views_checked"] += 1

    # Rules: what people do -----------------------------------------------------------------

    @initialize()
    @_guarded
    def supervisors_start_offline_with_notes(self) -> None:
        """Each supervisor phone starts with a valid signal and one the server must refuse
        (about the other team's worker), queued offline: every example has both kinds."""
        for name, ref, foreign in (
            ("sup_a#1", "a1", "b1"),
            ("sup_a#2", "a3", "b2"),
            ("sup_b", "b1", "a2"),
        ):
            device = self.devices[name]
            for worker, refused in ((ref, False), (foreign, True)):
                note = note_data(self.world, worker, text=f"Fictional first note {worker}.")
                self._queue(
                    device, "note.create", note, entity_id=note["id"], always_rejected=refused
                )

    @rule(data=st.data())
    @_guarded
    def write_note(self, data: st.DataObject) -> None:
        """A note, valid or not (the server has the last word: rosters move meanwhile), or
        sometimes the retraction of one of the author's notes."""
        name = data.draw(st.sampled_from(sorted(DEVICES)), label="device")
        device = self.devices[name]
        if data.draw(st.integers(0, 4), label="retract instead") == 4:
            self._retract(device, data)
            return
        kind = data.draw(st.sampled_from(list(NoteKind)), label="kind")
        category = data.draw(st.sampled_from(CATEGORIES[kind]), label="category")
        severity = data.draw(st.sampled_from(list(Severity)), label="severity")
        about = data.draw(
            st.sampled_from(
                ["worker", "worker", "worker", "team", "other_team", "unknown", "mismatch"]
            ),
            label="about",
        )
        team = SUPERVISOR_TEAM.get(device.login, "A")
        refs = sorted(WORKERS)
        if device.is_supervisor and about == "worker":
            refs = [ref for ref, (t, _) in WORKERS.items() if t == team]
        elif device.login.startswith("couns") and about == "worker":
            refs = [ref for ref, (_, c) in WORKERS.items() if c == device.login]
        ref = data.draw(st.sampled_from(refs), label="worker")
        text = f"Fictional note {len(self.mutations)}."
        always_rejected = False
        if about == "team":  # a team-level safety note
            kind = NoteKind.SAFETY
            category = data.draw(st.sampled_from(CATEGORIES[kind]), label="safety category")
            note = note_data(self.world, None, team=team, kind=kind, category=category, text=text)
        else:
            note = note_data(
                self.world, ref, kind=kind, category=category, severity=severity, text=text
            )
        if about == "other_team" and device.is_supervisor:
            other = "B" if team == "A" else "A"
            other_refs = [r for r, (t, _) in WORKERS.items() if t == other]
            ref = data.draw(st.sampled_from(other_refs), label="other team's worker")
            note = note_data(self.world, ref, kind=kind, category=category, text=text)
            always_rejected = True  # its team is not theirs, wherever the worker goes
        elif about == "unknown":
            note["worker_id"] = str(uuid.uuid4())
            always_rejected = True
        elif about == "mismatch":
            other = "B" if WORKERS[ref][0] == "A" else "A"
            note["team_id"] = str(self.world.teams[other])
            always_rejected = device.is_supervisor and other != team
        self._queue(
            device, "note.create", note, entity_id=note["id"], always_rejected=always_rejected
        )

    @rule(data=st.data())
    @_guarded
    def counsellor_acts(self, data: st.DataObject) -> None:
        """Acknowledge, mark seen, follow up or warn back, about what the phone shows."""
        name = data.draw(st.sampled_from(COUNSELLOR_SIDE), label="device")
        device = self.devices[name]
        act = data.draw(
            st.sampled_from(["note.acknowledge", "delivery.seen", "note.follow_up", "heads_up"]),
            label="act",
        )
        if act == "heads_up":
            workers = device.store.list_entities("worker")
            if not workers:
                return
            worker = data.draw(st.sampled_from(workers), label="worker")
            heads_up_id = str(uuid.uuid4())
            self._queue(
                device,
                "heads_up.create",
                {"id": heads_up_id, "worker_id": worker["id"], "text": "Fictional: go easy."},
                entity_id=heads_up_id,
            )
            return
        notes = device.store.list_entities("note")
        if not notes:
            return
        note = data.draw(st.sampled_from(notes), label="note")
        if act == "note.follow_up":
            follow_up_id = str(uuid.uuid4())
            action = data.draw(st.sampled_from(list(FollowUpAction)), label="action")
            close = data.draw(st.booleans(), label="close")
            payload = {"id": follow_up_id, "note_id": note["id"], "action": action.value}
            self._queue(
                device,
                "note.follow_up",
                {**payload, "close": close, "text": "Fictional follow-up."},
                entity_id=follow_up_id,
            )
        else:
            self._queue(device, act, {"note_id": note["id"]})

    def _retract(self, device: Device, data: st.DataObject) -> None:
        """An author retracts one of their notes, from any of their phones, queued or not."""
        own = sorted(
            expected.entity_id
            for expected in self.mutations.values()
            if expected.type == "note.create" and expected.login == device.login
        )
        if not own:
            return
        note_id = data.draw(st.sampled_from(own), label="note")
        self._queue(device, "note.retract", {"note_id": note_id, "reason": "Fictional: typo."})

    @rule(data=st.data())
    @_guarded
    def sync_one(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(sorted(DEVICES)), label="device")
        device = self.devices[name]
        device.transport.faults = data.draw(fault_schedules, label="faults")
        device.store.kill_in = data.draw(kill_points, label="kill before store operation")
        mode = data.draw(st.sampled_from(["sync", "sync", "parallel", "push"]), label="mode")
        try:
            outcome = self.run(self._sync(device, mode))
        finally:
            device.transport.faults = []
            device.store.kill_in = None
        self._after_sync(device, outcome)

    @rule(data=st.data())
    @_guarded
    def sync_several_at_once(self, data: st.DataObject) -> None:
        """Other devices write and read concurrently; delays reorder their requests."""
        names = data.draw(
            st.lists(st.sampled_from(sorted(DEVICES)), min_size=2, max_size=4, unique=True),
            label="devices",
        )
        chosen = [self.devices[name] for name in names]
        modes = []
        for device in chosen:
            device.transport.faults = data.draw(fault_schedules, label=f"faults {device.name}")
            device.store.kill_in = data.draw(kill_points, label=f"kill {device.name}")
            modes.append(data.draw(st.sampled_from(["sync", "push"]), label="mode"))

        async def all_at_once() -> list[Any]:
            return await asyncio.gather(
                *(self._sync(d, m) for d, m in zip(chosen, modes, strict=True)),
                return_exceptions=True,
            )

        try:
            outcomes = self.run(all_at_once())
        finally:
            for device in chosen:
                device.transport.faults = []
                device.store.kill_in = None
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        for device, outcome in zip(chosen, outcomes, strict=True):
            self.stats[f"sync_{outcome}"] += 1
            if outcome == "killed":
                self._restart(device)

    @precondition(lambda self: bool(self.network.held))
    @rule(data=st.data())
    @_guarded
    def deliver_held(self, data: st.DataObject) -> None:
        """A request stuck in the network finally reaches the server (nobody hears back)."""
        index = data.draw(st.integers(0, len(self.network.held) - 1), label="held request")
        held = self.network.held.pop(index)
        response = self.run(
            send_for_real(self.replayer, held.method, held.url, held.headers, held.content)
        )
        self.network.observe(httpx.Request(held.method, held.url), response)
        assert response.status_code == 200, (held.url, response.status_code, response.text)
        self.stats["held_delivered"] += 1

    @rule(data=st.data())
    @_guarded
    def reassign_worker(self, data: st.DataObject) -> None:
        """An admin moves a worker to another counsellor (or none), sometimes another team."""
        ref = data.draw(st.sampled_from(sorted(WORKERS)), label="worker")
        counsellor = data.draw(st.sampled_from(["couns_1", "couns_2", None]), label="to")
        team = data.draw(st.sampled_from(["same", "same", "A", "B"]), label="team")
        with self.db.unit_of_work() as session:
            worker = session.get_one(Worker, self.world.workers[ref])
            team_id = worker.team_id if team == "same" else self.world.teams[team]
            counsellor_id = self.world.users[counsellor] if counsellor else None
            moved = reassign(session, self.world.org, [Assignment(worker, team_id, counsellor_id)])
        self.stats["reassigned"] += moved

    # Invariants ----------------------------------------------------------------------------

    def _server_records(self) -> dict[uuid.UUID, MutationRecord]:
        with self.db.reading() as session:
            rows = session.scalars(
                select(MutationRecord).where(MutationRecord.org_id == self.world.org)
            ).all()
        return {r.id: r for r in rows}

    def _server_notes(self) -> dict[str, uuid.UUID]:
        with self.db.reading() as session:
            rows = session.execute(
                select(Note.id, Note.author_id).where(Note.org_id == self.world.org)
            ).all()
        return {str(note_id): author_id for note_id, author_id in rows}

    @invariant()
    @_guarded
    def nothing_lost_nothing_invented(self) -> None:
        assert not self.network.server_errors, self.network.server_errors
        records = self._server_records()
        notes = self._server_notes()
        unknown = records.keys() - self.mutations.keys()
        assert not unknown, f"the server holds mutations no device queued: {unknown}"

        for mutation_id in self.network.acked:
            record = records.get(mutation_id)
            assert record is not None and record.status == "applied", (
                f"{self.mutations[mutation_id]} was acknowledged, but the server has {record}"
            )
        for mutation_id, code in self.network.refused.items():
            record = records[mutation_id]
            assert (record.status, record.error_code) == ("rejected", code)

        for device in self.devices.values():
            outbox = {m.id for m in device.store.pending(1_000_000)}
            rejected = {r.id: r for r in device.store.rejected_mutations()}
            shown = {view.id: view for view in device.store.notes_view()}
            assert not outbox & rejected.keys(), "a rejected mutation is still queued"
            mine = [(i, e) for i, e in self.mutations.items() if e.device == device.name]
            for mutation_id, expected in mine:
                record = records.get(mutation_id)
                if mutation_id not in outbox:
                    assert record is not None, (
                        f"{expected} left {device.name}'s outbox but the server never got it"
                        f" (device verdict: {rejected.get(mutation_id)})"
                    )
                    if record.status == "rejected":
                        assert mutation_id in rejected, f"{expected}: refusal not shown"
                        shown_refusal = rejected[mutation_id]
                        assert shown_refusal.code == record.error_code, (
                            shown_refusal.code,
                            record.error_code,
                        )
                        assert shown_refusal.message, "a refusal without a reason"
                    else:
                        assert mutation_id not in rejected, f"{expected} applied, shown rejected"
                if record is not None and record.user_id != device.user_id:
                    raise AssertionError(f"{expected} recorded for another user")
                if expected.always_rejected and record is not None:
                    assert record.status == "rejected", f"{expected} should have been refused"
                if expected.type == "note.create":
                    assert expected.entity_id in shown, f"{expected} vanished from its device"
                    if record is not None and record.status == "applied":
                        assert notes.get(str(expected.entity_id)) == device.user_id
                    if mutation_id in rejected:
                        view = shown[str(expected.entity_id)]
                        assert view.status == "rejected" or record is None
            if device.is_supervisor:
                held = device_view(device.path)
                foreign = [
                    k
                    for k, v in held.items()
                    if k[0] == "follow_up"
                    or (k[0] == "note" and v["author_id"] != str(device.user_id))
                ]
                assert not foreign, f"{device.name} holds {describe(foreign)}"
            self._check_cursor(device)

        for note_id, author_id in notes.items():
            mutation_id = self.creates.get(note_id)
            assert mutation_id is not None, f"the server holds note {note_id} nobody wrote"
            record = records.get(mutation_id)
            assert record is not None and record.status == "applied", (note_id, record)
            assert author_id == self.devices[self.mutations[mutation_id].device].user_id

    def _check_cursor(self, device: Device) -> None:
        text = device.store.cursor()
        if text is None:
            assert device.cursor is None, f"{device.name} lost its cursor"
            return
        decoded = Cursor.decode(text)
        assert decoded is not None
        now = (decoded.epoch, decoded.seq)
        if device.cursor is not None:
            assert now >= device.cursor, f"{device.name}: cursor went back {device.cursor}->{now}"
        device.cursor = now

    # The end: faults off, held requests delivered, everyone syncs ----------------------------

    async def _settle(self) -> None:
        t0 = time.perf_counter()
        try:
            await self._settle2()
        finally:
            TIMES["settle"] += time.perf_counter() - t0

    async def _settle2(self) -> None:
        for device in self.devices.values():
            device.transport.faults = []
            device.store.kill_in = None
        while self.network.held:
            held = self.network.held.pop(0)
            response = await send_for_real(
                self.replayer, held.method, held.url, held.headers, held.content
            )
            self.network.observe(httpx.Request(held.method, held.url), response)
            assert response.status_code == 200, response.text
        # Everything written reaches the server, then everyone hears about all of it.
        await asyncio.gather(*(d.client.push_all() for d in self.devices.values()))
        await asyncio.gather(*(d.client.pull_until_done() for d in self.devices.values()))

    def _final_checks(self) -> None:
        self.nothing_lost_nothing_invented()
        records = self._server_records()
        notes = self._server_notes()
        applied_notes = set()
        for mutation_id, expected in self.mutations.items():
            record = records.get(mutation_id)
            assert record is not None, f"{expected} never reached the server"
            if expected.type == "note.create" and record.status == "applied":
                applied_notes.add(expected.entity_id)
            self.stats[f"final_{record.status}"] += 1
        assert set(notes) == applied_notes, "notes on the server != notes applied exactly once"
        fresh: dict[str, dict[Key, dict[str, Any]]] = {}
        for device in self.devices.values():
            counts = device.store.counts()
            assert counts.queued == 0, f"{device.name} still has {counts.queued} queued"
            statuses = {view.status for view in device.store.notes_view()}
            assert not statuses & {"queued", "sent"}, (device.name, statuses)
            self._check_view(device, exact=True)
            if device.login not in fresh:
                t0 = time.perf_counter()
                credentials = device.store.credentials()
                assert credentials is not None
                fresh[device.login] = fresh_pull(self.base_url, credentials.token)
                TIMES["fresh"] += time.perf_counter() - t0
            assert device_view(device.path) == fresh[device.login], (
                f"{device.name} differs from a fresh pull by {device.login}"
            )

    def teardown(self) -> None:
        t0 = time.perf_counter()
        try:
            if not self.failed:
                self.run(self._settle())
                self._final_checks()
        finally:
            for device in self.devices.values():
                with contextlib.suppress(Exception):
                    self.run(device.client.aclose())
                device.store.close()
            with contextlib.suppress(Exception):
                self.run(self.replayer.aclose())
            self.loop.close()
            shutil.rmtree(self.dir, ignore_errors=True)
            type(self).totals.update(self.stats)
            type(self).totals.update(self.network.stats)
            type(self).totals["examples"] += 1
            TIMES["teardown"] += time.perf_counter() - t0


def test_sync_survives_faults_kills_and_reassignments(db, settings, tmp_path, backend):
    # The phones' files on tmpfs if there is one: dying in-process needs no fsync, and the
    # store's synchronous=FULL would otherwise cost most of the run.
    shm = Path("/dev/shm")
    workdir = Path(tempfile.mkdtemp(dir=shm)) if shm.is_dir() else tmp_path
    examples, steps = (5, 30) if backend == "sqlite" else (8, 30)
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, workdir, ignore_errors=True)
        base_url = cleanup.enter_context(server_thread(db, settings))
        machine = type(
            "SyncUnderFaults",
            (SyncUnderFaults,),
            {"db": db, "base_url": base_url, "workdir": workdir, "totals": Counter()},
        )
        run_state_machine_as_test(
            machine,
            settings=hypothesis_settings(
                max_examples=examples,
                stateful_step_count=steps,
                deadline=None,
                database=None,
                phases=[Phase.generate, Phase.shrink],
                suppress_health_check=[
                    HealthCheck.too_slow,
                    HealthCheck.data_too_large,
                    HealthCheck.filter_too_much,
                ],
            ),
        )
    totals = machine.totals
    print(f"\n{backend}: {dict(sorted(totals.items()))}")
    print({k: round(v, 2) for k, v in sorted(TIMES.items())})
    # The machine really went through the faults it is about (hundreds of steps in all).
    assert totals["examples"] >= examples
    for what in ("kills", "answer_duplicate", "final_rejected", "views_checked"):
        assert totals[what] > 0, (what, totals)
