"""Routing: who must know about a note, by when, and what happens when nobody answers.

Rules (docs/design.md, Routing):
- a signal or safety note about a worker goes to the worker's counsellor (`referent`), or to
  the counsellor's stand-in while they are away (`stand_in`); away with nobody covering, it
  also goes to the coordinators (`unassigned`);
- a worker with no counsellor: the coordinators (`unassigned`);
- `urgent`, and every safety note with `injury`: the coordinators too, at once (`urgent`);
- a team-level safety note (no worker): the coordinators, who are the team's referents;
- an observation alerts nobody: it goes onto the timeline and into the daily digest (one
  marked `urgent`, which the app does not offer, is routed like a signal: never silent).
Every delivery but the coordinators' `urgent` copies has a deadline; one not acknowledged
by then is escalated once (`escalation`): the coordinators get a copy, and a coordinator
whose own delivery is late is reminded by e-mail. Repeated signals about one worker, kind,
category and severity, within the organisation's window, join the recipient's open alert:
one line in the inbox and one e-mail, but each keeps its own deadline.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple, Protocol

from sqlalchemy import Insert, and_, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from shared_models.vocabulary import (
    DeliveryReason,
    EntityType,
    NoteKind,
    NoteStatus,
    Role,
    Severity,
    alerts_someone,
)
from sync_server import policy
from sync_server.database import random_uuid, table
from sync_server.notes.models import Note
from sync_server.orgs.models import Organization, User, Worker
from sync_server.orgs.service import Members, users_with_role
from sync_server.routing.models import Delivery, responsible
from sync_server.sync.changelog import record_change


class RoutedNote(Protocol):
    """What routing reads of a note: a stored `Note`, or a `NoteFacts` of one being pushed."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def author_id(self) -> uuid.UUID: ...
    @property
    def worker_id(self) -> uuid.UUID | None: ...
    @property
    def kind(self) -> str: ...
    @property
    def category(self) -> str: ...
    @property
    def severity(self) -> str: ...


class NoteFacts(NamedTuple):
    """A new note as routing reads it, before its row is inserted: no ORM object to build."""

    id: uuid.UUID
    author_id: uuid.UUID
    worker_id: uuid.UUID | None
    kind: str
    category: str
    severity: str


def _alert_key(recipient_id: uuid.UUID, note: RoutedNote) -> tuple[object, ...]:
    """What a repeat signal shares with its alert: a more severe one pages on its own."""
    return (recipient_id, note.worker_id, note.kind, note.category, note.severity)


class Lead(NamedTuple):
    """The lead delivery of an open alert, as grouping needs it: no ORM object to build.
    It stays unacknowledged for the rest of the push: its recipient is never the author of
    the notes that join it, and a push is one author's."""

    id: uuid.UUID
    delivered_at: datetime


@dataclass
class OpenAlerts:
    """The open alerts the notes of one push may join, read once for the whole batch.

    `leads`: alert key (`_alert_key`) -> the lead delivery, kept up to date as the batch's
    notes are routed; `known`: the signals (worker, kind, category, severity) all of whose
    open alerts are in `leads` (for the others, `route_note` asks the database).
    """

    leads: dict[tuple[object, ...], Lead] = field(default_factory=dict)
    known: set[tuple[object, ...]] = field(default_factory=set)

    def forget(self) -> None:
        """After a rollback: the deliveries held here may no longer exist."""
        self.leads.clear()
        self.known.clear()


def deadline(org: Organization, severity: str) -> timedelta:
    seconds = {
        Severity.URGENT: org.deadline_urgent,
        Severity.ATTENTION: org.deadline_attention,
        Severity.INFO: org.deadline_info,
    }[Severity(severity)]
    return timedelta(seconds=seconds)


def alerts_nobody(note: RoutedNote) -> bool:
    """An observation goes onto the timeline only, unless it says it is urgent: the app
    never offers that, but a note that says "urgent" is never silent, so it is routed like
    a signal."""
    return not alerts_someone(note.kind, note.severity)


