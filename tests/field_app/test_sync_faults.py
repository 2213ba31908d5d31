"""Offline-first sync proven under faults: a Hypothesis state machine of phones on a bad network.

Several simulated devices (a real SyncClient over a real LocalStore file each) talk to the real
server (uvicorn in a thread, on SQLite and on PostgreSQL) through a transport that wraps
httpx's real one and injects faults, request by request, on a schedule Hypothesis draws:

- a request dropped before it leaves (ConnectError), an answer lost after the server
  committed (ReadError), a request sent twice (one after the other, or both at once),
  a request delayed, or held in the network and delivered later, after other requests;
- the app killed: at a request (before it is sent, or after the server answered), or just
  before any store operation of a sync (the first one: between two steps); its objects are
  dropped and its store is reopened from its file, as a restarted app would. A request it
  had on the wire still reaches the server.

Syncs push then pull (pages of 4, 16 or 500 changes), or push and pull at once, or only
push; several devices sync at once. Meanwhile supervisors write notes (some the server must
refuse), counsellors acknowledge, follow up, mark seen and send heads-ups, authors retract,
workers are reassigned between counsellors and teams, and counsellors go away with a
stand-in and come back. Each example is a fresh organisation on one server (per backend).
The invariants (docs/design.md, invariants 1-4):

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

A longer soak: RELAIS_FAULT_EXAMPLES=200 RELAIS_FAULT_STEPS=50 (the defaults keep the suite
quick).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import json
import os
import shutil
import sqlite3
import ssl
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
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select

from field_app.store import LocalStore
from field_app.sync import Offline, SyncClient
from relais_testing.factories import PASSWORD, WORKERS, World, build_world, note_data
from relais_testing.serving import server_thread
from shared_models.vocabulary import CATEGORIES, FollowUpAction, NoteKind, Severity
from shared_models.wire import PULL_LIMIT_DEFAULT
from sync_server import policy
from sync_server.database import Database, utcnow
from sync_server.notes.models import FollowUp, HeadsUp, Note
from sync_server.orgs.models import Organization, Team, TeamSupervisor, User, Worker
from sync_server.orgs.service import Assignment, bump_sync_epoch, reassign, set_availability
from sync_server.sync import entities
from sync_server.sync.models import MutationRecord
from sync_server.sync.pull import Cursor

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


@dataclass(frozen=True)
class SyncPlan:
    """How one sync goes: the faults of its first requests, whether the app dies before its
    n-th store operation, how it syncs, and (after a save) whether it syncs at once."""

    faults: tuple[str, ...]
    kill_in: int | None
    mode: str  # "sync" (push, then pull), "parallel" (both at once) or "push"
    page: int  # pull page size: small ones make pulls of many pages (and deaths between)
    now: bool


# Die just before the n-th store operation of a sync (a sync makes about a dozen), or, in
# about two syncs out of three, not at all (None first: examples shrink towards no kill).
kill_points = st.sampled_from([None] * 50 + list(range(25)))
sync_plans = st.builds(
    SyncPlan,
    faults=fault_schedules.map(tuple),
    kill_in=kill_points,
    mode=st.sampled_from(["sync", "sync", "parallel", "push"]),
    now=st.booleans(),
    page=st.sampled_from([PULL_LIMIT_DEFAULT, 4, 16]),
)
# An index into a list whose length depends on the server's timing (taken modulo): the
# draws must not depend on it.
picks = st.integers(min_value=0, max_value=1_000)


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
    # Exchanges under way: one whose sender dies midway still reaches the server.
    inflight: set[asyncio.Future[httpx.Response]] = field(default_factory=set)
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


# One TLS context for every transport: httpx would load the CA bundle for each one (the
# server is plain HTTP; this only saves time).
_TLS = ssl.create_default_context()
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
        self.inner = httpx.AsyncHTTPTransport(verify=_TLS)
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
        """On the wire: if the app dies (its task is cancelled) while the server works, the
        server still finishes; the machine waits for it at the end of the step."""
        exchange = asyncio.ensure_future(
            send_for_real(self.inner, request.method, request.url, request.headers, request.content)
        )
        self.network.inflight.add(exchange)
        exchange.add_done_callback(self.network.inflight.discard)
        return await asyncio.shield(exchange)

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
    # Told to start over (reset) and not done with a complete pull since: its synced copies
    # may be missing for now (docs/protocol.md §5.2: the client drops them and pulls again from null).
    resetting: bool = False

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
        notes = {o.id: o for n, o in objects if n == "note"}
        teams_supervised: dict[uuid.UUID, set[uuid.UUID]] = {}
        for row in session.scalars(select(TeamSupervisor)):
            teams_supervised.setdefault(row.user_id, set()).add(row.team_id)
        facts = policy.Facts(
            worker_team={o.id: o.team_id for n, o in objects if n == "worker"},
            notes=notes,
            acted=policy.load_acted(session, notes.values()),
            teams_supervised=teams_supervised,
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
    with httpx.Client(base_url=base_url, timeout=30, verify=_TLS) as http:
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


def _guarded(method: Callable[..., T]) -> Callable[..., T]:
    """Remember that a step failed, so that teardown only cleans up."""

    @functools.wraps(method)
    def run(self: SyncUnderFaults, *args: Any, **kwargs: Any) -> T:
        try:
            return method(self, *args, **kwargs)
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
        super().__init__()
        self.failed = False
        self.loop = asyncio.new_event_loop()
        number = next(self.examples)
        slug = f"faults{number}-{uuid.uuid4().hex[:8]}"
        self.prefix = f"{slug}_"
        self.world: World = build_world(self.db, slug=slug, prefix=self.prefix)
        self.dir = Path(tempfile.mkdtemp(prefix=f"{slug}-", dir=self.workdir))
        self.network = Network()
        self.mutations: dict[uuid.UUID, Expected] = {}
        self.creates: dict[str, uuid.UUID] = {}  # note id -> its note.create mutation id
        self.epochs: Counter[str] = Counter()  # login -> sync epoch (all start at 0)
        self.devices: dict[str, Device] = {}

        async def sign_in_all() -> list[Device]:
            return await asyncio.gather(
                *(self._open(name, login, sign_in=True) for name, login in DEVICES.items())
            )

        self.devices = {device.name: device for device in self.run(sign_in_all())}
        self.stats: Counter[str] = Counter()

    # Plumbing ----------------------------------------------------------------------------

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run on this example's event loop; return once the server is done with it all."""
        try:
            return self.loop.run_until_complete(coroutine)
        finally:
            if self.network.inflight:
                self.loop.run_until_complete(
                    asyncio.gather(*self.network.inflight, return_exceptions=True)
                )

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
        reopened.resetting = device.resetting
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

    async def _sync(self, device: Device, mode: str, page: int = PULL_LIMIT_DEFAULT) -> str:
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
                    asyncio.ensure_future(client.pull_until_done(page)),
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
            if page == PULL_LIMIT_DEFAULT:
                await client.sync_once()
            else:  # the same, with smaller pages
                await client.push_all()
                await client.pull_until_done(page)
            return "complete"
        except Killed:
            return "killed"
        except Offline:
            return "offline"

    def _after_sync(self, device: Device, outcome: str, *, alone: bool = True) -> None:
        """`alone`: no other device synced meanwhile, so the view can be checked."""
        self.stats[f"sync_{outcome}"] += 1
        if outcome == "killed":
            self._restart(device)
        if outcome in ("complete", "parallel"):
            self._check_cursor(device)
            device.resetting = False
            if alone:
                self._check_view(device, exact=outcome == "complete")

    def _check_view(self, device: Device, *, exact: bool) -> None:
        """Right after a complete pull: exactly what the policy allows now, as pull shapes it.

        `exact=False` (a push ran alongside the pull): nothing the policy forbids.
        """
        expected = policy_view(self.db, self.world.org, device.user_id)
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

    @rule(data=st.data(), plan=sync_plans)
    @_guarded
    def write_note(self, data: st.DataObject, plan: SyncPlan) -> None:
        """A note, valid or not (the server has the last word: rosters move meanwhile), or
        sometimes the retraction of one of the author's notes; then maybe a sync at once."""
        name = data.draw(st.sampled_from(sorted(DEVICES)), label="device")
        device = self.devices[name]
        if data.draw(st.integers(0, 4), label="retract instead") == 4:
            pick = data.draw(picks, label="note")
            own = [
                expected.entity_id
                for expected in self.mutations.values()
                if expected.type == "note.create" and expected.login == device.login
            ]
            if own:
                retraction = {"note_id": own[pick % len(own)], "reason": "Fictional: typo."}
                self._queue(device, "note.retract", retraction)
            self._sync_if_asked(device, plan)
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
        self._sync_if_asked(device, plan)

    @rule(
        name=st.sampled_from(COUNSELLOR_SIDE),
        act=st.sampled_from(["note.acknowledge", "delivery.seen", "note.follow_up", "heads_up"]),
        pick=picks,
        action=st.sampled_from(list(FollowUpAction)),
        close=st.booleans(),
        refresh=sync_plans,
        plan=sync_plans,
    )
    @_guarded
    def counsellor_acts(
        self,
        name: str,
        act: str,
        pick: int,
        action: FollowUpAction,
        close: bool,
        refresh: SyncPlan,
        plan: SyncPlan,
    ) -> None:
        """Acknowledge, mark seen, follow up or warn back, about what the phone shows (after
        pulling to refresh if it shows nothing yet); then maybe a sync at once.

        Everything is drawn up front: what the phone shows depends on the server's timing,
        and Hypothesis needs the same draws for the same choices.
        """
        entity = "worker" if act == "heads_up" else "note"
        shown = self._on_screen(name, entity)
        if not shown:
            self._run_sync(self.devices[name], refresh)
            shown = self._on_screen(name, entity)
            if not shown:
                return
        device = self.devices[name]
        target = shown[pick % len(shown)]
        if act == "heads_up":
            heads_up_id = str(uuid.uuid4())
            self._queue(
                device,
                "heads_up.create",
                {"id": heads_up_id, "worker_id": target["id"], "text": "Fictional: go easy."},
                entity_id=heads_up_id,
            )
        elif act == "note.follow_up":
            follow_up_id = str(uuid.uuid4())
            self._queue(
                device,
                "note.follow_up",
                {
                    "id": follow_up_id,
                    "note_id": target["id"],
                    "action": action.value,
                    "close": close,
                    "text": "Fictional follow-up.",
                },
                entity_id=follow_up_id,
            )
        else:
            self._queue(device, act, {"note_id": target["id"]})
        self._sync_if_asked(device, plan)

    def _on_screen(self, name: str, entity: str) -> list[dict[str, Any]]:
        """What the phone lists, oldest first."""
        shown = self.devices[name].store.list_entities(entity)
        return sorted(shown, key=lambda item: (item.get("captured_at", ""), item["id"]))

    def _sync_if_asked(self, device: Device, plan: SyncPlan) -> None:
        """The app asks for a sync right after a save (SyncLoop.request_sync), if online."""
        if plan.now:
            self._run_sync(device, plan)

    @rule(name=st.sampled_from(sorted(DEVICES)), plan=sync_plans)
    @_guarded
    def sync_one(self, name: str, plan: SyncPlan) -> None:
        self._run_sync(self.devices[name], plan)

    def _run_sync(self, device: Device, plan: SyncPlan) -> None:
        device.transport.faults = list(plan.faults)
        device.store.kill_in = plan.kill_in
        try:
            outcome = self.run(self._sync(device, plan.mode, plan.page))
        finally:
            device.transport.faults = []
            device.store.kill_in = None
        self._after_sync(device, outcome)

    @rule(
        names=st.lists(st.sampled_from(sorted(DEVICES)), min_size=2, max_size=4, unique=True),
        plans=st.lists(sync_plans, min_size=4, max_size=4),
    )
    @_guarded
    def sync_several_at_once(self, names: list[str], plans: list[SyncPlan]) -> None:
        """Other devices write and read concurrently; delays reorder their requests."""
        chosen = [self.devices[name] for name in names]
        modes = [("push" if plan.mode == "push" else "sync", plan.page) for plan in plans]
        for device, plan in zip(chosen, plans, strict=False):
            device.transport.faults = list(plan.faults)
            device.store.kill_in = plan.kill_in

        async def all_at_once() -> list[Any]:
            return await asyncio.gather(
                *(self._sync(d, *m) for d, m in zip(chosen, modes, strict=False)),
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
            self._after_sync(device, outcome, alone=False)

    @rule(pick=picks)
    @_guarded
    def deliver_held(self, pick: int) -> None:
        """A request stuck in the network finally reaches the server (nobody hears back)."""
        if not self.network.held:
            return
        self.run(self._deliver(self.network.held.pop(pick % len(self.network.held))))

    @rule(data=st.data())
    @_guarded
    def reassign_worker(self, data: st.DataObject) -> None:
        """An admin moves a worker to another counsellor (or none), sometimes another team;
        or a counsellor goes away with a stand-in, or comes back; or a user's devices must
        start over (their sync epoch moves: the next pull says reset)."""
        change = data.draw(
            st.sampled_from(["reassign", "reassign", "reassign", "availability", "start over"]),
            label="change",
        )
        if change == "start over":  # say their roles or teams changed (same ones here)
            login = data.draw(st.sampled_from(sorted(set(DEVICES.values()))), label="user")
            with self.db.unit_of_work() as session:
                bump_sync_epoch(session.get_one(User, self.world.users[login]))
            self.epochs[login] += 1
            self.stats["epoch_bumps"] += 1
            return
        if change == "availability":
            login = data.draw(st.sampled_from(["couns_1", "couns_2"]), label="counsellor")
            away = data.draw(st.booleans(), label="away")
            other = "couns_2" if login == "couns_1" else "couns_1"
            with self.db.unit_of_work() as session:
                user = session.get_one(User, self.world.users[login])
                stand_in = session.get_one(User, self.world.users[other]) if away else None
                set_availability(session, user, away=away, stand_in=stand_in, until=None)
            self.stats["availability"] += 1
            return
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
            self._check_cursor(device)
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
                    view = shown.get(str(expected.entity_id))
                    assert view is not None or device.resetting, f"{expected} vanished"
                    if record is not None and record.status == "applied":
                        assert notes.get(str(expected.entity_id)) == device.user_id
                    if record is not None and mutation_id in rejected:  # shown with its reason
                        assert view is not None
                        assert (view.status, view.error_code) == ("rejected", record.error_code)
            if device.is_supervisor:
                held = device_view(device.path)
                foreign = [
                    k
                    for k, v in held.items()
                    if k[0] == "follow_up"
                    or (k[0] == "note" and v["author_id"] != str(device.user_id))
                ]
                assert not foreign, f"{device.name} holds {describe(foreign)}"

        for note_id, author_id in notes.items():
            mutation_id = self.creates.get(note_id)
            assert mutation_id is not None, f"the server holds note {note_id} nobody wrote"
            record = records.get(mutation_id)
            assert record is not None and record.status == "applied", (note_id, record)
            assert author_id == self.devices[self.mutations[mutation_id].device].user_id

    def _check_cursor(self, device: Device) -> None:
        """Cursors only move forward, unless the server said reset (a new sync epoch)."""
        epoch = self.epochs[device.login]
        text = device.store.cursor()
        if text is None:  # never pulled, or reset and not pulled again yet
            if device.cursor is not None:
                assert device.cursor[0] < epoch, f"{device.name} lost its cursor"
                device.resetting = True
            return
        decoded = Cursor.decode(text)
        assert decoded is not None and decoded.epoch <= epoch, (text, epoch)
        now = (decoded.epoch, decoded.seq)
        if device.cursor is not None:
            assert now >= device.cursor, f"{device.name}: cursor went back {device.cursor}->{now}"
            if now[0] > device.cursor[0]:
                device.resetting = True
                self.stats["resets_seen"] += 1
        device.cursor = now

    # The end: faults off, held requests delivered, everyone syncs ----------------------------

    async def _settle(self) -> None:
        for device in self.devices.values():
            device.transport.faults = []
            device.store.kill_in = None
        while self.network.held:
            await self._deliver(self.network.held.pop(0))
        # Everything written reaches the server, then everyone hears about all of it.
        await asyncio.gather(*(self._until_done(d.client.push_all) for d in self.devices.values()))
        await asyncio.gather(
            *(self._until_done(d.client.pull_until_done) for d in self.devices.values())
        )

    @staticmethod
    async def _until_done(operation: Callable[[], Coroutine[Any, Any, Any]]) -> None:
        """Retry after Offline, as the app's sync loop does. Without injected faults that
        is rare, but a real network has its own: a kept-alive connection the server closes
        just as a request goes out is a ReadError."""
        for attempt in range(5):
            try:
                await operation()
                return
            except Offline:
                if attempt == 4:
                    raise

    async def _deliver(self, held: Held) -> None:
        """A held request reaches the server, on a connection of its own."""
        async with httpx.AsyncHTTPTransport(verify=_TLS) as transport:
            response = await send_for_real(
                transport, held.method, held.url, held.headers, held.content
            )
        self.network.observe(httpx.Request(held.method, held.url), response)
        assert response.status_code == 200, (held.url, response.status_code, response.text)
        self.stats["held_delivered"] += 1

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
                credentials = device.store.credentials()
                assert credentials is not None
                fresh[device.login] = fresh_pull(self.base_url, credentials.token)
            assert device_view(device.path) == fresh[device.login], (
                f"{device.name} differs from a fresh pull by {device.login}"
            )

    def teardown(self) -> None:
        try:
            if not self.failed:
                self.run(self._settle())
                self._final_checks()
        finally:
            for device in self.devices.values():
                with contextlib.suppress(Exception):
                    self.run(device.client.aclose())
                device.store.close()
            self.loop.close()
            shutil.rmtree(self.dir, ignore_errors=True)
            type(self).totals.update(self.stats)
            type(self).totals.update(self.network.stats)
            type(self).totals["examples"] += 1


def test_sync_survives_faults_kills_and_reassignments(db, settings, tmp_path, backend):
    # The phones' files on tmpfs if there is one: dying in-process needs no fsync, and the
    # store's synchronous=FULL would otherwise cost most of the run.
    shm = Path("/dev/shm")
    workdir = Path(tempfile.mkdtemp(dir=shm)) if shm.is_dir() else tmp_path
    examples, steps = (9, 25) if backend == "sqlite" else (6, 25)
    # A longer soak (see the module's docstring).
    examples = int(os.environ.get("RELAIS_FAULT_EXAMPLES", examples))
    steps = int(os.environ.get("RELAIS_FAULT_STEPS", steps))
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
    # The machine really went through the faults it is about (hundreds of steps in all).
    assert totals["examples"] >= examples
    for what in ("kills", "final_applied", "final_rejected", "views_checked"):
        assert totals[what] > 0, (what, totals)
