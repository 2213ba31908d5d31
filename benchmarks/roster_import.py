"""How fast `relais roster import` is: fresh import and no-change re-import, with a reference.

    python benchmarks/roster_import.py [--sizes 1000,5000,20000]

For each size, a fictional roster is generated and imported in process the way the command
does it (read_rows + import_rows in one unit of work, committed), into a fresh database:
SQLite always; PostgreSQL too when RELAIS_BENCH_POSTGRES_URL (or the local default server)
answers. On PostgreSQL that URL is only used to create and drop a scratch database. As a
same-run reference, the same rows are parsed and inserted with plain sqlite3 `executemany`
into a bare table with the same columns; the ratio says what the domain work costs
(references, change log, audiences, staffing check) over a bare insert.
Prints figures only: nothing here is a pass/fail threshold.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import random
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from common import postgres_reachable, scratch_database
from sqlalchemy import func, select

from sync_server.auth.service import hash_password
from sync_server.database import Database
from sync_server.migrations import upgrade
from sync_server.orgs import roster
from sync_server.orgs.models import Organization, Team, User, UserRole, Worker
from sync_server.orgs.service import org_by_slug

DEFAULT_SIZES = (1000, 5000, 20000)
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
SLUG = "bench"
HEADER = "ref,name,team,counsellor,contract_type,start,end"

# Invented first names and initials only: nobody real.
FIRST = [
    "Ada",
    "Bram",
    "Cleo",
    "Dario",
    "Elin",
    "Faro",
    "Gwen",
    "Hugo",
    "Ilse",
    "Joss",
    "Kira",
    "Lino",
]


def team_count(rows: int) -> int:
    return max(2, rows // 12)  # about twelve workers per team, as in a French ACI


def counsellor_count(rows: int) -> int:
    return max(2, rows // 30)  # a counsellor follows 20 to 40 workers


def roster_text(rows: int, seed: int = 2026) -> str:
    rng = random.Random(seed)
    teams, counsellors = team_count(rows), counsellor_count(rows)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER.split(","))
    for i in range(rows):
        start = f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        end = (
            "" if rng.random() < 0.5 else f"2027-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        )
        writer.writerow(
            [
                f"W{i:06d}",
                f"{rng.choice(FIRST)} {chr(65 + i % 26)}.",
                f"team-{i % teams:04d}",
                "" if rng.random() < 0.05 else f"couns-{rng.randrange(counsellors):04d}",
                "CDDI",
                start,
                end,
            ]
        )
    return out.getvalue()


def build_org(db: Database, rows: int, password_hash: str) -> None:
    """A fictional organisation with the teams, supervisors and counsellors the roster names."""
    with db.unit_of_work() as session:
        org = Organization(
            id=uuid.uuid4(),
            slug=SLUG,
            name="ACI Banc d'Essai (fictional)",
            country="FR",
            language="fr",
        )
        session.add(org)
        session.flush()

        def user(login: str, role: str) -> User:
            u = User(
                id=uuid.uuid4(),
                org_id=org.id,
                login=login,
                display_name=login.replace("-", " ").title(),
                password_hash=password_hash,
                language="fr",
            )
            u.roles = [UserRole(user_id=u.id, role=role)]
            session.add(u)
            return u

        for c in range(counsellor_count(rows)):
            user(f"couns-{c:04d}", "counsellor")
        for t in range(team_count(rows)):
            sup = user(f"sup-{t:04d}", "supervisor")
            session.add(
                Team(
                    id=uuid.uuid4(),
                    org_id=org.id,
                    slug=f"team-{t:04d}",
                    name=f"Team {t}",
                    supervisors=[sup],
                )
            )


def timed_import(db: Database, csv_text: str) -> tuple[float, roster.ImportResult]:
    """What the command does, minus the progress bar: parse, import, commit."""
    started = time.perf_counter()
    rows = roster.read_rows(csv_text)
    with db.unit_of_work() as session:
        org = org_by_slug(session, SLUG)
        assert org is not None
        result = roster.import_rows(session, org, rows)
    return time.perf_counter() - started, result


def reference_sqlite3(path: Path, csv_text: str) -> float:
    """Parse the same CSV and insert it with plain sqlite3 into a bare table, one transaction."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(
        "CREATE TABLE worker (id TEXT PRIMARY KEY, org_id TEXT, ref TEXT, display_name TEXT,"
        " team_id TEXT, counsellor_id TEXT, contract_type TEXT, contract_start TEXT,"
        " contract_end TEXT, active INTEGER, UNIQUE (org_id, ref))"
    )
    org_id = uuid.uuid4().hex
    started = time.perf_counter()
    reader = csv.DictReader(io.StringIO(csv_text))
    values = [
        (
            uuid.uuid4().hex,
            org_id,
            r["ref"],
            r["name"],
            r["team"],
            r["counsellor"] or None,
            r["contract_type"] or None,
            r["start"] or None,
            r["end"] or None,
            1,
        )
        for r in reader
    ]
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany("INSERT INTO worker VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", values)
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


