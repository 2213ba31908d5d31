"""Load of the whole system, as people use it, against a real `relais serve` process.

    python benchmarks/load.py --preset small            # 100 + 40 devices, 1,200 workers, 60 s
    python benchmarks/load.py --preset big              # 1,000 + 400 devices, 12,000 workers
    python benchmarks/load.py --preset many             # 500 organisations x 24 workers
    python benchmarks/load.py --preset small --backend postgres --processes 2

Fictional organisations are written straight into a scratch database; then:
- every phone signs in once (a few at a time), pulls everything it may see, holds the live
  stream (GET /sync/stream), and pulls again on each poke and on a 30 s timer;
- supervisors push one note every 10-30 s, about a worker of their team (signals and
  safety notes, so each one is routed to the worker's counsellor);
- counsellors acknowledge each note they receive (one push per pull that brought some);
- coordinators browse the history: a whole pull from the start, every 60 s.
After the measured period, pushes stop and the run waits (up to --drain s) until every
pushed note has reached its counsellor's phone.

Printed: p50/p95/p99 per endpoint, errors, throughput, the server processes' CPU and
memory, the load generator's CPU, the health round trip of the same run (idle and under
load: the floor), and the delivery check. A figure that misses a target is printed, never
a failure; `--json FILE` writes the figures for scripts (tests/test_load_smoke.py).
Every person and note here is invented.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import multiprocessing as mp
import os
import random
import signal
import sys
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import common  # noqa: E402
import httpx  # noqa: E402
import psutil  # noqa: E402

PRESETS: dict[str, dict[str, int]] = {
    "small": {"orgs": 1, "supervisors": 100, "counsellors": 40, "workers": 1_200, "duration": 60},
    "big": {
        "orgs": 1,
        "supervisors": 1_000,
        "counsellors": 400,
        "workers": 12_000,
        "duration": 120,
    },
    "many": {
        "orgs": 500,
        "supervisors": 1_000,
        "counsellors": 500,
        "workers": 12_000,
        "duration": 120,
    },
}
TEAM_SIZE = 12  # French ACI rule: up to 12 workers per supervisor's team
REQUEST_TIMEOUT = 30.0
KEEPALIVE = float(
    os.environ.get("RELAIS_LOAD_KEEPALIVE", "4")
)  # what a phone waits before it gives up on a request
TARGET_P99_MS = {"small": 50.0, "big": 200.0}  # push and pull, from the issue


# --- the plan: who is on which phone ---------------------------------------------------


@dataclass(frozen=True)
class Phone:
    login: str
    role: str  # supervisor, counsellor, coordinator
    # supervisors: the (worker, team, counsellor) they may write about
    writes_about: tuple[tuple[str, str, str], ...] = ()


@dataclass
class Plan:
    base_url: str
    phones: list[Phone]
    push_every: tuple[float, float]
    pull_every: float
    history_every: float
    login_concurrency: int
    seed: int


def make_plan(orgs: list[common.Org], coordinators: int) -> list[Phone]:
    phones: list[Phone] = []
    for org in orgs:
        for login in org.supervisors:
            about = tuple(
                (str(w), str(t), str(org.counsellor_of[w])) for w, t in org.workers_of(login)
            )
            if about:
                phones.append(Phone(login, "supervisor", about))
        phones += [Phone(login, "counsellor") for login in org.counsellors]
    # The browsing coordinators: the first one of the first organisations.
    for org in orgs[:coordinators]:
        phones.append(Phone(f"{org.slug}-coord-000", "coordinator"))
    return phones


# --- what one load-generator process records -------------------------------------------


@dataclass
class Records:
    """Request timings by endpoint and phase, errors, pushed and received notes."""

    timings: dict[str, list[tuple[float, float]]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    retries: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    error_samples: list[str] = field(default_factory=list)
    pushed: dict[str, tuple[str, float]] = field(default_factory=dict)  # note -> (counsellor, t)
    received: dict[tuple[str, str], float] = field(default_factory=dict)  # (note, user) -> t
    ready_at: dict[str, float] = field(default_factory=dict)  # login -> signed in and synced

    def time(self, endpoint: str, started: float) -> None:
        self.timings[endpoint].append((started, time.time() - started))

    def error(self, endpoint: str, what: str) -> None:
        self.errors[endpoint] += 1
        if len(self.error_samples) < 20:
            self.error_samples.append(f"{endpoint}: {what}")


class Phase:
    """The parent's signals, shared by every load-generator process."""

    def __init__(self, ctx: Any) -> None:
        self.go = ctx.Event()  # the measured period starts
        self.stop_pushing = ctx.Event()
        self.done = ctx.Event()


