"""Entities as pull sends them: loaded in batches, checked by the policy, shaped per viewer.

Each entity type has one `EntitySpec` (`SPECS`): pull, the change log's audiences and the
policy's index look the type up there, never in an `if` chain of their own.
"""

from __future__ import annotations

import operator
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared_models.entities import (
    ENTITY_MODELS,
    ColleagueData,
    DeliveryData,
    FollowUpData,
    HeadsUpData,
    NoteData,
    OrganizationData,
    TeamData,
    WorkerData,
)
from shared_models.vocabulary import EntityType, Severity
from sync_server import policy
from sync_server.database import utcnow
from sync_server.notes.models import FollowUp, HeadsUp, Note
from sync_server.orgs.models import Organization, Team, TeamSupervisor, User, Worker
from sync_server.routing.models import Delivery, responsible
from sync_server.sync.pending import record_change


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

    def of_type(self, entity: EntityType) -> list[Any]:
        return [obj for (e, _), obj in self.objects.items() if e == entity]


@dataclass(frozen=True)
class EntitySpec:
    """Everything the server knows about one entity type, in one place: its table, its
    wire schema, whose organisation a row is in, what it is about, how pull shapes it
    for a viewer (and what it loads for that), and who may see it (`policy.RULES`)."""

    entity: EntityType
    model: type[Any]
    wire: type[BaseModel]
    shape: Callable[[policy.Viewer, Any, Loaded], BaseModel]
    # What shaping a batch of these needs besides the rows (deliveries, supervisors...).
    prepare: Callable[[Session, list[Any], Loaded], None] | None = None
    # The worker a row is about, if any: whose counsellors may see it.
    worker_of: Callable[[Any], uuid.UUID | None] | None = None
    org_of: Callable[[Any], uuid.UUID] = operator.attrgetter("org_id")

    @property
    def rule(self) -> policy.Rule:
        return policy.RULES[self.entity]


def load(
    session: Session,
    org_id: uuid.UUID,
    keys: Iterable[tuple[str, uuid.UUID]],
    *,
    for_shaping: bool = True,
    known: Mapping[tuple[str, uuid.UUID], Any] | None = None,
) -> Loaded:
    """Load the entities behind change-log keys in one query per entity type.

    `for_shaping=False` loads only what the policy needs (audiences), not what pull sends;
    then `known` may hold some of them already read, as rows with the fields their policy
    rule reads (`record_change(row=...)`), which are not loaded again.
    """
    known = known or {}
    wanted: dict[EntitySpec, set[uuid.UUID]] = {}
    out = Loaded()
    for entity, entity_id in keys:
        row = known.get((entity, entity_id))
        if row is not None:
            if SPECS[entity].org_of(row) == org_id:
                out.objects[(entity, entity_id)] = row
        elif entity in SPECS:
            wanted.setdefault(SPECS[entity], set()).add(entity_id)
    for spec, ids in wanted.items():
        for obj in _in_chunks(session, spec.model, ids):
            if spec.org_of(obj) == org_id:
                out.objects[(spec.entity, obj.id)] = obj
    out.facts = _facts(session, out)
    if for_shaping:
        for spec in wanted:
            if spec.prepare is not None:
                spec.prepare(session, out.of_type(spec.entity), out)
        out.names = dict(_pairs(session, User.id, User.display_name, User.id, _named_users(out)))
    return out


