"""Pull's cost as the organisation grows: 1,200 workers, then 12,000 (issue 12, item 2).

Two organisations of the same shape, 10x apart: teams of 12 workers, one supervisor per
team, 30 workers per counsellor, 2 coordinators; each worker has one note in the history.
What one supervisor may see is the same size in both (colleagues are on need to know: the
supervisor runs their team alone, so they see only themselves); a counsellor also sees
every counsellor (40 against 400), which only their first pull receives.

1. A counsellor's incremental pull: the counsellor is up to date; supervisors write one
   note per 12 workers of the organisation (100 against 1,000), 3 of them about the
   counsellor's workers; the counsellor pulls until `has_more` is false. 5 rounds.
2. A supervisor's first pull: a new phone, from no cursor to the end. 3 times.

Each is timed through the pull index (`change_audience`), and in the same run reading the
whole change log after the cursor (what pull did before the index), in process
(`sync_server.sync.pull.pull` inside `db.reading()`, as POST /sync/pull does; no HTTP).
Printed: medians per organisation and the ratio 12,000 / 1,200, target <= 1.5x.
"""

from __future__ import annotations

import random
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

import common

from sync_server import policy
from sync_server.auth.service import Caller
from sync_server.database import Database, utcnow
from sync_server.sync import pull as pull_service
from sync_server.sync import push as push_service

SIZES = (1_200, 12_000)
TEAM_SIZE = 12
CASELOAD = 30
TARGET = 1.5
ROUNDS = 5
FIRST_PULLS = 3


def caller_of(org: common.Org, user_id: uuid.UUID, role: str) -> Caller:
    return Caller(
        user_id=user_id,
        org_id=org.id,
        device_id=None,
        roles=frozenset({role}),
        sync_epoch=0,
    )


def catch_up(
    db: Database, caller: Caller, cursor: str | None, whole_log: bool
) -> tuple[float, int, str]:
    """Pull until has_more is false; (seconds, changes received, cursor)."""
    original = policy.viewer_keys
    if whole_log:
        policy.viewer_keys = lambda v: None  # type: ignore[assignment]
    try:
        received = 0
        started = time.perf_counter()
        while True:
            with db.reading() as session:
                response, _ = pull_service.pull(session, caller, cursor, 500, utcnow())
            assert not response.reset
            received += len(response.changes)
            cursor = response.cursor
            if not response.has_more:
                return time.perf_counter() - started, received, cursor
    finally:
        policy.viewer_keys = original


def write_notes(
    db: Database, caller: Caller, pairs: list[tuple[uuid.UUID, uuid.UUID]], rng: random.Random
) -> None:
    """Each (worker, team) becomes one note by `caller`, pushed in batches of 500."""
    for b in range(0, len(pairs), 500):
        batch = []
        for worker, team in pairs[b : b + 500]:
            data = common.note_data(rng.randrange(1000), worker, team, rng)
            batch.append(
                push_service.IncomingMutation(
                    id=uuid.uuid4(), type="note.create", data=data, client_time=data["captured_at"]
                )
            )
        with db.unit_of_work() as session:
            results = push_service.push(session, caller, batch, utcnow())
        bad = [r for r in results if r.status != "applied"]
        if bad:
            raise SystemExit(f"push refused {len(bad)} notes, first: {bad[0]}")


