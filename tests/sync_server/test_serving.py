"""`relais serve --workers N`: several processes on one port (PostgreSQL), refused on SQLite."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from relais_testing.factories import World, build_world, note_data
from relais_testing.servers import free_port, wait_for_health
from sync_server.database import Database
from tests.live import bearer, held_stream, push_notes, scrape, wait_until


def relais(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = dict(os.environ, **env)
    return subprocess.run(
        [sys.executable, "-m", "sync_server", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("how", ["option", "setting"])
def test_sqlite_refuses_several_workers_with_a_clear_message(tmp_path: Path, how: str) -> None:
    env = {"RELAIS_DATA_DIR": str(tmp_path), "RELAIS_DATABASE_URL": ""}
    if how == "option":
        done = relais("serve", "--workers", "2", "--port", str(free_port()), **env)
    else:
        done = relais("serve", "--port", str(free_port()), RELAIS_WORKERS="3", **env)
    assert done.returncode == 1
    message = " ".join(done.stderr.split())
    assert "SQLite database takes one server process" in message
    assert "PostgreSQL" in message and "Traceback" not in done.stderr
    assert not (tmp_path / "relais.db").exists()  # refused before touching anything


@pytest.fixture
def two_workers(pg_db: Database, postgres_url: str, tmp_path: Path) -> Iterator[tuple[str, World]]:
    world = build_world(pg_db)
    port = free_port()
    environment = dict(
        os.environ,
        RELAIS_DATABASE_URL=postgres_url,
        RELAIS_DATA_DIR=str(tmp_path),
        RELAIS_ESCALATION_INTERVAL="0",
        RELAIS_STREAM_HEARTBEAT="1",
        RELAIS_LOG_LEVEL="warning",
        RELAIS_SERVE_APP="0",
    )
    command = [sys.executable, "-m", "sync_server", "serve", "--workers", "2", "--port", str(port)]
    process = subprocess.Popen(command, env=environment, stderr=subprocess.PIPE)
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_for_health(base_url, process=process)
        yield base_url, world
    finally:
        process.terminate()
        process.wait(30)


@pytest.mark.slow
@pytest.mark.postgres
def test_two_workers_serve_one_address_and_add_up_their_metrics(
    two_workers: tuple[str, World], tmp_path: Path
) -> None:
    base_url, world = two_workers
    # uvicorn's supervisor, its two workers (and multiprocessing's resource tracker).
    port = base_url.rsplit(":", 1)[1]
    [supervisor] = [
        p
        for p in psutil.process_iter(["cmdline"])
        if {"--workers", port} <= set(p.info["cmdline"] or [])
    ]
    workers = [c for c in supervisor.children() if "resource_tracker" not in " ".join(c.cmdline())]
    assert len(workers) == 2
    # Both write into the shared metrics folder, and a scrape adds them up: each process's
    # pool holds 10 + 20 connections.
    wait_until(lambda: scrape(base_url, "relais_db_pool_capacity") == 60)
    files = {f.name for f in (tmp_path / "metrics").glob("*.db")}
    assert all(any(f"_{w.pid}.db" in name for name in files) for w in workers), files

    counsellor = bearer(base_url, "couns_1")
    supervisor_headers = bearer(base_url, "sup_a")
    with held_stream(base_url, counsellor) as pokes:
        seen = len(pokes)
        push_notes(base_url, supervisor_headers, note_data(world, "a1"))
        wait_until(lambda: len(pokes) > seen)
    for _ in range(10):
        assert httpx.get(f"{base_url}/api/v1/health", timeout=60).status_code == 200
    health = {"route": "/api/v1/health", "method": "GET"}
    assert scrape(base_url, "relais_http_request_duration_seconds_count", **health) >= 10
    assert scrape(base_url, "relais_mutations_total", type="note.create", status="applied") == 1
