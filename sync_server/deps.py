"""Request dependencies: the unit of work and the authenticated caller."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from sync_server.auth.service import Caller, authenticate, touch_device
from sync_server.database import Database
from sync_server.errors import Unauthenticated
from sync_server.settings import Settings


def get_database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def db_session(db: Annotated[Database, Depends(get_database)]) -> Iterator[Session]:
    """The request's unit of work: committed before the response is sent, or rolled back."""
    with db.unit_of_work() as session:
        yield session


# Declared, so that the API's schema says which operations need a token.
_bearer = HTTPBearer(auto_error=False, description="The token from POST /api/v1/auth/login.")


def current_caller(
    db: Annotated[Database, Depends(get_database)],
    settings: Annotated[Settings, Depends(get_settings)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> Caller:
    token = credentials.credentials.strip() if credentials else ""
    if not token:
        raise Unauthenticated("missing bearer token", code="missing_token")
    with db.reading() as session:
        caller, stale = authenticate(session, token, expire_after=settings.device_expiry)
    if stale:
        with db.unit_of_work() as session:
            touch_device(session, caller.device_id)
    return caller


DB = Annotated[Database, Depends(get_database)]
DbSession = Annotated[Session, Depends(db_session, scope="function")]
CurrentCaller = Annotated[Caller, Depends(current_caller)]
AppSettings = Annotated[Settings, Depends(get_settings)]
