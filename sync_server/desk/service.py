"""What the coordinator's desk prints: the meeting brief and the subject-access export.

Loading is a handful of set-based queries per export (no query per worker or note).
The text of sensitive notes is left out of a brief at load time, unless asked for: the
renderer never receives what it must not print. desk/exports.py checks the policy, renders
and writes the audit log.
"""

from __future__ import annotations

import statistics
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import ColumnElement, Row, and_, or_, select
from sqlalchemy.orm import Session

from shared_models.vocabulary import (
    SEVERITY_RANK,
    EntityType,
    NoteKind,
    NoteStatus,
    Severity,
    alerts_someone,
    is_sensitive,
)
from sync_server.audit import service as audit
from sync_server.audit.models import AuditEvent
from sync_server.desk import schemas
from sync_server.errors import InvalidBody, NotFound
from sync_server.notes.models import FollowUp, HeadsUp, Note
from sync_server.orgs.models import Organization, Team, User, Worker
from sync_server.retention import refused_mutations_naming
from sync_server.routing.models import Delivery

# A brief covers at most a year: enough for an annual review, and bounded work.
MAX_PERIOD_DAYS = 366
COUNTRY_ZONES = {"FR": "Europe/Paris", "BE": "Europe/Brussels", "IT": "Europe/Rome"}
DEFAULT_ZONE = "Europe/Paris"
# The chart's key for sensitive notes whose category is left out.
SENSITIVE = "sensitive"
# A brief is a summary for a meeting: each worker's latest notes, the latest follow-ups and
# heads-ups, and a line saying how many more the period holds. Unacknowledged signals are
# always all listed. The whole history is in the app and in the subject-access export.
LATEST_PER_WORKER = 10
LATEST_LISTED = 40


# --- who asks, about what, over which days ---------------------------------------------


@dataclass(frozen=True)
class Period:
    """Whole days, `start` to `end` included, in one time zone (see `zone_of`)."""

    start: date
    end: date
    zone: ZoneInfo

    @property
    def starts_at(self) -> datetime:
        return datetime.combine(self.start, time(), self.zone).astimezone(UTC)

    @property
    def ends_at(self) -> datetime:
        """Exclusive: midnight after the last day."""
        return datetime.combine(self.end + timedelta(days=1), time(), self.zone).astimezone(UTC)

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.zone)


def make_period(start: date, end: date, zone: ZoneInfo) -> Period:
    if end < start:
        raise InvalidBody("to: must be on or after from")
    if (end - start).days >= MAX_PERIOD_DAYS:
        raise InvalidBody(f"from, to: a brief covers at most {MAX_PERIOD_DAYS} days")
    period = Period(start, end, zone)
    try:
        period.starts_at, period.ends_at  # noqa: B018 (both must exist as UTC times)
    except (OverflowError, ValueError):
        raise InvalidBody("from, to: out of the range of dates Relais handles") from None
    return period


def zone_of(org: Organization, user: User | None) -> ZoneInfo:
    """The requester's time zone, else the organisation's country's."""
    for name in (user.timezone if user else None, COUNTRY_ZONES.get(org.country)):
        if name:
            try:
                return ZoneInfo(name)
            except (
                ZoneInfoNotFoundError,
                ValueError,
                OSError,
            ):  # OSError: a folder such as 'Europe'
                continue
    return ZoneInfo(DEFAULT_ZONE)


def find_team(session: Session, org_id: uuid.UUID, key: uuid.UUID | str) -> Team:
    """A team of the organisation by id (the app) or slug (the command line)."""
    column = Team.id if isinstance(key, uuid.UUID) else Team.slug
    team = session.scalar(select(Team).where(Team.org_id == org_id, column == key))
    if team is None:
        raise NotFound(f"no team '{key}' in this organisation")
    return team


def find_worker(session: Session, org_id: uuid.UUID, key: uuid.UUID | str) -> Worker:
    """A worker of the organisation by id (the app) or reference (the command line)."""
    column = Worker.id if isinstance(key, uuid.UUID) else Worker.ref
    worker = session.scalar(select(Worker).where(Worker.org_id == org_id, column == key))
    if worker is None:
        raise NotFound(f"no worker '{key}' in this organisation")
    return worker


