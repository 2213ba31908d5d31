"""Request ids, JSON logs, per-route timings and the readiness check.

Every request gets an id (the caller's `X-Request-ID` when it is a sane token, else a new
one), echoed in the response and attached to every log line written while serving it.
Logs carry types, routes and ids, never note text or request bodies.
"""

from __future__ import annotations

import contextvars
import functools
import json
import logging
import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from sqlalchemy import text
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sync_server import metrics
from sync_server.deps import DB
from sync_server.errors import ServiceUnavailable
from sync_server.settings import Settings

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "relais_request_id", default=None
)
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
access_log = logging.getLogger("relais.access")


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            given = value.decode("latin-1")
            if _SANE_ID.fullmatch(given):
                return given
    return uuid.uuid4().hex


class RequestObserver:
    """ASGI middleware: request id, latency histogram per route template, access log."""

    def __init__(self, app: ASGIApp, *, log_requests: bool) -> None:
        self.app = app
        self.log_requests = log_requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        token = REQUEST_ID.set(request_id)
        started = time.perf_counter()
        status: int | None = None

        async def observed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                self._done(scope, status, time.perf_counter() - started)
                headers = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        finally:
            if status is None:  # an exception escaped: the outer handler answers 500
                self._done(scope, 500, time.perf_counter() - started)
            REQUEST_ID.reset(token)

    def _done(self, scope: Scope, status: int, seconds: float) -> None:
        route = metrics.route_template(scope)
        metrics.observe_request(scope["method"], route, status, seconds)
        if self.log_requests:
            access_log.info(
                "%s %s %d",
                scope["method"],
                route,
                status,
                extra={"route": route, "status": status, "duration_ms": round(seconds * 1000, 1)},
            )


# --- logs -------------------------------------------------------------------------------

_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line. Exceptions appear as their type only: messages and
    tracebacks may quote stored data (SQL parameters), which never goes to logs."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = REQUEST_ID.get()
        if request_id:
            line["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value if isinstance(value, str | int | float | bool) else str(value)
        if record.exc_info and record.exc_info[0] is not None:
            line["exception"] = record.exc_info[0].__name__
        return json.dumps(line, ensure_ascii=False)


def uvicorn_log_config(settings: Settings) -> dict[str, Any]:
    """uvicorn's logging setup: its own default in text mode; JSON for everything (and our
    access line, with the request id and route template, instead of uvicorn's) in json mode."""
    if settings.log_format != "json":
        from uvicorn.config import LOGGING_CONFIG

        return LOGGING_CONFIG
    level = settings.log_level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "sync_server.observability.JsonFormatter"}},
        "handlers": {
            "json": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["json"], "level": level},
        "loggers": {
            "uvicorn": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.error": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }


# --- readiness ---------------------------------------------------------------------------

ready_router = APIRouter(tags=["health"])


@functools.cache
def _schema_head() -> str:
    from alembic.script import ScriptDirectory

    from sync_server.migrations import HERE

    head = ScriptDirectory(str(HERE)).get_current_head()
    return head or ""


@ready_router.get("/ready")
def ready(db: DB) -> dict[str, str]:
    """Ready to serve: the database answers and its schema is this version's."""
    try:
        with db.reading() as session:
            revision = session.scalar(text("SELECT version_num FROM alembic_version"))
    except Exception:
        raise ServiceUnavailable("the database cannot be reached") from None
    if revision != _schema_head():
        raise ServiceUnavailable(
            "the database schema is not this version's; run `relais db upgrade`",
            code="schema_mismatch",
        )
    return {"status": "ready"}


def install(app: Any, settings: Settings) -> None:
    app.add_middleware(RequestObserver, log_requests=settings.log_format == "json")
