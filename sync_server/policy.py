"""The access policy: every "may this user see or do this?" in Relais is answered here.

Pull, the live stream, exports, pokes and every endpoint ask this module; none decides on
its own. A `Viewer` is what the server knows about the caller (from the token, never from
the request). Visibility rules (docs/design.md, "Roles and what they can see"), one `Rule`
per entity type (`RULES`):

- supervisor: the workers, teams and heads-ups of their own teams; the notes they wrote.
  Never another team's notes, never follow-ups.
- counsellor: every note, follow-up and heads-up about the workers assigned to them and to
  the counsellors they currently stand in for.
- coordinator: everything in their organisation.
- admin: configuration (teams, workers, colleagues), never note content.
Colleagues are seen on need to know: each member sees themselves; supervisors the
co-supervisors of their teams (the team's `supervisor_ids`); counsellors the counsellors
(who may stand in for whom); coordinators and admins everyone. Names on notes, workers and
deliveries come with those entities, so nobody needs the whole staff list.
A retracted note stays visible to its author and the coordinators, and to whoever acted on
it (acknowledged it or wrote a follow-up) among those who would see it otherwise: their own
record of what they did is never erased by someone else. On it they keep only their own
follow-ups.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, true
from sqlalchemy.orm import Session

from shared_models.vocabulary import EntityType, NoteStatus, Role, within_retract_window
from sync_server.notes.models import FollowUp, HeadsUp, Note
from sync_server.orgs.models import Organization, Team, TeamSupervisor, User, Worker
from sync_server.routing.models import Delivery


@dataclass(frozen=True)
class Viewer:
    user_id: uuid.UUID
    org_id: uuid.UUID
    roles: frozenset[str]
    supervised_team_ids: frozenset[uuid.UUID] = frozenset()
    # Workers assigned to this user, plus those of the counsellors they stand in for now.
    counselled_worker_ids: frozenset[uuid.UUID] = frozenset()

    @property
    def is_coordinator(self) -> bool:
        return Role.COORDINATOR in self.roles

    @property
    def is_admin(self) -> bool:
        return Role.ADMIN in self.roles

    @property
    def is_supervisor(self) -> bool:
        return Role.SUPERVISOR in self.roles

    @property
    def is_counsellor(self) -> bool:
        return Role.COUNSELLOR in self.roles


@dataclass
class Facts:
    """What a visibility check needs to know besides the entity itself."""

    worker_team: Mapping[uuid.UUID, uuid.UUID] = field(default_factory=dict)
    notes: Mapping[uuid.UUID, Note] = field(default_factory=dict)
    # Retracted note id -> who acted on it (see `load_acted`).
    acted: Mapping[uuid.UUID, Collection[uuid.UUID]] = field(default_factory=dict)
    # Colleague id -> the teams they supervise (who shares a team with them).
    teams_supervised: Mapping[uuid.UUID, Collection[uuid.UUID]] = field(default_factory=dict)


# --- building viewers -------------------------------------------------------------------


def _covering(users: Iterable[User], at: datetime) -> dict[uuid.UUID, set[uuid.UUID]]:
    """stand-in id -> ids of the counsellors they currently cover."""
    covered: dict[uuid.UUID, set[uuid.UUID]] = {}
    for u in users:
        if u.stand_in_id and not u.disabled and u.is_away(at):
            covered.setdefault(u.stand_in_id, set()).add(u.id)
    return covered


def load_viewer(session: Session, user: User, at: datetime) -> Viewer:
    """The caller's viewer, in a handful of indexed queries."""
    team_ids: frozenset[uuid.UUID] = frozenset(
        session.scalars(select(TeamSupervisor.team_id).where(TeamSupervisor.user_id == user.id))
    )
    covered_users = session.scalars(
        select(User).where(User.stand_in_id == user.id, User.away.is_(True))
    ).all()
    counsellor_ids = {user.id} | _covering(covered_users, at).get(user.id, set())
    worker_ids = frozenset(
        session.scalars(select(Worker.id).where(Worker.counsellor_id.in_(counsellor_ids)))
    )
    return Viewer(
        user_id=user.id,
        org_id=user.org_id,
        roles=user.role_names,
        supervised_team_ids=team_ids,
        counselled_worker_ids=worker_ids,
    )