def _names(session: Session, org_id: uuid.UUID) -> dict[uuid.UUID, str]:
    """Staff display names, by id: one query instead of a join per record."""
    rows = session.execute(select(User.id, User.display_name).where(User.org_id == org_id))
    return {user_id: name for user_id, name in rows}


# --- the meeting brief -------------------------------------------------------------------


@dataclass
class BriefNote:
    id: uuid.UUID
    worker_id: uuid.UUID | None
    worker: str  # display name; "" for a note about the whole team
    kind: str
    category: str | None  # None: a sensitive note whose category is left out
    severity: str
    status: str
    captured_at: datetime
    author: str
    text: str | None  # None: left out (sensitive)
    sensitive: bool
    in_period: bool
    late: bool = False


@dataclass
class BriefFollowUp:
    note: BriefNote
    created_at: datetime
    author: str
    action: str
    text: str | None  # None: left out (on a sensitive note)
    close: bool


@dataclass
class BriefHeadsUp:
    created_at: datetime
    author: str
    worker: str
    text: str
    valid_until: date | None


@dataclass
class WorkerSummary:
    """One worker's period in figures, with their latest notes (the rest is in the app)."""

    id: uuid.UUID
    name: str
    ref: str
    counsellor: str | None
    kinds: Counter[str] = field(default_factory=Counter)
    categories: Counter[str] = field(default_factory=Counter)  # SENSITIVE when left out
    awaiting: int = 0  # signals not yet acknowledged, from before the period too
    notes: list[BriefNote] = field(default_factory=list)  # the latest, oldest first
    older: int = 0  # the period's notes not printed

    @property
    def total(self) -> int:
        return sum(self.kinds.values())


@dataclass
class Figures:
    notes: int
    signals: int
    safety: int
    observations: int
    awaiting: int
    late: int
    in_progress: int
    ack_median_hours: float | None
    acknowledged_late: int


@dataclass
class Week:
    monday: date
    number: int  # ISO week
    counts: Counter[str]  # category (or SENSITIVE) -> notes


@dataclass
class Brief:
    organisation: str
    language: str
    team: str | None  # the scope: a team's name, or a worker
    worker: str | None
    worker_ref: str | None
    entity: Literal["team", "worker"]
    entity_id: uuid.UUID
    period: Period
    generated_at: datetime
    generated_by: str | None
    include_sensitive: bool
    figures: Figures
    awaiting: list[BriefNote]  # unacknowledged signals: late first, then severity, age
    workers: list[WorkerSummary]
    team_notes: list[BriefNote]  # about no worker in particular (the latest)
    team_notes_older: int
    follow_ups: list[BriefFollowUp]  # the latest of the period
    follow_ups_older: int
    heads_ups: list[BriefHeadsUp]  # the latest in force during the period
    heads_ups_older: int
    weeks: list[Week]
    # Sensitive notes whose text (or follow-up text) is printed: each gets an audit read.
    sensitive_note_ids: list[uuid.UUID]


def brief_notes_filter(
    org_id: uuid.UUID, scope: Team | Worker, period: Period
) -> ColumnElement[bool]:
    """The notes a brief reads: the period's, the signals still awaiting acknowledgement
    (however old), and those followed up during the period. Never retracted ones."""
    in_scope: ColumnElement[bool] = (
        Note.team_id == scope.id if isinstance(scope, Team) else Note.worker_id == scope.id
    )
    in_period = and_(Note.captured_at >= period.starts_at, Note.captured_at < period.ends_at)
    awaiting = and_(
        Note.status == NoteStatus.OPEN.value,
        # alerts_someone: urgent observations are routed, and awaited, like signals
        or_(Note.kind != NoteKind.OBSERVATION.value, Note.severity == Severity.URGENT.value),
        Note.captured_at < period.ends_at,
    )
    followed_up = Note.id.in_(
        select(FollowUp.note_id).where(
            FollowUp.org_id == org_id,
            FollowUp.created_at >= period.starts_at,
            FollowUp.created_at < period.ends_at,
        )
    )
    return and_(
        Note.org_id == org_id,
        in_scope,
        Note.status != NoteStatus.RETRACTED.value,
        or_(in_period, awaiting, followed_up),
    )