def plan_recipients(
    note: RoutedNote,
    worker: Worker | None,
    counsellor: User | None,
    coordinators: Sequence[User],
    stand_in: User | None,
    now: datetime,
) -> list[tuple[uuid.UUID, DeliveryReason]]:
    """The routing rules as a pure function: (recipient, reason) pairs, first reason wins."""
    if alerts_nobody(note):
        return []
    plan: list[tuple[uuid.UUID, DeliveryReason]] = []
    coordinator_ids = [c.id for c in coordinators]
    receiver = responsible(counsellor, stand_in, now)
    if worker is None:
        plan += [(c, DeliveryReason.REFERENT) for c in coordinator_ids]
    elif counsellor is None or receiver is None:
        plan += [(c, DeliveryReason.UNASSIGNED) for c in coordinator_ids]
    elif receiver is not counsellor:
        plan.append((receiver.id, DeliveryReason.STAND_IN))
    else:
        plan.append((counsellor.id, DeliveryReason.REFERENT))
        if counsellor.is_away(now):  # and nobody covers: the coordinators too
            plan += [(c, DeliveryReason.UNASSIGNED) for c in coordinator_ids]
    if note.severity == Severity.URGENT or (
        note.kind == NoteKind.SAFETY and note.category == "injury"
    ):
        plan += [(c, DeliveryReason.URGENT) for c in coordinator_ids]
    seen: set[uuid.UUID] = set()
    unique = []
    for recipient, reason in plan:
        if recipient not in seen and recipient != note.author_id:
            seen.add(recipient)
            unique.append((recipient, reason))
    return unique


def route_note(
    session: Session,
    note: RoutedNote,
    *,
    org: Organization,
    worker: Worker | None,
    members: Members,
    coordinators: Sequence[User],
    alerts: OpenAlerts,
    now: datetime,
) -> list[dict[str, Any]]:
    """The note's deliveries, as rows for the caller to insert with the note (`PushBatch`).

    `members`: the organisation's users by id (the counsellor and their stand-in are among
    them); `alerts`: the open alerts the note may join, updated with its own.
    """
    if alerts_nobody(note):
        return []
    counsellor = members.get(worker.counsellor_id) if worker and worker.counsellor_id else None
    stand_in = (
        members.get(counsellor.stand_in_id) if counsellor and counsellor.stand_in_id else None
    )
    plan = plan_recipients(note, worker, counsellor, coordinators, stand_in, now)
    coordinator_reasons = {DeliveryReason.URGENT, DeliveryReason.UNASSIGNED}
    deliveries = []
    for recipient_id, reason in plan:
        # Every delivery is chased until acknowledged, the coordinators' too when the note is
        # theirs to handle; their `urgent` copies only inform: someone else is chased.
        chased = reason != DeliveryReason.URGENT
        delivery: dict[str, Any] = {
            "id": uuid.uuid4(),
            "note_id": note.id,
            "recipient_id": recipient_id,
            "reason": reason.value,
            "delivered_at": now,
            "due_at": now + deadline(org, note.severity) if chased else None,
            "grouped_into_id": None,
        }
        groups = org.group_window > 0 and note.kind == NoteKind.SIGNAL and worker is not None
        if groups and reason not in coordinator_reasons:
            key = _alert_key(recipient_id, note)
            since = now - timedelta(seconds=org.group_window)
            lead = alerts.leads.get(key)
            if lead is not None and lead.delivered_at < since:
                lead = None
            if lead is None and key[1:] not in alerts.known:
                found = open_alert(session, recipient_id, note, since)
                lead = Lead(found.id, found.delivered_at) if found is not None else None
            if lead is not None:
                # For the inbox and e-mail only: the signal keeps its own deadline, and the
                # alert's note is not re-sent (its author would learn of this signal).
                delivery["grouped_into_id"] = lead.id
            # Later signals of this batch join it.
            alerts.leads[key] = lead or Lead(delivery["id"], now)
        deliveries.append(delivery)
    return deliveries


