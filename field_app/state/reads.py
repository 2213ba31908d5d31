"""The read layer: everything the screens show, read from the local store and typed once.

Screens never touch the store or SQLite: they ask `session.reads`. Each method is one short
read of the local file (a few hundred rows at most), synchronous, on the session's event
loop; this is the one place that decides how reads run, should that have to change (in the
browser, under Pyodide, there are no threads to move them to).

The store keeps the server's JSON; here it becomes the shared_models entity types
(WorkerData, NoteData...) and `Note`. An entity this app cannot read (a newer server's
vocabulary, say) is left out and logged by type and id, never by content.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from field_app.state import inbox as counselling
from field_app.state import review
from field_app.state import roster as supervision
from field_app.state.notes import is_mine
from field_app.state.records import Directory, Note, as_id
from field_app.store import LocalStore, NoteView, RejectedMutation
from shared_models.entities import (
    ColleagueData,
    FollowUpData,
    HeadsUpData,
    NoteData,
    OrganizationData,
    TeamData,
    WorkerData,
)
from shared_models.vocabulary import EntityType, MutationType, Role

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)


def _parsed(model: type[M], entity: EntityType, rows: Iterable[dict[str, Any]]) -> list[M]:
    out = []
    for data in rows:
        try:
            out.append(model.model_validate(data))
        except ValidationError:
            log.warning("unreadable %s %s left out", entity.value, data.get("id"))
    return out


def _notes(views: Iterable[NoteView]) -> list[Note]:
    out = []
    for view in views:
        try:
            out.append(Note.from_view(view))
        except ValidationError:
            log.warning("unreadable note %s (%s) left out", view.id, view.status)
    return out


class Reads:
    """What one signed-in user's screens read (`me` is that user)."""

    def __init__(self, store: LocalStore, me: uuid.UUID) -> None:
        self.store = store
        self.me = me

    # Entities ---------------------------------------------------------------------------

    def _all(self, model: type[M], entity: EntityType, **equals: Any) -> list[M]:
        return _parsed(model, entity, self.store.list_entities(entity, **equals))

    def _one(self, model: type[M], entity: EntityType, entity_id: object) -> M | None:
        key = as_id(entity_id)
        data = self.store.get_entity(entity, key) if key else None
        found = _parsed(model, entity, [data] if data else [])
        return found[0] if found else None

    def worker(self, worker_id: object) -> WorkerData | None:
        return self._one(WorkerData, EntityType.WORKER, worker_id)

    def team(self, team_id: object) -> TeamData | None:
        return self._one(TeamData, EntityType.TEAM, team_id)

    def colleague(self, user_id: object) -> ColleagueData | None:
        return self._one(ColleagueData, EntityType.COLLEAGUE, user_id)

    def active_workers(self) -> list[WorkerData]:
        return self._all(WorkerData, EntityType.WORKER, active=True)

    def directory(self) -> Directory:
        organizations = self._all(OrganizationData, EntityType.ORGANIZATION)
        return Directory(
            workers={w.id: w for w in self._all(WorkerData, EntityType.WORKER)},
            teams={t.id: t for t in self._all(TeamData, EntityType.TEAM)},
            organization=organizations[0] if organizations else None,
        )

    def first_sync_done(self) -> bool:
        """Until then an empty list means "on its way", not "you have none"."""
        return self.store.cursor() is not None

    # Notes ------------------------------------------------------------------------------

    def note(self, note_id: object) -> Note | None:
        """One note, synced or not, with one query per table (never a scan of every note)."""
        key = as_id(note_id)
        view = self.store.note_view(key) if key else None
        found = _notes([view] if view else [])
        return found[0] if found else None

    def notes(
        self, *, worker_id: uuid.UUID | None = None, team_id: uuid.UUID | None = None
    ) -> list[Note]:
        """Synced notes and this phone's sent, queued and rejected ones; newest first."""
        return _notes(self.store.notes_view(worker_id=worker_id, team_id=team_id))

    def synced_notes(self, **equals: Any) -> list[NoteData]:
        """The server's copies only (reports count what the server knows)."""
        return self._all(NoteData, EntityType.NOTE, **equals)

    def my_notes(self) -> list[Note]:
        return [n for n in self.notes() if is_mine(n, self.me)]

    def refusals(self) -> list[RejectedMutation]:
        """Refused actions about notes (a refused note shows on the note itself)."""
        return [r for r in self.store.rejected_mutations() if r.type != MutationType.NOTE_CREATE]

    def queued_count(self) -> int:
        return self.store.counts().queued

    # The supervisor ---------------------------------------------------------------------

    def roster(self, search: str = "") -> list[supervision.TeamRoster]:
        teams = self._all(TeamData, EntityType.TEAM)
        return supervision.roster(teams, self.active_workers(), self.me, search)

    def current_heads_ups(self, today: date) -> list[supervision.HeadsUpView]:
        """Heads-ups still valid about the workers of the teams this user supervises."""
        mine = {w.id for r in self.roster() for w in r.workers}
        workers = self.directory().workers
        heads_ups = self._heads_ups(today)
        return supervision.current_heads_ups(heads_ups, workers, today, mine)

    def _heads_ups(self, today: date, **equals: Any) -> list[HeadsUpData]:
        """Heads-ups as the server will have them: one this device has asked to end is
        already dated to yesterday."""
        ending = {
            str(m.data.get("heads_up_id"))
            for m in self.store.pending(limit=1_000_000)
            if m.type == MutationType.HEADS_UP_END
        }
        yesterday = today - timedelta(days=1)
        return [
            h.model_copy(update={"valid_until": yesterday})
            if str(h.id) in ending and (h.valid_until is None or h.valid_until > yesterday)
            else h
            for h in self._all(HeadsUpData, EntityType.HEADS_UP, **equals)
        ]

    def category_order(self, kind: str) -> list[str]:
        return supervision.category_order(kind)

    # The counsellor ---------------------------------------------------------------------

    def inbox(self, moment: datetime) -> list[counselling.InboxItem]:
        workers = self.directory().workers
        return counselling.inbox(self.notes(), workers, self.me, moment)

    def new_in_inbox(self, moment: datetime) -> int:
        """Inbox lines not opened yet (the count on the inbox tab)."""
        return sum(1 for item in self.inbox(moment) if item.new)

    def timeline(self, worker_id: uuid.UUID) -> list[counselling.TimelineEntry]:
        return counselling.timeline(
            self.notes(worker_id=worker_id),
            self._all(FollowUpData, EntityType.FOLLOW_UP),
            self._heads_ups(datetime.now().astimezone().date(), worker_id=worker_id),
        )

    def counselled_workers(self) -> list[WorkerData]:
        return counselling.counselled_workers(self.active_workers(), self.me)

    def stand_ins(self) -> list[ColleagueData]:
        """Counsellors who could stand in for this user, by name."""
        colleagues = self._all(ColleagueData, EntityType.COLLEAGUE)
        return sorted(
            (c for c in colleagues if Role.COUNSELLOR in c.roles and c.id != self.me),
            key=lambda c: c.display_name,
        )

    # The coordinator --------------------------------------------------------------------

    def history(self, wanted: review.HistoryFilter, moment: datetime) -> list[Note]:
        return review.history(self.notes(), wanted, moment)

    def meeting(
        self, moment: datetime, team_id: uuid.UUID | None = None
    ) -> list[review.MeetingItem]:
        return review.meeting_items(self.notes(team_id=team_id), moment)

    def staffing_warnings(self) -> list[review.StaffingWarning]:
        return review.staffing_warnings(self.directory(), self.active_workers())

    def weekly_categories(
        self, moment: datetime, weeks: int = 6, team_id: uuid.UUID | None = None
    ) -> review.WeeklyCategories:
        return review.weekly_categories(self.synced_notes(), moment, weeks=weeks, team_id=team_id)

    def worker_summaries(
        self, since: datetime | None, team_id: uuid.UUID | None = None
    ) -> list[review.WorkerSummary]:
        return review.worker_summaries(self.synced_notes(), self.active_workers(), since, team_id)

    def worker_summary(self, worker: WorkerData, moment: datetime) -> review.WorkerSummary:
        """The worker's notes from the first day (UTC) of the last 30 days."""
        first_day = (moment - timedelta(days=30)).astimezone(UTC).date()
        notes = [
            n
            for n in self.synced_notes(worker_id=worker.id)
            if n.captured_at.astimezone(UTC).date() >= first_day
        ]
        return review.worker_summary(notes, worker)
