"""Typed domain errors and the one place that turns any failure into the protocol's error shape.

`{"error": {"code": "...", "message": "..."}}` for every non-2xx answer, and never a stack
trace or a 500 for bad input.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared_models.wire import ErrorResponse

log = logging.getLogger(__name__)


class RelaisError(Exception):
    status = 400
    code = "bad_request"

    def __init__(
        self, message: str, *, code: str | None = None, retry_after: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after  # seconds, sent as Retry-After
        if code:
            self.code = code


class InvalidCredentials(RelaisError):
    status = 401
    code = "invalid_credentials"


class Unauthenticated(RelaisError):
    status = 401
    code = "unauthenticated"


class Forbidden(RelaisError):
    status = 403
    code = "forbidden"


class NotFound(RelaisError):
    status = 404
    code = "not_found"


class Conflict(RelaisError):
    status = 409
    code = "conflict"


class PayloadTooLarge(RelaisError):
    status = 413
    code = "payload_too_large"


class InvalidBody(RelaisError):
    status = 422
    code = "invalid_body"


class TooManyAttempts(RelaisError):
    status = 429
    code = "too_many_attempts"


class ServiceUnavailable(RelaisError):
    status = 503
    code = "unavailable"


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"code": code, "message": message}}


_WHEN = {
    401: "Missing, invalid or revoked token (or, to log in, wrong credentials).",
    403: "The caller's role or organisation may not do this.",
    404: "No such record in the caller's organisation.",
    409: "The change conflicts with what is stored (a login already taken, say).",
    413: "The body is larger than the protocol allows.",
    422: "The body is not valid for this operation.",
    429: "Too many attempts; try again later.",
    503: "The database is busy or unreachable; nothing was stored, try again shortly.",
}


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The error answers an operation can give, for its OpenAPI `responses`: each has the
    protocol's error shape. Every operation may answer 503 (the database may be away)."""
    return {
        status: {"model": ErrorResponse, "description": _WHEN[status]}
        for status in sorted({*statuses, 503})
    }


def _describe(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:10]:
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        where = ".".join(loc) or "body"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request body"


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_body",
    429: "too_many_attempts",
}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RelaisError)
    async def _relais(_req: Request, exc: RelaisError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}
        if exc.retry_after is not None:
            headers["Retry-After"] = str(exc.retry_after)
        return JSONResponse(error_body(exc.code, exc.message), exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_req: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(error_body("invalid_body", _describe(exc)), 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:
            # FastAPI's answer to a body it cannot parse (bad UTF-8, absurd nesting...):
            # for the protocol, an invalid body.
            return JSONResponse(error_body("invalid_body", "the body is not valid JSON"), 422)
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405 and (allowed := _allowed_methods(request)):
            headers["Allow"] = ", ".join(allowed)
        return JSONResponse(error_body(code, message), exc.status_code, headers=headers or None)

    @app.exception_handler(OperationalError)
    async def _database_busy(_req: Request, exc: OperationalError) -> JSONResponse:
        # Locked or unreachable: nothing was stored, and trying again later is right.
        log.warning("database unavailable: %s", type(exc.orig).__name__)
        return JSONResponse(
            error_body("unavailable", "the database is busy or unreachable; try again shortly"),
            503,
            headers={"Retry-After": "2"},
        )

    app.add_middleware(CatchAll)


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path (the router names only the first
    route's). A mount (static files) takes any method: it says for itself."""
    return [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL
            for route in request.app.routes
            if not isinstance(route, Mount)
        )
    ]


class CatchAll:
    """The last resort: whatever escapes becomes a 500 in the protocol's shape, and the
    exception stops here. (Starlette's own last resort re-raises it after answering: the
    server then logs its message and drops the client's keep-alive connection.)"""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            # The type and where, never the message: it may quote stored data.
            where = traceback.extract_tb(exc.__traceback__)[-1:]
            place = f"{where[0].filename}:{where[0].lineno}" if where else "?"
            log.error("unexpected %s at %s while serving a request", type(exc).__name__, place)
            if started:
                return  # an answer cut short: the server closes the connection, as it must
            response = JSONResponse(
                error_body("internal_error", "unexpected server error; nothing was stored"), 500
            )
            await response(scope, receive, send)