@contextmanager
def sqlite_database(folder: Path, name: str) -> Iterator[Database]:
    db = Database(f"sqlite:///{folder / name}")
    upgrade(db)
    try:
        yield db
    finally:
        db.dispose()


def postgres_admin_url() -> str | None:
    url = os.environ.get("RELAIS_BENCH_POSTGRES_URL", DEFAULT_POSTGRES)
    return url if postgres_reachable(url) else None


@contextmanager
def postgres_database(admin_url: str) -> Iterator[Database]:
    """A scratch database, migrated to head, dropped afterwards."""
    with scratch_database("postgres", Path(), admin_url) as url:
        db = Database(url)
        try:
            yield db
        finally:
            db.dispose()


def line(backend: str, rows: int, phase: str, seconds: float, note: str = "") -> None:
    print(
        f"{backend:<10} {rows:>7,} {phase:<24} {seconds:>8.2f} s {rows / seconds:>10,.0f} rows/s  {note}"
    )


def bench(
    backend: str,
    db: Database,
    rows: int,
    csv_text: str,
    password_hash: str,
    reference: float | None,
) -> None:
    build_org(db, rows, password_hash)
    fresh, result = timed_import(db, csv_text)
    assert (result.created, result.updated) == (rows, 0), result
    ratio = f"{fresh / reference:.1f}x the sqlite3 reference" if reference else ""
    line(backend, rows, "fresh import", fresh, ratio)
    again, result = timed_import(db, csv_text)
    assert (result.created, result.updated, result.unchanged) == (0, 0, rows), result
    ratio = f"{again / reference:.1f}x the sqlite3 reference" if reference else ""
    line(backend, rows, "re-import (no changes)", again, ratio)
    with db.reading() as session:
        stored = session.scalar(select(func.count()).select_from(Worker))
    assert stored == rows, stored


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(str(s) for s in DEFAULT_SIZES))
    sizes = [int(s) for s in parser.parse_args().sizes.split(",")]
    password_hash = hash_password("fictional-bench-password")
    admin_url = postgres_admin_url()
    print(f"{'backend':<10} {'rows':>7} {'phase':<24} {'time':>10} {'rate':>17}")
    with tempfile.TemporaryDirectory(prefix="relais-bench-") as tmp:
        folder = Path(tmp)
        for rows in sizes:
            csv_text = roster_text(rows)
            reference = reference_sqlite3(folder / f"reference-{rows}.db", csv_text)
            line("sqlite3", rows, "bare executemany", reference, "(reference)")
            with sqlite_database(folder, f"relais-{rows}.db") as db:
                bench("SQLite", db, rows, csv_text, password_hash, reference)
            if admin_url:
                with postgres_database(admin_url) as db:
                    bench("PostgreSQL", db, rows, csv_text, password_hash, reference)


if __name__ == "__main__":
    main()