def load_org_viewers(
    session: Session,
    org_id: uuid.UUID,
    at: datetime,
    workers: Collection[uuid.UUID] | None = None,
    users: Collection[uuid.UUID] | None = None,
) -> list[Viewer]:
    """Every enabled member's viewer, in three queries (for audiences and pokes).

    With `workers`, each viewer's counselled workers are limited to those: enough to
    answer for entities about them, without reading the whole roster. With `users`, only
    those members' viewers (they must include the away counsellors a stand-in covers).
    """
    if workers is not None and len(workers) > 5000:
        workers = None  # as cheap to read them all, and no giant IN list
    only = User.id.in_(list(users)) if users is not None else true()
    members = session.scalars(
        select(User).where(User.org_id == org_id, User.disabled.is_(False), only)
    ).all()
    teams: dict[uuid.UUID, set[uuid.UUID]] = {}
    for team_id, user_id in session.execute(
        select(TeamSupervisor.team_id, TeamSupervisor.user_id)
        .join(Team, Team.id == TeamSupervisor.team_id)
        .where(
            Team.org_id == org_id,
            TeamSupervisor.user_id.in_(list(users)) if users is not None else true(),
        )
    ):
        teams.setdefault(user_id, set()).add(team_id)
    by_counsellor: dict[uuid.UUID, set[uuid.UUID]] = {}
    for worker_id, counsellor_id in session.execute(
        select(Worker.id, Worker.counsellor_id).where(
            Worker.org_id == org_id,
            Worker.counsellor_id.is_not(None),
            Worker.id.in_(list(workers)) if workers is not None else true(),
        )
    ):
        if counsellor_id is not None:
            by_counsellor.setdefault(counsellor_id, set()).add(worker_id)
    covered = _covering(members, at)
    viewers = []
    for u in members:
        counsellor_ids = {u.id} | covered.get(u.id, set())
        counselled: set[uuid.UUID] = set()
        for c in counsellor_ids:
            counselled |= by_counsellor.get(c, set())
        viewers.append(
            Viewer(
                user_id=u.id,
                org_id=org_id,
                roles=u.role_names,
                supervised_team_ids=frozenset(teams.get(u.id, set())),
                counselled_worker_ids=frozenset(counselled),
            )
        )
    return viewers


def load_acted(session: Session, notes: Iterable[Note]) -> dict[uuid.UUID, frozenset[uuid.UUID]]:
    """Who acted on each retracted note: acknowledged a delivery of it or wrote a follow-up.

    Neither is possible after the retraction, so this no longer changes once it matters.
    """
    ids = [n.id for n in notes if n.status == NoteStatus.RETRACTED]
    acted: dict[uuid.UUID, set[uuid.UUID]] = {}
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        acknowledged = select(Delivery.note_id, Delivery.recipient_id).where(
            Delivery.note_id.in_(chunk), Delivery.acknowledged_at.is_not(None)
        )
        followed_up = select(FollowUp.note_id, FollowUp.author_id).where(
            FollowUp.note_id.in_(chunk)
        )
        for query in (acknowledged, followed_up):
            for note_id, user_id in session.execute(query):
                acted.setdefault(note_id, set()).add(user_id)
    return {note_id: frozenset(users) for note_id, users in acted.items()}


# --- what a viewer may see --------------------------------------------------------------


def can_see_note(v: Viewer, note: Note, acted: Collection[uuid.UUID] = ()) -> bool:
    """`acted`: for a retracted note, who acknowledged it or followed it up."""
    if note.org_id != v.org_id:
        return False
    if note.author_id == v.user_id or v.is_coordinator:
        return True
    counselled = note.worker_id is not None and note.worker_id in v.counselled_worker_ids
    if note.status == NoteStatus.RETRACTED:
        return counselled and v.user_id in acted
    return counselled


