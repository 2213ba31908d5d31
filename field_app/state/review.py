"""The coordinator's side: the filtered history, per-worker summaries over a period, notes by
category per week, the "before the meeting" list and the French staffing rule."""

from __future__ import annotations

import statistics
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from field_app.state.records import Directory, Note
from shared_models.entities import NoteData, TeamData, WorkerData
from shared_models.vocabulary import (
    MAX_WORKERS_PER_SUPERVISOR_FR,
    SEVERITY_RANK,
    NoteStatus,
    alerts_someone,
)

PERIODS: tuple[int | None, ...] = (7, 30, 90, None)  # days; None: everything


@dataclass(frozen=True)
class HistoryFilter:
    team_id: uuid.UUID | None = None
    worker_id: uuid.UUID | None = None
    days: int | None = 30
    kind: str | None = None
    category: str | None = None
    status: str | None = None

    def since(self, moment: datetime) -> datetime | None:
        return None if self.days is None else moment - timedelta(days=self.days)


def history(notes: Iterable[Note], wanted: HistoryFilter, moment: datetime) -> list[Note]:
    since = wanted.since(moment)
    out = []
    for note in notes:
        data = note.data
        if since is not None and note.captured_at < since:
            continue
        checks = (
            (wanted.team_id, data.team_id),
            (wanted.worker_id, data.worker_id),
            (wanted.kind, data.kind),
            (wanted.category, data.category),
            (wanted.status, note.status),
        )
        if all(want is None or want == value for want, value in checks):
            out.append(note)
    return out


def acknowledge_seconds(note: NoteData) -> float | None:
    """From the first delivery to the first acknowledgement, if any."""
    deliveries = note.deliveries or []
    delivered = [d.delivered_at for d in deliveries]
    acknowledged = [d.acknowledged_at for d in deliveries if d.acknowledged_at]
    if not delivered or not acknowledged:
        return None
    return max(0.0, (min(acknowledged) - min(delivered)).total_seconds())


def is_unacknowledged(note: NoteData) -> bool:
    deliveries = note.deliveries or []
    return (
        note.status == NoteStatus.OPEN
        and bool(deliveries)
        and not any(d.acknowledged_at for d in deliveries)
    )


@dataclass(frozen=True)
class WorkerSummary:
    worker: WorkerData
    total: int = 0
    by_category: Counter[str] = field(default_factory=Counter)
    open: int = 0
    unacknowledged: int = 0
    median_acknowledge_seconds: float | None = None


def worker_summary(notes: Iterable[NoteData], worker: WorkerData) -> WorkerSummary:
    """`notes`: this worker's synced notes in the period (retracted ones are left out)."""
    mine = [n for n in notes if n.status != NoteStatus.RETRACTED]
    delays = [s for n in mine if (s := acknowledge_seconds(n)) is not None]
    return WorkerSummary(
        worker=worker,
        total=len(mine),
        by_category=Counter(n.category for n in mine),
        open=sum(
            1 for n in mine if n.status == NoteStatus.OPEN and alerts_someone(n.kind, n.severity)
        ),
        unacknowledged=sum(1 for n in mine if is_unacknowledged(n)),
        median_acknowledge_seconds=statistics.median(delays) if delays else None,
    )


def worker_summaries(
    notes: Iterable[NoteData],
    workers: Iterable[WorkerData],
    since: datetime | None,
    team_id: uuid.UUID | None = None,
) -> list[WorkerSummary]:
    """`workers`: the active ones; `notes`: the synced ones."""
    by_worker: dict[uuid.UUID | None, list[NoteData]] = {}
    for note in notes:
        if since is None or note.captured_at >= since:
            by_worker.setdefault(note.worker_id, []).append(note)
    if team_id:
        workers = [w for w in workers if w.team_id == team_id]
    summaries = [worker_summary(by_worker.get(w.id, []), w) for w in workers]
    return sorted(
        summaries, key=lambda s: (-s.unacknowledged, -s.open, -s.total, s.worker.display_name)
    )


@dataclass(frozen=True)
class WeeklyCategories:
    weeks: list[date]  # Mondays, oldest first
    counts: dict[date, Counter[str]]
    top: list[str]  # the categories drawn on their own; the rest are summed as "other"

    def total(self, week: date) -> int:
        return sum(self.counts[week].values())


def weekly_categories(
    notes: Iterable[NoteData],
    moment: datetime,
    weeks: int = 6,
    team_id: uuid.UUID | None = None,
    top: int = 5,
) -> WeeklyCategories:
    """`notes`: the synced ones."""
    today = moment.astimezone().date()
    this_monday = today - timedelta(days=today.weekday())
    mondays = [this_monday - timedelta(weeks=n) for n in range(weeks - 1, -1, -1)]
    counts: dict[date, Counter[str]] = {m: Counter() for m in mondays}
    overall: Counter[str] = Counter()
    for note in notes:
        if note.status == NoteStatus.RETRACTED or (team_id and note.team_id != team_id):
            continue
        day = note.captured_at.astimezone().date()
        monday = day - timedelta(days=day.weekday())
        if monday in counts:
            counts[monday][note.category] += 1
            overall[note.category] += 1
    return WeeklyCategories(mondays, counts, [c for c, _ in overall.most_common(top)])


@dataclass(frozen=True)
class MeetingItem:
    note: Note
    overdue: bool
    escalated: bool
    unacknowledged: bool


def meeting_items(notes: Iterable[Note], moment: datetime) -> list[MeetingItem]:
    """Everything to talk about: signals and safety notes still open (nobody acknowledged),
    and any note overdue or escalated that is not closed."""
    items = []
    for note in notes:
        synced = note.synced
        if synced is None or note.status in (NoteStatus.CLOSED, NoteStatus.RETRACTED):
            continue  # queued, sent and rejected notes are not the server's yet
        deliveries = note.deliveries
        overdue = any(
            d.due_at is not None and d.due_at < moment and not d.acknowledged_at for d in deliveries
        )
        escalated = any(d.escalated_at for d in deliveries)
        still_open = note.status == NoteStatus.OPEN and alerts_someone(synced.kind, synced.severity)
        if still_open or overdue or escalated:
            items.append(MeetingItem(note, overdue, escalated, is_unacknowledged(synced)))
    return sorted(items, key=meeting_order)


def meeting_order(item: MeetingItem) -> tuple[object, ...]:
    """Most pressing first: nobody has acknowledged it and it is late (its deadline passed, or
    it was escalated); then nobody has acknowledged it yet; then what is being handled but was
    late. Within each: urgent first, then the oldest."""
    is_open = item.note.status == NoteStatus.OPEN
    late = item.overdue or item.escalated
    return (
        not (is_open and late),
        not is_open,
        SEVERITY_RANK[item.note.data.severity],
        item.note.captured_at,
    )


@dataclass(frozen=True)
class StaffingWarning:
    team: TeamData
    active_workers: int
    supervisors: int


def staffing_warnings(
    directory: Directory, active_workers: Iterable[WorkerData]
) -> list[StaffingWarning]:
    """French ACI rule: at most 12 workers per technical supervisor (encadrant technique)."""
    if not directory.organization or directory.organization.country != "FR":
        return []
    active = Counter(w.team_id for w in active_workers)
    out = []
    for team in sorted(directory.teams.values(), key=lambda t: t.name):
        supervisors = len(team.supervisor_ids)
        workers = active.get(team.id, 0)
        if workers > MAX_WORKERS_PER_SUPERVISOR_FR * max(supervisors, 1):
            out.append(StaffingWarning(team, workers, supervisors))
    return out
