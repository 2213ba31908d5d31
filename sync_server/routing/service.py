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
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Insert, literal, select, update
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
from sync_server.orgs.service import users_with_role
from sync_server.routing.models import Delivery, responsible
from sync_server.sync.changelog import record_change


def _alert_key(recipient_id: uuid.UUID, note: Note) -> tuple[object, ...]:
    """What a repeat signal shares with its alert: a more severe one pages on its own."""
    return (recipient_id, note.worker_id, note.kind, note.category, note.severity)


@dataclass
class OpenAlerts:
    """The open alerts the notes of one push may join, read once for the whole batch.

    `leads`: alert key (`_alert_key`) -> the lead delivery, kept up to date as the batch's
    notes are routed; `known_workers`: the workers all of whose open alerts are in `leads`
    (for the others, `route_note` asks the database).
    """

    leads: dict[tuple[object, ...], Delivery] = field(default_factory=dict)
    known_workers: set[uuid.UUID] = field(default_factory=set)

    def forget(self) -> None:
        """After a rollback: the deliveries held here may no longer exist."""
        self.leads.clear()
        self.known_workers.clear()


def deadline(org: Organization, severity: str) -> timedelta:
    seconds = {
        Severity.URGENT: org.deadline_urgent,
        Severity.ATTENTION: org.deadline_attention,
        Severity.INFO: org.deadline_info,
    }[Severity(severity)]
    return timedelta(seconds=seconds)


def alerts_nobody(note: Note) -> bool:
    """An observation goes onto the timeline only, unless it says it is urgent: the app
    never offers that, but a note that says "urgent" is never silent, so it is routed like
    a signal."""
    return not alerts_someone(note.kind, note.severity)


def plan_recipients(
    note: Note,
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
    note: Note,
    *,
    org: Organization,
    worker: Worker | None,
    members: Mapping[uuid.UUID, User],
    coordinators: Sequence[User],
    alerts: OpenAlerts,
    now: datetime,
) -> list[Delivery]:
    """Create the note's deliveries. Called in the transaction that stores the note.

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
        delivery = Delivery(
            id=uuid.uuid4(),
            note_id=note.id,
            recipient_id=recipient_id,
            reason=reason.value,
            delivered_at=now,
            due_at=now + deadline(org, note.severity) if chased else None,
        )
        groups = org.group_window > 0 and note.kind == NoteKind.SIGNAL and worker is not None
        if groups and reason not in coordinator_reasons:
            key = _alert_key(recipient_id, note)
            since = now - timedelta(seconds=org.group_window)
            lead = alerts.leads.get(key)
            if lead is not None and (lead.acknowledged_at is not None or lead.delivered_at < since):
                lead = None
            if lead is None and note.worker_id not in alerts.known_workers:
                lead = open_alert(session, recipient_id, note, since)
            if lead is not None:
                # For the inbox and e-mail only: the signal keeps its own deadline, and the
                # alert's note is not re-sent (its author would learn of this signal).
                delivery.grouped_into_id = lead.id
            alerts.leads[key] = lead or delivery  # later signals of this batch join it
        session.add(delivery)
        deliveries.append(delivery)
    return deliveries


def load_open_alerts(
    session: Session, org: Organization, worker_ids: Collection[uuid.UUID], now: datetime
) -> OpenAlerts:
    """Read once the open alerts a batch of notes about `worker_ids` may join, instead of
    once per note. Only signals group (`route_note`): the deliveries of other kinds, which
    pile up unacknowledged in a backlog, are not read."""
    alerts = OpenAlerts()
    if org.group_window <= 0 or not worker_ids:
        return alerts
    since = now - timedelta(seconds=org.group_window)
    rows = session.execute(
        select(Delivery, Note.worker_id, Note.kind, Note.category, Note.severity)
        .join(Note, Note.id == Delivery.note_id)
        .where(
            Note.worker_id.in_(list(worker_ids)),
            Note.kind == NoteKind.SIGNAL.value,
            Note.status == NoteStatus.OPEN.value,
            Delivery.grouped_into_id.is_(None),
            Delivery.acknowledged_at.is_(None),
            Delivery.delivered_at >= since,
        )
        .order_by(Delivery.delivered_at)
    )
    for delivery, worker_id, kind, category, severity in rows:
        key = (delivery.recipient_id, worker_id, kind, category, severity)
        alerts.leads.setdefault(key, delivery)
    alerts.known_workers.update(worker_ids)
    return alerts


def open_alert(
    session: Session, recipient_id: uuid.UUID, note: Note, since: datetime
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
            if cached is delivery:
                if lead is None:
                    del alerts.leads[key]
                else:
                    alerts.leads[key] = lead


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
