"""Login flood: push latency with and without a flood of failed logins, over real HTTP.

    python benchmarks/login_flood.py [--quick] [--rate R] [--seconds S]
                                     [--backends sqlite,postgres]

A supervisor's phone pushes one note at a time (one `note.create` per request, a new push
20 ms after the previous answer, as after taps) to a real server process (`relais serve`
on a free loopback port, on a fresh SQLite file, then on a fresh PostgreSQL database).
Push latency is measured for S seconds in each of three phases:

1. quiet: nothing else happens (the reference);
2. flood from one address: R failed logins per second (unknown logins, wrong passwords, no
   account needed) sent by another process that does not wait for the answers, all from one
   client address;
3. flood from many addresses: the same, each attempt from a new address (the server trusts
   one reverse proxy, `RELAIS_TRUSTED_PROXY_COUNT=1`, and each attempt carries its own
   `X-Forwarded-For`), as a botnet would.

Printed per phase: push latency p50/p95/p99/max and, for the floods, the ratio of the push
median to the quiet median, how the server answered the failed logins (by status) and how
fast. The issue's figure before the fix: about 10 failed logins/s raised the push median
from 9 ms to about 3.8 s. Nothing here is a pass/fail test. Every person here is invented.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import random
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import common
import httpx

from sync_server.database import Database

PUSH_PAUSE = 0.02  # seconds between one push's answer and the next push


def sign_in(base_url: str, login: str) -> dict[str, str]:
    response = httpx.post(
        f"{base_url}/api/v1/auth/login",
        json={"login": login, "password": common.PASSWORD, "device_name": "bench phone"},
        timeout=120,
    )
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['token']}"}


def push_for(
    base_url: str, headers: dict[str, str], org: common.Org, supervisor: str, seconds: float
) -> list[float]:
    """Push one note at a time for `seconds`; returns each push's latency in seconds."""
    rng = random.Random(7)
    pairs = org.workers_of(supervisor)
    latencies: list[float] = []
    deadline = time.monotonic() + seconds
    with httpx.Client(base_url=base_url, headers=headers, timeout=120) as client:
        n = 0
        while time.monotonic() < deadline:
            worker, team = rng.choice(pairs)
            mutation = {
                "id": str(uuid.uuid4()),
                "type": "note.create",
                "data": common.note_data(n, worker, team, rng),
                "client_time": datetime.now(UTC).isoformat(),
            }
            started = time.perf_counter()
            try:
                response = client.post(
                    "/api/v1/sync/push", json={"protocol": 1, "mutations": [mutation]}
                )
            except httpx.HTTPError as exc:
                print(
                    f"  push failed: {type(exc).__name__} after {time.perf_counter() - started:.1f} s"
                )
                continue
            latencies.append(time.perf_counter() - started)
            if response.status_code != 200 or response.json()["results"][0]["status"] not in (
                "applied",
                "duplicate",
            ):
                print(f"  push answered {response.status_code}: {response.text[:200]}")
            n += 1
            time.sleep(PUSH_PAUSE)
    return latencies


async def _flood(base_url: str, rate: float, seconds: float, many_addresses: bool) -> dict:
    """Fire `rate` failed logins per second for `seconds`, never waiting for an answer
    before the next one; then wait for the answers still on their way."""
    statuses: Counter[str] = Counter()
    answer_times: list[float] = []
    limits = httpx.Limits(max_connections=1000, max_keepalive_connections=100)
    async with httpx.AsyncClient(base_url=base_url, timeout=300, limits=limits) as client:

        async def attempt(n: int) -> None:
            headers = {"X-Forwarded-For": f"198.51.{n // 250 % 256}.{n % 250 + 1}"}
            if not many_addresses:
                headers = {"X-Forwarded-For": "203.0.113.7"}
            body = {
                "login": f"nobody-{uuid.uuid4().hex[:12]}",
                "password": f"guess-{n}",
                "device_name": "flood",
            }
            started = time.perf_counter()
            try:
                response = await client.post("/api/v1/auth/login", json=body, headers=headers)
                statuses[str(response.status_code)] += 1
            except httpx.HTTPError as exc:
                statuses[type(exc).__name__] += 1
            answer_times.append(time.perf_counter() - started)

        tasks = []
        start = time.monotonic()
        n = 0
        while time.monotonic() - start < seconds:
            tasks.append(asyncio.create_task(attempt(n)))
            n += 1
            await asyncio.sleep(max(0.0, start + n / rate - time.monotonic()))
        await asyncio.gather(*tasks)
    return {"sent": n, "statuses": dict(statuses), "answer_times": answer_times}