async def request(
    client: httpx.AsyncClient,
    records: Records,
    endpoint: str,
    path: str,
    body: dict[str, Any],
    token: str | None = None,
) -> dict[str, Any] | None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    started = time.time()
    try:
        try:
            response = await client.post(path, json=body, headers=headers)
        except (httpx.ReadError, httpx.RemoteProtocolError):
            # A kept-alive connection the server closed as we sent: the app retries at once
            # (pull reads; a push's mutation ids make a repeat harmless). Counted apart.
            records.retries[endpoint] += 1
            response = await client.post(path, json=body, headers=headers)
    except httpx.HTTPError as exc:
        records.error(endpoint, type(exc).__name__)
        return None
    records.time(endpoint, started)
    if response.status_code != 200:
        records.error(endpoint, f"HTTP {response.status_code} {response.text[:120]}")
        return None
    result: dict[str, Any] = response.json()
    return result


class Device:
    """One phone: signs in, syncs, holds the stream, and does its role's work."""

    def __init__(
        self, phone: Phone, plan: Plan, client: httpx.AsyncClient, records: Records
    ) -> None:
        self.phone = phone
        self.plan = plan
        self.client = client
        self.records = records
        self.rng = random.Random(f"{plan.seed}-{phone.login}")
        self.token = ""
        self.user_id = ""
        self.cursor: str | None = None
        self.wake = asyncio.Event()
        self.acknowledged: set[str] = set()

    async def sign_in(self, gate: asyncio.Semaphore) -> bool:
        async with gate:
            body = {
                "login": self.phone.login,
                "password": common.PASSWORD,
                "device_name": "load phone",
            }
            answer = await request(self.client, self.records, "login", "/api/v1/auth/login", body)
        if answer is None:
            return False
        self.token = answer["token"]
        self.user_id = answer["user"]["id"]
        return True

    async def pull(self, endpoint: str, from_start: bool = False) -> list[dict[str, Any]]:
        """Pull until nothing more; returns the changes."""
        cursor = None if from_start else self.cursor
        changes: list[dict[str, Any]] = []
        while True:
            body = {"protocol": 1, "cursor": cursor}
            answer = await request(
                self.client, self.records, endpoint, "/api/v1/sync/pull", body, self.token
            )
            if answer is None:
                return changes
            changes += answer["changes"]
            cursor = answer["cursor"]
            if not answer["has_more"]:
                break
        if not from_start or self.cursor is None:
            self.cursor = cursor
        return changes

    async def push(self, endpoint: str, mutations: list[dict[str, Any]]) -> bool:
        body = {"protocol": 1, "mutations": mutations}
        answer = await request(
            self.client, self.records, endpoint, "/api/v1/sync/push", body, self.token
        )
        if answer is None:
            return False
        refused = [r for r in answer["results"] if r["status"] not in ("applied", "duplicate")]
        for result in refused:
            self.records.error(endpoint, f"mutation {result['status']}: {result.get('error')}")
        return not refused

    async def hold_stream(self, phase: Phase) -> None:
        """The live stream: each poke wakes the puller. Reconnects like the app."""
        headers = {"Authorization": f"Bearer {self.token}"}
        timeout = httpx.Timeout(REQUEST_TIMEOUT, read=60.0)
        while not phase.done.is_set():
            started = time.time()
            try:
                async with self.client.stream(
                    "GET", "/api/v1/sync/stream", headers=headers, timeout=timeout
                ) as response:
                    self.records.time("stream (open)", started)
                    if response.status_code != 200:
                        self.records.error("stream (open)", f"HTTP {response.status_code}")
                        await asyncio.sleep(2)
                        continue
                    async for line in response.aiter_lines():
                        if line.startswith("data:"):
                            self.wake.set()
            except httpx.HTTPError as exc:
                if not phase.done.is_set():
                    self.records.error("stream", type(exc).__name__)
                    await asyncio.sleep(1)

    async def keep_in_sync(self, phase: Phase) -> None:
        """Pull on each poke, and on the app's timer."""
        while not phase.done.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), self.plan.pull_every)
            self.wake.clear()
            changes = await self.pull("pull")
            if self.phone.role == "counsellor":
                await self.acknowledge(changes)

    async def acknowledge(self, changes: list[dict[str, Any]]) -> None:
        now = time.time()
        mine = []
        for change in changes:
            if change["entity"] != "note" or change["op"] != "upsert":
                continue
            note = change["data"]
            for delivery in note.get("deliveries") or ():
                if delivery["recipient_id"] == self.user_id:
                    self.records.received.setdefault((note["id"], self.user_id), now)
                    if delivery["acknowledged_at"] is None and note["id"] not in self.acknowledged:
                        mine.append(note["id"])
        if mine:
            self.acknowledged.update(mine)
            await self.push(
                "push (ack)", [_mutation("note.acknowledge", {"note_id": n}) for n in mine]
            )

    async def write_notes(self, phase: Phase) -> None:
        low, high = self.plan.push_every
        await asyncio.sleep(self.rng.uniform(0, high))  # phones do not start in step
        n = 0
        while not phase.stop_pushing.is_set():
            worker, team, counsellor = self.rng.choice(self.phone.writes_about)
            data = common.note_data(
                n, uuid.UUID(worker), uuid.UUID(team), self.rng, routed_only=True
            )
            n += 1
            sent = time.time()
            if await self.push("push (note)", [_mutation("note.create", data)]):
                # Stored: now it must reach the counsellor (who may have it already).
                self.records.pushed[data["id"]] = (counsellor, sent)
            await asyncio.sleep(self.rng.uniform(low, high))

    async def browse_history(self, phase: Phase) -> None:
        while not phase.done.is_set():
            await self.pull("pull (history)", from_start=True)
            await asyncio.sleep(self.plan.history_every)

    async def live(self, gate: asyncio.Semaphore, phase: Phase) -> None:
        if not await self.sign_in(gate):
            return
        first = await self.pull("pull (first)")
        if self.phone.role == "counsellor":
            await self.acknowledge(first)
        self.records.ready_at[self.phone.login] = time.time()
        tasks = [asyncio.create_task(self.hold_stream(phase))]
        tasks.append(asyncio.create_task(self.keep_in_sync(phase)))
        while not phase.go.is_set():
            await asyncio.sleep(0.2)
        if self.phone.role == "supervisor":
            tasks.append(asyncio.create_task(self.write_notes(phase)))
        elif self.phone.role == "coordinator":
            tasks.append(asyncio.create_task(self.browse_history(phase)))
        while not phase.done.is_set():
            await asyncio.sleep(0.2)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _mutation(type_: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "type": type_,
        "data": data,
        "client_time": datetime.now(UTC).isoformat(),
    }