def _facts(session: Session, loaded: Loaded) -> policy.Facts:
    """What the policy needs besides the rows: the notes of follow-ups, who acted on
    retracted notes, the teams of the workers heads-ups are about, the teams colleagues
    supervise."""
    notes = {n.id: n for n in loaded.of_type(EntityType.NOTE)}
    missing_notes = {f.note_id for f in loaded.of_type(EntityType.FOLLOW_UP)} - notes.keys()
    notes.update({n.id: n for n in _in_chunks(session, Note, missing_notes)})
    worker_ids = {h.worker_id for h in loaded.of_type(EntityType.HEADS_UP)}
    worker_team = dict(_pairs(session, Worker.id, Worker.team_id, Worker.id, worker_ids))
    teams_supervised: dict[uuid.UUID, set[uuid.UUID]] = {}
    colleague_ids = [u.id for u in loaded.of_type(EntityType.COLLEAGUE)]
    for user_id, team_id in _pairs(
        session,
        TeamSupervisor.user_id,
        TeamSupervisor.team_id,
        TeamSupervisor.user_id,
        colleague_ids,
    ):
        teams_supervised.setdefault(user_id, set()).add(team_id)
    return policy.Facts(
        worker_team=worker_team,
        notes=notes,
        acted=policy.load_acted(session, notes.values()),
        teams_supervised=teams_supervised,
    )


def _prepare_notes(session: Session, notes: list[Note], out: Loaded) -> None:
    """Their deliveries, and for alert fatigue the size and lead note of each alert."""
    for d in _in_chunks(session, Delivery, [n.id for n in notes], column=Delivery.note_id):
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


def _prepare_teams(session: Session, teams: list[Team], out: Loaded) -> None:
    for team_id, user_id in _pairs(
        session,
        TeamSupervisor.team_id,
        TeamSupervisor.user_id,
        TeamSupervisor.team_id,
        [t.id for t in teams],
    ):
        out.supervisors_of_team.setdefault(team_id, []).append(user_id)


def _prepare_workers(session: Session, workers: list[Worker], out: Loaded) -> None:
    out.recipients = _recipients(session, workers, utcnow())


def _named_users(loaded: Loaded) -> set[uuid.UUID]:
    """The users whose names `shape` shows for these entities (not the whole organisation)."""
    ids: set[uuid.UUID | None] = set(loaded.recipients.values())
    for (entity, _), obj in loaded.objects.items():
        if entity in (EntityType.NOTE, EntityType.FOLLOW_UP, EntityType.HEADS_UP):
            ids.add(obj.author_id)
        elif entity == EntityType.WORKER:
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
    data: dict[str, Any] = SPECS[entity].shape(viewer, obj, loaded).model_dump(mode="json")
    return data


def _note(viewer: policy.Viewer, note: Note, loaded: Loaded) -> NoteData:
    deliveries = loaded.deliveries.get(note.id, [])
    shown = policy.can_read_deliveries(viewer, note, (d.recipient_id for d in deliveries))
    return NoteData(
        id=note.id,
        author_id=note.author_id,
        author_name=loaded.names.get(note.author_id),
        worker_id=note.worker_id,
        team_id=note.team_id,
        kind=note.kind,
        category=note.category,
        severity=note.severity,
        text=note.text,
        captured_at=note.captured_at,
        received_at=note.received_at,
        status=note.status,
        retracted_at=note.retracted_at,
        deliveries=[_delivery(viewer, d, loaded) for d in deliveries] if shown else None,
    )


def _follow_up(_viewer: policy.Viewer, follow_up: FollowUp, loaded: Loaded) -> FollowUpData:
    return FollowUpData(
        id=follow_up.id,
        note_id=follow_up.note_id,
        action=follow_up.action,
        text=follow_up.text,
        close=follow_up.close,
        author_id=follow_up.author_id,
        author_name=loaded.names.get(follow_up.author_id),
        created_at=follow_up.created_at,
    )


def _heads_up(_viewer: policy.Viewer, heads_up: HeadsUp, loaded: Loaded) -> HeadsUpData:
    return HeadsUpData(
        id=heads_up.id,
        worker_id=heads_up.worker_id,
        text=heads_up.text,
        valid_until=heads_up.valid_until,
        author_id=heads_up.author_id,
        author_name=loaded.names.get(heads_up.author_id),
        created_at=heads_up.created_at,
    )


