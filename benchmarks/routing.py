"""Routing: route and deliver 10,000 notes (notes/s); one escalation sweep over 100,000 open
deliveries (seconds), each against a plain database operation timed in the same run.

    python benchmarks/routing.py [--quick] [--notes N] [--open N] [--profile]
                                 [--backends sqlite,postgres]

In process, against a fresh database (SQLite file, then a scratch PostgreSQL database), with
a fictional organisation of 50 counsellors, 2 coordinators, 20 supervisors and 100 teams of
12 workers (1,200 workers). No HTTP here: sync_backlog.py and delivery_latency.py cover it.

1. Route: N notes (signals and safety notes only, so that each one is routed and delivered)
   go through the real push service, `sync_server.sync.push.push` inside
   `db.unit_of_work()`, in batches of 500 from one supervisor each, as POST /sync/push does
   (minus HTTP and JSON). Figure: notes/s, commits included.
   Reference: the same number of note rows and delivery rows inserted with one
   SQLAlchemy Core executemany per table in one transaction (the 100,000 open deliveries
   below are that insert, scaled to N).
2. Escalate: 100,000 open deliveries past their deadline (one per note, to the worker's
   counsellor, due between 1 hour and 30 days ago) are bulk-inserted directly, then one
   `sync_server.sweeps.sweep_once` runs (escalate_overdue in transactions of
   RELAIS_ESCALATION_BATCH, default 2,000, until none is left; each escalated delivery gets
   the coordinators' copies and a change-log entry).
   Reference: a plain SELECT of the same overdue rows, with the sweep's WHERE, through the
   partial index ix_delivery_due_open, timed in the same run (first run and best of 3).

`--profile` runs cProfile around the route step and the sweep and prints the top functions.
Prints figures only: nothing here is a pass/fail threshold.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import random
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import common
from sqlalchemy import func, insert, select, text

from sync_server.auth.service import Caller
from sync_server.database import Database, utcnow
from sync_server.notes.models import Note
from sync_server.routing.models import Delivery
from sync_server.settings import Settings
from sync_server.sweeps import sweep_once
from sync_server.sync import push as push_service
from sync_server.sync.models import ChangeLogEntry

BATCH = 500
T = TypeVar("T")


def profiled(enabled: bool, label: str, func: Callable[[], T]) -> T:
    if not enabled:
        return func()
    profile = cProfile.Profile()
    result = profile.runcall(func)
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats("cumulative").print_stats(r"sync_server|shared_models|sqlalchemy", 30)
    stats.sort_stats("tottime").print_stats(25)
    print(f"\n--- cProfile: {label} ---")
    print("\n".join(line for line in out.getvalue().splitlines() if line.strip())[:12000])
    return result


def route(db: Database, org: common.Org, notes: int, rng: random.Random) -> tuple[float, int]:
    """Push `notes` routed notes in batches of 500; returns (seconds, deliveries created)."""
    logins = list(org.supervisors)
    batches: list[tuple[Caller, list[push_service.IncomingMutation]]] = []
    for b in range(0, notes, BATCH):
        login = logins[(b // BATCH) % len(logins)]
        caller = Caller(
            user_id=org.supervisors[login],
            org_id=org.id,
            device_id=org.device_of[login],
            roles=frozenset({"supervisor"}),
            sync_epoch=0,
        )
        pairs = org.workers_of(login)
        batch = []
        for n in range(b, min(b + BATCH, notes)):
            worker_id, team_id = pairs[rng.randrange(len(pairs))]
            data = common.note_data(n, worker_id, team_id, rng, routed_only=True)
            batch.append(
                push_service.IncomingMutation(
                    id=uuid.uuid4(), type="note.create", data=data, client_time=data["captured_at"]
                )
            )
        batches.append((caller, batch))
    with db.reading() as session:
        before = session.scalar(select(func.count()).select_from(Delivery)) or 0
    started = time.perf_counter()
    for caller, batch in batches:
        with db.unit_of_work() as session:
            results = push_service.push(session, caller, batch, utcnow())
        bad = [r for r in results if r.status != "applied"]
        if bad:
            raise SystemExit(f"push refused {len(bad)} notes, first: {bad[0]}")
    elapsed = time.perf_counter() - started
    with db.reading() as session:
        after = session.scalar(select(func.count()).select_from(Delivery)) or 0
    return elapsed, after - before


def overdue_rows(
    org: common.Org, count: int, rng: random.Random
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """`count` open notes, each with one referent delivery to the worker's counsellor, overdue."""
    now = utcnow()
    authors = {t: org.supervisors[s] for s, teams in org.teams_of.items() for t in teams}
    workers = [(w, t) for t, ws in org.workers_of_team.items() for w in ws]
    notes, deliveries = [], []
    for n in range(count):
        worker_id, team_id = workers[rng.randrange(len(workers))]
        kind, category, severity = common.note_kind(rng, routed_only=True)
        due = now - timedelta(seconds=rng.randint(3600, 30 * 86400))
        delivered = due - timedelta(days=1)
        note_id = uuid.uuid4()
        notes.append(
            {
                "id": note_id,
                "org_id": org.id,
                "author_id": authors[team_id],
                "worker_id": worker_id,
                "team_id": team_id,
                "kind": kind,
                "category": category,
                "severity": severity,
                "text": common.TEXTS[n % len(common.TEXTS)].format(n=n + 1),
                "captured_at": delivered,
                "received_at": delivered,
                "status": "open",
            }
        )
        deliveries.append(
            {
                "id": uuid.uuid4(),
                "note_id": note_id,
                "recipient_id": org.counsellor_of[worker_id],
                "reason": "referent",
                "delivered_at": delivered,
                "due_at": due,
            }
        )
    return notes, deliveries


