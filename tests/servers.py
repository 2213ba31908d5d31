"""Real HTTP servers for tests: uvicorn in a thread, or the `relais serve` process."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from relais_testing.servers import free_port, wait_for_health
from sync_server.app import create_app
from sync_server.database import Database
from sync_server.settings import Settings


@contextmanager
def server_thread(db: Database, settings: Settings) -> Iterator[str]:
    """The real app under uvicorn in a background thread; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(
        create_app(settings, db), host="127.0.0.1", port=port, log_level="warning"
    )
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


def start_server_process(database_url: str, port: int, **env: str) -> subprocess.Popen[bytes]:
    """`relais serve` as a separate process (killable), on `database_url`."""
    environment = dict(
        os.environ,
        RELAIS_DATABASE_URL=database_url,
        RELAIS_ESCALATION_INTERVAL="0",
        RELAIS_LOG_LEVEL="warning",
    )
    environment.update(env)  # the test's settings win
    return subprocess.Popen(
        [sys.executable, "-m", "sync_server", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


@contextmanager
def server_process(database_url: str, **env: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    process = start_server_process(database_url, port, **env)
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
