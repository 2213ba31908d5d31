"""Relais beside a peer, measured in the same run: PouchDB Server (CouchDB's protocol on
Node.js), the usual choice for offline-first sync.

    python benchmarks/peer.py [--backends sqlite,postgres] [--notes 10000] [--latency-notes 200]

Installs `pouchdb-server` with npm into a scratch folder (benchmarks/results/peer/, not
committed; reused by later runs), or says why it skips when npm is missing. Both servers
run on this machine, on loopback, driven by the same client library (httpx), interleaved:
- ingest: 10,000 notes in requests of 500, three successive batches each (Relais: one
  supervisor's push; PouchDB: POST _bulk_docs): docs/s, and the per-request p50 of each
  batch (does the third batch slow down as the tables grow?);
- one note, write -> delivery to a listener, at --rate notes/s: PouchDB's continuous
  changes feed vs Relais's push -> poke on the counsellor's live stream -> pull; timed from
  when the writer sends until the listener holds the note; p50/p99;
- the idle floor: a trivial GET on each (PouchDB `GET /`, Relais `GET /api/v1/health`).
Prints the ratios, and whether the issue's targets were met (ingest at least the peer's
rate, third batch no slower than the first, delivery p99 at most the peer's).
All notes are invented.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import common  # noqa: E402
import httpx  # noqa: E402

NPM_FOLDER = HERE / "results" / "peer"  # git-ignored
BATCH = 500


# --- PouchDB Server --------------------------------------------------------------------


def install_pouchdb(folder: Path) -> Path | None:
    """The pouchdb-server command, installed with npm if needed; None (said why) if not."""
    binary = folder / "node_modules" / ".bin" / "pouchdb-server"
    if binary.exists():
        return binary
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        print(
            "npm (or node) not found: peer comparison skipped. Install Node.js and npm "
            "(Debian: apt-get install npm), then run this again."
        )
        return None
    folder.mkdir(parents=True, exist_ok=True)
    print(f"installing pouchdb-server with npm into {folder} (a few minutes, once) ...")
    done = subprocess.run(
        [npm, "install", "pouchdb-server", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=folder,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0 or not binary.exists():
        print(f"npm install pouchdb-server failed: peer comparison skipped\n{done.stderr[-2000:]}")
        return None
    return binary


@contextmanager
def pouchdb_server(binary: Path, folder: Path) -> Iterator[str]:
    data = folder / "pouch-data"
    data.mkdir()
    port = common.free_port()
    log = open(folder / "pouchdb.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [
            str(binary),
            "--port",
            str(port),
            "--dir",
            str(data),
            "--config",
            str(data / "config.json"),
            "--no-stdout-logs",
        ],
        cwd=data,
        stdout=log,
        stderr=log,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base_url, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"pouchdb-server did not start: {(folder / 'pouchdb.log').read_text()[-2000:]}"
                )
            time.sleep(0.1)
        httpx.put(f"{base_url}/notes").raise_for_status()
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


# --- the two systems, driven the same way -----------------------------------------------


@dataclass
class Side:
    name: str
    ingest_seconds: list[float] = field(default_factory=list)  # per batch of --notes
    request_p50: list[float] = field(default_factory=list)  # per batch
    latency: list[float] = field(default_factory=list)
    floor: list[float] = field(default_factory=list)


@dataclass
class RelaisTarget:
    base_url: str
    writer: dict[str, str]  # a supervisor's headers
    reader: dict[str, str]  # the counsellor's headers
    everyone: list[tuple[uuid.UUID, uuid.UUID]]  # (worker, team) the supervisor writes about
    about: list[tuple[uuid.UUID, uuid.UUID]]  # those of them followed by the listening counsellor


def notes(
    n: int,
    first: int,
    about: list[tuple[uuid.UUID, uuid.UUID]],
    rng: random.Random,
    routed_only: bool = True,
) -> list[dict[str, Any]]:
    return [common.note_data(first + i, *rng.choice(about), rng, routed_only) for i in range(n)]


def mutation(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "type": "note.create",
        "data": data,
        "client_time": data["captured_at"],
    }


def ingest_relais(
    client: httpx.Client, target: RelaisTarget, batch: list[dict[str, Any]], errors: list[str]
) -> list[float]:
    """Push the batch; a refused request is counted in `errors` (and its notes not stored)."""
    durations = []
    for i in range(0, len(batch), BATCH):
        body = {"protocol": 1, "mutations": [mutation(d) for d in batch[i : i + BATCH]]}
        started = time.perf_counter()
        response = client.post(
            f"{target.base_url}/api/v1/sync/push", json=body, headers=target.writer
        )
        durations.append(time.perf_counter() - started)
        if response.status_code != 200:
            errors.append(f"push: HTTP {response.status_code} {response.text[:200]}")
            continue
        refused = [r for r in response.json()["results"] if r["status"] != "applied"]
        errors += [f"push: mutation {r['status']} {r.get('error')}" for r in refused]
    return durations


def ingest_pouch(client: httpx.Client, base_url: str, batch: list[dict[str, Any]]) -> list[float]:
    durations = []
    for i in range(0, len(batch), BATCH):
        docs = [{"_id": d["id"], **d} for d in batch[i : i + BATCH]]
        started = time.perf_counter()
        response = client.post(f"{base_url}/notes/_bulk_docs", json={"docs": docs})
        durations.append(time.perf_counter() - started)
        response.raise_for_status()
        assert all("error" not in r for r in response.json())
    return durations


async def latency_relais(
    target: RelaisTarget, data: list[dict[str, Any]], rate: float
) -> list[float]:
    """Push one note at a time; the counsellor's stream pokes, the counsellor pulls."""
    sent: dict[str, float] = {}
    arrived: dict[str, float] = {}
    async with httpx.AsyncClient(base_url=target.base_url, timeout=30) as client:
        cursor = await _pull_all(client, target.reader, None, {}, {})
        wake = asyncio.Event()
        done = asyncio.Event()

        async def listen() -> None:
            nonlocal cursor
            timeout = httpx.Timeout(30, read=None)
            async with client.stream(
                "GET", "/api/v1/sync/stream", headers=target.reader, timeout=timeout
            ) as r:
                async for line in r.aiter_lines():
                    if line.startswith("data:"):
                        wake.set()

        async def pull_on_pokes() -> None:
            nonlocal cursor
            while not done.is_set():
                await wake.wait()
                wake.clear()
                cursor = await _pull_all(client, target.reader, cursor, sent, arrived)

        tasks = [asyncio.create_task(listen()), asyncio.create_task(pull_on_pokes())]
        await asyncio.sleep(0.5)
        for note in data:
            started = time.perf_counter()
            sent[note["id"]] = started
            body = {"protocol": 1, "mutations": [mutation(note)]}
            (
                await client.post("/api/v1/sync/push", json=body, headers=target.writer)
            ).raise_for_status()
            await asyncio.sleep(max(0.0, 1 / rate - (time.perf_counter() - started)))
        deadline = time.monotonic() + 30
        while len(arrived) < len(data) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        done.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    missing = len(data) - len(arrived)
    if missing:
        print(f"  Relais: {missing} notes did not arrive within 30 s")
    return [arrived[n] - sent[n] for n in arrived]


