"""The phone app runs with nothing of the server installed: no SQLAlchemy, FastAPI or sync_server.

Each check runs in a fresh interpreter whose import system refuses the server's packages.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from relais_testing.factories import PASSWORD, build_world
from tests.field_app.test_sync_client import server  # noqa: F401  (a fixture)

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]

# Installed here for the tests, absent from a phone's wheel set.
BLOCKER = textwrap.dedent(
    """
    import importlib.abc, sys

    BLOCKED = {
        "sqlalchemy", "fastapi", "starlette", "uvicorn", "alembic", "psycopg",
        "sse_starlette", "sync_server", "flet",
    }

    class ServerPackagesAreAbsent(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in BLOCKED:
                raise ImportError(f"{name} is not available on a phone")
            return None

    sys.meta_path.insert(0, ServerPackagesAreAbsent())
    """
)

ROUND_TRIP = textwrap.dedent(
    """
    import asyncio, sys, uuid
    from datetime import UTC, datetime

    try:
        import sqlalchemy  # noqa: F401
    except ImportError:
        pass
    else:
        raise SystemExit("the blocker does not work")

    from field_app.store import InvalidMutation, LocalStore
    from field_app.sync import SyncClient

    server_url, db_path, password = sys.argv[1:4]

    async def main():
        with LocalStore(db_path) as store:
            try:
                store.queue("note.create", {"id": str(uuid.uuid4())})
            except InvalidMutation:
                pass
            else:
                raise SystemExit("an invalid note was queued")
            async with SyncClient(store) as client:
                await client.login(server_url, "sup_a", password, "isolated phone")
                await client.sync_once()
                worker = store.list_entities("worker")[0]
                note_id = str(uuid.uuid4())
                store.queue("note.create", {
                    "id": note_id, "worker_id": worker["id"], "team_id": worker["team_id"],
                    "kind": "observation", "category": "autonomy", "severity": "info",
                    "text": "Fictional: set up the site alone today.",
                    "captured_at": datetime.now(UTC).isoformat(),
                })
                report = await client.sync_once()
                assert report.pushed.applied == 1, report
                assert store.get_entity("note", note_id)["status"] == "open"
        with LocalStore(db_path) as reopened:
            assert reopened.counts().queued == 0
            assert reopened.get_entity("note", note_id) is not None

    asyncio.run(main())
    leaked = sorted(
        m for m in sys.modules
        if m.partition(".")[0] in ("sqlalchemy", "fastapi", "starlette", "sync_server", "flet")
    )
    assert not leaked, leaked
    print("isolated round trip ok")
    """
)

HEADLESS = "import runpy; runpy.run_module('field_app.sync', run_name='__main__', alter_sys=True)"


def isolated(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    # -I: no user site, no PYTHON* variables, no current directory on sys.path.
    return subprocess.run(
        [sys.executable, "-I", "-c", BLOCKER + script, *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        env={**os.environ, "RELAIS_PASSWORD": PASSWORD},
    )


@pytest.mark.parametrize("backend", ["sqlite"])  # the server's backend is beside the point here
def test_store_and_sync_work_without_any_server_package(server, db, tmp_path):  # noqa: F811
    build_world(db)

    done = isolated(ROUND_TRIP, server.url, str(tmp_path / "phone.sqlite3"), PASSWORD)

    assert done.returncode == 0, done.stderr
    assert "isolated round trip ok" in done.stdout


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_headless_command_runs_without_any_server_package(server, db, tmp_path):  # noqa: F811
    build_world(db)
    command = "import sys; sys.argv = ['field_app.sync'] + sys.argv[1:]; " + HEADLESS

    done = isolated(
        command,
        "--server", server.url,
        "--login", "sup_a",
        "--db", str(tmp_path / "headless.sqlite3"),
        "--create-notes", "3",
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    last = json.loads(done.stdout.splitlines()[-1])
    assert (last["queued"], last["notes"]) == (0, 3)
