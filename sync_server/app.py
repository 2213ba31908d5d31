"""The FastAPI application: routers under /api/v1, what every request and answer goes
through (body limits, the error shape, security headers), background sweeps."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from fastapi import APIRouter, FastAPI
from sqlalchemy import text

from shared_models.wire import MAX_JSON_DEPTH, MAX_PUSH_BYTES, Health
from sync_server import __version__, api_docs, metrics, observability
from sync_server.admin.api import router as admin_router
from sync_server.auth.api import router as auth_router
from sync_server.auth.passwords import PasswordGate
from sync_server.database import Database
from sync_server.deps import DB
from sync_server.desk.api import router as desk_router
from sync_server.errors import ServiceUnavailable, documented, install_error_handlers
from sync_server.orgs.me_api import router as me_router
from sync_server.request_body import BodyLimits
from sync_server.security_headers import DEFAULT_POLICIES, SecurityHeaders
from sync_server.settings import Settings, get_settings
from sync_server.sync.api import router as sync_router
from sync_server.sync.changelog import positions
from sync_server.sync.stream import listen_postgres, watch_other_writers
from sync_server.webapp.site import APP_POLICY, BASE, Site, site_router

log = logging.getLogger(__name__)


health_router = APIRouter(tags=["health"])


@health_router.get("/health", response_model=Health, responses=documented())
def health(db: DB) -> Health:
    try:
        with db.reading() as session:
            session.execute(text("SELECT 1"))
    except Exception:
        raise ServiceUnavailable("the database cannot be reached") from None
    return Health()


def create_app(
    settings: Settings | None = None, database: Database | None = None, site: Site | None = None
) -> FastAPI:
    """The server; with `site` (see sync_server.webapp.build), it also serves the PWA."""
    settings = settings or get_settings()
    db = database or Database(settings.resolved_database_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tasks: list[asyncio.Task[Any]] = []
        if db.is_sqlite:
            tasks.append(asyncio.create_task(watch_other_writers(partial(positions, db))))
        else:
            conninfo = db.engine.url.set(drivername="postgresql").render_as_string(
                hide_password=False
            )
            tasks.append(asyncio.create_task(listen_postgres(conninfo)))
        if settings.escalation_interval > 0:
            from sync_server.sweeps import run_sweeps

            tasks.append(asyncio.create_task(run_sweeps(db, settings)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            gate.close()
            if database is None:
                db.dispose()

    app = FastAPI(
        title="Relais sync server",
        version=__version__,
        summary="Routes worksite notes about integration workers to their counsellors.",
        lifespan=lifespan,
        docs_url=None,  # api_docs serves it, without a CDN, when the settings ask for it
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.db = db
    app.state.settings = settings
    app.state.password_gate = gate = PasswordGate(
        settings.login_hash_concurrency, settings.login_hash_queue
    )
    api = APIRouter(prefix="/api/v1")
    api.include_router(health_router)
    api.include_router(observability.ready_router)
    api.include_router(auth_router)
    api.include_router(sync_router)
    api.include_router(me_router)
    api.include_router(desk_router)
    api.include_router(admin_router)
    app.include_router(api)
    # Content-Security-Policy by path prefix: a page served under a new prefix adds its own.
    policies = dict(DEFAULT_POLICIES)
    if site is not None:
        app.include_router(site_router(site))
        policies[BASE] = APP_POLICY
    if settings.api_docs:
        api_docs.install(app)
        policies[api_docs.PATH] = api_docs.POLICY
    # Outermost last: headers on every answer, then the last-resort error handler (in
    # install_error_handlers), then the body limits in front of the application.
    app.add_middleware(
        BodyLimits,
        max_bytes=MAX_PUSH_BYTES,
        max_depth=MAX_JSON_DEPTH,
        raw_paths=frozenset({f"{api.prefix}{admin_router.prefix}/roster"}),  # a CSV file
    )
    install_error_handlers(app)
    app.add_middleware(
        SecurityHeaders, policies=policies, behind_proxy=settings.trusted_proxy_count > 0
    )
    metrics.install(app, db)
    observability.install(app, settings)  # outermost: it times and ids every answer
    return app


def server_options(settings: Settings) -> dict[str, Any]:
    """How `relais serve` runs uvicorn (tests and benchmarks run it the same way).

    uvicorn's own X-Forwarded-For handling is off: it would trust any local client's
    header. Only RELAIS_TRUSTED_PROXY_COUNT decides whether the header is read.
    """
    return {
        "proxy_headers": False,
        "timeout_graceful_shutdown": 3,
        "log_level": settings.log_level.lower(),
        "log_config": log_config(settings),
    }


def log_config(settings: Settings) -> dict[str, Any]:
    """uvicorn's logging, plus RELAIS_LOG_FILE when set: a private file (0600) that gets
    uvicorn's and the server's own records."""
    import copy

    config: dict[str, Any] = copy.deepcopy(observability.uvicorn_log_config(settings))
    if settings.log_file is None:
        return config
    config["handlers"]["file"] = {
        "class": "sync_server.files.PrivateFileHandler",
        "filename": str(settings.log_file),
        "formatter": "file",
        "encoding": "utf-8",
    }
    if settings.log_format == "json":  # everything goes through the root logger
        config["formatters"]["file"] = {"()": "sync_server.observability.JsonFormatter"}
        config["root"]["handlers"].append("file")
        return config
    config["formatters"]["file"] = {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    for name in ("uvicorn", "uvicorn.access"):
        config["loggers"][name]["handlers"].append("file")
    config["loggers"]["sync_server"] = {
        "handlers": ["default", "file"],
        "level": settings.log_level.upper(),
        "propagate": False,
    }
    return config
    if settings.log_format == "json":
        config["formatters"]["file"] = {"()": "sync_server.observability.JsonFormatter"}
    else:
        config["formatters"]["file"] = {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    config["handlers"]["file"] = {
        "class": "sync_server.files.PrivateFileHandler",
        "filename": str(settings.log_file),
        "formatter": "file",
        "encoding": "utf-8",
    }
    for name in ("uvicorn", "uvicorn.access"):
        config["loggers"][name]["handlers"].append("file")
    config["loggers"]["sync_server"] = {
        "handlers": ["default", "file"],
        "level": settings.log_level.upper(),
        "propagate": False,
    }
    return config
