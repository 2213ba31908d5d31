"""Restore drills: back up while the server runs, write more, restore, check the data.

SQLite through `relais backup` / `relais restore`; PostgreSQL through pg_dump and
pg_restore, as docs/deploy.md tells ops to do. `relais backup` and `relais restore` run
as real subprocesses in the drill, their refusals in process (relais_testing/command.py).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from relais_testing.command import Relais
from relais_testing.databases import scratch_postgres
from relais_testing.factories import World, build_world, note_data
from relais_testing.serving import server_process
from sync_server.database import Database
from sync_server.migrations import upgrade
from tests.conftest import REQUIRE_POSTGRES, require_or_skip
from tests.live import bearer, push_notes

pytestmark = pytest.mark.slow


def relais(
    tmp_path: Path, *args: str, database_url: str, spawn: bool = False
) -> subprocess.CompletedProcess[str]:
    command = Relais(tmp_path)
    command.env = dict(os.environ, RELAIS_DATABASE_URL=database_url)
    return command.spawn(*args) if spawn else command(*args)


def notes_seen(base_url: str, login: str) -> set[str]:
    headers = bearer(base_url, login)
    cursor, seen = None, set()
    while True:
        body = httpx.post(
            f"{base_url}/api/v1/sync/pull",
            json={"protocol": 1, "cursor": cursor},
            headers=headers,
            timeout=30,
        ).json()
        seen |= {c["id"] for c in body["changes"] if c["entity"] == "note"}
        cursor = body["cursor"]
        if not body["has_more"]:
            return seen


def private(path: Path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) == 0o600


def test_sqlite_backup_and_restore_drill(tmp_path: Path, sqlite_template: Path) -> None:
    database = tmp_path / "data" / "relais.db"
    database.parent.mkdir()
    shutil.copy(sqlite_template, database)
    url = f"sqlite:///{database}"
    db = Database(url)
    world = build_world(db)
    db.dispose()
    backup = tmp_path / "backups" / "relais-monday.db"
    backup.parent.mkdir()
    before, after = note_data(world, "a1"), note_data(world, "a2", category="money")

    with server_process(url) as (base_url, _):
        push_notes(base_url, bearer(base_url, "sup_a"), before)
        # Online: the server runs.
        done = relais(tmp_path, "backup", str(backup), database_url=url, spawn=True)
        assert done.returncode == 0, done.stderr
        assert "integrity ok" in done.stdout
        push_notes(base_url, bearer(base_url, "sup_a"), after)
        assert {before["id"], after["id"]} <= notes_seen(base_url, "couns_1")
        again = relais(tmp_path, "backup", str(backup), database_url=url)
        assert again.returncode == 1 and "already exists" in again.stderr  # never overwritten

    assert private(backup)
    with sqlite3.connect(backup) as copy:  # one self-contained file
        assert copy.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    copy.close()

    refused = relais(tmp_path, "restore", str(backup), database_url=url)
    assert refused.returncode == 1 and "--yes" in refused.stderr
    restored = relais(tmp_path, "restore", str(backup), "--yes", database_url=url, spawn=True)
    assert restored.returncode == 0, restored.stderr
    [kept] = database.parent.glob("relais.db.before-restore-*")  # nothing lost by mistake
    assert private(kept) and private(database)

    with server_process(url) as (base_url, _):
        seen = notes_seen(base_url, "couns_1")
        assert before["id"] in seen and after["id"] not in seen
        push_notes(base_url, bearer(base_url, "sup_a"), note_data(world, "a3"))  # writable
    with server_process(f"sqlite:///{kept}") as (base_url, _):
        assert after["id"] in notes_seen(base_url, "couns_1")


@pytest.mark.parametrize(
    ("make_file", "message"),
    [
        (lambda p: p.write_text("not a database"), "not a SQLite database"),
        (
            lambda p: sqlite3.connect(p).execute("CREATE TABLE t (x)").connection.commit(),
            "not a Relais database",
        ),
    ],
)
def test_restore_refuses_what_is_not_a_relais_backup(
    tmp_path: Path, sqlite_template: Path, make_file: object, message: str
) -> None:
    database = tmp_path / "relais.db"
    shutil.copy(sqlite_template, database)
    original = database.read_bytes()
    bogus = tmp_path / "bogus.db"
    make_file(bogus)  # type: ignore[operator]
    done = relais(tmp_path, "restore", str(bogus), "--yes", database_url=f"sqlite:///{database}")
    assert done.returncode == 1 and message in " ".join(done.stderr.split())
    assert database.read_bytes() == original


def test_backup_commands_point_postgresql_to_pg_dump(tmp_path: Path) -> None:
    url = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    done = relais(tmp_path, "backup", str(tmp_path / "x.db"), database_url=url)
    assert done.returncode == 1 and "pg_dump" in done.stderr
    assert not (tmp_path / "x.db").exists()


@pytest.fixture
def restored_database(postgres_url: str | None) -> Iterator[str]:
    require_or_skip(postgres_url is not None, "PostgreSQL not reachable", REQUIRE_POSTGRES)
    assert postgres_url is not None
    with scratch_postgres(postgres_url, "relais_restored") as url:
        yield url


def libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.mark.postgres
def test_postgresql_pg_dump_and_restore_drill(
    pg_db: Database, postgres_url: str, restored_database: str, tmp_path: Path
) -> None:
    for tool in ("pg_dump", "pg_restore"):
        require_or_skip(shutil.which(tool) is not None, f"{tool} not installed", REQUIRE_POSTGRES)
    world: World = build_world(pg_db)
    dump = tmp_path / "relais.dump"
    before, after = note_data(world, "a1"), note_data(world, "a2", category="money")
    with server_process(postgres_url) as (base_url, _):
        push_notes(base_url, bearer(base_url, "sup_a"), before)
        # As docs/deploy.md says, while the server runs.
        subprocess.run(
            ["pg_dump", "--format=custom", f"--file={dump}", libpq(postgres_url)],
            check=True,
            capture_output=True,
        )
        push_notes(base_url, bearer(base_url, "sup_a"), after)
    subprocess.run(
        ["pg_restore", "--no-owner", f"--dbname={libpq(restored_database)}", str(dump)],
        check=True,
        capture_output=True,
    )
    restored = Database(restored_database)
    upgrade(restored)  # already at head: a no-op, as after any restore
    restored.dispose()
    with server_process(restored_database) as (base_url, _):
        seen = notes_seen(base_url, "couns_1")
        assert before["id"] in seen and after["id"] not in seen
        push_notes(base_url, bearer(base_url, "sup_a"), note_data(world, "a3"))
