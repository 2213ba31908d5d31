"""Real HTTP servers for tests: uvicorn in a thread, or the `relais serve` process."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

import uvicorn

from relais_testing.servers import free_port, wait_for_health
from sync_server.app import create_app, server_options
from sync_server.database import Database
from sync_server.settings import Settings


@contextmanager
def server_thread(db: Database, settings: Settings, app: Any = None) -> Iterator[str]:
    """The real app (or `app`, made by create_app) under uvicorn in a background thread;
    yields its base URL."""
    port = free_port()
    options = {**server_options(settings), "log_level": "warning"}  # as `relais serve`
    app = app or create_app(settings, db)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, **options)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_for_health(base_url)
        yield base_url
    finally:
        server.should_exit = True
        thread.join(10)


def start_server_process(
    database_url: str, port: int, stderr: IO[bytes] | int = subprocess.PIPE, **env: str
) -> subprocess.Popen[bytes]:
    """`relais serve` as a separate process (killable), on `database_url`; its log output
    goes to `stderr` (a pipe by default: read it, or pass a file for a long-running one)."""
    environment = {
        **os.environ,
        "RELAIS_DATABASE_URL": database_url,
        "RELAIS_ESCALATION_INTERVAL": "0",
        "RELAIS_LOG_LEVEL": "warning",
        "RELAIS_SERVE_APP": "0",  # the field app only where a test opens it (tests/e2e)
        **env,  # the test's settings win
    }
    return subprocess.Popen(
        [sys.executable, "-m", "sync_server", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
    )


@contextmanager
def server_process(
    database_url: str, stderr: IO[bytes] | int = subprocess.PIPE, **env: str
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    process = start_server_process(database_url, port, stderr, **env)
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_for_health(base_url, process=process)
        yield base_url, process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
