"""`relais demo`: the demo organisation, the sync server and the web app, with logins printed.

The server and the app run as separate processes (the app never imports the server).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
from rich.console import Console
from rich.table import Table

from sync_server.cli import open_database
from sync_server.demo.seed import PASSWORD, ensure_demo
from sync_server.settings import get_settings

out = Console()


def free_port(preferred: int) -> int:
    for port in (preferred, 0):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise RuntimeError("no free port")


def wait_until_up(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{url} did not start (exit code {process.returncode})")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"{url} did not answer within {timeout:.0f} s")


def _stop_on_signal(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt  # runs the same clean-up as Ctrl+C: children stopped too


def run_demo(port: int | None = None, app_port: int | None = None, with_app: bool = True) -> None:
    for name in ("SIGTERM", "SIGHUP"):  # SIGHUP does not exist on Windows
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), _stop_on_signal)
    settings = get_settings()
    db = open_database(settings)
    org, logins, created = ensure_demo(db)
    db.dispose()
    out.print(
        f"[bold]{org.name}[/]: {'created with three weeks of invented history' if created else 'reused'}"
        f" ({settings.resolved_database_url})"
    )
    server_port = free_port(port or settings.port)
    server_url = f"http://127.0.0.1:{server_port}"
    env = dict(os.environ, RELAIS_DATABASE_URL=settings.resolved_database_url)
    children = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sync_server",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(server_port),
            ],
            env=env,
        )
    ]
    try:
        wait_until_up(f"{server_url}/api/v1/health", children[0])
        app_url = None
        if with_app:
            web_port = free_port(app_port or settings.app_port)
            app_url = f"http://127.0.0.1:{web_port}"
            children.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "field_app",
                        "--web",
                        "--port",
                        str(web_port),
                        "--server",
                        server_url,
                    ],
                    env=env,
                )
            )
            wait_until_up(app_url, children[1], timeout=120)
        table = Table("login", "name", "roles", "password", title="Demo logins (fictional people)")
        for login in logins:
            table.add_row(login.login, login.name, login.roles, PASSWORD)
        out.print(table)
        out.print(
            f"sync server: [bold]{server_url}[/] (health: {server_url}/api/v1/health, API docs: {server_url}/api/docs)"
        )
        if app_url:
            out.print(
                f"field app:   [bold]{app_url}[/] (open it in a browser; server URL {server_url})"
            )
        out.print("press Ctrl+C to stop")
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