def measure(url: str, workers: int, rng: random.Random) -> dict[str, Any]:
    db = Database(url)
    started = time.perf_counter()
    org = common.build_org(
        db,
        counsellors=workers // CASELOAD,
        teams=workers // TEAM_SIZE,
        workers_per_team=TEAM_SIZE,
        supervisors=workers // TEAM_SIZE,
        devices=True,
        slug=f"pull{workers}",
    )
    # The history and each round's notes are written by a coordinator (who may write about
    # any worker) in batches of 500; the measured supervisor writes about their own team.
    coordinator = caller_of(org, org.coordinators[0], "coordinator")
    everyone = [(w, t) for t, ws in org.workers_of_team.items() for w in ws]
    write_notes(db, coordinator, everyone, rng)
    supervisor_login = next(iter(org.supervisors))
    supervisor = caller_of(org, org.supervisors[supervisor_login], "supervisor")
    write_notes(db, supervisor, org.workers_of(supervisor_login), rng)
    print(
        f"  {workers:,} workers: organisation and {len(everyone):,} notes of history written"
        f" in {time.perf_counter() - started:.1f} s"
    )

    counsellor_login = next(iter(org.counsellors))
    counsellor = caller_of(org, org.counsellors[counsellor_login], "counsellor")
    theirs = [p for p in everyone if org.counsellor_of[p[0]] == counsellor.user_id]
    others = [p for p in everyone if org.counsellor_of[p[0]] != counsellor.user_id]
    cursors = {whole: catch_up(db, counsellor, None, whole)[2] for whole in (False, True)}
    incremental: dict[bool, list[float]] = {False: [], True: []}
    received: dict[bool, list[int]] = {False: [], True: []}
    for r in range(ROUNDS):
        round_notes = rng.sample(theirs, 3) + rng.sample(others, workers // TEAM_SIZE - 3)
        write_notes(db, coordinator, round_notes, rng)
        order = (False, True) if r % 2 == 0 else (True, False)  # alternate who goes first
        for whole in order:
            seconds, count, cursors[whole] = catch_up(db, counsellor, cursors[whole], whole)
            incremental[whole].append(seconds)
            received[whole].append(count)

    first: dict[bool, list[float]] = {False: [], True: []}
    first_count: dict[bool, int] = {}
    for r in range(FIRST_PULLS):
        for whole in (False, True) if r % 2 == 0 else (True, False):
            seconds, count, _ = catch_up(db, supervisor, None, whole)
            first[whole].append(seconds)
            first_count[whole] = count
    db.dispose()
    if received[False] != received[True] or first_count[False] != first_count[True]:
        raise SystemExit(
            f"index and whole log disagree: {received} / {first_count}"
        )  # the tests hold them equal; a benchmark must not time a wrong answer
    return {
        "incremental": {w: statistics.median(v) for w, v in incremental.items()},
        "incremental_changes": statistics.median(received[False]),
        "first": {w: statistics.median(v) for w, v in first.items()},
        "first_changes": first_count[False],
    }


def verdict(ratio: float) -> str:
    return "met" if ratio <= TARGET else "NOT met"


def report(backend: str, results: dict[int, dict[str, Any]]) -> None:
    small, big = (results[s] for s in SIZES)
    ms: Callable[[float], str] = lambda s: f"{s * 1000:8.1f} ms"  # noqa: E731
    print(f"\n{backend}:")
    print(
        f"  {'':44} {'1,200 workers':>14} {'12,000 workers':>15} {'ratio':>7}  target <= {TARGET}x"
    )
    for label, key, count in (
        ("counsellor, incremental pull", "incremental", "incremental_changes"),
        ("supervisor, first pull", "first", "first_changes"),
    ):
        for whole, how in ((False, "through the index"), (True, "whole log (before)")):
            a, b = small[key][whole], big[key][whole]
            target = verdict(b / a) if not whole else "(reference)"
            print(f"  {label + ', ' + how:44} {ms(a):>14} {ms(b):>15} {b / a:6.2f}x  {target}")
        print(f"  {'  changes received':44} {small[count]:>14,} {big[count]:>15,}")
        a, b = small[key][False] / small[count], big[key][False] / big[count]
        print(
            f"  {'  per change received, through the index':44} {ms(a):>14} {ms(b):>15}"
            f" {b / a:6.2f}x"
        )
        print(
            f"  {'  index / whole log, same run':44}"
            f" {small[key][False] / small[key][True]:13.2f}x {big[key][False] / big[key][True]:14.2f}x"
        )


def main() -> None:
    parser = common.base_parser(__doc__ or "")
    args = parser.parse_args()
    print(common.machine_line())
    for backend in common.backends(args):
        if backend == "postgres" and not common.postgres_reachable(args.postgres_url):
            continue
        results = {}
        with common.temp_folder("relais-pull-") as folder:
            for workers in SIZES:
                with common.scratch_database(backend, folder, args.postgres_url) as url:
                    results[workers] = measure(url, workers, random.Random(workers))
        report(backend, results)
    print(f"\n{common.machine_line()}")


if __name__ == "__main__":
    main()
