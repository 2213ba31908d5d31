"""POST /auth/login and /auth/logout."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Response

from shared_models.wire import LoginRequest, LoginResponse, UserInfo
from sync_server.auth import service
from sync_server.deps import DB, AppSettings, CurrentCaller, DbSession
from sync_server.errors import documented

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/login", response_model=LoginResponse, responses=documented(401, 413, 422, 429))
def login(body: LoginRequest, db: DB, settings: AppSettings) -> LoginResponse:
    # Its own unit of work: a failed attempt must be stored even though we answer 401.
    with db.unit_of_work() as session:
        outcome = service.login(
            session,
            login=body.login,
            password=body.password,
            device_name=body.device_name,
            max_failures=settings.login_max_failures,
            window=timedelta(seconds=settings.login_window_seconds),
        )
        if outcome.user and outcome.device and outcome.token:
            user = outcome.user
            response = LoginResponse(
                token=outcome.token,
                device_id=outcome.device.id,
                user=UserInfo(
                    id=user.id,
                    display_name=user.display_name,
                    roles=sorted(user.role_names),
                    org_id=user.org_id,
                    language=user.language,
                ),
            )
    service.raise_for(outcome)
    return response


@router.post("/logout", status_code=204, responses=documented(401))
def logout(caller: CurrentCaller, session: DbSession) -> Response:
    service.revoke_device(session, caller.device_id)
    return Response(status_code=204)