def can_read_deliveries(v: Viewer, note: Note, recipient_ids: Iterable[uuid.UUID]) -> bool:
    """Who knew what and when: for the note's author, its recipients and coordinators."""
    if note.org_id != v.org_id:
        return False
    return note.author_id == v.user_id or v.is_coordinator or v.user_id in set(recipient_ids)


def can_see_follow_up(
    v: Viewer, follow_up: FollowUp, note: Note, acted: Collection[uuid.UUID] = ()
) -> bool:
    """The counsellor side only: never the supervisors, who see the note's status instead.
    A follow-up goes wherever its note goes (never without it); on a retracted note, only
    to its own author."""
    if note.org_id != v.org_id:
        return False
    if v.is_coordinator:
        return True
    if not can_see_note(v, note, acted):
        return False
    if follow_up.author_id == v.user_id:
        return True
    return (
        note.status != NoteStatus.RETRACTED
        and note.worker_id is not None
        and note.worker_id in v.counselled_worker_ids
    )


def can_see_heads_up(v: Viewer, heads_up: HeadsUp, worker_team_id: uuid.UUID | None) -> bool:
    if heads_up.org_id != v.org_id:
        return False
    return (
        v.is_coordinator
        or heads_up.author_id == v.user_id
        or heads_up.worker_id in v.counselled_worker_ids
        or (worker_team_id is not None and worker_team_id in v.supervised_team_ids)
    )


def can_see_worker(v: Viewer, worker: Worker) -> bool:
    if worker.org_id != v.org_id:
        return False
    return (
        v.is_coordinator
        or v.is_admin
        or worker.id in v.counselled_worker_ids
        or worker.team_id in v.supervised_team_ids
    )


def can_see_team(v: Viewer, team: Team) -> bool:
    if team.org_id != v.org_id:
        return False
    if v.is_coordinator or v.is_admin or v.is_counsellor:
        return True
    return team.id in v.supervised_team_ids


def can_see_colleague(v: Viewer, user: User, teams: Collection[uuid.UUID] = ()) -> bool:
    """Need to know (see the module's docstring); `teams`: those `user` supervises."""
    if user.org_id != v.org_id or user.disabled:
        return False
    if user.id == v.user_id or v.is_coordinator or v.is_admin:
        return True
    if v.is_counsellor and user.has_role(Role.COUNSELLOR):
        return True
    return not v.supervised_team_ids.isdisjoint(teams)


def _sees_note(v: Viewer, note: Note, facts: Facts) -> bool:
    return can_see_note(v, note, facts.acted.get(note.id, ()))


def _sees_follow_up(v: Viewer, follow_up: FollowUp, facts: Facts) -> bool:
    note = facts.notes.get(follow_up.note_id)
    return note is not None and can_see_follow_up(v, follow_up, note, facts.acted.get(note.id, ()))


def _sees_heads_up(v: Viewer, heads_up: HeadsUp, facts: Facts) -> bool:
    return can_see_heads_up(v, heads_up, facts.worker_team.get(heads_up.worker_id))


def _sees_colleague(v: Viewer, user: User, facts: Facts) -> bool:
    return can_see_colleague(v, user, facts.teams_supervised.get(user.id, ()))


def _sees_organization(v: Viewer, org: Organization, _facts: Facts) -> bool:
    return org.id == v.org_id


def can_see(v: Viewer, entity: EntityType | str, obj: Any, facts: Facts) -> bool:
    """The single entry point for pull, pokes and audiences: the entity type's `Rule`."""
    rule = RULES.get(entity)  # a string that names no entity type: nobody
    return rule is not None and rule.sees(v, obj, facts)