async def run_phones(plan: Plan, phase: Phase, progress: Any) -> Records:
    records = Records()
    # Idle connections are dropped after 4 s, before uvicorn's 5 s keep-alive closes them
    # from its side (with httpx's default of 5 s too, a request can leave on a connection
    # the server is closing, and fail with ReadError).
    limits = httpx.Limits(
        max_connections=None, max_keepalive_connections=512, keepalive_expiry=KEEPALIVE
    )
    timeout = httpx.Timeout(REQUEST_TIMEOUT)
    async with httpx.AsyncClient(base_url=plan.base_url, limits=limits, timeout=timeout) as client:
        gate = asyncio.Semaphore(plan.login_concurrency)
        devices = [Device(p, plan, client, records) for p in plan.phones]
        lives = [asyncio.create_task(d.live(gate, phase)) for d in devices]

        async def report() -> None:
            # The parent decides when every pushed note has arrived.
            sent_pushed: set[str] = set()
            sent_received: set[tuple[str, str]] = set()
            while True:
                pushed = {k: v[0] for k, v in records.pushed.items() if k not in sent_pushed}
                received = [k for k in records.received if k not in sent_received]
                sent_pushed.update(pushed)
                sent_received.update(received)
                progress.put(("progress", os.getpid(), len(records.ready_at), pushed, received))
                await asyncio.sleep(1)

        reporter = asyncio.create_task(report())
        while not phase.done.is_set():
            await asyncio.sleep(0.2)
        # Phones still signing in when the run ends give up (the parent has counted them).
        await asyncio.wait(lives, timeout=10)
        for life in lives:
            life.cancel()
        await asyncio.gather(*lives, return_exceptions=True)
        reporter.cancel()
    return records


