"""GET /briefs (the meeting brief, PDF) and GET /workers/{id}/export (subject access)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Response

from sync_server.deps import DB, CurrentCaller
from sync_server.desk import exports
from sync_server.desk.exports import Export, Format, Requester
from sync_server.errors import documented

PDF = {"content": {"application/pdf": {}}, "description": "The brief, as a PDF download."}
EXPORT = {
    "content": {"application/json": {}, "application/pdf": {}},
    "description": "Everything held about the worker, as JSON (relais.subject_access) or PDF.",
}

router = APIRouter(tags=["desk"])


def _download(export: Export) -> Response:
    return Response(
        content=export.content,
        media_type=export.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{export.filename}"',
            "Cache-Control": "no-store",
        },
    )


@router.get(
    "/briefs",
    response_class=Response,
    responses={200: PDF, **documented(401, 403, 404, 422)},
)
def brief(
    caller: CurrentCaller,
    db: DB,
    start: Annotated[date, Query(alias="from", description="First day (organisation time).")],
    end: Annotated[date, Query(alias="to", description="Last day, included.")],
    team_id: uuid.UUID | None = None,
    worker_id: uuid.UUID | None = None,
    include_sensitive: bool = False,
) -> Response:
    """The meeting brief of a team or a worker as a PDF: coordinators only, audited."""
    export = exports.export_brief(
        db,
        org_id=caller.org_id,
        requester=Requester(caller.user_id, caller.device_id, "app"),
        team=team_id,
        worker=worker_id,
        start=start,
        end=end,
        include_sensitive=include_sensitive,
    )
    return _download(export)


@router.get(
    "/workers/{worker_id}/export",
    response_class=Response,
    responses={200: EXPORT, **documented(401, 403, 404, 422)},
)
def subject_access(
    worker_id: uuid.UUID, caller: CurrentCaller, db: DB, format: Format = "json"
) -> Response:
    """Everything held about one worker (GDPR art. 15), JSON or PDF: coordinators, audited."""
    export = exports.export_subject_access(
        db,
        org_id=caller.org_id,
        requester=Requester(caller.user_id, caller.device_id, "app"),
        worker=worker_id,
        fmt=format,
    )
    return _download(export)
