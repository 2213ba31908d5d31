"""Shared helpers for the benchmarks: scratch databases, a fictional organisation, servers.

Not a benchmark itself. `python benchmarks/common.py serve --port P` runs the server the way
`relais serve` does (same application, same uvicorn settings, same environment variables),
with one addition: a `Server-Timing` response header that says how long the application
spent on the request and, inside it, in the push service, in the commit and in the change
log's part of the commit. sync_backlog.py uses it to say where the time goes.

Every person and every note here is invented.
"""

from __future__ import annotations

import argparse
import contextlib
import contextvars
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # `relais_testing` and the project, when run as a script
    sys.path.insert(0, str(REPO))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from relais_testing.databases import scratch_postgres  # noqa: E402
from relais_testing.organisations import PASSWORD, Org, build_org  # noqa: E402, F401
from relais_testing.servers import free_port, wait_for_health  # noqa: E402
from shared_models.vocabulary import CATEGORIES, NoteKind  # noqa: E402
from sync_server.database import Database  # noqa: E402
from sync_server.migrations import upgrade  # noqa: E402

# The brief's local server; the benchmark only uses it to create and drop a scratch database.
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

# Invented, factual, worksite-style sentences: nothing about any real person.
TEXTS = (
    "Bench note {n}: finished the hedge along the car park before the break.",
    "Bench note {n}: arrived 40 minutes late, said the early bus did not come.",
    "Bench note {n}: asked twice about the chainsaw safety briefing, unsure of the steps.",
    "Bench note {n}: sat down several times during the morning, looked tired.",
    "Bench note {n}: helped a new colleague carry the scaffolding, good teamwork.",
    "Bench note {n}: mentioned a letter about rent arrears during the lunch break.",
    "Bench note {n}: forgot safety gloves again, lent a spare pair from the van.",
    "Bench note {n}: left early for an appointment, had not told anyone beforehand.",
)


# --- the machine and the command line --------------------------------------------------


def code_version() -> str:
    """The commit measured, and whether the work tree differed from it."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "code: unknown"
    return f"code: {head or 'unknown'}{' + uncommitted changes' if dirty else ''}"


def machine_line() -> str:
    load = os.getloadavg()
    return (
        f"machine: {os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
        f" (1/5/15 min), Python {platform.python_version()}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC,"
        f" {code_version()}"
    )


def base_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a quick look")
    parser.add_argument(
        "--backends",
        default="sqlite,postgres",
        help="comma-separated: sqlite, postgres (default: both)",
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("RELAIS_BENCH_POSTGRES_URL", DEFAULT_POSTGRES),
        help="PostgreSQL server used to create and drop a scratch database",
    )
    return parser


def backends(args: argparse.Namespace) -> list[str]:
    wanted = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(wanted) - {"sqlite", "postgres"}
    if unknown:
        raise SystemExit(f"--backends: unknown {sorted(unknown)}")
    return wanted


# --- scratch databases -----------------------------------------------------------------


def postgres_reachable(url: str) -> bool:
    try:
        engine = create_engine(url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        shown = make_url(url).render_as_string(hide_password=True)
        print(f"PostgreSQL: not reachable at {shown} ({type(exc).__name__}); skipped")
        return False
    return True


@contextlib.contextmanager
def scratch_database(backend: str, folder: Path, admin_url: str) -> Iterator[str]:
    """A fresh database migrated to head; yields its URL. PostgreSQL's is dropped afterwards."""
    if backend == "sqlite":
        path = folder / f"relais-{uuid.uuid4().hex[:8]}.db"
        url = f"sqlite:///{path}"
        db = Database(url)
        upgrade(db)
        db.dispose()
        yield url
        return
    with scratch_postgres(admin_url, "relais_bench") as url:
        db = Database(url)
        upgrade(db)
        db.dispose()
        yield url