async def _pull_all(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    cursor: str | None,
    sent: dict[str, float],
    arrived: dict[str, float],
) -> str | None:
    while True:
        response = await client.post(
            "/api/v1/sync/pull", json={"protocol": 1, "cursor": cursor}, headers=headers
        )
        response.raise_for_status()
        body = response.json()
        now = time.perf_counter()
        for change in body["changes"]:
            if change["entity"] == "note" and change["id"] in sent:
                arrived.setdefault(change["id"], now)
        cursor = body["cursor"]
        if not body["has_more"]:
            return cursor


async def latency_pouch(base_url: str, data: list[dict[str, Any]], rate: float) -> list[float]:
    """PUT one document at a time; a continuous changes feed listens."""
    sent: dict[str, float] = {}
    arrived: dict[str, float] = {}
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        opened = asyncio.Event()

        async def listen() -> None:
            params = {"feed": "continuous", "since": "now", "heartbeat": "10000"}
            # Uncompressed: express's gzip middleware would hold the feed's lines back.
            async with client.stream(
                "GET",
                "/notes/_changes",
                params=params,
                headers={"Accept-Encoding": "identity"},
                timeout=httpx.Timeout(30, read=None),
            ) as r:
                opened.set()
                async for line in r.aiter_lines():
                    if line.strip():
                        change = json.loads(line)
                        if change.get("id") in sent:
                            arrived.setdefault(change["id"], time.perf_counter())

        task = asyncio.create_task(listen())
        await opened.wait()
        await asyncio.sleep(0.5)
        for note in data:
            started = time.perf_counter()
            sent[note["id"]] = started
            (await client.put(f"/notes/{note['id']}", json=note)).raise_for_status()
            await asyncio.sleep(max(0.0, 1 / rate - (time.perf_counter() - started)))
        deadline = time.monotonic() + 30
        while len(arrived) < len(data) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return [arrived[n] - sent[n] for n in arrived]


