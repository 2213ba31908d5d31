"""The FastAPI application: routers under /api/v1, error shape, body limit, background sweeps."""

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
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared_models.wire import MAX_PUSH_BYTES, Health
from sync_server import __version__, metrics, observability
from sync_server.auth.api import router as auth_router
from sync_server.database import Database
from sync_server.deps import DB
from sync_server.errors import ServiceUnavailable, error_body, install_error_handlers
from sync_server.orgs.api import router as me_router
from sync_server.settings import Settings, get_settings
from sync_server.sync.api import router as sync_router
from sync_server.sync.changelog import positions
from sync_server.sync.stream import listen_postgres, watch_other_writers

log = logging.getLogger(__name__)


class BodyLimit:
    """Answer 413 to any request body over the limit, declared or streamed."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._reject(send)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    # An HTTPException is the one error FastAPI lets out of its body reading.
                    raise StarletteHTTPException(413, _too_large_message(self.limit))
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except StarletteHTTPException:
            if not started:
                await self._reject(send)

    async def _reject(self, send: Send) -> None:
        import json

        body = json.dumps(error_body("payload_too_large", _too_large_message(self.limit))).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _too_large_message(limit: int) -> str:
    return f"request bodies are limited to {limit} bytes"


health_router = APIRouter(tags=["health"])


@health_router.get("/health", response_model=Health)
def health(db: DB) -> Health:
    try:
        with db.reading() as session:
            session.execute(text("SELECT 1"))
    except Exception:
        raise ServiceUnavailable("the database cannot be reached") from None
    return Health()


def create_app(settings: Settings | None = None, database: Database | None = None) -> FastAPI:
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
            if database is None:
                db.dispose()

    app = FastAPI(
        title="Relais sync server",
        version=__version__,
        summary="Routes worksite notes about integration workers to their counsellors.",
        lifespan=lifespan,
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.db = db
    app.state.settings = settings
    install_error_handlers(app)
    api = APIRouter(prefix="/api/v1")
    api.include_router(health_router)
    api.include_router(observability.ready_router)
    api.include_router(auth_router)
    api.include_router(sync_router)
    api.include_router(me_router)
    app.include_router(api)
    app.add_middleware(BodyLimit, limit=MAX_PUSH_BYTES)
    metrics.install(app, db)
    observability.install(app, settings)  # outermost: it times and ids every answer
    return app