def bulk_insert(
    db: Database, notes: list[dict[str, Any]], deliveries: list[dict[str, Any]]
) -> float:
    """One Core executemany per table (in chunks of 10,000 rows), one transaction."""
    started = time.perf_counter()
    with db.unit_of_work() as session:
        for table, rows in ((Note.__table__, notes), (Delivery.__table__, deliveries)):
            for i in range(0, len(rows), 10_000):
                session.execute(insert(table), rows[i : i + 10_000])
    return time.perf_counter() - started


def overdue_select(now: Any) -> Any:
    """The sweep's WHERE (routing.service.escalate_overdue), without its LIMIT."""
    d, n = Delivery.__table__, Note.__table__
    return (
        select(d)
        .join(n, n.c.id == d.c.note_id)
        .where(
            d.c.due_at.is_not(None),
            d.c.due_at <= now,
            d.c.acknowledged_at.is_(None),
            d.c.escalated_at.is_(None),
            n.c.status == "open",
        )
        .order_by(d.c.due_at)
    )


def plain_select(db: Database, now: Any) -> tuple[list[float], int, str]:
    """Time the plain SELECT three times; also return its row count and query plan."""
    query = overdue_select(now)
    timings, rows = [], 0
    for _ in range(3):
        with db.reading() as session:
            started = time.perf_counter()
            rows = len(session.execute(query).all())
            timings.append(time.perf_counter() - started)
    with db.reading() as session:
        compiled = query.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
        prefix = "EXPLAIN QUERY PLAN " if db.is_sqlite else "EXPLAIN "
        plan_rows = session.execute(text(prefix + str(compiled))).all()
    plan = "; ".join(str(r[-1]).strip() for r in plan_rows)
    return timings, rows, plan


