"""The desk's exports, end to end: check the policy, load (desk/service.py), render
(desk/pdf.py), and write the audit log, with a sensitive-read row for each sensitive note
whose text the export contains."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from sqlalchemy.orm import Session

from sync_server import policy
from sync_server.audit import service as audit
from sync_server.database import Database, utcnow
from sync_server.desk.service import (
    find_team,
    find_worker,
    load_brief,
    load_subject_access,
    make_period,
    zone_of,
)
from sync_server.errors import Forbidden, InvalidBody
from sync_server.orgs.models import Organization, Team, User, Worker

Format = Literal["json", "pdf"]


@dataclass(frozen=True)
class Requester:
    """Who asks for an export: a signed-in user, or the command line (user_id None)."""

    user_id: uuid.UUID | None
    device_id: uuid.UUID | None = None
    via: Literal["app", "cli"] = "app"


@dataclass(frozen=True)
class Export:
    content: bytes
    media_type: str
    filename: str


def _requester(
    session: Session, org_id: uuid.UUID, requester: Requester, now: datetime
) -> tuple[User | None, policy.Viewer | None]:
    if requester.user_id is None:
        return None, None
    user = session.get(User, requester.user_id)
    if user is None or user.org_id != org_id or user.disabled:
        raise Forbidden("only members of this organisation may export its data")
    return user, policy.load_viewer(session, user, now)


def export_brief(
    db: Database,
    *,
    org_id: uuid.UUID,
    requester: Requester,
    team: uuid.UUID | str | None,
    worker: uuid.UUID | str | None,
    start: date,
    end: date,
    include_sensitive: bool,
    now: datetime | None = None,
) -> Export:
    """The meeting brief as a PDF, once the policy allows it; recorded in the audit log."""
    from sync_server.desk.pdf import render_brief  # reportlab, loaded on the first export

    now = now or utcnow()
    with db.reading() as session:
        user, viewer = _requester(session, org_id, requester, now)
        if viewer is None:
            if include_sensitive:
                raise Forbidden("the text of sensitive notes is printed only for a coordinator")
        elif not policy.may_export_brief(viewer, org_id, include_sensitive=include_sensitive):
            raise Forbidden("only coordinators print meeting briefs")
        if (team is None) == (worker is None):
            raise InvalidBody("team_id, worker_id: give one of them")
        org = session.get_one(Organization, org_id)
        scope: Team | Worker
        if team is not None:
            scope = find_team(session, org_id, team)
        else:
            assert worker is not None
            scope = find_worker(session, org_id, worker)
        period = make_period(start, end, zone_of(org, user))
        brief = load_brief(
            session,
            org=org,
            scope=scope,
            period=period,
            include_sensitive=include_sensitive,
            now=now,
            requested_by=user.display_name if user else None,
        )
        label = scope.slug if isinstance(scope, Team) else scope.ref
    content = render_brief(brief)
    detail = (
        f"{brief.entity} {label}, {start.isoformat()}..{end.isoformat()}, sensitive text "
        f"{'included' if include_sensitive else 'left out'}, pdf, via {requester.via}"
    )
    _record(
        db,
        org_id,
        requester,
        audit.BRIEF_EXPORT,
        brief.entity,
        brief.entity_id,
        detail,
        brief.sensitive_note_ids,
    )
    return Export(
        content=content,
        media_type="application/pdf",
        filename=_filename("brief", label, start.isoformat(), end.isoformat()) + ".pdf",
    )


def export_subject_access(
    db: Database,
    *,
    org_id: uuid.UUID,
    requester: Requester,
    worker: uuid.UUID | str,
    fmt: Format,
    now: datetime | None = None,
) -> Export:
    """Everything held about one worker, as JSON or PDF; recorded in the audit log."""
    from sync_server.desk.pdf import render_subject_access

    now = now or utcnow()
    with db.reading() as session:
        user, viewer = _requester(session, org_id, requester, now)
        if viewer is not None and not policy.may_review_organisation(viewer):
            raise Forbidden("only coordinators export what is held about a worker")
        subject = find_worker(session, org_id, worker)
        if viewer is not None and not policy.may_export_subject_access(viewer, subject):
            raise Forbidden("only coordinators export what is held about a worker")
        org = session.get_one(Organization, org_id)
        export = load_subject_access(session, org=org, worker=subject, now=now)
        zone = zone_of(org, user)
    if fmt == "pdf":
        content = render_subject_access(export, org.language, zone)
        media_type = "application/pdf"
    else:
        content = export.model_dump_json(indent=2).encode()
        media_type = "application/json"
    sensitive = [n.id for n in export.notes if n.sensitive]
    detail = f"worker {export.worker.ref}, {fmt}, via {requester.via}"
    _record(
        db,
        org_id,
        requester,
        audit.SUBJECT_ACCESS_EXPORT,
        "worker",
        export.worker.id,
        detail,
        sensitive,
    )
    today = now.astimezone(zone).date().isoformat()
    return Export(
        content=content,
        media_type=media_type,
        filename=_filename("worker", export.worker.ref, today) + f".{fmt}",
    )


def _record(
    db: Database,
    org_id: uuid.UUID,
    requester: Requester,
    action: str,
    entity: str,
    entity_id: uuid.UUID,
    detail: str,
    sensitive_note_ids: list[uuid.UUID],
) -> None:
    """The export's audit row, and a read for each sensitive note whose text it printed."""
    with db.unit_of_work() as session:
        audit.record(
            session,
            org_id=org_id,
            actor_id=requester.user_id,
            device_id=requester.device_id,
            action=action,
            entity=entity,
            entity_id=entity_id,
            detail=detail[:500],
        )
        audit.record_sensitive_reads(
            session,
            org_id=org_id,
            actor_id=requester.user_id,
            device_id=requester.device_id,
            note_ids=sensitive_note_ids,
            detail=action,
        )


def _filename(*parts: str) -> str:
    """`relais-brief-a-2026-01-05-2026-06-30`: safe in a header and on any file system."""
    return "-".join(["relais", *(re.sub(r"[^A-Za-z0-9_.-]+", "_", p)[:64] for p in parts)])