def floor(client: httpx.Client, url: str, n: int = 100) -> list[float]:
    out = []
    for _ in range(n):
        started = time.perf_counter()
        client.get(url).raise_for_status()
        out.append(time.perf_counter() - started)
    return out


# --- the run ---------------------------------------------------------------------------


def prepare_relais(database_url: str) -> tuple[common.Org, str]:
    db = common.Database(database_url)
    org = common.build_org(db, counsellors=50, teams=100, workers_per_team=12, supervisors=20)
    db.dispose()
    return org, database_url


def sign_in(base_url: str, login: str) -> dict[str, str]:
    response = httpx.post(
        f"{base_url}/api/v1/auth/login",
        json={"login": login, "password": common.PASSWORD, "device_name": "peer bench"},
    )
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['token']}"}


def relais_target(base_url: str, org: common.Org) -> RelaisTarget:
    supervisor = next(iter(org.supervisors))
    everyone = org.workers_of(supervisor)
    counsellor_id = org.counsellor_of[everyone[0][0]]
    about = [(w, t) for w, t in everyone if org.counsellor_of[w] == counsellor_id]
    counsellor = next(login for login, uid in org.counsellors.items() if uid == counsellor_id)
    return RelaisTarget(
        base_url, sign_in(base_url, supervisor), sign_in(base_url, counsellor), everyone, about
    )


def run_backend(backend: str, args: Any, binary: Path) -> dict[str, Any]:
    rng = random.Random(7)
    relais, pouch = Side("Relais"), Side("PouchDB Server")
    errors: list[str] = []
    with common.temp_folder("relais-peer-") as folder:
        with common.scratch_database(backend, folder, args.postgres_url) as url:
            org, _ = prepare_relais(url)
            with (
                common.server(url, folder) as (relais_url, _proc),
                pouchdb_server(binary, folder) as pouch_url,
            ):
                target = relais_target(relais_url, org)
                with httpx.Client(timeout=120) as client:
                    relais.floor = floor(client, f"{relais_url}/api/v1/health")
                    pouch.floor = floor(client, pouch_url)
                    print(
                        f"{backend}: ingest, {args.notes:,} notes x 3 batches, in requests of {BATCH} (interleaved)"
                    )
                    for batch in range(3):
                        # A returning phone's backlog, as sync_backlog.py: the realistic
                        # mix (half observations) about all of the supervisor's workers.
                        data = notes(
                            args.notes, batch * args.notes, target.everyone, rng, routed_only=False
                        )
                        order = [
                            (relais, lambda d=data: ingest_relais(client, target, d, errors)),
                            (pouch, lambda d=data: ingest_pouch(client, pouch_url, d)),
                        ]
                        if batch % 2:
                            order.reverse()  # neither always goes first
                        for side, ingest in order:
                            started = time.perf_counter()
                            durations = ingest()
                            side.ingest_seconds.append(time.perf_counter() - started)
                            side.request_p50.append(common.percentile(durations, 50))
                        for side in (relais, pouch):
                            print(
                                f"  batch {batch + 1}: {side.name:<15} {args.notes / side.ingest_seconds[-1]:8,.0f} docs/s"
                                f"  per-request p50 {side.request_p50[-1] * 1000:6.0f} ms"
                            )
                print(
                    f"{backend}: one note, write -> listener, {args.latency_notes} notes at {args.rate}/s each (interleaved halves)"
                )
                half = args.latency_notes // 2
                for _ in range(2):
                    relais.latency += asyncio.run(
                        latency_relais(target, notes(half, 10**6, target.about, rng), args.rate)
                    )
                    pouch.latency += asyncio.run(
                        latency_pouch(pouch_url, notes(half, 10**6, target.about, rng), args.rate)
                    )
            if errors:
                # The server logs an unexpected error's type only; say which it was.
                logged = [
                    line
                    for log in folder.glob("server-*.log")
                    for line in log.read_text(errors="replace").splitlines()
                    if "unexpected" in line or "database unavailable" in line
                ]
                print(
                    f"  Relais errors: {len(errors)}, e.g. {errors[:3]}; server log: {logged[:5]}"
                )
    return report(backend, args, relais, pouch)