@dataclass
class _Records:
    """What a brief reads, in six queries whatever the organisation's size."""

    names: dict[uuid.UUID, str]
    notes: Sequence[Note]
    deliveries: Sequence[Row[uuid.UUID, datetime, datetime | None, datetime | None]]
    follow_ups: Sequence[FollowUp]
    workers: Sequence[Worker]
    heads_ups: Sequence[HeadsUp]


def _records(session: Session, org: Organization, scope: Team | Worker, period: Period) -> _Records:
    wanted = brief_notes_filter(org.id, scope, period)
    note_ids = select(Note.id).where(wanted)
    notes = session.scalars(select(Note).where(wanted).order_by(Note.captured_at, Note.id)).all()
    deliveries = session.execute(
        select(
            Delivery.note_id, Delivery.delivered_at, Delivery.due_at, Delivery.acknowledged_at
        ).where(Delivery.note_id.in_(note_ids), Delivery.grouped_into_id.is_(None))
    ).all()
    follow_ups = session.scalars(
        select(FollowUp)
        .where(
            FollowUp.note_id.in_(note_ids),
            FollowUp.created_at >= period.starts_at,
            FollowUp.created_at < period.ends_at,
        )
        .order_by(FollowUp.created_at, FollowUp.id)
    ).all()
    roster = Worker.team_id == scope.id if isinstance(scope, Team) else Worker.id == scope.id
    about = {n.worker_id for n in notes if n.worker_id is not None}
    workers = session.scalars(
        select(Worker).where(
            Worker.org_id == org.id,
            or_(and_(roster, Worker.active.is_(True)), Worker.id.in_(about)),
        )
    ).all()
    heads_ups = session.scalars(
        select(HeadsUp)
        .where(
            HeadsUp.org_id == org.id,
            HeadsUp.worker_id.in_([w.id for w in workers]),
            HeadsUp.created_at < period.ends_at,
            or_(
                HeadsUp.valid_until >= period.start,
                and_(HeadsUp.valid_until.is_(None), HeadsUp.created_at >= period.starts_at),
            ),
        )
        .order_by(HeadsUp.created_at, HeadsUp.id)
    ).all()
    return _Records(_names(session, org.id), notes, deliveries, follow_ups, workers, heads_ups)


def _brief_notes(
    records: _Records, period: Period, timing: _Timing, include_sensitive: bool
) -> dict[uuid.UUID, BriefNote]:
    """Each note as printed: a sensitive one without its text or category unless asked."""
    worker_names = {w.id: w.display_name for w in records.workers}
    out: dict[uuid.UUID, BriefNote] = {}
    for note in records.notes:
        sensitive = is_sensitive(note.category)
        shown = include_sensitive or not sensitive
        out[note.id] = BriefNote(
            id=note.id,
            worker_id=note.worker_id,
            worker=worker_names.get(note.worker_id, "") if note.worker_id else "",
            kind=note.kind,
            category=note.category if shown else None,
            severity=note.severity,
            status=note.status,
            captured_at=note.captured_at,
            author=records.names.get(note.author_id, ""),
            text=note.text if shown else None,
            sensitive=sensitive,
            in_period=period.starts_at <= note.captured_at < period.ends_at,
            late=note.status == NoteStatus.OPEN.value and timing.late.get(note.id, False),
        )
    return out


def _awaiting(notes: Iterable[BriefNote]) -> list[BriefNote]:
    """Signals, safety notes and urgent observations nobody has acknowledged: late first,
    then urgent, oldest."""
    return sorted(
        (
            n
            for n in notes
            if n.status == NoteStatus.OPEN.value and alerts_someone(n.kind, n.severity)
        ),
        key=lambda n: (not n.late, SEVERITY_RANK.get(Severity(n.severity), 9), n.captured_at),
    )


