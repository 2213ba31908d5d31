"""Delivery latency: from a supervisor's push response to the note in the counsellor's phone.

    python benchmarks/delivery_latency.py [--quick] [--notes N] [--rate R]
                                          [--processes P] [--backends sqlite,postgres]

A fictional organisation of 50 counsellors, 2 coordinators, 20 supervisors and 100 teams of
12 workers (1,200 workers, each followed by one counsellor) runs on a real server process
(`relais serve` on a free loopback port; a fresh SQLite file, then a fresh PostgreSQL
database). The 50 counsellors are signed in on 50 simulated phones: each has its own
LocalStore and SyncClient, driven by the app's SyncLoop (live stream on, 30 s timer as in
the app; phones start at random moments within one timer interval, as real phones do),
spread over P processes (default 5) so that one phone's store writes do not stall the
others. The 20 supervisors' phones (in this process) then write N notes (default 1,000:
signals and safety notes, each routed to the worker's counsellor) at R notes/s overall
(default 5), each note pushed alone as the app does after a tap.

Latency of one note = the moment the counsellor's LocalStore committed it (after the poke,
the pull and the store write) minus the moment the supervisor's push response arrived
(the note was committed by then). All processes share the machine's monotonic clock.
Reported: p50/p95/p99/max, how many came late (> 1 s: a missed poke waits for the timer),
and, in the same run, the bare HTTP round trip to GET /api/v1/health (idle, before the
notes, and under the same load, every 100 ms during it).

The issue's target is p99 < 100 ms on loopback: the script says whether this run met it.
For context only (not measured here): ODK Central reports 41 submissions/s on a small
server; ElectricSQL reports about 6 ms from a write to the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import sys
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import common
import httpx

from field_app.store import LocalStore
from field_app.sync.client import SyncClient
from field_app.sync.errors import RetryLater
from field_app.sync.loop import SyncLoop, SyncStatus
from sync_server.database import Database

TARGET_P99 = 0.100
SPAN_LABELS = {
    "app": "application, whole request",
    "push": "push service",
    "changelog": "change log, audiences, pokes",
    "counter": "change counter UPDATE",
    "begin": "BEGIN IMMEDIATE (lock wait)",
    "commit": "COMMIT",
    "pull": "pull service",
    "audit": "sensitive-read audit write",
}
APP_INTERVAL = 30.0  # SyncLoop's default timer in the app
COUNSELLORS, SUPERVISORS, TEAMS, PER_TEAM = 50, 20, 100, 12


# --- a process of counsellor phones ----------------------------------------------------


async def counsellor_worker(server: str, logins: list[str], folder: Path) -> None:
    """Sign in each login on its own store, follow the live stream, report notes as seen.

    stdout: `READY` once every stream is live, then one `SEEN note login t_seen t_pull`
    line per note the first time it lands in a store; `STATS {...}` and `DONE` after stdin
    says STOP (or closes).
    """
    loops: list[SyncLoop] = []
    clients: list[SyncClient] = []
    live: dict[str, bool] = {}
    pulls: list[float] = []
    pull_requests: list[dict[str, float]] = []  # Server-Timing of each pull request
    seen: set[tuple[str, str]] = set()
    pokes = [0]

    def counting(on_poke: Any) -> Any:
        def counted(cursor: str | None) -> None:
            pokes[0] += 1
            on_poke(cursor)

        return counted

    def watch(login: str, client: SyncClient) -> None:
        store = client.store
        original_apply = store.apply_pull
        original_pull = client.pull_until_done
        original_call = client._call
        started: list[float] = [0.0]

        async def timed_call(*args: Any) -> Any:
            begun = time.monotonic()
            response = await original_call(*args)
            if args[1] == "/sync/pull":
                spans = common.parse_server_timing(response.headers.get("server-timing"))
                spans["client"] = time.monotonic() - begun
                spans["failed"] = float(response.status_code != 200)
                pull_requests.append(spans)
            return response

        async def timed_pull(*args: Any, **kwargs: Any) -> Any:
            started[0] = time.monotonic()
            try:
                return await original_pull(*args, **kwargs)
            finally:
                pulls.append(time.monotonic() - started[0])

        def recording_apply(changes: Any, cursor: Any, *args: Any, **kwargs: Any) -> bool:
            changes = list(changes)
            applied = original_apply(changes, cursor, *args, **kwargs)
            if applied:
                now = time.monotonic()
                for change in changes:
                    key = (str(change.id), login)
                    if change.entity == "note" and change.op == "upsert" and key not in seen:
                        seen.add(key)
                        print(f"SEEN {key[0]} {login} {now:.6f} {started[0]:.6f}", flush=True)
            return applied

        store.apply_pull = recording_apply  # type: ignore[method-assign]
        client.pull_until_done = timed_pull  # type: ignore[method-assign]
        client._call = timed_call  # type: ignore[method-assign]

    for login in logins:
        store = LocalStore(folder / f"{login}.db")
        client = SyncClient(store)
        await client.login(server, login, common.PASSWORD, "bench counsellor phone")
        await client.pull_until_done()  # the roster, before the clock matters
        watch(login, client)
        clients.append(client)

        def on_status(status: SyncStatus, login: str = login) -> None:
            live[login] = status.live

        loop = SyncLoop(client, interval=APP_INTERVAL, live=True, on_status=on_status)
        loop._on_poke = counting(loop._on_poke)  # type: ignore[method-assign]
        loops.append(loop)

    async def start(loop: SyncLoop, delay: float) -> SyncStatus:
        await asyncio.sleep(delay)
        return await loop.run()

    # Real phones start at different moments; started together, their 30 s timers would
    # fire in lockstep (SyncLoop has no jitter) and every 30 s all 50 would pull at once.
    rng = random.Random(",".join(logins))
    tasks = [asyncio.create_task(start(loop, rng.uniform(0, APP_INTERVAL))) for loop in loops]
    deadline = time.monotonic() + APP_INTERVAL + 60
    while sum(live.values()) < len(logins):
        if time.monotonic() > deadline:
            raise SystemExit(f"only {sum(live.values())} of {len(logins)} streams went live")
        await asyncio.sleep(0.05)
    pulls.clear()  # the first sync of each loop is not part of the figures
    pull_requests.clear()
    pokes[0] = 0
    print("READY", flush=True)
    reader = asyncio.StreamReader()
    await asyncio.get_running_loop().connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), sys.stdin
    )
    while True:
        line = await reader.readline()
        if not line or line.strip() == b"STOP":
            break
    for loop in loops:
        loop.stop()
    await asyncio.gather(*tasks, return_exceptions=True)
    for client in clients:
        await client.aclose()
        client.store.close()
    print(
        "STATS " + json.dumps({"pulls": pulls, "requests": pull_requests, "pokes": pokes[0]}),
        flush=True,
    )
    print("DONE", flush=True)


# --- the orchestrator: supervisors, health probes, figures ------------------------------


class Phones:
    """The counsellor processes and what they report."""

    def __init__(self) -> None:
        self.processes: list[asyncio.subprocess.Process] = []
        self.seen: dict[tuple[str, str], tuple[float, float]] = {}  # (note, login) -> times
        self.pulls: list[float] = []
        self.pull_requests: list[dict[str, float]] = []
        self.pokes = 0
        self.ready = 0
        self._readers: list[asyncio.Task[None]] = []
        self.changed = asyncio.Event()

    async def start(self, server: str, groups: list[list[str]], folder: Path) -> None:
        for i, logins in enumerate(groups):
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                str(Path(__file__).resolve()),
                "--counsellor-worker",
                "--server",
                server,
                "--logins",
                ",".join(logins),
                "--folder",
                str(folder / f"phones-{i}"),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                limit=1 << 20,
            )
            self.processes.append(process)
            self._readers.append(asyncio.create_task(self._read(process)))
        deadline = time.monotonic() + 180
        while self.ready < len(groups):
            if any(p.returncode not in (None, 0) for p in self.processes):
                raise SystemExit("a counsellor process failed to start")
            if time.monotonic() > deadline:
                raise SystemExit("counsellor phones did not all go live in time")
            await asyncio.sleep(0.1)

    async def _read(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        while True:
            raw = await process.stdout.readline()
            if not raw:
                return
            line = raw.decode().strip()
            if line == "READY":
                self.ready += 1
            elif line.startswith("SEEN "):
                _, note, login, t_seen, t_pull = line.split()
                self.seen.setdefault((note, login), (float(t_seen), float(t_pull)))
                self.changed.set()
            elif line.startswith("STATS "):
                stats = json.loads(line[6:])
                self.pulls += stats["pulls"]
                self.pull_requests += stats["requests"]
                self.pokes += stats["pokes"]

    async def stop(self) -> None:
        for process in self.processes:
            if process.stdin is not None and process.returncode is None:
                process.stdin.write(b"STOP\n")
                await process.stdin.drain()
                process.stdin.close()
        for process in self.processes:
            try:
                await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                process.kill()
                await process.wait()
        await asyncio.gather(*self._readers, return_exceptions=True)


async def health_samples(
    base_url: str, count: int | None, interval: float, stop: asyncio.Event | None = None
) -> list[float]:
    """Sequential GET /api/v1/health on one keep-alive connection; round-trip seconds."""
    out = []
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        await http.get("/api/v1/health")  # connect outside the figures
        while (count is None or len(out) < count) and not (stop and stop.is_set()):
            started = time.monotonic()
            response = await http.get("/api/v1/health")
            out.append(time.monotonic() - started)
            if response.status_code != 200:
                raise SystemExit(f"health answered {response.status_code}")
            if interval:
                await asyncio.sleep(interval)
    return out


async def supervisors_push(
    base_url: str, org: common.Org, folder: Path, notes: int, rate: float
) -> tuple[dict[str, tuple[float, str]], list[float], list[dict[str, float]], list[str], float]:
    """Each supervisor phone pushes its share, one note per push, on a fixed schedule.

    Returns {note id: (push response time, assigned counsellor login)}, the push round
    trips, their Server-Timing, the failed pushes (retried as the app does) and the wall
    time of the whole schedule.
    """
    counsellor_login = {uid: login for login, uid in org.counsellors.items()}
    logins = list(org.supervisors)
    clients: dict[str, SyncClient] = {}
    last_response: dict[str, float] = {}
    round_trips: list[float] = []
    server_spans: list[dict[str, float]] = []
    errors: list[str] = []
    for login in logins:
        client = SyncClient(LocalStore(folder / f"{login}.db"))
        await client.login(base_url, login, common.PASSWORD, "bench supervisor phone")
        original_call = client._call

        async def timed_call(*args: Any, _call: Any = original_call, _login: str = login) -> Any:
            started = time.monotonic()
            response = await _call(*args)
            last_response[_login] = time.monotonic()
            if args[1] == "/sync/push":
                round_trips.append(last_response[_login] - started)
                server_spans.append(
                    common.parse_server_timing(response.headers.get("server-timing"))
                )
            return response

        client._call = timed_call  # type: ignore[method-assign]
        clients[login] = client

    rng = random.Random(2026)
    plan: dict[str, list[tuple[float, dict[str, Any]]]] = defaultdict(list)
    for n in range(notes):
        login = logins[n % len(logins)]
        worker_id, team_id = rng.choice(org.workers_of(login))
        plan[login].append((n / rate, common.note_data(n, worker_id, team_id, rng, True)))
    worker_of = {d["id"]: uuid.UUID(d["worker_id"]) for p in plan.values() for _, d in p}
    pushed: dict[str, tuple[float, str]] = {}
    start = time.monotonic() + 0.5

    async def phone(login: str) -> None:
        client = clients[login]
        for offset, data in plan[login]:
            delay = start + offset - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            client.store.queue("note.create", data)
            batch = [m.data["id"] for m in client.store.pending()]
            for attempt in range(20):
                try:
                    outcome = await client.push_once()
                    break
                except RetryLater as exc:  # as the app does: keep the note queued, retry
                    errors.append(f"{type(exc).__name__}: {exc}")
                    await asyncio.sleep(min(0.25 * 2**attempt, 5.0))
            else:
                raise SystemExit(f"{login}: push kept failing: {errors[-1]}")
            if outcome.applied + outcome.duplicate < len(batch):
                raise SystemExit(f"{login}: push settled {outcome} of {len(batch)}")
            for note_id in batch:
                counsellor = org.counsellor_of[worker_of[note_id]]
                pushed[note_id] = (last_response[login], counsellor_login[counsellor])

    await asyncio.gather(*(phone(login) for login in logins))
    wall = time.monotonic() - start
    for client in clients.values():
        await client.aclose()
        client.store.close()
    return pushed, round_trips, server_spans, errors, wall


async def run_backend(
    backend: str, url: str, folder: Path, notes: int, rate: float, processes: int, timing: bool
) -> dict[str, Any]:
    folder.mkdir(parents=True, exist_ok=True)
    db = Database(url)
    org = common.build_org(
        db,
        counsellors=COUNSELLORS,
        teams=TEAMS,
        workers_per_team=PER_TEAM,
        supervisors=SUPERVISORS,
    )
    db.dispose()
    logins = list(org.counsellors)
    groups = [logins[i::processes] for i in range(processes)]
    with common.server(url, folder, timing=timing) as (base_url, _process):
        phones = Phones()
        try:
            return await measure(base_url, org, folder, notes, rate, groups, phones, backend)
        finally:
            await phones.stop()


async def measure(
    base_url: str,
    org: common.Org,
    folder: Path,
    notes: int,
    rate: float,
    groups: list[list[str]],
    phones: Phones,
    backend: str,
) -> dict[str, Any]:
    """Connect the counsellor phones, probe health, push the notes, collect the figures."""
    logins = [login for group in groups for login in group]
    started = time.monotonic()
    await phones.start(base_url, groups, folder)
    print(
        f"  {len(logins)} counsellor phones live on the stream in {len(groups)} processes"
        f" ({time.monotonic() - started:.1f} s to sign in, pull the roster and connect)"
    )
    idle_started = time.monotonic()
    idle_health = await health_samples(base_url, 300, 0.01)
    idle_seconds = time.monotonic() - idle_started

    stop_probe = asyncio.Event()
    measuring = time.monotonic()
    probe = asyncio.create_task(health_samples(base_url, None, 0.1, stop_probe))
    pushed, round_trips, push_spans, push_errors, wall = await supervisors_push(
        base_url, org, folder, notes, rate
    )
    # Wait for every note (a missed poke is caught by the 30 s timer), then a little more.
    deadline = time.monotonic() + APP_INTERVAL + 15
    while time.monotonic() < deadline:
        if all((note, login) in phones.seen for note, (_t, login) in pushed.items()):
            break
        phones.changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(phones.changed.wait(), 1.0)
    stop_probe.set()
    load_health = await probe
    measured = time.monotonic() - measuring + idle_seconds
    await phones.stop()
    server_errors = common.server_errors(folder)

    latencies, to_pull, pulling, missing = [], [], [], 0
    for note, (t_push, login) in pushed.items():
        seen = phones.seen.get((note, login))
        if seen is None:
            missing += 1
            continue
        t_seen, t_pull = seen
        latencies.append(t_seen - t_push)
        to_pull.append(t_pull - t_push)
        pulling.append(t_seen - t_pull)
    return {
        "backend": backend,
        "notes": notes,
        "rate": rate,
        "wall": wall,
        "latencies": latencies,
        "to_pull": to_pull,
        "pulling": pulling,
        "missing": missing,
        "round_trips": round_trips,
        "push_spans": push_spans,
        "push_errors": push_errors,
        "server_errors": server_errors,
        "pulls": phones.pulls,
        "pull_requests": phones.pull_requests,
        "pokes": phones.pokes,
        "measured": measured,
        "idle_health": idle_health,
        "load_health": load_health,
    }


def report(r: dict[str, Any]) -> None:
    name = {"sqlite": "SQLite", "postgres": "PostgreSQL"}[r["backend"]]
    lat = r["latencies"]
    print(
        f"  pushed {r['notes']:,} notes in {r['wall']:.1f} s"
        f" ({r['notes'] / r['wall']:.1f} notes/s achieved, {r['rate']:g}/s offered)"
    )
    print(f"  push round trip (supervisor):      {common.pct_line(r['round_trips'])}")
    print(f"  delivery latency (push response -> counsellor store): {common.pct_line(lat)}")
    if lat:
        late = sum(1 for x in lat if x > 1.0)
        early = sum(1 for x in lat if x < 0)
        print(
            f"    min {min(lat) * 1000:.1f} ms; {late} late (> 1 s), {r['missing']} never arrived,"
            f" {early} arrived before the push response"
        )
        print(f"    of which response -> pull start: {common.pct_line(r['to_pull'])}")
        print(f"    of which pull -> store commit:   {common.pct_line(r['pulling'])}")
    print(f"  pulls by the counsellor phones:    {common.pct_line(r['pulls'])}")
    n = r["notes"]
    timer = COUNSELLORS * r["measured"] / APP_INTERVAL
    print(
        f"  the 50 phones received {r['pokes']:,} pokes ({r['pokes'] / n:.1f} per note; about 1"
        f" expected: a note pokes its own counsellor) and ran {len(r['pulls']):,} pulls"
        f" (about {timer:,.0f} of them from the 30 s timers)"
    )
    failed_pulls = sum(1 for s in r["pull_requests"] if s.get("failed"))
    if r["push_errors"] or failed_pulls or r["server_errors"]:
        print(
            f"  ERRORS: {len(r['push_errors'])} failed pushes (retried), {failed_pulls} failed"
            f" pull requests (retried by SyncLoop); the server logged {len(r['server_errors'])}"
            " unexpected errors (HTTP 500):"
        )
        for line in sorted(set(r["server_errors"]))[:5]:
            print(f"    {line.partition('BENCH-500 ')[2]}")
    for label, spans in (("push", r["push_spans"]), ("pull", r["pull_requests"])):
        if not spans or "app" not in spans[0]:
            continue
        print(f"  server time per {label} request ({len(spans)} requests):")
        keys = sorted(
            {k for s in spans for k in s} - {"client", "failed"}, key=lambda k: k != "app"
        )
        for key in keys:
            values = [s.get(key, 0.0) for s in spans]
            print(f"    {SPAN_LABELS.get(key, key):<30} {common.pct_line(values)}")
    print(f"  bare GET /api/v1/health, idle:     {common.pct_line(r['idle_health'])}")
    print(f"  bare GET /api/v1/health, loaded:   {common.pct_line(r['load_health'])}")
    if lat:
        p99 = common.percentile(lat, 99)
        idle99 = common.percentile(r["idle_health"], 99)
        load99 = common.percentile(r["load_health"], 99)
        print(
            f"  ratio: delivery p99 is {p99 / idle99:,.1f}x the idle health p99"
            f" and {p99 / load99:,.1f}x the loaded health p99;"
            f" p50 {common.percentile(lat, 50) / common.percentile(r['idle_health'], 50):,.1f}x"
        )
        verdict = "MET" if p99 < TARGET_P99 and not r["missing"] else "NOT MET"
        print(
            f"  target p99 < {TARGET_P99 * 1000:.0f} ms on loopback ({name}): {verdict}"
            f" (p99 {p99 * 1000:.1f} ms)"
        )


async def main_async() -> None:
    parser = common.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--notes", type=int, help="notes to push (default 1,000; --quick 200)")
    parser.add_argument("--rate", type=float, default=5.0, help="notes/s offered (default 5)")
    parser.add_argument(
        "--plain-server",
        action="store_true",
        help="run the unmodified `relais serve` (no Server-Timing split)",
    )
    parser.add_argument("--processes", type=int, default=5, help="counsellor processes")
    parser.add_argument("--counsellor-worker", action="store_true", help=argparse_hidden())
    parser.add_argument("--server", help=argparse_hidden())
    parser.add_argument("--logins", help=argparse_hidden())
    parser.add_argument("--folder", help=argparse_hidden())
    args = parser.parse_args()
    if args.counsellor_worker:
        folder = Path(args.folder)
        folder.mkdir(parents=True, exist_ok=True)
        await counsellor_worker(args.server, args.logins.split(","), folder)
        return
    notes = args.notes or (200 if args.quick else 1000)
    timing = not args.plain_server
    print(__doc__.splitlines()[0])
    print(common.machine_line())
    print(
        "  references (published, not measured here): ODK Central 41 submissions/s on a small"
        " server; ElectricSQL about 6 ms from write to client"
    )
    results = []
    with common.temp_folder("relais-bench-latency-") as folder:
        for backend in common.backends(args):
            if backend == "postgres" and not common.postgres_reachable(args.postgres_url):
                continue
            print(f"\n== {'SQLite' if backend == 'sqlite' else 'PostgreSQL'} ==")
            with common.scratch_database(backend, folder, args.postgres_url) as url:
                result = await run_backend(
                    backend, url, folder / backend, notes, args.rate, args.processes, timing
                )
            report(result)
            results.append(result)
    print("\nsummary:")
    for r in results:
        lat = r["latencies"]
        health = r["idle_health"]
        if not lat:
            print(f"  {r['backend']:<9} no note arrived")
            continue
        print(
            f"  {r['backend']:<9} {r['notes']:,} notes at {r['notes'] / r['wall']:.1f}/s:"
            f" delivery p50/p95/p99 {common.percentile(lat, 50) * 1000:.0f}/"
            f"{common.percentile(lat, 95) * 1000:.0f}/{common.percentile(lat, 99) * 1000:.0f} ms"
            f" (missing {r['missing']}); health p50/p95/p99"
            f" {common.percentile(health, 50) * 1000:.1f}/{common.percentile(health, 95) * 1000:.1f}/"
            f"{common.percentile(health, 99) * 1000:.1f} ms idle"
        )
    print(common.machine_line())


def argparse_hidden() -> str:
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    asyncio.run(main_async())