def load_open_alerts(
    session: Session,
    org: Organization,
    signals: Collection[tuple[uuid.UUID, str, str]],
    now: datetime,
) -> OpenAlerts:
    """Read once the open alerts a batch's signals (worker, category, severity) may join,
    instead of once per note: the open signals of those keys (`ix_note_signal_key`, a few
    categories and severities of each worker at a time) and their open, ungrouped
    deliveries. What it reads grows with the signals of one key, not with every note or
    delivery stored about the workers or their counsellors."""
    alerts = OpenAlerts()
    if org.group_window <= 0 or not signals:
        return alerts
    wanted = set(signals)
    by_worker: dict[uuid.UUID, tuple[set[str], set[str]]] = {}
    for worker_id, category, severity in wanted:
        categories, severities = by_worker.setdefault(worker_id, (set(), set()))
        categories.add(category)
        severities.add(severity)
    workers = list(by_worker.items())
    since = now - timedelta(seconds=org.group_window)
    for i in range(0, len(workers), 50):
        about = [
            and_(
                Note.worker_id == worker_id,
                Note.category.in_(categories),
                Note.severity.in_(severities),
            )
            for worker_id, (categories, severities) in workers[i : i + 50]
        ]
        rows = session.execute(
            select(
                Delivery.id,
                Delivery.delivered_at,
                Delivery.recipient_id,
                Note.worker_id,
                Note.category,
                Note.severity,
            )
            .join(Delivery, Delivery.note_id == Note.id)
            .where(
                or_(*about),
                Note.kind == NoteKind.SIGNAL.value,
                Note.status == NoteStatus.OPEN.value,
                Delivery.acknowledged_at.is_(None),
                Delivery.grouped_into_id.is_(None),
                Delivery.delivered_at >= since,
            )
            .order_by(Delivery.delivered_at)
        )
        for delivery_id, delivered_at, recipient_id, of, category, severity in rows:
            if (of, category, severity) in wanted:
                key = (recipient_id, of, NoteKind.SIGNAL.value, category, severity)
                alerts.leads.setdefault(key, Lead(delivery_id, delivered_at))
    alerts.known.update((w, NoteKind.SIGNAL.value, c, s) for w, c, s in wanted)
    return alerts


def open_alert(
    session: Session, recipient_id: uuid.UUID, note: RoutedNote, since: datetime
) -> Delivery | None:
    """The recipient's unacknowledged alert of the same key (`_alert_key`), if recent."""
    return session.scalar(
        select(Delivery)
        .join(Note, Note.id == Delivery.note_id)
        .where(
            Delivery.recipient_id == recipient_id,
            Delivery.grouped_into_id.is_(None),
            Delivery.acknowledged_at.is_(None),
            Delivery.delivered_at >= since,
            Note.worker_id == note.worker_id,
            Note.category == note.category,
            Note.kind == note.kind,
            Note.severity == note.severity,
            Note.status == NoteStatus.OPEN.value,
            Note.id != note.id,
        )
        .order_by(Delivery.delivered_at)
        .limit(1)
    )


def alert_group(session: Session, delivery: Delivery) -> list[Delivery]:
    """The lead delivery of `delivery`'s alert and every delivery grouped into it."""
    lead_id = delivery.grouped_into_id or delivery.id
    lead = session.get_one(Delivery, lead_id)
    members = session.scalars(select(Delivery).where(Delivery.grouped_into_id == lead_id)).all()
    return [lead, *members]


def release_alerts(session: Session, note: Note, alerts: OpenAlerts) -> None:
    """A retracted note leaves its alert groups. Where it led one, the next signal of the
    group takes the lead (and with it the e-mail), so that retracting the first signal
    silences none of the others. Nothing is re-sent: the app reads a signal whose alert it no
    longer holds as an alert of its own. `alerts`: what later notes of this push may join,
    kept true."""
    for delivery in session.scalars(select(Delivery).where(Delivery.note_id == note.id)).all():
        if delivery.grouped_into_id is not None:
            delivery.grouped_into_id = None
            continue
        members = session.scalars(
            select(Delivery)
            .where(Delivery.grouped_into_id == delivery.id)
            .order_by(Delivery.delivered_at, Delivery.id)
        ).all()
        lead = members[0] if members else None
        for member in members[1:]:
            member.grouped_into_id = members[0].id
        if lead is not None:
            lead.grouped_into_id = None
        for key, cached in list(alerts.leads.items()):
            if cached.id == delivery.id:
                if lead is None:
                    del alerts.leads[key]
                else:
                    alerts.leads[key] = Lead(lead.id, lead.delivered_at)