def run_backend(
    backend: str, url: str, notes: int, open_count: int, profile: bool
) -> dict[str, Any]:
    rng = random.Random(2026)
    db = Database(url)
    try:
        started = time.perf_counter()
        org = common.build_org(
            db, counsellors=50, teams=100, workers_per_team=12, supervisors=20, devices=True
        )
        print(
            f"  organisation: 50 counsellors, 2 coordinators, 20 supervisors,"
            f" {org.worker_count:,} workers ({time.perf_counter() - started:.1f} s to build)"
        )

        route_seconds, routed_deliveries = profiled(
            profile, f"{backend}: route {notes:,} notes", lambda: route(db, org, notes, rng)
        )
        print(
            f"  route {notes:,} notes (push service, batches of {BATCH}): {route_seconds:.2f} s,"
            f" {notes / route_seconds:,.0f} notes/s, {routed_deliveries:,} deliveries created"
        )

        note_rows, delivery_rows = overdue_rows(org, open_count, rng)
        insert_seconds = bulk_insert(db, note_rows, delivery_rows)
        bulk_rate = open_count / insert_seconds  # notes (each with its delivery) per second
        print(
            f"  reference: bulk insert of {open_count:,} notes + {open_count:,} deliveries"
            f" (Core executemany, one transaction): {insert_seconds:.2f} s,"
            f" {bulk_rate:,.0f} notes+delivery/s"
        )
        print(
            f"    -> routing through push is {bulk_rate / (notes / route_seconds):,.0f}x slower"
            f" per note than the bulk insert"
        )

        now = utcnow()
        select_times, selected, plan = plain_select(db, now)
        print(
            f"  plain indexed SELECT of the overdue rows (sweep's WHERE, no LIMIT):"
            f" {selected:,} rows, first {select_times[0]:.3f} s, best of 3 {min(select_times):.3f} s"
        )
        print(f"    plan: {plan}")
        if selected != open_count:
            raise SystemExit(f"expected {open_count} overdue rows, the SELECT found {selected}")

        with db.reading() as session:
            log_before = session.scalar(select(func.count()).select_from(ChangeLogEntry)) or 0
            deliveries_before = session.scalar(select(func.count()).select_from(Delivery)) or 0
        settings = Settings(escalation_interval=0, smtp_host=None)
        started = time.perf_counter()
        report = profiled(
            profile,
            f"{backend}: sweep over {open_count:,} open deliveries",
            lambda: sweep_once(db, settings, now),
        )
        sweep_seconds = time.perf_counter() - started
        with db.reading() as session:
            log_after = session.scalar(select(func.count()).select_from(ChangeLogEntry)) or 0
            deliveries_after = session.scalar(select(func.count()).select_from(Delivery)) or 0
        print(
            f"  one escalation sweep: {sweep_seconds:.2f} s, {report.escalated:,} escalated"
            f" ({report.escalated / sweep_seconds:,.0f}/s) in"
            f" {-(-report.escalated // settings.escalation_batch)} transactions, {deliveries_after - deliveries_before:,} coordinator copies,"
            f" {log_after - log_before:,} change-log entries"
        )
        ratio = sweep_seconds / min(select_times)
        print(
            f"    -> the sweep takes {ratio:,.1f}x the plain SELECT"
            f" (best of 3), {sweep_seconds / select_times[0]:,.1f}x its first run;"
            f" target <= 3x: {'met' if ratio <= 3 else 'NOT met'}"
        )
        if report.escalated != open_count:
            raise SystemExit(f"expected {open_count} escalations, got {report.escalated}")
        return {
            "backend": backend,
            "notes": notes,
            "route": route_seconds,
            "bulk_rate": bulk_rate,
            "open": open_count,
            "select": min(select_times),
            "sweep": sweep_seconds,
        }
    finally:
        db.dispose()


def main() -> None:
    parser = common.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--notes", type=int, help="notes to route (default 10,000; --quick 2,000)")
    parser.add_argument(
        "--open", type=int, help="open overdue deliveries (default 100,000; --quick 10,000)"
    )
    parser.add_argument("--profile", action="store_true", help="cProfile the route and the sweep")
    args = parser.parse_args()
    notes = args.notes or (2000 if args.quick else 10000)
    open_count = args.open or (10000 if args.quick else 100000)
    print("Routing: route and deliver notes; one escalation sweep over open deliveries")
    print(common.machine_line())
    results = []
    with common.temp_folder("relais-bench-routing-") as folder:
        for backend in common.backends(args):
            if backend == "postgres" and not common.postgres_reachable(args.postgres_url):
                continue
            print(f"\n== {'SQLite' if backend == 'sqlite' else 'PostgreSQL'} ==")
            with common.scratch_database(backend, Path(folder), args.postgres_url) as url:
                results.append(run_backend(backend, url, notes, open_count, args.profile))
    print("\nsummary:")
    for r in results:
        rate = r["notes"] / r["route"]
        print(
            f"  {r['backend']:<9} route {r['notes']:>6,} notes {rate:>7,.0f} notes/s"
            f" (bulk insert {r['bulk_rate']:>7,.0f}/s, {r['bulk_rate'] / rate:,.0f}x)"
            f" | sweep {r['open']:>7,} open {r['sweep']:7.2f} s"
            f" vs plain SELECT {r['select']:.3f} s ({r['sweep'] / r['select']:,.0f}x)"
        )
    print(common.machine_line())


if __name__ == "__main__":
    main()