def audience(
    viewers: Iterable[Viewer], entity: EntityType | str, obj: object, facts: Facts
) -> set[uuid.UUID]:
    """The ids of the users who may see `obj`: the rules above, asked of each viewer.

    `AudienceIndex` answers the same question without asking everyone; this is its
    reference (the tests hold them equal).
    """
    return {v.user_id for v in viewers if can_see(v, entity, obj, facts)}


class AudienceIndex:
    """The same rules read backwards, for many entities of one organisation at once.

    Asking every member about every change costs changes × members; this index answers
    from who counsels a worker and who supervises a team.
    """

    def __init__(self, viewers: Iterable[Viewer]) -> None:
        self.viewers = list(viewers)
        self.everyone = {v.user_id for v in self.viewers}
        self.coordinators = {v.user_id for v in self.viewers if v.is_coordinator}
        self.admins = {v.user_id for v in self.viewers if v.is_admin}
        self.counsellors = {v.user_id for v in self.viewers if v.is_counsellor}
        self._counselling: dict[uuid.UUID, set[uuid.UUID]] = {}
        self._supervising: dict[uuid.UUID, set[uuid.UUID]] = {}
        for v in self.viewers:
            for worker_id in v.counselled_worker_ids:
                self._counselling.setdefault(worker_id, set()).add(v.user_id)
            for team_id in v.supervised_team_ids:
                self._supervising.setdefault(team_id, set()).add(v.user_id)

    def counselling(self, worker_id: uuid.UUID | None) -> set[uuid.UUID]:
        return self._counselling.get(worker_id, set()) if worker_id else set()

    def supervising(self, team_id: uuid.UUID | None) -> set[uuid.UUID]:
        return self._supervising.get(team_id, set()) if team_id else set()

    def of(self, entity: EntityType | str, obj: Any, facts: Facts) -> set[uuid.UUID]:
        rule = RULES.get(entity)  # a string that names no entity type: nobody
        return set() if rule is None else rule.audience(self, obj, facts)

    def note(self, note: Note, facts: Facts) -> set[uuid.UUID]:
        users = self.coordinators | ({note.author_id} & self.everyone)
        counselling = self.counselling(note.worker_id)
        if note.status == NoteStatus.RETRACTED:
            counselling = counselling & set(facts.acted.get(note.id, ()))
        return users | counselling

    def follow_up(self, follow_up: FollowUp, facts: Facts) -> set[uuid.UUID]:
        note = facts.notes.get(follow_up.note_id)
        if note is None:
            return set()
        counsellor_side = {follow_up.author_id} & self.everyone
        if note.status != NoteStatus.RETRACTED:
            counsellor_side |= self.counselling(note.worker_id)
        return self.coordinators | (counsellor_side & self.note(note, facts))

    def heads_up(self, heads_up: HeadsUp, facts: Facts) -> set[uuid.UUID]:
        return (
            self.coordinators
            | ({heads_up.author_id} & self.everyone)
            | self.counselling(heads_up.worker_id)
            | self.supervising(facts.worker_team.get(heads_up.worker_id))
        )

    def worker(self, worker: Worker, _facts: Facts) -> set[uuid.UUID]:
        return (
            self.coordinators
            | self.admins
            | self.counselling(worker.id)
            | self.supervising(worker.team_id)
        )

    def team(self, team: Team, _facts: Facts) -> set[uuid.UUID]:
        return self.coordinators | self.admins | self.counsellors | self.supervising(team.id)

    def colleague(self, user: User, facts: Facts) -> set[uuid.UUID]:
        if user.disabled:
            return set()
        users = self.coordinators | self.admins | ({user.id} & self.everyone)
        if user.has_role(Role.COUNSELLOR):
            users |= self.counsellors
        for team_id in facts.teams_supervised.get(user.id, ()):
            users |= self.supervising(team_id)
        return users

    def organization(self, _org: Organization, _facts: Facts) -> set[uuid.UUID]:
        return set(self.everyone)


# --- the pull index: who might see a change, by key ------------------------------------