def escalate_overdue(session: Session, now: datetime, batch: int = 2000) -> int:
    """One sweep: escalate each overdue, unacknowledged delivery to the coordinators, once.

    Rows are claimed with FOR UPDATE SKIP LOCKED on PostgreSQL, so that several server
    processes sweeping at once never escalate the same delivery twice; each delivery is
    marked `escalated_at` in the same transaction that creates the coordinators' copies.
    Plain rows and set-based statements, no ORM objects: a sweep may find many thousands.
    The copies are built by the database, one `INSERT ... SELECT` per coordinator; the rows
    read carry the note's fields the policy reads (`policy.NOTE_FIELDS`), so the change log
    indexes and pokes without loading the notes again.
    """
    d, n = table(Delivery), table(Note)
    query = (
        select(d.c.id.label("delivery_id"), *(n.c[name] for name in policy.NOTE_FIELDS))
        .join(n, n.c.id == d.c.note_id)
        .where(
            d.c.due_at.is_not(None),
            d.c.due_at <= now,
            d.c.acknowledged_at.is_(None),
            d.c.escalated_at.is_(None),
            n.c.status == NoteStatus.OPEN.value,
        )
        .order_by(d.c.due_at)
        .limit(batch)
    )
    if session.get_bind().dialect.name == "postgresql":
        # Claim the notes too: two sweeps never escalate deliveries of one note at once.
        query = query.with_for_update(skip_locked=True, of=[d, n])
    overdue = session.execute(query).all()
    if not overdue:
        return 0
    notes = {row.id: row for row in overdue}
    for chunk in _chunks([row.delivery_id for row in overdue]):
        session.execute(
            update(Delivery).where(Delivery.id.in_(chunk)).values(escalated_at=now),
            execution_options={"synchronize_session": "evaluate"},
        )
    by_org: dict[uuid.UUID, list[uuid.UUID]] = {}
    for row in notes.values():
        by_org.setdefault(row.org_id, []).append(row.id)
    for org_id, note_ids in by_org.items():
        for coordinator in users_with_role(session, org_id, Role.COORDINATOR):
            for chunk in _chunks(note_ids):
                session.execute(_escalation_copies(session, chunk, coordinator.id, now))
    for note_id, row in notes.items():
        record_change(session, row.org_id, EntityType.NOTE, note_id, row=row)
    return len(overdue)


def _escalation_copies(
    session: Session, note_ids: list[uuid.UUID], coordinator_id: uuid.UUID, now: datetime
) -> Insert:
    """The coordinator's copies of these notes, but of those they wrote or already receive:
    one statement, the rows (ids included) built by the database. A note the coordinator
    already has is skipped by the (note, recipient) unique key, with no lookup to plan."""
    d, n = table(Delivery), table(Note)
    dialect = session.get_bind().dialect.name
    rows = select(
        random_uuid(dialect),
        n.c.id,
        literal(coordinator_id, d.c.recipient_id.type),
        literal(DeliveryReason.ESCALATION.value, d.c.reason.type),
        literal(now, d.c.delivered_at.type),
    ).where(n.c.id.in_(note_ids), n.c.author_id != coordinator_id)
    insert_into = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert_into(d)
        .from_select(["id", "note_id", "recipient_id", "reason", "delivered_at"], rows)
        .on_conflict_do_nothing(index_elements=["note_id", "recipient_id"])
    )


def _chunks(ids: list[uuid.UUID], size: int = 1000) -> Iterator[list[uuid.UUID]]:
    for i in range(0, len(ids), size):
        yield ids[i : i + size]