def _summaries(
    records: _Records, period_notes: list[BriefNote], waiting: list[BriefNote]
) -> dict[uuid.UUID, WorkerSummary]:
    """Per worker: figures of the period and its latest notes (the older ones counted)."""
    summaries = {
        w.id: WorkerSummary(
            id=w.id,
            name=w.display_name,
            ref=w.ref,
            counsellor=records.names.get(w.counsellor_id) if w.counsellor_id else None,
        )
        for w in sorted(records.workers, key=lambda w: (w.display_name.casefold(), w.ref))
    }
    for n in period_notes:
        if n.worker_id in summaries:
            summary = summaries[n.worker_id]
            summary.kinds[n.kind] += 1
            summary.categories[n.category or SENSITIVE] += 1
            summary.notes.append(n)
    for summary in summaries.values():
        summary.older = max(0, len(summary.notes) - LATEST_PER_WORKER)
        summary.notes = summary.notes[summary.older :]
    for n in waiting:
        if n.worker_id in summaries:
            summaries[n.worker_id].awaiting += 1
    return summaries


def _figures(period_notes: list[BriefNote], waiting: list[BriefNote], timing: _Timing) -> Figures:
    acknowledged = [
        timing.to_acknowledge[n.id] for n in period_notes if n.id in timing.to_acknowledge
    ]
    kinds = Counter(n.kind for n in period_notes)
    return Figures(
        notes=len(period_notes),
        signals=kinds[NoteKind.SIGNAL.value],
        safety=kinds[NoteKind.SAFETY.value],
        observations=kinds[NoteKind.OBSERVATION.value],
        awaiting=len(waiting),
        late=sum(1 for n in waiting if n.late),
        in_progress=sum(1 for n in period_notes if n.status == NoteStatus.ACKNOWLEDGED.value),
        ack_median_hours=(statistics.median(acknowledged) / 3600 if acknowledged else None),
        acknowledged_late=sum(1 for n in period_notes if timing.acknowledged_late.get(n.id, False)),
    )


def load_brief(
    session: Session,
    *,
    org: Organization,
    scope: Team | Worker,
    period: Period,
    include_sensitive: bool,
    now: datetime,
    requested_by: str | None,
) -> Brief:
    """The brief's content for a team or one worker over `period`, as printed."""
    records = _records(session, org, scope, period)
    names = records.names
    timing = _timing(records.deliveries, now)
    brief_notes = _brief_notes(records, period, timing, include_sensitive)
    waiting = _awaiting(brief_notes.values())
    period_notes = [n for n in brief_notes.values() if n.in_period]
    summaries = _summaries(records, period_notes, waiting)
    team_notes = [n for n in period_notes if n.worker_id is None]
    team_notes_older = max(0, len(team_notes) - LATEST_PER_WORKER)
    follow_ups_older = max(0, len(records.follow_ups) - LATEST_LISTED)
    heads_ups_older = max(0, len(records.heads_ups) - LATEST_LISTED)
    worker_names = {w.id: w.display_name for w in records.workers}

    brief_follow_ups = [
        BriefFollowUp(
            note=brief_notes[f.note_id],
            created_at=f.created_at,
            author=names.get(f.author_id, ""),
            action=f.action,
            text=f.text if brief_notes[f.note_id].text is not None else None,
            close=f.close,
        )
        for f in records.follow_ups[follow_ups_older:]
    ]
    printed_notes = [
        *waiting,
        *(n for s in summaries.values() for n in s.notes),
        *team_notes[team_notes_older:],
    ]
    printed = {n.id for n in printed_notes if n.sensitive and n.text is not None}
    printed |= {f.note.id for f in brief_follow_ups if f.note.sensitive and f.text}
    is_team = isinstance(scope, Team)
    return Brief(
        organisation=org.name,
        language=org.language,
        team=scope.name if isinstance(scope, Team) else None,
        worker=scope.display_name if isinstance(scope, Worker) else None,
        worker_ref=scope.ref if isinstance(scope, Worker) else None,
        entity="team" if is_team else "worker",
        entity_id=scope.id,
        period=period,
        generated_at=now,
        generated_by=requested_by,
        include_sensitive=include_sensitive,
        figures=_figures(period_notes, waiting, timing),
        awaiting=waiting,
        workers=list(summaries.values()),
        team_notes=team_notes[team_notes_older:],
        team_notes_older=team_notes_older,
        follow_ups=brief_follow_ups,
        follow_ups_older=follow_ups_older,
        heads_ups=[
            BriefHeadsUp(
                created_at=h.created_at,
                author=names.get(h.author_id, ""),
                worker=worker_names.get(h.worker_id, ""),
                text=h.text,
                valid_until=h.valid_until,
            )
            for h in records.heads_ups[heads_ups_older:]
        ],
        heads_ups_older=heads_ups_older,
        weeks=_weeks(period, period_notes),
        sensitive_note_ids=sorted(printed),
    )


