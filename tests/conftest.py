"""Shared fixtures: the same suite runs on SQLite and on PostgreSQL.

PostgreSQL comes from RELAIS_TEST_POSTGRES_URL (default: the local server's `test`
database). If it cannot be reached, PostgreSQL cases are skipped locally, and fail when
RELAIS_REQUIRE_POSTGRES=1 (CI sets it). Each run gets its own database, built by the real
Alembic migrations; tables are emptied between tests.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

import sync_server.models  # noqa: F401  (every table registered)
from sync_server.app import create_app
from sync_server.database import Base, Database
from sync_server.migrations import upgrade
from sync_server.settings import Settings

PG_URL = os.environ.get(
    "RELAIS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REQUIRE_POSTGRES = os.environ.get("RELAIS_REQUIRE_POSTGRES") == "1"
REQUIRE_BROWSER = os.environ.get("RELAIS_REQUIRE_BROWSER") == "1"


# The longest files (several server processes or load runs each), handed out first: CI's
# `--dist loadfile` gives files to workers in collection order, and a long file given out
# last keeps one worker busy while the other has nothing left to do.
LONGEST_FIRST = (
    "tests/test_load_smoke.py",
    "tests/field_app/test_sync_processes.py",
    "tests/sync_server/test_login_limits.py",
    "tests/sync_server/test_backup.py",
    "tests/sync_server/test_files.py",
    "tests/sync_server/test_webapp.py",
    "tests/sync_server/test_api_fuzz.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: n for n, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.partition("::")[0], len(rank)))


def require_or_skip(condition: bool, reason: str, required: bool) -> None:
    """Skip a test whose backend is missing, unless CI requires that backend: then fail."""
    if condition:
        return
    if required:
        pytest.fail(f"required backend missing: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "relais.db"
    db = Database(f"sqlite:///{path}")
    upgrade(db)
    db.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str | None]:
    """A fresh PostgreSQL database for this run, migrated to head; dropped at the end."""
    admin_url = make_url(PG_URL)
    try:
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        yield None
        _ = exc
        return
    name = f"relais_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    db = Database(url)
    upgrade(db)
    db.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": name},
        )
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


def empty_tables(db: Database) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with db.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))


def make_database(
    backend: str, tmp_path: Path, sqlite_template: Path, postgres_url: str | None
) -> Database:
    if backend == "sqlite":
        path = tmp_path / "relais.db"
        shutil.copy(sqlite_template, path)
        return Database(f"sqlite:///{path}")
    require_or_skip(
        postgres_url is not None, f"PostgreSQL not reachable at {PG_URL}", REQUIRE_POSTGRES
    )
    assert postgres_url is not None
    return Database(postgres_url)


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db(
    backend: str, tmp_path: Path, sqlite_template: Path, postgres_url: str | None
) -> Iterator[Database]:
    """An empty, migrated database on each backend."""
    database = make_database(backend, tmp_path, sqlite_template, postgres_url)
    yield database
    if backend == "postgres":
        empty_tables(database)
    database.dispose()


@pytest.fixture
def pg_db(tmp_path: Path, sqlite_template: Path, postgres_url: str | None) -> Iterator[Database]:
    """PostgreSQL only, for what exists only there (LISTEN/NOTIFY, row locks across processes)."""
    database = make_database("postgres", tmp_path, sqlite_template, postgres_url)
    yield database
    empty_tables(database)
    database.dispose()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, escalation_interval=0, stream_heartbeat=1.0)


@pytest.fixture
def client(db: Database, settings: Settings) -> Iterator[TestClient]:
    """The real application, in process, on the test database."""
    app = create_app(settings, db)
    with TestClient(app) as test_client:
        yield test_client
