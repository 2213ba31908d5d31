"""/api/v1/admin/...: what the `relais user`, `device` and `roster` commands do, for an
organisation's admins signed in to the app. docs/protocol.md, section 16."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from shared_models import admin as wire
from sync_server.admin import service
from sync_server.auth import service as auth
from sync_server.auth import throttle
from sync_server.auth.passwords import hash_password
from sync_server.database import utcnow
from sync_server.deps import DB, AppSettings, CurrentCaller, DbSession
from sync_server.errors import documented
from sync_server.orgs.models import User
from sync_server.settings import Settings

router = APIRouter(prefix="/admin", tags=["admin"])

ROSTER = {
    "content": {"text/csv": {"schema": {"type": "string", "format": "binary"}}},
    "description": "The roster file as saved by a spreadsheet (UTF-8 or Windows-1252; "
    "commas, semicolons or tabs).",
}


def _clock(settings: Settings) -> service.Clock:
    return service.Clock(
        now=utcnow(),
        limits=throttle.LoginLimits.from_settings(settings),
        device_expiry=settings.device_expiry,
    )


def _outcome(
    session: Session, user_id: uuid.UUID, settings: Settings, **done: int
) -> wire.AccountOutcome:
    session.flush()
    user = session.get_one(User, user_id)
    return wire.AccountOutcome(user=service.one_user(session, user, _clock(settings)), **done)


@router.get("/overview", response_model=wire.AdminOverview, responses=documented(401, 403))
def overview(
    caller: CurrentCaller, session: DbSession, settings: AppSettings
) -> wire.AdminOverview:
    clock = _clock(settings)
    service.admin_of(session, caller, clock.now)
    return service.overview(session, caller.org_id, clock)


@router.get("/users", response_model=wire.AdminUsers, responses=documented(401, 403))
def list_users(caller: CurrentCaller, session: DbSession, settings: AppSettings) -> wire.AdminUsers:
    clock = _clock(settings)
    service.admin_of(session, caller, clock.now)
    return wire.AdminUsers(users=service.users(session, caller.org_id, clock))


@router.post(
    "/users",
    status_code=201,
    response_model=wire.AdminUser,
    responses=documented(401, 403, 409, 413, 422),
)
def add_user(
    body: wire.NewUser, caller: CurrentCaller, session: DbSession, settings: AppSettings
) -> wire.AdminUser:
    """A new staff account (409 `login_taken` when the login exists)."""
    clock = _clock(settings)
    actor = service.admin_of(session, caller, clock.now)
    user = service.add_user(session, caller.org_id, body, actor)
    return service.one_user(session, user, clock)


@router.post(
    "/users/{user_id}/disable",
    response_model=wire.AccountOutcome,
    responses=documented(401, 403, 404, 409),
)
def disable_user(
    user_id: uuid.UUID, caller: CurrentCaller, session: DbSession, settings: AppSettings
) -> wire.AccountOutcome:
    """Every device of the user is signed out; their notes stay."""
    actor = service.admin_of(session, caller, utcnow())
    user = service.member(session, caller.org_id, user_id)
    service.disable(session, user, actor)
    return _outcome(session, user.id, settings)


@router.post(
    "/users/{user_id}/enable",
    response_model=wire.AccountOutcome,
    responses=documented(401, 403, 404),
)
def enable_user(
    user_id: uuid.UUID, caller: CurrentCaller, session: DbSession, settings: AppSettings
) -> wire.AccountOutcome:
    actor = service.admin_of(session, caller, utcnow())
    user = service.member(session, caller.org_id, user_id)
    service.enable(session, user, actor)
    return _outcome(session, user.id, settings)


@router.post(
    "/users/{user_id}/unlock",
    response_model=wire.AccountOutcome,
    responses=documented(401, 403, 404),
)
def unlock_user(
    user_id: uuid.UUID, caller: CurrentCaller, session: DbSession, settings: AppSettings
) -> wire.AccountOutcome:
    """Forget the failed logins that block sign-in."""
    actor = service.admin_of(session, caller, utcnow())
    user = service.member(session, caller.org_id, user_id)
    forgotten = auth.unlock_login(session, user, actor=actor)
    return _outcome(session, user.id, settings, attempts_forgotten=forgotten)


@router.post(
    "/users/{user_id}/password",
    response_model=wire.AccountOutcome,
    responses=documented(401, 403, 404, 413, 422),
)
def reset_password(
    user_id: uuid.UUID, body: wire.NewPassword, caller: CurrentCaller, db: DB, settings: AppSettings
) -> wire.AccountOutcome:
    """A new password: every session of the user ends and the login is unlocked."""
    with db.reading() as session:
        service.admin_of(session, caller, utcnow())
        service.member(session, caller.org_id, user_id)
    password_hash = hash_password(body.password)  # slow: outside any transaction
    with db.unit_of_work() as session:
        actor = service.admin_of(session, caller, utcnow())
        user = service.member(session, caller.org_id, user_id)
        ended = auth.reset_password(session, user, password_hash, actor=actor)
        return _outcome(session, user.id, settings, devices_signed_out=ended)


@router.get("/devices", response_model=wire.AdminDevices, responses=documented(401, 403))
def list_devices(
    caller: CurrentCaller, session: DbSession, settings: AppSettings
) -> wire.AdminDevices:
    clock = _clock(settings)
    service.admin_of(session, caller, clock.now)
    return wire.AdminDevices(devices=service.devices(session, caller.org_id, clock))


@router.post("/devices/{device_id}/revoke", status_code=204, responses=documented(401, 403, 404))
def revoke_device(device_id: uuid.UUID, caller: CurrentCaller, session: DbSession) -> Response:
    """The device's token stops working; the app wipes its copy when it hears so."""
    actor = service.admin_of(session, caller, utcnow())
    service.revoke(session, caller.org_id, device_id, actor)
    return Response(status_code=204)


@router.post(
    "/roster",
    response_model=wire.RosterImport,
    responses=documented(401, 403, 413),
    openapi_extra={"requestBody": {"required": True, **ROSTER}},
)
async def import_roster(request: Request, caller: CurrentCaller, db: DB) -> wire.RosterImport:
    """Create or update workers from a CSV roster, all or nothing: with problems (by line
    and column) nothing is written, and the answer is still 200."""
    data = await request.body()

    def run() -> wire.RosterImport:
        with db.unit_of_work() as session:
            actor = service.admin_of(session, caller, utcnow())
            return service.import_roster(session, caller.org_id, data, actor)

    return await run_in_threadpool(run)