@dataclass
class _Timing:
    late: dict[uuid.UUID, bool]  # unacknowledged past a deadline
    to_acknowledge: dict[uuid.UUID, float]  # seconds from first delivery to acknowledgement
    acknowledged_late: dict[uuid.UUID, bool]


def _timing(
    rows: Sequence[Row[uuid.UUID, datetime, datetime | None, datetime | None]],
    now: datetime,
) -> _Timing:
    late: dict[uuid.UUID, bool] = {}
    first_delivered: dict[uuid.UUID, datetime] = {}
    first_acknowledged: dict[uuid.UUID, datetime] = {}
    acknowledged_late: dict[uuid.UUID, bool] = {}
    for note_id, delivered_at, due_at, acknowledged_at in rows:
        if acknowledged_at is None and due_at is not None and due_at < now:
            late[note_id] = True
        if due_at is not None and acknowledged_at is not None and acknowledged_at > due_at:
            acknowledged_late[note_id] = True
        if note_id not in first_delivered or delivered_at < first_delivered[note_id]:
            first_delivered[note_id] = delivered_at
        if acknowledged_at is not None and (
            note_id not in first_acknowledged or acknowledged_at < first_acknowledged[note_id]
        ):
            first_acknowledged[note_id] = acknowledged_at
    to_acknowledge = {
        note_id: max(0.0, (at - first_delivered[note_id]).total_seconds())
        for note_id, at in first_acknowledged.items()
    }
    return _Timing(late, to_acknowledge, acknowledged_late)


def _weeks(period: Period, notes: list[BriefNote]) -> list[Week]:
    """Notes per ISO week (Monday to Sunday, local time) and category."""
    first = period.start - timedelta(days=period.start.weekday())
    weeks = []
    monday = first
    while monday <= period.end:
        weeks.append(Week(monday=monday, number=monday.isocalendar().week, counts=Counter()))
        monday += timedelta(days=7)
    for n in notes:
        index = (period.local(n.captured_at).date() - first).days // 7
        weeks[index].counts[n.category or SENSITIVE] += 1
    return weeks


# --- the subject-access export -----------------------------------------------------------

_READ_HOW: dict[str | None, schemas.ReadHow] = {
    None: "app",
    audit.BRIEF_EXPORT: "meeting_brief",
    audit.SUBJECT_ACCESS_EXPORT: "subject_access",
}
_EXPORT_WHAT: dict[str, schemas.ExportWhat] = {
    audit.BRIEF_EXPORT: "meeting_brief",
    audit.SUBJECT_ACCESS_EXPORT: "subject_access",
}