# Keys shared by many viewers (with user, worker and team ids, the other keys of the index).
EVERYONE = uuid.UUID("5e1a1500-0000-4000-8000-000000000001")
COUNSELLORS = uuid.UUID("5e1a1500-0000-4000-8000-000000000002")
ADMINS = uuid.UUID("5e1a1500-0000-4000-8000-000000000003")


# The fields of a note its rule reads (`can_see_note`, `AudienceIndex.note`, `_note_keys`,
# `load_acted`): a row of just these stands for the note in the change log
# (`record_change(row=...)`, which the escalation sweep uses).
NOTE_FIELDS = ("id", "org_id", "author_id", "worker_id", "status")


def _note_keys(note: Note, _facts: Facts) -> set[uuid.UUID]:
    return {note.author_id} | ({note.worker_id} if note.worker_id else set())


def _follow_up_keys(follow_up: FollowUp, facts: Facts) -> set[uuid.UUID]:
    note = facts.notes.get(follow_up.note_id)
    worker_id = note.worker_id if note is not None else None
    return {follow_up.author_id} | ({worker_id} if worker_id else set())


def _heads_up_keys(heads_up: HeadsUp, facts: Facts) -> set[uuid.UUID]:
    team_id = facts.worker_team.get(heads_up.worker_id)
    return {heads_up.author_id, heads_up.worker_id} | ({team_id} if team_id else set())


def _colleague_keys(user: User, facts: Facts) -> set[uuid.UUID]:
    counsellor = {COUNSELLORS} if user.has_role(Role.COUNSELLOR) else set()
    return {user.id, ADMINS} | counsellor | set(facts.teams_supervised.get(user.id, ()))


def index_keys(entity: str, obj: Any, facts: Facts) -> set[uuid.UUID]:
    """Keys under which a change to `obj` is indexed for pull: whoever may see it (other
    than a coordinator, who reads the whole log) holds one of them in `viewer_keys`.

    Keys name what the entity is about (its worker, team, author), not who sees it now:
    a reassignment or a stand-in changes the viewers' keys, not the index. A colleague's
    keys follow their roles and teams: changing those logs the colleague again
    (`orgs.service.change_roles`, `orgs.service.set_team_supervisors`).
    """
    rule = RULES.get(entity)  # a string that names no entity type: no key
    return set() if rule is None else rule.keys(obj, facts)


@dataclass(frozen=True)
class Rule:
    """Who may see one entity type: asked of one viewer (`sees`), read backwards for all
    the members at once (`audience`, on an `AudienceIndex`), and the keys pull's index
    files its changes under (`keys`, read with `viewer_keys`)."""

    sees: Callable[[Viewer, Any, Facts], bool]
    audience: Callable[[AudienceIndex, Any, Facts], set[uuid.UUID]]
    # Where pull's index files a change to it (`index_keys`).
    keys: Callable[[Any, Facts], set[uuid.UUID]]


# Keyed by `EntityType`; looked up with the change log's plain strings too.
RULES: dict[str, Rule] = {
    EntityType.NOTE: Rule(_sees_note, AudienceIndex.note, _note_keys),
    EntityType.FOLLOW_UP: Rule(_sees_follow_up, AudienceIndex.follow_up, _follow_up_keys),
    EntityType.HEADS_UP: Rule(_sees_heads_up, AudienceIndex.heads_up, _heads_up_keys),
    EntityType.WORKER: Rule(
        lambda v, w, _f: can_see_worker(v, w),
        AudienceIndex.worker,
        lambda w, _f: {ADMINS, w.id, w.team_id},
    ),
    EntityType.TEAM: Rule(
        lambda v, t, _f: can_see_team(v, t),
        AudienceIndex.team,
        lambda t, _f: {ADMINS, COUNSELLORS, t.id},
    ),
    EntityType.COLLEAGUE: Rule(_sees_colleague, AudienceIndex.colleague, _colleague_keys),
    EntityType.ORGANIZATION: Rule(
        _sees_organization, AudienceIndex.organization, lambda _o, _f: {EVERYONE}
    ),
}
assert RULES.keys() == set(EntityType)


