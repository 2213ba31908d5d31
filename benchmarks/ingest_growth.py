"""Does backlog ingest slow down as notes pile up? (issue 12: the third 10,000 no slower)

One supervisor of the routing organisation (50 counsellors, 2 coordinators, 20 supervisors,
1,200 workers) pushes 3 x 10,000 notes of the realistic mix about the 60 workers of their
teams, in pushes of 500, through `sync_server.sync.push.push` inside `db.unit_of_work()`
as POST /sync/push does (in process, no HTTP). Printed: notes/s and the median push per
10,000, and the third's rate against the first's (target: >= 1x). `--profile` adds a
cProfile listing of the first and third 10,000.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import random
import statistics
import time
import uuid

import common

from sync_server.auth.service import Caller
from sync_server.database import Database, utcnow
from sync_server.sync import push as push_service

RUNS = 3
BATCH = 500


def run_backend(url: str, notes: int, profile: bool) -> list[float]:
    db = Database(url)
    org = common.build_org(
        db, counsellors=50, teams=100, workers_per_team=12, supervisors=20, devices=True
    )
    login = next(iter(org.supervisors))
    caller = Caller(
        user_id=org.supervisors[login],
        org_id=org.id,
        device_id=org.device_of[login],
        roles=frozenset({"supervisor"}),
        sync_epoch=0,
    )
    pairs = org.workers_of(login)
    rng = random.Random(2026)
    rates = []
    for run in range(RUNS):
        batches = []
        for b in range(0, notes, BATCH):
            batch = []
            for n in range(b, min(b + BATCH, notes)):
                worker, team = pairs[rng.randrange(len(pairs))]
                data = common.note_data(n, worker, team, rng)
                batch.append(
                    push_service.IncomingMutation(
                        id=uuid.uuid4(),
                        type="note.create",
                        data=data,
                        client_time=data["captured_at"],
                    )
                )
            batches.append(batch)
        profiler = cProfile.Profile() if profile and run in (0, RUNS - 1) else None
        pushes = []
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        for batch in batches:
            t = time.perf_counter()
            with db.unit_of_work() as session:
                results = push_service.push(session, caller, batch, utcnow())
            pushes.append(time.perf_counter() - t)
            if any(r.status != "applied" for r in results):
                raise SystemExit(f"push refused a note: {results[0]}")
        if profiler:
            profiler.disable()
        elapsed = time.perf_counter() - started
        rates.append(notes / elapsed)
        print(
            f"  notes {run * notes + 1:,}-{(run + 1) * notes:,}: {notes / elapsed:,.0f} notes/s,"
            f" push of {BATCH} median {statistics.median(pushes) * 1000:,.0f} ms"
        )
        if profiler:
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(
                "sync_server", 25
            )
            print(out.getvalue())
    db.dispose()
    return rates


def main() -> None:
    parser = common.base_parser(__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--notes", type=int, help="notes per run (default 10,000; --quick 2,000)")
    parser.add_argument("--profile", action="store_true", help="cProfile the first and last run")
    args = parser.parse_args()
    notes = args.notes or (2000 if args.quick else 10000)
    print(common.machine_line())
    with common.temp_folder("relais-bench-ingest-") as folder:
        for backend in common.backends(args):
            if backend == "postgres" and not common.postgres_reachable(args.postgres_url):
                continue
            print(f"\n{backend}:")
            with common.scratch_database(backend, folder, args.postgres_url) as url:
                rates = run_backend(url, notes, args.profile)
            ratio = rates[-1] / rates[0]
            print(
                f"  last {notes:,} against the first: {ratio:.2f}x the rate;"
                f" target >= 1x (no slower): {'met' if ratio >= 1 else 'NOT met'}"
            )
    print(f"\n{common.machine_line()}")


if __name__ == "__main__":
    main()
