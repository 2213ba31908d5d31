"""Several server processes behind one address: `relais serve --workers N` on PostgreSQL.

uvicorn starts N worker processes that share the listening socket; each runs the whole
application (its own pool, stream hub, LISTEN connection and sweeps), so the processes are
interchangeable and a reverse proxy needs one upstream address. Pokes cross processes
through PostgreSQL's LISTEN/NOTIFY, and sweeps claim rows with SKIP LOCKED.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI
from sqlalchemy.engine import make_url

from sync_server import metrics
from sync_server.settings import Settings, get_settings

log = logging.getLogger(__name__)

WORKER_HEALTHCHECK_SECONDS = 60


def refuse_workers(settings: Settings, workers: int) -> str | None:
    """Why `workers` processes cannot run on this database, or None."""
    if workers <= 1:
        return None
    if make_url(settings.resolved_database_url).get_backend_name() != "postgresql":
        return (
            f"--workers {workers}: the embedded SQLite database takes one server process "
            "(its change log relies on a single writer and in-process pokes); run one "
            "process, or move to PostgreSQL (RELAIS_DATABASE_URL) for several"
        )
    return None


def worker_app() -> FastAPI:
    """What each worker process serves: the application and the field app, configured from
    the environment (the field app was built by `relais serve` before the workers started)."""
    from sync_server.app import create_app
    from sync_server.webapp.build import site_for

    settings = get_settings()
    return create_app(settings, site=site_for(settings, say=log.info, warn=log.warning))


def serve_workers(settings: Settings, host: str, port: int, workers: int) -> None:
    """Run `workers` processes on one socket (migrations were applied by the caller)."""
    import uvicorn

    from sync_server.app import server_options

    folder = settings.metrics_dir or (settings.data_dir / "metrics")
    metrics.prepare_multiprocess_dir(folder.resolve())  # before the workers import anything
    uvicorn.run(
        "sync_server.serving:worker_app",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        **server_options(settings),
        # uvicorn kills a worker that misses its 5 s health ping, with every stream it
        # holds; a busy machine can be that slow without anything being hung.
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
    )