def phones_process(plan: Plan, phase: Phase, progress: Any) -> None:
    records = asyncio.run(run_phones(plan, phase, progress))
    payload = {
        "timings": dict(records.timings),
        "errors": dict(records.errors),
        "retries": dict(records.retries),
        "error_samples": records.error_samples,
        "pushed": records.pushed,
        "received": [[n, u, t] for (n, u), t in records.received.items()],
    }
    progress.put(("records", os.getpid(), payload))


# --- watching the server and the machine ----------------------------------------------


class Sampler(threading.Thread):
    """CPU (% of one core) and resident memory of some processes and their children."""

    def __init__(self, pids: list[int], interval: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.roots = [psutil.Process(p) for p in pids]
        self.interval = interval
        self.samples: list[tuple[float, float, float]] = []  # (t, cpu %, rss MiB)
        self.stopped = threading.Event()
        self._known: dict[int, psutil.Process] = {}

    def _processes(self) -> list[psutil.Process]:
        found = []
        for root in self.roots:
            with contextlib.suppress(psutil.Error):
                found += [root, *root.children(recursive=True)]
        for proc in found:
            if proc.pid not in self._known:
                self._known[proc.pid] = proc
                with contextlib.suppress(psutil.Error):
                    proc.cpu_percent(None)  # the first call only starts the count
        return [self._known[p.pid] for p in found]

    def run(self) -> None:
        self._processes()
        while not self.stopped.wait(self.interval):
            cpu = rss = 0.0
            for proc in self._processes():
                with contextlib.suppress(psutil.Error):
                    cpu += proc.cpu_percent(None)
                    rss += proc.memory_info().rss / 2**20
            self.samples.append((time.time(), cpu, rss))

    def between(self, start: float, end: float) -> list[tuple[float, float, float]]:
        return [s for s in self.samples if start <= s[0] <= end]

    @property
    def processes_seen(self) -> int:
        """Distinct server processes over the run (not multiprocessing's resource tracker):
        more than were started means restarted workers."""
        count = 0
        for proc in self._known.values():
            with contextlib.suppress(psutil.Error):
                if "resource_tracker" in " ".join(proc.cmdline()):
                    continue
            count += 1
        return count


class HealthProbe(threading.Thread):
    """The floor: a bare GET /api/v1/health every 200 ms, in this run."""

    def __init__(self, base_url: str) -> None:
        super().__init__(daemon=True)
        self.base_url = base_url
        self.samples: list[tuple[float, float]] = []
        self.errors = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=REQUEST_TIMEOUT) as client:
            while not self.stopped.wait(0.2):
                started = time.time()
                try:
                    ok = client.get("/api/v1/health").status_code == 200
                except httpx.HTTPError:
                    ok = False
                if ok:
                    self.samples.append((started, time.time() - started))
                else:
                    self.errors += 1

    def between(self, start: float, end: float) -> list[float]:
        return [d for t, d in self.samples if start <= t <= end]


# --- the run ---------------------------------------------------------------------------


def sizes(args: Any) -> dict[str, int]:
    chosen = dict(PRESETS[args.preset])
    for key in ("orgs", "supervisors", "counsellors", "workers", "duration"):
        value = getattr(args, key)
        if value is not None:
            chosen[key] = value
    chosen["coordinators"] = (
        args.coordinators if args.coordinators is not None else min(chosen["orgs"], 10)
    )
    return chosen


