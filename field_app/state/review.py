"""The coordinator's side: the filtered history, per-worker summaries over a period, notes by
category per week, the "before the meeting" list and the French staffing rule."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from field_app.state.records import Directory, Entity, parse_time
from field_app.store import LocalStatus, LocalStore, NoteView
from shared_models.vocabulary import (
    MAX_WORKERS_PER_SUPERVISOR_FR,
    SEVERITY_RANK,
    EntityType,
    NoteKind,
    NoteStatus,
    Severity,
)

PERIODS: tuple[int | None, ...] = (7, 30, 90, None)  # days; None: everything


@dataclass(frozen=True)
class HistoryFilter:
    team_id: str | None = None
    worker_id: str | None = None
    days: int | None = 30
    kind: str | None = None
    category: str | None = None
    status: str | None = None

    def since(self, moment: datetime) -> datetime | None:
        return None if self.days is None else moment - timedelta(days=self.days)


def history(store: LocalStore, wanted: HistoryFilter, moment: datetime) -> list[NoteView]:
    since = wanted.since(moment)
    out = []
    for view in store.notes_view():
        data = view.data
        if since is not None and view.captured_at < since:
            continue
        checks = (
            (wanted.team_id, data.get("team_id")),
            (wanted.worker_id, data.get("worker_id")),
            (wanted.kind, data.get("kind")),
            (wanted.category, data.get("category")),
            (wanted.status, view.status),
        )
        if all(want is None or want == value for want, value in checks):
            out.append(view)
    return out


def acknowledge_seconds(note: Entity) -> float | None:
    """From the first delivery to the first acknowledgement, if any."""
    deliveries = note.get("deliveries") or []
    delivered = [t for d in deliveries if (t := parse_time(d.get("delivered_at")))]
    acknowledged = [t for d in deliveries if (t := parse_time(d.get("acknowledged_at")))]
    if not delivered or not acknowledged:
        return None
    return max(0.0, (min(acknowledged) - min(delivered)).total_seconds())


def is_unacknowledged(note: Entity) -> bool:
    deliveries = note.get("deliveries") or []
    return (
        note.get("status") == NoteStatus.OPEN
        and bool(deliveries)
        and not any(d.get("acknowledged_at") for d in deliveries)
    )


@dataclass(frozen=True)
class WorkerSummary:
    worker: Entity
    total: int = 0
    by_category: Counter[str] = field(default_factory=Counter)
    open: int = 0
    unacknowledged: int = 0
    median_acknowledge_seconds: float | None = None


def worker_summary(notes: list[Entity], worker: Entity) -> WorkerSummary:
    """`notes`: this worker's synced notes in the period (retracted ones are left out)."""
    mine = [n for n in notes if n.get("status") != NoteStatus.RETRACTED]
    delays = [s for n in mine if (s := acknowledge_seconds(n)) is not None]
    return WorkerSummary(
        worker=worker,
        total=len(mine),
        by_category=Counter(n["category"] for n in mine),
        open=sum(
            1
            for n in mine
            if n.get("status") == NoteStatus.OPEN and n.get("kind") != NoteKind.OBSERVATION
        ),
        unacknowledged=sum(1 for n in mine if is_unacknowledged(n)),
        median_acknowledge_seconds=statistics.median(delays) if delays else None,
    )


def worker_summaries(
    store: LocalStore, since: datetime | None, team_id: str | None = None
) -> list[WorkerSummary]:
    notes = [
        n
        for n in store.list_entities(EntityType.NOTE)
        if since is None or (parse_time(n["captured_at"]) or since) >= since
    ]
    by_worker: dict[str, list[Entity]] = {}
    for note in notes:
        by_worker.setdefault(note.get("worker_id") or "", []).append(note)
    workers = store.list_entities(EntityType.WORKER, active=True)
    if team_id:
        workers = [w for w in workers if w["team_id"] == team_id]
    summaries = [worker_summary(by_worker.get(w["id"], []), w) for w in workers]
    return sorted(
        summaries, key=lambda s: (-s.unacknowledged, -s.open, -s.total, s.worker["display_name"])
    )


@dataclass(frozen=True)
class WeeklyCategories:
    weeks: list[date]  # Mondays, oldest first
    counts: dict[date, Counter[str]]
    top: list[str]  # the categories drawn on their own; the rest are summed as "other"

    def total(self, week: date) -> int:
        return sum(self.counts[week].values())


def weekly_categories(
    store: LocalStore, moment: datetime, weeks: int = 6, team_id: str | None = None, top: int = 5
) -> WeeklyCategories:
    today = moment.astimezone().date()
    this_monday = today - timedelta(days=today.weekday())
    mondays = [this_monday - timedelta(weeks=n) for n in range(weeks - 1, -1, -1)]
    counts: dict[date, Counter[str]] = {m: Counter() for m in mondays}
    overall: Counter[str] = Counter()
    for note in store.list_entities(EntityType.NOTE):
        if note.get("status") == NoteStatus.RETRACTED or (
            team_id and note.get("team_id") != team_id
        ):
            continue
        captured = parse_time(note["captured_at"])
        if captured is None:
            continue
        day = captured.astimezone().date()
        monday = day - timedelta(days=day.weekday())
        if monday in counts:
            counts[monday][note["category"]] += 1
            overall[note["category"]] += 1
    return WeeklyCategories(mondays, counts, [c for c, _ in overall.most_common(top)])


@dataclass(frozen=True)
class MeetingItem:
    view: NoteView
    overdue: bool
    escalated: bool
    unacknowledged: bool


def meeting_items(
    store: LocalStore, moment: datetime, team_id: str | None = None
) -> list[MeetingItem]:
    """Everything to talk about: signals and safety notes still open (nobody acknowledged),
    and any note overdue or escalated that is not closed."""
    items = []
    for view in store.notes_view(team_id=team_id):
        note = view.data
        if view.status in (
            NoteStatus.CLOSED,
            NoteStatus.RETRACTED,
            LocalStatus.REJECTED,
            LocalStatus.QUEUED,
            LocalStatus.SENT,
        ):
            continue
        deliveries = note.get("deliveries") or []
        overdue = any(
            (due := parse_time(d.get("due_at"))) is not None
            and due < moment
            and not d.get("acknowledged_at")
            for d in deliveries
        )
        escalated = any(d.get("escalated_at") for d in deliveries)
        unacknowledged = is_unacknowledged(note)
        still_open = view.status == NoteStatus.OPEN and note.get("kind") != NoteKind.OBSERVATION
        if still_open or overdue or escalated:
            items.append(MeetingItem(view, overdue, escalated, unacknowledged))
    return sorted(
        items,
        key=lambda i: (
            not (i.overdue or i.escalated),
            SEVERITY_RANK[Severity(i.view.data["severity"])],
            i.view.captured_at,
        ),
    )


@dataclass(frozen=True)
class StaffingWarning:
    team: Entity
    active_workers: int
    supervisors: int


def staffing_warnings(store: LocalStore, directory: Directory) -> list[StaffingWarning]:
    """French ACI rule: at most 12 workers per technical supervisor (encadrant technique)."""
    if not directory.organization or directory.organization.get("country") != "FR":
        return []
    active = Counter(w["team_id"] for w in store.list_entities(EntityType.WORKER, active=True))
    out = []
    for team in sorted(directory.teams.values(), key=lambda t: t["name"]):
        supervisors = len(team.get("supervisor_ids") or [])
        workers = active.get(team["id"], 0)
        if workers > MAX_WORKERS_PER_SUPERVISOR_FR * max(supervisors, 1):
            out.append(StaffingWarning(team, workers, supervisors))
    return out