def _worker(_viewer: policy.Viewer, worker: Worker, loaded: Loaded) -> WorkerData:
    names = loaded.names
    recipient = loaded.recipients.get(worker.id)
    return WorkerData(
        id=worker.id,
        ref=worker.ref,
        display_name=worker.display_name,
        team_id=worker.team_id,
        counsellor_id=worker.counsellor_id,
        counsellor_name=names.get(worker.counsellor_id) if worker.counsellor_id else None,
        active=worker.active,
        recipient_id=recipient,
        recipient_name=names.get(recipient) if recipient else None,
    )


def _team(_viewer: policy.Viewer, team: Team, loaded: Loaded) -> TeamData:
    return TeamData(
        id=team.id,
        name=team.name,
        site=team.site,
        supervisor_ids=sorted(loaded.supervisors_of_team.get(team.id, []), key=str),
    )


def _organization(_viewer: policy.Viewer, org: Organization, _loaded: Loaded) -> OrganizationData:
    return OrganizationData(
        id=org.id,
        name=org.name,
        country=org.country,
        language=org.language,
        deadlines={
            Severity.URGENT: org.deadline_urgent,
            Severity.ATTENTION: org.deadline_attention,
            Severity.INFO: org.deadline_info,
        },
    )


def _colleague(_viewer: policy.Viewer, user: User, _loaded: Loaded) -> ColleagueData:
    return ColleagueData(
        id=user.id,
        display_name=user.display_name,
        roles=sorted(user.role_names),
        away=user.is_away(utcnow()),
        stand_in_id=user.stand_in_id,
        away_until=user.away_until,
    )


_SPECS = (
    EntitySpec(
        EntityType.NOTE,
        Note,
        NoteData,
        _note,
        prepare=_prepare_notes,
        worker_of=operator.attrgetter("worker_id"),
    ),
    EntitySpec(EntityType.FOLLOW_UP, FollowUp, FollowUpData, _follow_up),
    EntitySpec(
        EntityType.HEADS_UP,
        HeadsUp,
        HeadsUpData,
        _heads_up,
        worker_of=operator.attrgetter("worker_id"),
    ),
    EntitySpec(
        EntityType.WORKER,
        Worker,
        WorkerData,
        _worker,
        prepare=_prepare_workers,
        worker_of=operator.attrgetter("id"),
    ),
    EntitySpec(EntityType.TEAM, Team, TeamData, _team, prepare=_prepare_teams),
    EntitySpec(EntityType.COLLEAGUE, User, ColleagueData, _colleague),
    EntitySpec(
        EntityType.ORGANIZATION,
        Organization,
        OrganizationData,
        _organization,
        org_of=operator.attrgetter("id"),
    ),
)
# One per entity type, keyed by `EntityType` (the change log's plain strings find them too).
SPECS: dict[str, EntitySpec] = {spec.entity: spec for spec in _SPECS}
assert SPECS.keys() == set(EntityType) == set(ENTITY_MODELS)
assert all(spec.wire is ENTITY_MODELS[spec.entity] for spec in _SPECS)


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
        worker_of = SPECS[entity].worker_of
        worker_id = worker_of(obj) if worker_of is not None else None
        if worker_id:
            workers.add(worker_id)
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
    keys: list[tuple[str, uuid.UUID]] = [(EntityType.WORKER, w) for w in ids]
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        note_ids = list(session.scalars(select(Note.id).where(Note.worker_id.in_(chunk))))
        keys += [(EntityType.NOTE, n) for n in note_ids]
        keys += [
            (EntityType.HEADS_UP, h)
            for h in session.scalars(select(HeadsUp.id).where(HeadsUp.worker_id.in_(chunk)))
        ]
        for j in range(0, len(note_ids), 500):
            keys += [
                (EntityType.FOLLOW_UP, f)
                for f in session.scalars(
                    select(FollowUp.id).where(FollowUp.note_id.in_(note_ids[j : j + 500]))
                )
            ]
    return keys
