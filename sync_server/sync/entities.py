"""Entities as pull sends them: loaded in batches, checked by the policy, shaped per viewer."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared_models.entities import (
    ColleagueData,
    DeliveryData,
    FollowUpData,
    HeadsUpData,
    NoteData,
    OrganizationData,
    TeamData,
    WorkerData,
)
from sync_server import policy
from sync_server.database import utcnow
from sync_server.notes.models import FollowUp, HeadsUp, Note
from sync_server.orgs.models import Organization, Team, TeamSupervisor, User, Worker
from sync_server.routing.models import Delivery, responsible
from sync_server.sync.pending import record_change

_MODELS: dict[str, Any] = {
    "note": Note,
    "follow_up": FollowUp,
    "heads_up": HeadsUp,
    "worker": Worker,
    "team": Team,
    "colleague": User,
    "organization": Organization,
}


@dataclass
class Loaded:
    """A batch of entities and everything needed to check and shape them."""

    objects: dict[tuple[str, uuid.UUID], Any] = field(default_factory=dict)
    facts: policy.Facts = field(default_factory=policy.Facts)
    deliveries: dict[uuid.UUID, list[Delivery]] = field(default_factory=dict)
    names: dict[uuid.UUID, str] = field(default_factory=dict)
    supervisors_of_team: dict[uuid.UUID, list[uuid.UUID]] = field(default_factory=dict)
    # Alert fatigue: lead delivery id -> how many later signals were grouped into it,
    # and -> the note of that lead alert.
    grouped: dict[uuid.UUID, int] = field(default_factory=dict)
    lead_notes: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)
    # Worker id -> who a note about them goes to now (None: the coordinators).
    recipients: dict[uuid.UUID, uuid.UUID | None] = field(default_factory=dict)

    def get(self, entity: str, entity_id: uuid.UUID) -> Any:
        return self.objects.get((entity, entity_id))


def load(
    session: Session,
    org_id: uuid.UUID,
    keys: Iterable[tuple[str, uuid.UUID]],
    *,
    for_shaping: bool = True,
) -> Loaded:
    """Load the entities behind change-log keys in one query per entity type.

    `for_shaping=False` loads only what the policy needs (audiences), not what pull sends.
    """
    wanted: dict[str, set[uuid.UUID]] = {}
    for entity, entity_id in keys:
        if entity in _MODELS:
            wanted.setdefault(entity, set()).add(entity_id)
    out = Loaded()
    for entity, ids in wanted.items():
        model = _MODELS[entity]
        for obj in _in_chunks(session, model, ids):
            if (obj.id if entity == "organization" else obj.org_id) == org_id:
                out.objects[(entity, obj.id)] = obj

    notes = {k[1]: o for k, o in out.objects.items() if k[0] == "note"}
    follow_ups = [o for k, o in out.objects.items() if k[0] == "follow_up"]
    missing_notes = {f.note_id for f in follow_ups} - notes.keys()
    notes.update({n.id: n for n in _in_chunks(session, Note, missing_notes)})
    worker_ids = {o.worker_id for k, o in out.objects.items() if k[0] == "heads_up"}
    worker_team = {
        w_id: t_id
        for w_id, t_id in _pairs(session, Worker.id, Worker.team_id, Worker.id, worker_ids)
    }
    out.facts = policy.Facts(
        worker_team=worker_team, notes=notes, acted=policy.load_acted(session, notes.values())
    )
    if not for_shaping:
        return out
    note_ids = [k[1] for k in out.objects if k[0] == "note"]
    for d in _in_chunks(session, Delivery, note_ids, column=Delivery.note_id):
        out.deliveries.setdefault(d.note_id, []).append(d)
    delivery_ids = [d.id for ds in out.deliveries.values() for d in ds]
    for i in range(0, len(delivery_ids), 500):
        for lead_id, count in session.execute(
            select(Delivery.grouped_into_id, func.count())
            .where(Delivery.grouped_into_id.in_(delivery_ids[i : i + 500]))
            .group_by(Delivery.grouped_into_id)
        ):
            if lead_id is not None:
                out.grouped[lead_id] = count
    lead_refs = {
        d.grouped_into_id for ds in out.deliveries.values() for d in ds if d.grouped_into_id
    }
    out.lead_notes = dict(_pairs(session, Delivery.id, Delivery.note_id, Delivery.id, lead_refs))
    team_ids = [k[1] for k in out.objects if k[0] == "team"]
    for team_id, user_id in _pairs(
        session,
        TeamSupervisor.team_id,
        TeamSupervisor.user_id,
        TeamSupervisor.team_id,
        team_ids,
    ):
        out.supervisors_of_team.setdefault(team_id, []).append(user_id)
    workers = [o for k, o in out.objects.items() if k[0] == "worker"]
    out.recipients = _recipients(session, workers, utcnow())
    out.names = dict(_pairs(session, User.id, User.display_name, User.id, _named_users(out)))
    return out


def _named_users(loaded: Loaded) -> set[uuid.UUID]:
    """The users whose names `shape` shows for these entities (not the whole organisation)."""
    ids: set[uuid.UUID | None] = set(loaded.recipients.values())
    for (entity, _), obj in loaded.objects.items():
        if entity in ("note", "follow_up", "heads_up"):
            ids.add(obj.author_id)
        elif entity == "worker":
            ids.add(obj.counsellor_id)
    ids |= {d.recipient_id for ds in loaded.deliveries.values() for d in ds}
    return {i for i in ids if i is not None}


def _recipients(
    session: Session, workers: list[Worker], at: datetime
) -> dict[uuid.UUID, uuid.UUID | None]:
    """Who a note about each worker goes to at `at` (routing's rule, `responsible`)."""
    counsellor_ids = {w.counsellor_id for w in workers if w.counsellor_id}
    users = {u.id: u for u in _in_chunks(session, User, counsellor_ids)}
    stand_in_ids = {u.stand_in_id for u in users.values() if u.stand_in_id} - users.keys()
    users.update({u.id: u for u in _in_chunks(session, User, stand_in_ids)})
    out: dict[uuid.UUID, uuid.UUID | None] = {}
    for w in workers:
        counsellor = users.get(w.counsellor_id) if w.counsellor_id else None
        stand_in = (
            users.get(counsellor.stand_in_id) if counsellor and counsellor.stand_in_id else None
        )
        receiver = responsible(counsellor, stand_in, at)
        out[w.id] = receiver.id if receiver else None
    return out


def _in_chunks(
    session: Session, model: Any, ids: Iterable[uuid.UUID], column: Any = None
) -> Iterator[Any]:
    ids = list(ids)
    column = column if column is not None else model.id
    for i in range(0, len(ids), 500):
        yield from session.scalars(select(model).where(column.in_(ids[i : i + 500])))


def _pairs(
    session: Session, a: Any, b: Any, column: Any, ids: Iterable[uuid.UUID]
) -> Iterator[Any]:
    ids = list(ids)
    for i in range(0, len(ids), 500):
        yield from session.execute(select(a, b).where(column.in_(ids[i : i + 500])))


def visible(viewer: policy.Viewer, entity: str, obj: Any, loaded: Loaded) -> bool:
    return policy.can_see(viewer, entity, obj, loaded.facts)


def shape(viewer: policy.Viewer, entity: str, obj: Any, loaded: Loaded) -> dict[str, Any]:
    """The entity's whole current state as this viewer may see it (JSON-ready)."""
    names = loaded.names
    model: Any
    if entity == "note":
        deliveries = loaded.deliveries.get(obj.id, [])
        shown = policy.can_read_deliveries(viewer, obj, (d.recipient_id for d in deliveries))
        model = NoteData(
            id=obj.id,
            author_id=obj.author_id,
            author_name=names.get(obj.author_id),
            worker_id=obj.worker_id,
            team_id=obj.team_id,
            kind=obj.kind,
            category=obj.category,
            severity=obj.severity,
            text=obj.text,
            captured_at=obj.captured_at,
            received_at=obj.received_at,
            status=obj.status,
            retracted_at=obj.retracted_at,
            deliveries=[_delivery(viewer, d, loaded) for d in deliveries] if shown else None,
        )
    elif entity == "follow_up":
        model = FollowUpData(
            id=obj.id,
            note_id=obj.note_id,
            action=obj.action,
            text=obj.text,
            close=obj.close,
            author_id=obj.author_id,
            author_name=names.get(obj.author_id),
            created_at=obj.created_at,
        )
    elif entity == "heads_up":
        model = HeadsUpData(
            id=obj.id,
            worker_id=obj.worker_id,
            text=obj.text,
            valid_until=obj.valid_until,
            author_id=obj.author_id,
            author_name=names.get(obj.author_id),
            created_at=obj.created_at,
        )
    elif entity == "worker":
        recipient = loaded.recipients.get(obj.id)
        model = WorkerData(
            id=obj.id,
            ref=obj.ref,
            display_name=obj.display_name,
            team_id=obj.team_id,
            counsellor_id=obj.counsellor_id,
            counsellor_name=names.get(obj.counsellor_id) if obj.counsellor_id else None,
            active=obj.active,
            recipient_id=recipient,
            recipient_name=names.get(recipient) if recipient else None,
        )
    elif entity == "team":
        model = TeamData(
            id=obj.id,
            name=obj.name,
            site=obj.site,
            supervisor_ids=sorted(loaded.supervisors_of_team.get(obj.id, []), key=str),
        )
    elif entity == "organization":
        model = OrganizationData(
            id=obj.id,
            name=obj.name,
            country=obj.country,
            language=obj.language,
            deadlines={
                "urgent": obj.deadline_urgent,
                "attention": obj.deadline_attention,
                "info": obj.deadline_info,
            },
        )
    elif entity == "colleague":
        model = ColleagueData(
            id=obj.id,
            display_name=obj.display_name,
            roles=sorted(obj.role_names),
            away=obj.is_away(utcnow()),
            stand_in_id=obj.stand_in_id,
            away_until=obj.away_until,
        )
    else:  # pragma: no cover - guarded by _MODELS
        raise ValueError(entity)
    data: dict[str, Any] = model.model_dump(mode="json")
    return data


def _delivery(viewer: policy.Viewer, d: Delivery, loaded: Loaded) -> DeliveryData:
    """Grouping is shown on the viewer's own delivery only: it is about other notes, which
    the note's author (and other recipients) must not learn of through this one."""
    own = d.recipient_id == viewer.user_id
    return DeliveryData(
        recipient_id=d.recipient_id,
        recipient_name=loaded.names.get(d.recipient_id, ""),
        reason=d.reason,
        delivered_at=d.delivered_at,
        due_at=d.due_at,
        seen_at=d.seen_at,
        acknowledged_at=d.acknowledged_at,
        escalated_at=d.escalated_at,
        group_count=1 + loaded.grouped.get(d.id, 0) if own else 1,
        grouped_into=loaded.lead_notes.get(d.grouped_into_id)
        if own and d.grouped_into_id
        else None,
    )


def workers_concerned(loaded: Loaded) -> set[uuid.UUID]:
    """The workers whose counsellors may see some of these entities."""
    workers: set[uuid.UUID] = set()
    for (entity, _), obj in loaded.objects.items():
        if entity == "worker":
            workers.add(obj.id)
        elif entity in ("note", "heads_up") and obj.worker_id:
            workers.add(obj.worker_id)
    workers |= {n.worker_id for n in loaded.facts.notes.values() if n.worker_id}
    return workers


class VisibilityChange:
    """Log changes to entities whose audience may shrink, telling those who lose sight.

    Snapshot who sees `keys` now, make the change, then call `record()`: each entity is
    logged with the users who could see it before and cannot any more (they get `remove`).
    """

    def __init__(
        self,
        session: Session,
        org_id: uuid.UUID,
        keys: Iterable[tuple[str, uuid.UUID]],
        before_at: datetime | None = None,
    ) -> None:
        """`before_at`: when the "before" audience held, if earlier than now (an absence
        that already ran out by the clock is still the view the stand-in's phone has)."""
        self.session = session
        self.org_id = org_id
        self.keys = list(dict.fromkeys(keys))
        self.before = self._audiences(before_at or utcnow())

    def _audiences(self, at: datetime) -> dict[tuple[str, uuid.UUID], set[uuid.UUID]]:
        self.session.flush()
        loaded = load(self.session, self.org_id, self.keys, for_shaping=False)
        viewers = policy.load_org_viewers(
            self.session, self.org_id, at, workers=workers_concerned(loaded)
        )
        index = policy.AudienceIndex(viewers)
        out: dict[tuple[str, uuid.UUID], set[uuid.UUID]] = {}
        for key in self.keys:
            obj = loaded.get(*key)
            out[key] = set() if obj is None else index.of(key[0], obj, loaded.facts)
        return out

    def record(self) -> None:
        after = self._audiences(utcnow())
        for key in self.keys:
            record_change(self.session, self.org_id, key[0], key[1], self.before[key] - after[key])


def keys_about_workers(
    session: Session, worker_ids: Iterable[uuid.UUID]
) -> list[tuple[str, uuid.UUID]]:
    """A worker and everything written about them: what a reassignment may hide or show."""
    ids = list(worker_ids)
    keys: list[tuple[str, uuid.UUID]] = [("worker", w) for w in ids]
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        note_ids = list(session.scalars(select(Note.id).where(Note.worker_id.in_(chunk))))
        keys += [("note", n) for n in note_ids]
        keys += [
            ("heads_up", h)
            for h in session.scalars(select(HeadsUp.id).where(HeadsUp.worker_id.in_(chunk)))
        ]
        for j in range(0, len(note_ids), 500):
            keys += [
                ("follow_up", f)
                for f in session.scalars(
                    select(FollowUp.id).where(FollowUp.note_id.in_(note_ids[j : j + 500]))
                )
            ]
    return keys