def viewer_keys(v: Viewer) -> frozenset[uuid.UUID] | None:
    """The index keys this viewer reads; None for a coordinator, who may see every entity."""
    if v.is_coordinator:
        return None
    keys = {v.user_id, EVERYONE} | v.supervised_team_ids | v.counselled_worker_ids
    if v.is_admin:
        keys.add(ADMINS)
    if v.is_counsellor:
        keys.add(COUNSELLORS)
    return frozenset(keys)


# --- what a viewer may do ---------------------------------------------------------------


def may_write_note(v: Viewer, worker: Worker | None, team_id: uuid.UUID) -> bool:
    """Supervisors write about their own teams, counsellors about their workers."""
    if worker is not None and (worker.org_id != v.org_id or worker.team_id != team_id):
        return False
    if v.is_coordinator:
        return True
    if v.is_supervisor and team_id in v.supervised_team_ids:
        return True
    return v.is_counsellor and worker is not None and worker.id in v.counselled_worker_ids


def may_retract(v: Viewer, note: Note, now: datetime) -> bool:
    """The author, within the window from when the note reached the server, by the server's
    clock `now`: no time a client sends widens it."""
    return note.author_id == v.user_id and within_retract_window(note.received_at, now)


def may_acknowledge(v: Viewer, recipient_ids: Iterable[uuid.UUID]) -> bool:
    """Only a recipient acknowledges: that is what the deadline and escalation are about."""
    return v.user_id in set(recipient_ids)


def may_follow_up(v: Viewer, note: Note) -> bool:
    if note.org_id != v.org_id:
        return False
    if v.is_coordinator:
        return True
    return (
        v.is_counsellor and note.worker_id is not None and note.worker_id in v.counselled_worker_ids
    )


def may_send_heads_up(v: Viewer, worker: Worker) -> bool:
    if worker.org_id != v.org_id:
        return False
    return v.is_coordinator or (v.is_counsellor and worker.id in v.counselled_worker_ids)


def may_end_heads_up(v: Viewer, heads_up: HeadsUp) -> bool:
    """Only its author ends a heads-up early (who may see it is asked first)."""
    return heads_up.author_id == v.user_id


def knows_of(v: Viewer, user: User) -> bool:
    """Whether an answer may show that this user exists: never across organisations, where
    a user must look exactly like an unknown id."""
    return user.org_id == v.org_id


def may_set_availability(v: Viewer, stand_in: User | None) -> bool:
    if not v.is_counsellor:
        return False
    if stand_in is None:
        return True
    return (
        stand_in.org_id == v.org_id
        and stand_in.id != v.user_id
        and not stand_in.disabled
        and stand_in.has_role(Role.COUNSELLOR)
    )


def may_administer(v: Viewer, org_id: uuid.UUID) -> bool:
    """Accounts, devices and the roster of an organisation: its admins (who read no notes)."""
    return v.is_admin and org_id == v.org_id


def may_review_organisation(v: Viewer) -> bool:
    """Figures, exports and the meeting brief: coordinators."""
    return v.is_coordinator


def may_read_every_sensitive_note(v: Viewer) -> bool:
    """Coordinators see every note of their organisation, sensitive categories included."""
    return v.is_coordinator


def may_export_brief(v: Viewer, org_id: uuid.UUID, *, include_sensitive: bool) -> bool:
    """The meeting brief of a team or worker of `org_id`: coordinators of that organisation.

    The text of sensitive notes goes in only when asked for, by someone who may read every
    sensitive note the brief could hold.
    """
    if org_id != v.org_id or not may_review_organisation(v):
        return False
    return not include_sensitive or may_read_every_sensitive_note(v)


def may_export_subject_access(v: Viewer, worker: Worker) -> bool:
    """Everything held about one worker (GDPR art. 15), sensitive text included."""
    return (
        worker.org_id == v.org_id
        and may_review_organisation(v)
        and may_read_every_sensitive_note(v)
    )
