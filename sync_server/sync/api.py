"""POST /sync/push, POST /sync/pull and GET /sync/stream (docs/protocol.md)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from shared_models.wire import (
    PROTOCOL_VERSION,
    PullRequest,
    PullResponse,
    PushResponse,
)
from sync_server import metrics
from sync_server.auth.service import Caller, authenticate
from sync_server.database import utcnow
from sync_server.deps import DB, AppSettings, CurrentCaller
from sync_server.errors import InvalidBody, Unauthenticated, documented
from sync_server.sync import pull as pull_service
from sync_server.sync import push as push_service
from sync_server.sync.changelog import current_position
from sync_server.sync.push import IncomingPush
from sync_server.sync.stream import follow

router = APIRouter(prefix="/sync", tags=["sync"])


def _check_protocol(version: int) -> None:
    if version != PROTOCOL_VERSION:
        raise InvalidBody(
            f"protocol {version} is not supported; this server speaks {PROTOCOL_VERSION}",
            code="unsupported_protocol",
        )


@router.post(
    "/push",
    response_model=PushResponse,
    response_model_exclude_none=True,
    responses=documented(401, 413, 422),
)
def push(body: IncomingPush, caller: CurrentCaller, db: DB) -> PushResponse:
    """Body: `{"protocol": 1, "mutations": [Mutation, ...]}` (shared_models.wire.PushRequest)."""
    _check_protocol(body.protocol)
    # Committed before we answer: a 200 means every `applied` result is durable.
    with db.unit_of_work() as session:
        results = push_service.push(session, caller, body.mutations, utcnow())
    metrics.count_mutations((mu.type for mu in body.mutations), results)
    return PushResponse(results=results)


@router.post("/pull", response_model=PullResponse, responses=documented(401, 413, 422))
def pull(body: PullRequest, caller: CurrentCaller, db: DB) -> PullResponse:
    _check_protocol(body.protocol)
    return pull_service.pull_and_record(db, caller, body.cursor, body.limit, utcnow())


@router.get("/stream", response_class=EventSourceResponse, responses=documented(401))
async def stream(
    request: Request, caller: CurrentCaller, db: DB, settings: AppSettings
) -> EventSourceResponse:
    """Pokes (`event: poke`, data `{"cursor": ...}`) and a comment line every heartbeat."""
    token = request.headers.get("authorization", "").partition(" ")[2].strip()

    def position() -> int:
        with db.reading() as session:
            return current_position(session, caller.org_id)

    def still_signed_in() -> bool:
        with db.reading() as session:
            try:
                current, _ = authenticate(session, token, expire_after=settings.device_expiry)
            except Unauthenticated:
                return False
            return current.sync_epoch == caller.sync_epoch

    async def events() -> AsyncIterator[ServerSentEvent]:
        async for seq in follow(
            caller.org_id,
            caller.user_id,
            heartbeat=settings.stream_heartbeat,
            position=position,
            still_signed_in=still_signed_in,
        ):
            yield ServerSentEvent(comment="keep-alive") if seq is None else _poke(caller, seq)

    return EventSourceResponse(events(), ping=None, headers={"Cache-Control": "no-store"})


def _poke(caller: Caller, seq: int) -> ServerSentEvent:
    return ServerSentEvent(
        event="poke", data=json.dumps({"cursor": pull_service.cursor_for(caller, seq)})
    )
