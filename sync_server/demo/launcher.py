"""`relais demo`: the demo organisation and the sync server, which serves the field app (a
PWA) at /app/; prints the logins, the app's address and a QR code for phones."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import qrcode
from qrcode.image.pure import PyPNGImage
from rich.console import Console
from rich.table import Table

from sync_server.demo.seed import PASSWORD, ensure_demo
from sync_server.settings import Settings, get_settings
from sync_server.terminal import field_app_site, open_database
from sync_server.webapp.site import BASE

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
    raise KeyboardInterrupt  # runs the same clean-up as Ctrl+C: the server stopped too


def print_qr(url: str, settings: Settings) -> Path:
    """The app's address as a QR code, on the terminal and as a PNG beside the database."""
    code = qrcode.QRCode(border=2)
    code.add_data(url)
    code.make(fit=True)
    code.print_ascii(out=sys.stdout, invert=True)
    png = settings.data_dir / "relais-app-qr.png"
    png.parent.mkdir(parents=True, exist_ok=True)
    code.make_image(image_factory=PyPNGImage).save(str(png))
    return png


def run_demo(port: int | None = None, with_app: bool = True) -> None:
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
    site = field_app_site(settings) if with_app else None  # built here, reused by the server
    server_port = free_port(port or settings.port)
    server_url = f"http://127.0.0.1:{server_port}"
    env = dict(
        os.environ,
        RELAIS_DATABASE_URL=settings.resolved_database_url,
        RELAIS_SERVE_APP="1" if site else "0",
    )
    command = [sys.executable, "-m", "sync_server", "serve", "--host", "127.0.0.1"]
    server = subprocess.Popen([*command, "--port", str(server_port)], env=env)
    try:
        wait_until_up(f"{server_url}/api/v1/health", server)
        table = Table("login", "name", "roles", "password", title="Demo logins (fictional people)")
        for login in logins:
            table.add_row(login.login, login.name, login.roles, PASSWORD)
        out.print(table)
        out.print(f"sync server: [bold]{server_url}[/] (health: {server_url}/api/v1/health)")
        if site is not None:
            app_url = f"{server_url}{BASE}"
            phone_url = (
                f"{settings.public_url.rstrip('/')}{BASE}" if settings.public_url else app_url
            )
            png = print_qr(phone_url, settings)
            out.print(f"field app:   [bold]{app_url}[/] (version {site.version})")
            out.print(
                f"for phones:  {phone_url} (QR code above, and in {png}). Phones need the "
                "address over HTTPS to work offline: see docs/mobile.md."
            )
        out.print("press Ctrl+C to stop")
        while server.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