def load_subject_access(
    session: Session, *, org: Organization, worker: Worker, now: datetime
) -> schemas.SubjectAccessExport:
    """Everything held about `worker`, retracted notes and refused submissions included."""
    names = _names(session, org.id)
    teams = {t.id: t for t in session.scalars(select(Team).where(Team.org_id == org.id))}
    note_ids = select(Note.id).where(Note.worker_id == worker.id)
    notes = session.scalars(
        select(Note).where(Note.worker_id == worker.id).order_by(Note.captured_at, Note.id)
    ).all()
    follow_ups = session.scalars(
        select(FollowUp)
        .where(FollowUp.note_id.in_(note_ids))
        .order_by(FollowUp.created_at, FollowUp.id)
    ).all()
    order = {n.id: i for i, n in enumerate(notes)}
    deliveries = sorted(
        session.scalars(select(Delivery).where(Delivery.note_id.in_(note_ids))),
        key=lambda d: (order[d.note_id], d.delivered_at, d.reason, d.id),
    )
    heads_ups = session.scalars(
        select(HeadsUp)
        .where(HeadsUp.worker_id == worker.id)
        .order_by(HeadsUp.created_at, HeadsUp.id)
    ).all()
    reads = session.scalars(
        select(AuditEvent)
        .where(
            AuditEvent.entity_id.in_(note_ids),
            AuditEvent.entity == EntityType.NOTE,
            AuditEvent.action == audit.SENSITIVE_NOTE_READ,
        )
        .order_by(AuditEvent.at, AuditEvent.id)
    ).all()
    exports = session.scalars(
        select(AuditEvent)
        .where(
            AuditEvent.entity_id == worker.id,
            AuditEvent.entity == EntityType.WORKER,
            AuditEvent.action.in_(list(_EXPORT_WHAT)),
        )
        .order_by(AuditEvent.at, AuditEvent.id)
    ).all()
    refused = refused_mutations_naming(
        session, org.id, [worker.id, *(n.id for n in notes), *(h.id for h in heads_ups)]
    )

    def name(user_id: uuid.UUID | None) -> str | None:
        return names.get(user_id) if user_id else None

    team = teams[worker.team_id]
    return schemas.SubjectAccessExport(
        generated_at=now,
        organisation=schemas.OrganisationRecord(slug=org.slug, name=org.name),
        worker=schemas.WorkerRecord(
            id=worker.id,
            ref=worker.ref,
            display_name=worker.display_name,
            team=schemas.TeamRecord(slug=team.slug, name=team.name),
            counsellor=name(worker.counsellor_id),
            contract_type=worker.contract_type,
            contract_start=worker.contract_start,
            contract_end=worker.contract_end,
            active=worker.active,
        ),
        notes=[
            schemas.NoteRecord(
                id=n.id,
                kind=n.kind,
                category=n.category,
                sensitive=is_sensitive(n.category),
                severity=n.severity,
                text=n.text,
                status=n.status,
                author=names.get(n.author_id, ""),
                team=teams[n.team_id].slug if n.team_id in teams else "",
                captured_at=n.captured_at,
                received_at=n.received_at,
                retracted_at=n.retracted_at,
                retract_reason=n.retract_reason,
            )
            for n in notes
        ],
        follow_ups=[
            schemas.FollowUpRecord(
                id=f.id,
                note_id=f.note_id,
                author=names.get(f.author_id, ""),
                action=f.action,
                text=f.text,
                close=f.close,
                created_at=f.created_at,
            )
            for f in follow_ups
        ],
        heads_ups=[
            schemas.HeadsUpRecord(
                id=h.id,
                author=names.get(h.author_id, ""),
                text=h.text,
                valid_until=h.valid_until,
                created_at=h.created_at,
            )
            for h in heads_ups
        ],
        deliveries=[
            schemas.DeliveryRecord(
                id=d.id,
                note_id=d.note_id,
                recipient=names.get(d.recipient_id, ""),
                reason=d.reason,
                delivered_at=d.delivered_at,
                due_at=d.due_at,
                seen_at=d.seen_at,
                acknowledged_at=d.acknowledged_at,
                escalated_at=d.escalated_at,
                notified_at=d.notified_at,
            )
            for d in deliveries
        ],
        sensitive_note_reads=[
            schemas.SensitiveReadRecord(
                note_id=e.entity_id,
                reader=name(e.actor_id),
                at=e.at,
                how=_READ_HOW.get(e.detail, "app"),
            )
            for e in reads
            if e.entity_id is not None
        ],
        exports=[
            schemas.ExportRecord(
                at=e.at, by=name(e.actor_id), what=_EXPORT_WHAT[e.action], detail=e.detail
            )
            for e in exports
        ],
        refused_submissions=[
            schemas.RefusedRecord(
                id=r.id,
                type=r.type,
                sent_by=names.get(r.user_id, ""),
                received_at=r.received_at,
                error_code=r.error_code,
                error_message=r.error_message,
                content=r.payload,
            )
            for r in refused
        ],
    )