def report(backend: str, args: Any, relais: Side, pouch: Side) -> dict[str, Any]:
    def rate(side: Side) -> float:
        return sorted(args.notes / s for s in side.ingest_seconds)[1]  # median of 3

    def p(side: Side, q: float) -> float:
        return common.percentile(side.latency, q) * 1000 if side.latency else float("nan")

    print(f"\n{backend}: results (same machine, same run)")
    for side in (relais, pouch):
        print(
            f"  {side.name:<15} ingest median {rate(side):8,.0f} docs/s; per-request p50 by batch "
            + " -> ".join(f"{v * 1000:.0f}" for v in side.request_p50)
            + " ms"
        )
        print(f"  {side.name:<15} write -> listener {common.pct_line(side.latency)}")
        print(f"  {side.name:<15} idle floor        {common.pct_line(side.floor)}")
    ingest_ratio = rate(relais) / rate(pouch)
    slowdown = relais.request_p50[2] / relais.request_p50[0]
    latency_ratio = p(relais, 99) / p(pouch, 99)
    print(
        f"  ratios: ingest Relais/PouchDB {ingest_ratio:.2f}x; delivery p50 {p(relais, 50) / p(pouch, 50):.2f}x, p99 {latency_ratio:.2f}x (Relais/PouchDB, lower is better)"
    )
    print(
        f"  target: ingest >= the peer's: {'met' if ingest_ratio >= 1 else 'NOT met'} ({ingest_ratio:.2f}x)"
    )
    print(
        f"  target: third batch no slower than the first: {'met' if slowdown <= 1.0 else 'NOT met'} (per-request p50 {slowdown:.2f}x)"
    )
    print(
        f"  target: delivery p99 <= the peer's: {'met' if latency_ratio <= 1 else 'NOT met'} ({p(relais, 99):.0f} vs {p(pouch, 99):.0f} ms)"
    )
    return {
        "backend": backend,
        "ingest_docs_per_s": {"relais": rate(relais), "pouchdb": rate(pouch)},
        "request_p50_ms": {
            "relais": [v * 1000 for v in relais.request_p50],
            "pouchdb": [v * 1000 for v in pouch.request_p50],
        },
        "delivery_ms": {
            s.name: {"p50": p(s, 50), "p99": p(s, 99), "n": len(s.latency)} for s in (relais, pouch)
        },
    }


def main() -> None:
    parser = common.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--notes", type=int, default=10_000, help="notes per ingest batch")
    parser.add_argument("--latency-notes", type=int, default=200)
    parser.add_argument("--rate", type=float, default=5.0, help="notes per second, latency part")
    parser.add_argument("--npm-dir", type=Path, default=NPM_FOLDER)
    args = parser.parse_args()
    if args.quick:
        args.notes, args.latency_notes = 2_000, 60
    print(common.machine_line())
    binary = install_pouchdb(args.npm_dir)
    if binary is None:
        return
    version = json.loads(
        (args.npm_dir / "node_modules" / "pouchdb-server" / "package.json").read_text()
    )["version"]
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    print(f"peer: pouchdb-server {version} on Node.js {node}, LevelDB files in a scratch folder")
    for backend in common.backends(args):
        if backend == "postgres" and not common.postgres_reachable(args.postgres_url):
            continue
        run_backend(backend, args, binary)
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