def _flood_process(
    base_url: str, rate: float, seconds: float, many: bool, queue: multiprocessing.Queue
) -> None:
    queue.put(asyncio.run(_flood(base_url, rate, seconds, many)))


def phase(
    name: str,
    base_url: str,
    headers: dict[str, str],
    org: common.Org,
    supervisor: str,
    seconds: float,
    rate: float | None = None,
    many_addresses: bool = False,
) -> dict[str, Any]:
    """Pushes for `seconds`, with a flood in another process when `rate` is given."""
    flood = None
    queue: multiprocessing.Queue = multiprocessing.Queue()
    if rate:
        flood = multiprocessing.Process(
            target=_flood_process, args=(base_url, rate, seconds, many_addresses, queue)
        )
        flood.start()
        time.sleep(1.0)  # let the flood start before measuring
    result: dict[str, Any] = {"name": name}
    pushes: list[float] = []
    thread = threading.Thread(
        target=lambda: pushes.extend(push_for(base_url, headers, org, supervisor, seconds))
    )
    thread.start()
    thread.join()
    result["pushes"] = pushes
    if flood is not None:
        result["flood"] = queue.get()
        flood.join()
    return result


def median(values: list[float]) -> float:
    return common.percentile(values, 50) if values else float("nan")


def report(backend: str, phases: list[dict[str, Any]], rate: float) -> None:
    quiet = median(phases[0]["pushes"])
    print(f"\n{backend}:")
    for p in phases:
        flood_median = median(p["pushes"])
        print(f"  {p['name']:<30} push latency {common.pct_line(p['pushes'])}")
        if "flood" in p:
            f = p["flood"]
            statuses = ", ".join(f"{k}: {v}" for k, v in sorted(f["statuses"].items()))
            print(
                f"  {'':<30} push median {flood_median * 1000:.1f} ms vs {quiet * 1000:.1f} ms"
                f" quiet: ratio {flood_median / quiet:.2f}x"
            )
            print(
                f"  {'':<30} {f['sent']} failed logins sent at {rate:g}/s; answers {statuses};"
                f" answer time {common.pct_line(f['answer_times'])}"
            )


def run_backend(backend: str, url: str, folder: Path, seconds: float, rate: float) -> list:
    db = Database(url)
    org = common.build_org(db, counsellors=2, teams=1, workers_per_team=12, supervisors=1)
    db.dispose()
    supervisor = next(iter(org.supervisors))
    with common.server(url, folder, RELAIS_TRUSTED_PROXY_COUNT="1") as (base_url, _process):
        headers = sign_in(base_url, supervisor)
        push_for(base_url, headers, org, supervisor, 1.0)  # warm up
        return [
            phase("quiet", base_url, headers, org, supervisor, seconds),
            phase(
                "flood from one address", base_url, headers, org, supervisor, seconds, rate, False
            ),
            phase(
                "flood from many addresses",
                base_url,
                headers,
                org,
                supervisor,
                seconds,
                rate,
                True,
            ),
        ]


def main() -> None:
    parser = common.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=10.0, help="failed logins per second")
    parser.add_argument("--seconds", type=float, help="per phase (default 30; --quick 10)")
    args = parser.parse_args()
    seconds = args.seconds or (10.0 if args.quick else 30.0)
    print(__doc__.splitlines()[0])
    print(common.machine_line())
    summary = []
    with common.temp_folder("relais-bench-flood-") as folder:
        for backend in common.backends(args):
            if backend == "postgres" and not common.postgres_reachable(args.postgres_url):
                continue
            with common.scratch_database(backend, folder, args.postgres_url) as url:
                phases = run_backend(backend, url, folder, seconds, args.rate)
            name = "SQLite" if backend == "sqlite" else "PostgreSQL"
            report(name, phases, args.rate)
            summary.append((name, phases))
    print("\nsummary (push median; ratio to quiet):")
    for name, phases in summary:
        quiet = median(phases[0]["pushes"])
        cells = [f"quiet {quiet * 1000:.1f} ms"]
        for p in phases[1:]:
            flooded = median(p["pushes"])
            cells.append(f"{p['name']} {flooded * 1000:.1f} ms ({flooded / quiet:.2f}x)")
        print(f"  {name:<10} " + "; ".join(cells))
    print(common.machine_line())


if __name__ == "__main__":
    main()