@contextlib.contextmanager
def temp_folder(prefix: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        yield Path(tmp)


# A realistic mix of what supervisors write: half observations (routed to nobody, but
# stored, logged and visible), signals (routed to the worker's counsellor) and some
# safety notes; a few urgent ones (also routed to the coordinators at once).
_SIGNAL = CATEGORIES[NoteKind.SIGNAL]
_SAFETY = CATEGORIES[NoteKind.SAFETY]
_OBSERVATION = CATEGORIES[NoteKind.OBSERVATION]


def note_kind(rng: random.Random, routed_only: bool = False) -> tuple[str, str, str]:
    """(kind, category, severity) drawn from the mix above; `routed_only`: no observation."""
    roll = rng.random()
    if not routed_only and roll < 0.5:
        return "observation", rng.choice(_OBSERVATION), "info"
    if roll < 0.9:
        severity = rng.choices(("info", "attention", "urgent"), (45, 45, 10))[0]
        return "signal", rng.choice(_SIGNAL), severity
    severity = rng.choices(("info", "attention", "urgent"), (40, 40, 20))[0]
    return "safety", rng.choice(_SAFETY), severity


def note_data(
    n: int,
    worker_id: uuid.UUID,
    team_id: uuid.UUID,
    rng: random.Random,
    routed_only: bool = False,
) -> dict[str, Any]:
    kind, category, severity = note_kind(rng, routed_only)
    return {
        "id": str(uuid.uuid4()),
        "worker_id": str(worker_id),
        "team_id": str(team_id),
        "kind": kind,
        "category": category,
        "severity": severity,
        "text": TEXTS[n % len(TEXTS)].format(n=n + 1),
        "captured_at": datetime.now(UTC).isoformat(),
    }


# --- figures ---------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def pct_line(values: list[float], unit: str = "ms", scale: float = 1000.0) -> str:
    if not values:
        return "no samples"
    p = {q: percentile(values, q) * scale for q in (50, 95, 99)}
    return (
        f"p50 {p[50]:7.1f} {unit}  p95 {p[95]:7.1f} {unit}  p99 {p[99]:7.1f} {unit}"
        f"  max {max(values) * scale:7.1f} {unit}  (n={len(values)})"
    )


# --- a real server process -------------------------------------------------------------


@contextlib.contextmanager
def server(
    database_url: str,
    folder: Path,
    *,
    timing: bool = False,
    args: tuple[str, ...] = (),
    **env: str,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`relais serve` as its own process on `database_url` (with `timing`: the same app
    and uvicorn settings through `common.py serve`, adding the Server-Timing header).

    Background sweeps are off (RELAIS_ESCALATION_INTERVAL=0) so that they do not mix into
    the figures; logs go to a file in `folder`, shown if the server dies.
    """
    port = free_port()
    environment = dict(
        os.environ,
        RELAIS_DATABASE_URL=database_url,
        RELAIS_DATA_DIR=str(folder / "server-data"),
        RELAIS_ESCALATION_INTERVAL="0",
        RELAIS_LOG_LEVEL="warning",
        RELAIS_SERVE_APP="0",  # the API only: building the field app is not what is measured
        PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    )
    environment.update(env)  # the caller's settings win (e.g. sweeps back on)
    if timing:
        command = [sys.executable, str(Path(__file__).resolve()), "serve"]
    else:
        command = [sys.executable, "-m", "sync_server", "serve"]
    command += ["--host", "127.0.0.1", "--port", str(port), *args]
    log_path = folder / f"server-{port}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, env=environment, stdout=log, stderr=log)
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_for_health(base_url, timeout=60, process=process)
        yield base_url, process
    except BaseException:
        tail = log_path.read_text(errors="replace")[-3000:]
        if tail.strip():
            print(f"--- server log (last lines) ---\n{tail}", file=sys.stderr)
        raise
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def parse_server_timing(header: str | None) -> dict[str, float]:
    """`app;dur=12.3, push;dur=4.5` -> {"app": 0.0123, "push": 0.0045} (seconds)."""
    out: dict[str, float] = {}
    for part in (header or "").split(","):
        name, _, rest = part.strip().partition(";")
        if rest.startswith("dur="):
            with contextlib.suppress(ValueError):
                out[name] = float(rest[4:]) / 1000
    return out


# --- the timing server (python benchmarks/common.py serve) -----------------------------

_SPANS: contextvars.ContextVar[dict[str, float] | None] = contextvars.ContextVar(
    "bench_spans", default=None
)


def _add_span(name: str, seconds: float) -> None:
    spans = _SPANS.get()
    if spans is not None:
        spans[name] = spans.get(name, 0.0) + seconds


def _timed(name: str, func: Any) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return func(*args, **kwargs)
        finally:
            _add_span(name, time.perf_counter() - started)

    wrapper.__wrapped__ = func  # type: ignore[attr-defined]
    return wrapper


class ServerTiming:
    """ASGI middleware: `Server-Timing: app;dur=…, push;dur=…, commit;dur=…, changelog;dur=…`.

    `app` runs from the request reaching the application to its response headers.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        spans: dict[str, float] = {}
        token = _SPANS.set(spans)

        async def timed_send(message: Any) -> None:
            if message["type"] == "http.response.start":
                spans["app"] = time.perf_counter() - started
                value = ", ".join(f"{k};dur={v * 1000:.3f}" for k, v in spans.items())
                message = {
                    **message,
                    "headers": [*message.get("headers", []), (b"server-timing", value.encode())],
                }
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            _SPANS.reset(token)


def _log_unexpected_errors(app: Any) -> None:
    """Benchmark servers only: say what a 500 was (the app logs the exception type alone,
    because messages may quote stored data; here all data is fictional). One line:
    `BENCH-500 <type>: <driver message> at <innermost project frames>`."""
    import traceback

    original = app.exception_handlers.get(Exception)
    if original is None:
        return  # the app answers 500s in a middleware now, and logs the exception's type

    async def handler(request: Any, exc: Exception) -> Any:
        orig = getattr(exc, "orig", None)
        message = str(orig if orig is not None else exc).splitlines()[0][:200]
        frames = [
            f"{Path(f.filename).name}:{f.lineno} {f.name}"
            for f in traceback.extract_tb(exc.__traceback__)
            if "/sync_server/" in f.filename
        ][-4:]
        print(
            f"BENCH-500 {type(exc).__name__}: {message} at {' < '.join(reversed(frames))}"
            f" ({request.method} {request.url.path})",
            file=sys.stderr,
            flush=True,
        )
        return await original(request, exc)

    app.exception_handlers[Exception] = handler


def server_errors(folder: Path) -> list[str]:
    """The BENCH-500 lines that the timing servers started in `folder` logged."""
    lines = []
    for log in sorted(folder.glob("server-*.log")):
        lines += [ln for ln in log.read_text(errors="replace").splitlines() if "BENCH-500" in ln]
    return lines


def _serve(argv: list[str]) -> None:
    """What `relais serve` does (sync_server.cli.serve), with ServerTiming around the app."""
    parser = argparse.ArgumentParser(prog="common.py serve")
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    args = parser.parse_args(argv)

    import uvicorn
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    import sync_server.sync.changelog as changelog
    import sync_server.sync.pull as pull_service
    import sync_server.sync.push as push_service
    from sync_server.app import create_app, server_options
    from sync_server.settings import get_settings
    from sync_server.terminal import open_database

    push_service.push = _timed("push", push_service.push)
    changelog._write_pending = _timed("changelog", changelog._write_pending)
    changelog.allocate = _timed("counter", changelog.allocate)  # PostgreSQL: row-lock wait
    pull_service.pull = _timed("pull", pull_service.pull)
    pull_service.record_sensitive_reads = _timed("audit", pull_service.record_sensitive_reads)
    Session.commit = _timed("commit", Session.commit)  # type: ignore[method-assign]

    settings = get_settings()
    db = open_database(settings)
    if db.is_sqlite:
        # Time spent in BEGIN IMMEDIATE: waiting for SQLite's write lock (busy handler).
        begun: contextvars.ContextVar[float] = contextvars.ContextVar("begun", default=0.0)

        def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            if statement.startswith("BEGIN"):
                begun.set(time.perf_counter())

        def after(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            if statement.startswith("BEGIN"):
                _add_span("begin", time.perf_counter() - begun.get())

        event.listen(db.engine, "before_cursor_execute", before)
        event.listen(db.engine, "after_cursor_execute", after)
    app = create_app(settings, db)
    _log_unexpected_errors(app)
    uvicorn.run(
        ServerTiming(app),
        host=args.host or settings.host,
        port=args.port or settings.port,
        **server_options(settings),
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        _serve(sys.argv[2:])
    else:
        print(__doc__)
