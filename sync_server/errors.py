"""Typed domain errors and the one place that turns any failure into the protocol's error shape.

`{"error": {"code": "...", "message": "..."}}` for every non-2xx answer, and never a stack
trace or a 500 for bad input.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

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
    async def _http(_req: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:
            # FastAPI's answer to a body it cannot parse (bad UTF-8, absurd nesting...):
            # for the protocol, an invalid body.
            return JSONResponse(error_body("invalid_body", "the body is not valid JSON"), 422)
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        return JSONResponse(
            error_body(code, message), exc.status_code, headers=getattr(exc, "headers", None)
        )

    @app.exception_handler(OperationalError)
    async def _database_busy(_req: Request, exc: OperationalError) -> JSONResponse:
        # Locked or unreachable: nothing was stored, and trying again later is right.
        log.warning("database unavailable: %s", type(exc.orig).__name__)
        return JSONResponse(
            error_body("unavailable", "the database is busy or unreachable; try again shortly"),
            503,
            headers={"Retry-After": "2"},
        )

    @app.exception_handler(Exception)
    async def _unexpected(_req: Request, exc: Exception) -> JSONResponse:
        # The type only: messages may quote stored data, and note text is never logged.
        log.error("unexpected %s while serving a request", type(exc).__name__)
        return JSONResponse(
            error_body("internal_error", "unexpected server error; nothing was stored"), 500
        )