def build_orgs(database_url: str, size: dict[str, int]) -> list[common.Org]:
    db = common.Database(database_url)
    orgs = []
    per_org = {
        "supervisors": max(1, size["supervisors"] // size["orgs"]),
        "counsellors": max(1, size["counsellors"] // size["orgs"]),
        "workers": max(TEAM_SIZE, size["workers"] // size["orgs"]),
    }
    for i in range(size["orgs"]):
        orgs.append(
            common.build_org(
                db,
                counsellors=per_org["counsellors"],
                teams=math.ceil(per_org["workers"] / TEAM_SIZE),
                workers_per_team=TEAM_SIZE,
                supervisors=per_org["supervisors"],
                coordinators=1 if size["orgs"] > 1 else 2,
                slug=f"load{i:03d}",
            )
        )
    db.dispose()
    return orgs


def summarise(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50_ms": common.percentile(values, 50) * 1000,
        "p95_ms": common.percentile(values, 95) * 1000,
        "p99_ms": common.percentile(values, 99) * 1000,
        "max_ms": max(values) * 1000,
    }


def run(args: Any) -> dict[str, Any]:
    size = sizes(args)
    print(common.machine_line())
    started_load = os.getloadavg()
    result: dict[str, Any] = {"preset": args.preset, "backend": args.backend, "size": size}
    with common.temp_folder("relais-load-") as folder:
        if args.backend == "postgres" and not common.postgres_reachable(args.postgres_url):
            raise SystemExit(1)
        with common.scratch_database(args.backend, folder, args.postgres_url) as url:
            t0 = time.perf_counter()
            orgs = build_orgs(url, size)
            workers = sum(o.worker_count for o in orgs)
            print(
                f"{args.backend}: {len(orgs)} organisation(s), {workers:,} workers, "
                f"{sum(len(o.supervisors) for o in orgs):,} supervisors, "
                f"{sum(len(o.counsellors) for o in orgs):,} counsellors "
                f"(provisioned in {time.perf_counter() - t0:.1f} s)"
            )
            phones = make_plan(orgs, size["coordinators"])
            server_args = ("--workers", str(args.processes)) if args.processes > 1 else ()
            env = {"RELAIS_ESCALATION_INTERVAL": "60"}
            with common.server(url, folder, args=server_args, **env) as (base_url, process):
                result.update(drive(args, size, base_url, process, phones))
    result["load_average"] = {"start": started_load, "end": os.getloadavg()}
    return result


def drive(
    args: Any, size: dict[str, int], base_url: str, server: Any, phones: list[Phone]
) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    phase = Phase(ctx)
    progress = ctx.Queue()
    server_cpu = Sampler([server.pid])
    server_cpu.start()
    health = HealthProbe(base_url)
    health.start()
    idle_from = time.time()
    time.sleep(3)  # the idle floor, before any phone
    idle_until = time.time()

    shares = [phones[i :: args.client_processes] for i in range(args.client_processes)]
    procs = []
    for share in shares:
        plan = Plan(
            base_url=base_url,
            phones=share,
            push_every=args.push_every,
            pull_every=args.pull_every,
            history_every=args.history_every,
            login_concurrency=max(1, args.login_concurrency // args.client_processes),
            seed=args.seed,
        )
        proc = ctx.Process(target=phones_process, args=(plan, phase, progress), daemon=True)
        proc.start()
        procs.append(proc)
    client_cpu = Sampler([p.pid for p in procs if p.pid])
    client_cpu.start()

    expected: dict[str, str] = {}
    arrived: set[tuple[str, str]] = set()
    ready: dict[int, int] = {}
    payloads: list[dict[str, Any]] = []

    def drain_queue(wait: float) -> None:
        deadline = time.monotonic() + wait
        while True:
            left = deadline - time.monotonic()
            try:
                message = progress.get(timeout=max(0.01, left))
            except Exception:
                return
            if message[0] == "progress":
                _, pid, count, pushed, received = message
                ready[pid] = count
                expected.update(pushed)
                arrived.update(tuple(r) for r in received)
            else:
                payloads.append(message[2])
            if time.monotonic() >= deadline:
                return

    signin_started = time.time()
    print(f"signing in {len(phones):,} phones, {args.login_concurrency} at a time ...", flush=True)
    while sum(ready.values()) < len(phones) and time.time() - signin_started < args.signin_timeout:
        drain_queue(1.0)
        if all(not p.is_alive() for p in procs):
            break
    signin_seconds = time.time() - signin_started
    ready_count = sum(ready.values())
    print(f"{ready_count:,}/{len(phones):,} phones signed in and synced in {signin_seconds:.1f} s")

    steady_from = time.time()
    phase.go.set()
    print(f"measuring for {size['duration']} s ...", flush=True)
    while time.time() - steady_from < size["duration"]:
        drain_queue(1.0)
    steady_until = time.time()
    phase.stop_pushing.set()

    def missing() -> set[tuple[str, str]]:
        return {(n, c) for n, c in expected.items()} - arrived

    drain_from = time.time()
    drain_queue(2.0)  # the last pushes' answers
    while missing() and time.time() - drain_from < args.drain:
        drain_queue(1.0)
    drain_seconds = time.time() - drain_from
    phase.done.set()
    while len(payloads) < len(procs) and any(p.is_alive() for p in procs):
        drain_queue(1.0)
    drain_queue(0.5)
    for proc in procs:
        proc.join(30)
    health.stopped.set()
    server_cpu.stopped.set()
    client_cpu.stopped.set()

    return report(
        args,
        size,
        payloads,
        expected,
        arrived,
        missing(),
        window=(steady_from, steady_until),
        idle=(idle_from, idle_until),
        signin=(signin_started, signin_seconds, ready_count, len(phones)),
        drain_seconds=drain_seconds,
        health=health,
        server_cpu=server_cpu,
        client_cpu=client_cpu,
    )


def report(
    args: Any,
    size: dict[str, int],
    payloads: list[dict[str, Any]],
    expected: dict[str, str],
    arrived: set[tuple[str, str]],
    missing: set[tuple[str, str]],
    *,
    window: tuple[float, float],
    idle: tuple[float, float],
    signin: tuple[float, float, int, int],
    drain_seconds: float,
    health: HealthProbe,
    server_cpu: Sampler,
    client_cpu: Sampler,
) -> dict[str, Any]:
    start, end = window
    seconds = end - start
    steady: dict[str, list[float]] = defaultdict(list)
    everything: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, int] = defaultdict(int)
    retries: dict[str, int] = defaultdict(int)
    samples: list[str] = []
    pushed_at: dict[str, float] = {}
    received_at: dict[tuple[str, str], float] = {}
    for payload in payloads:
        for endpoint, rows in payload["timings"].items():
            for t, d in rows:
                everything[endpoint].append(d)
                if start <= t <= end:
                    steady[endpoint].append(d)
        for endpoint, count in payload["errors"].items():
            errors[endpoint] += count
        for endpoint, count in payload["retries"].items():
            retries[endpoint] += count
        samples += payload["error_samples"]
        pushed_at.update({n: t for n, (_c, t) in payload["pushed"].items()})
        received_at.update({(n, u): t for n, u, t in payload["received"]})
    delivery = [
        received_at[(n, c)] - pushed_at[n]
        for n, c in expected.items()
        if (n, c) in received_at and n in pushed_at
    ]

    print()
    print(f"steady period: {seconds:.0f} s; figures per endpoint (requests that answered):")
    print(f"  {'endpoint':<16} {'requests':>9} {'per s':>7}  latency")
    endpoints = sorted(set(steady) | set(errors))
    per_endpoint = {}
    for endpoint in endpoints:
        values = steady.get(endpoint, [])
        per_endpoint[endpoint] = {
            **summarise(values),
            "per_second": len(values) / seconds if seconds else 0.0,
            "errors": errors.get(endpoint, 0),
        }
        print(
            f"  {endpoint:<16} {len(values):>9,} {len(values) / seconds:>7.1f}  "
            f"{common.pct_line(values)}  errors {errors.get(endpoint, 0)}"
        )
    total = sum(len(v) for v in steady.values())
    print(f"  {'all':<16} {total:>9,} {total / seconds:>7.1f}")
    print("sign-in period (whole run):")
    for endpoint in ("login", "pull (first)"):
        print(f"  {endpoint:<16} {common.pct_line(everything.get(endpoint, []))}")
    _, signin_seconds, ready_count, phones = signin
    print(f"  {ready_count:,}/{phones:,} phones ready in {signin_seconds:.1f} s")

    idle_health = health.between(*idle)
    loaded_health = health.between(start, end)
    print(f"health floor, idle:       {common.pct_line(idle_health)}")
    print(f"health floor, under load: {common.pct_line(loaded_health)}  errors {health.errors}")
    server = server_cpu.between(start, end)
    client = client_cpu.between(start, end)
    resources = {
        "server_cpu_mean": _mean([s[1] for s in server]),
        "server_cpu_max": max((s[1] for s in server), default=0.0),
        "server_rss_max_mib": max((s[2] for s in server_cpu.samples), default=0.0),
        "client_cpu_mean": _mean([s[1] for s in client]),
        "server_processes_seen": server_cpu.processes_seen,
    }
    total_requests = sum(len(v) for v in steady.values())
    # Less sensitive than latency to a machine shared with other work: CPU spent per answer.
    resources["server_cpu_ms_per_request"] = (
        resources["server_cpu_mean"] / 100 * seconds * 1000 / total_requests
        if total_requests
        else 0.0
    )
    print(
        f"server processes: CPU mean {resources['server_cpu_mean']:.0f} % / max "
        f"{resources['server_cpu_max']:.0f} % of one core, memory max "
        f"{resources['server_rss_max_mib']:.0f} MiB; load generator CPU mean "
        f"{resources['client_cpu_mean']:.0f} % ({args.client_processes} process(es)); "
        f"machine: {os.cpu_count()} cores"
    )
    started = 1 if args.processes == 1 else args.processes + 1  # uvicorn's supervisor
    restarts = server_cpu.processes_seen - started
    print(f"server processes seen: {server_cpu.processes_seen} (restarted workers: {restarts})")
    print(
        f"server CPU per request (steady period): {resources['server_cpu_ms_per_request']:.1f} ms"
    )
    print(f"delivery, push sent -> counsellor's pull has it: {common.pct_line(delivery)}")
    error_total = sum(errors.values())
    verdict = "every one reached its counsellor" if not missing else f"{len(missing)} MISSING"
    print(
        f"delivery check: {len(expected):,} notes pushed and stored, {verdict} "
        f"(waited {drain_seconds:.1f} s after the last push)"
    )
    print(f"errors: {error_total}" + (f" (e.g. {samples[:5]})" if samples else ""))
    print(f"requests retried once after a connection reset: {dict(retries) or 0}")
    target = TARGET_P99_MS.get(args.preset)
    if target:
        worst = max(
            (
                per_endpoint[e].get("p99_ms", 0.0)
                for e in per_endpoint
                if e.startswith(("push", "pull"))
            ),
            default=0.0,
        )
        measured = all(per_endpoint.get(e, {}).get("n") for e in ("push (note)", "pull"))
        met = "met" if measured and worst < target and error_total == 0 else "NOT met"
        print(
            f"target: 0 errors, push and pull p99 < {target:.0f} ms: {met} (worst p99 {worst:.0f} ms)"
        )
    return {
        "seconds": seconds,
        "endpoints": per_endpoint,
        "errors": error_total,
        "retries": dict(retries),
        "error_samples": samples,
        "notes_pushed": len(expected),
        "notes_delivered": len(expected) - len(missing),
        "missing": sorted(n for n, _c in missing),
        "delivery": summarise(delivery),
        "phones": phones,
        "phones_ready": ready_count,
        "signin_seconds": signin_seconds,
        "health_idle": summarise(idle_health),
        "health_loaded": summarise(loaded_health),
        "health_errors": health.errors,
        "resources": resources,
    }


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="small")
    parser.add_argument("--orgs", type=int)
    parser.add_argument("--supervisors", type=int, help="supervisor phones, in all")
    parser.add_argument("--counsellors", type=int, help="counsellor phones, in all")
    parser.add_argument("--workers", type=int, help="integration workers, in all")
    parser.add_argument(
        "--coordinators", type=int, help="browsing coordinators (default: one per org, at most 10)"
    )
    parser.add_argument("--duration", type=int, help="seconds measured")
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("RELAIS_BENCH_POSTGRES_URL", common.DEFAULT_POSTGRES),
    )
    parser.add_argument("--processes", type=int, default=1, help="server processes (PostgreSQL)")
    parser.add_argument("--client-processes", type=int, default=1, help="load-generator processes")
    parser.add_argument("--login-concurrency", type=int, default=4)
    parser.add_argument(
        "--push-every",
        type=lambda s: tuple(float(x) for x in s.split(",")),
        default=(10.0, 30.0),
        help="seconds between a supervisor's notes: LOW,HIGH (uniform)",
    )
    parser.add_argument("--pull-every", type=float, default=30.0, help="the app's pull timer")
    parser.add_argument("--history-every", type=float, default=60.0)
    parser.add_argument("--signin-timeout", type=float, default=900.0)
    parser.add_argument("--drain", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    # Stopped from outside: still stop the server and drop the scratch database.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.processes > 1 and args.backend != "postgres":
        parser.error("--processes above 1 needs --backend postgres")
    result = run(args)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
