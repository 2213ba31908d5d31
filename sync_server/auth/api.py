"""POST /auth/login and /auth/logout."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from shared_models.wire import LoginRequest, LoginResponse, UserInfo
from sync_server.auth import service, throttle
from sync_server.auth.passwords import PasswordGate
from sync_server.database import utcnow
from sync_server.deps import DB, AppSettings, CurrentCaller, DbSession
from sync_server.errors import InvalidCredentials, documented

router = APIRouter(prefix="/auth", tags=["auth"])


def get_password_gate(request: Request) -> PasswordGate:
    gate: PasswordGate = request.app.state.password_gate
    return gate


@router.post("/login", response_model=LoginResponse, responses=documented(401, 413, 422, 429))
async def login(
    body: LoginRequest,
    request: Request,
    db: DB,
    settings: AppSettings,
    gate: Annotated[PasswordGate, Depends(get_password_gate)],
) -> LoginResponse:
    """Check a password without holding the database writer or the event loop while
    hashing: refuse what is throttled from a read, count the attempt in a short write, check
    the password on the gate's threads, then open the device in another short write."""
    address = throttle.client_address(
        request.client.host if request.client else None,
        request.headers.getlist("x-forwarded-for"),
        settings.trusted_proxy_count,
    )
    limits = throttle.LoginLimits.from_settings(settings)
    now = utcnow()

    def look_up() -> service.Candidate:
        with db.reading() as session:  # most refusals need no write at all
            throttle.check_limits(
                session, login=body.login, address=address, limits=limits, now=now
            )
            return service.find_candidate(session, body.login)

    def reserve() -> int:
        with db.unit_of_work() as session:
            return throttle.reserve_attempt(
                session, login=body.login, address=address, limits=limits, now=now
            )

    candidate = await run_in_threadpool(look_up)
    async with gate.slot():
        attempt_id = await run_in_threadpool(reserve)
        password_ok = await gate.verify(candidate.password_hash, body.password)
    if not password_ok or candidate.user_id is None or candidate.disabled:
        raise InvalidCredentials("unknown login or wrong password")
    user_id = candidate.user_id

    def sign_in() -> LoginResponse:
        with db.unit_of_work() as session:
            throttle.attempt_succeeded(session, attempt_id)
            device, user, token = service.open_device(
                session,
                user_id=user_id,
                password_hash=candidate.password_hash,
                device_name=body.device_name,
                now=utcnow(),
            )
            return LoginResponse(
                token=token,
                device_id=device.id,
                user=UserInfo(
                    id=user.id,
                    display_name=user.display_name,
                    roles=sorted(user.role_names),
                    org_id=user.org_id,
                    language=user.language,
                ),
            )

    return await run_in_threadpool(sign_in)


@router.post("/logout", status_code=204, responses=documented(401))
def logout(caller: CurrentCaller, session: DbSession) -> Response:
    service.revoke_device(session, caller.device_id)
    return Response(status_code=204)
