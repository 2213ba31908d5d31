"""Changes to the organisation that move visibility: availability, assignments, accounts."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from shared_models.vocabulary import MAX_WORKERS_PER_SUPERVISOR_FR, EntityType, Role
from sync_server.auth.models import Device
from sync_server.auth.passwords import hash_password
from sync_server.database import utcnow
from sync_server.errors import Conflict
from sync_server.orgs.models import (
    AccountSource,
    Organization,
    Team,
    TeamSupervisor,
    User,
    UserRole,
    Worker,
    WorkerSource,
)
from sync_server.sync.changelog import record_change
from sync_server.sync.entities import VisibilityChange, keys_about_workers


def org_by_slug(session: Session, slug: str) -> Organization | None:
    return session.scalar(select(Organization).where(Organization.slug == slug))


def _about_counsellor(session: Session, user: User) -> list[tuple[str, uuid.UUID]]:
    """The user as a colleague, and everything about the workers they counsel."""
    counselled = list(session.scalars(select(Worker.id).where(Worker.counsellor_id == user.id)))
    return [*keys_about_workers(session, counselled), (EntityType.COLLEAGUE, user.id)]


def _workers_routed_to(session: Session, user: User, *, own: bool) -> list[uuid.UUID]:
    """Workers whose notes go to `user`: those of the away counsellors they stand in for,
    and (`own`) their own. Their `recipient` changes when `user` is disabled or enabled."""
    covered = select(User.id).where(User.stand_in_id == user.id, User.away.is_(True))
    routed: ColumnElement[bool] = Worker.counsellor_id.in_(covered)
    if own:
        routed = or_(routed, Worker.counsellor_id == user.id)
    return list(session.scalars(select(Worker.id).where(routed)))


def set_availability(
    session: Session,
    user: User,
    *,
    away: bool,
    stand_in: User | None,
    until: datetime | None,
    as_of: datetime | None = None,
) -> None:
    """Go away (new deliveries to the stand-in) or come back; the stand-in's view follows.

    `as_of`: when the current availability was last in force, if it already ran out.
    """
    change = VisibilityChange(session, user.org_id, _about_counsellor(session, user), as_of)
    user.away = away
    user.stand_in_id = stand_in.id if stand_in else None
    user.away_until = until if away else None
    change.record()


def end_expired_absences(session: Session, now: datetime) -> int:
    """Absences whose `until` passed end here, so that stand-ins stop seeing the notes."""
    expired = session.scalars(
        select(User).where(
            User.away.is_(True), User.away_until.is_not(None), User.away_until <= now
        )
    ).all()
    for user in expired:
        last_moment = (user.away_until or now) - timedelta(microseconds=1)
        set_availability(session, user, away=False, stand_in=None, until=None, as_of=last_moment)
    return len(expired)


@dataclass(frozen=True)
class Assignment:
    worker: Worker
    team_id: uuid.UUID
    counsellor_id: uuid.UUID | None


def reassign(session: Session, org_id: uuid.UUID, moves: Iterable[Assignment]) -> int:
    """Move workers between teams or counsellors: the old side is told to drop what it saw."""
    moves = [
        mv
        for mv in moves
        if mv.worker.team_id != mv.team_id or mv.worker.counsellor_id != mv.counsellor_id
    ]
    if not moves:
        return 0
    change = VisibilityChange(
        session, org_id, keys_about_workers(session, (mv.worker.id for mv in moves))
    )
    for mv in moves:
        mv.worker.team_id = mv.team_id
        mv.worker.counsellor_id = mv.counsellor_id
    change.record()
    return len(moves)


def bump_sync_epoch(user: User) -> None:
    """What the user may see changed wholesale (roles, teams): their devices start over."""
    user.sync_epoch = (user.sync_epoch or 0) + 1


def set_roles(user: User, roles: Iterable[str]) -> bool:
    wanted = set(roles)
    if wanted == user.role_names:
        return False
    user.roles = [UserRole(user_id=user.id, role=r) for r in sorted(wanted)]
    bump_sync_epoch(user)
    return True


def change_roles(session: Session, user: User, roles: Iterable[str]) -> bool:
    """`set_roles` for an existing account: roles also decide who sees them (counsellors see
    the counsellors), so they are logged as a colleague, with `remove` for who lost sight."""
    wanted = set(roles)
    if wanted == user.role_names:
        return False
    change = VisibilityChange(session, user.org_id, [(EntityType.COLLEAGUE, user.id)])
    set_roles(user, wanted)
    change.record()
    return True


def set_team_supervisors(
    session: Session, org_id: uuid.UUID, wanted: Mapping[Team, list[User]]
) -> set[uuid.UUID]:
    """Give teams these supervisors; returns the ids of the teams whose supervisors changed.

    Who gains or loses a team sees it change wholesale: their devices start over. Who
    supervises a team also decides who sees whom (co-supervisors): the supervisors of the
    changed teams, before and after, are logged as colleagues, with `remove` for who lost
    sight. One snapshot for every team, however many change.
    """
    changed = {
        team: users
        for team, users in wanted.items()
        if {s.id for s in team.supervisors} != {s.id for s in users}
    }
    if not changed:
        return set()
    colleagues = {u.id for team, users in changed.items() for u in [*team.supervisors, *users]}
    change = VisibilityChange(session, org_id, [(EntityType.COLLEAGUE, u) for u in colleagues])
    for team, users in changed.items():
        for user in set(team.supervisors) ^ set(users):
            bump_sync_epoch(user)
        team.supervisors = users
    change.record()
    return {team.id for team in changed}


def disable_user(session: Session, user: User) -> None:
    """Sign the user out everywhere and hide them from colleagues; their notes stay."""
    if user.disabled:
        return
    # Their stand-in, if any, stops covering them: what it saw through them goes too.
    change = VisibilityChange(session, user.org_id, _about_counsellor(session, user))
    user.disabled = True
    now = utcnow()
    for device in session.scalars(
        select(Device).where(Device.user_id == user.id, Device.revoked_at.is_(None))
    ):
        device.revoked_at = now
    change.record()
    # Their own workers are in `change`; those they covered now go back to their counsellor.
    for worker_id in _workers_routed_to(session, user, own=False):
        record_change(session, user.org_id, EntityType.WORKER, worker_id)


def enable_user(session: Session, user: User) -> None:
    if not user.disabled:
        return
    user.disabled = False
    bump_sync_epoch(user)
    record_change(session, user.org_id, EntityType.COLLEAGUE, user.id)
    for worker_id in _workers_routed_to(session, user, own=True):  # notes go to them again
        record_change(session, user.org_id, EntityType.WORKER, worker_id)


@dataclass(frozen=True)
class Understaffed:
    """A team over the French ACI ratio."""

    team: Team
    workers: int
    supervisors: int


def understaffed_teams(session: Session, org: Organization) -> list[Understaffed]:
    """The French ACI rule: at most 12 active workers per technical supervisor in a team."""
    if org.country != "FR":
        return []
    workers: dict[uuid.UUID, int] = dict(
        session.execute(
            select(Worker.team_id, func.count())
            .where(Worker.org_id == org.id, Worker.active.is_(True))
            .group_by(Worker.team_id)
        ).all()
    )
    supervisors: dict[uuid.UUID, int] = dict(
        session.execute(
            select(TeamSupervisor.team_id, func.count())
            .join(User, User.id == TeamSupervisor.user_id)
            .where(User.disabled.is_(False))
            .group_by(TeamSupervisor.team_id)
        ).all()
    )
    found = []
    for team in session.scalars(select(Team).where(Team.org_id == org.id).order_by(Team.slug)):
        count, sups = workers.get(team.id, 0), supervisors.get(team.id, 0)
        if count > MAX_WORKERS_PER_SUPERVISOR_FR * max(sups, 1) or (count and not sups):
            found.append(Understaffed(team, count, sups))
    return found


def staffing_warnings(session: Session, org: Organization) -> list[str]:
    """`understaffed_teams`, as the command line and provisioning say it."""
    return [
        f"team '{u.team.slug}': {u.workers} workers for {u.supervisors} supervisor(s); "
        f"the ACI rule is at most {MAX_WORKERS_PER_SUPERVISOR_FR} per supervisor"
        for u in understaffed_teams(session, org)
    ]


class LoginTaken(Conflict):
    code = "login_taken"

    def __init__(self, login: str) -> None:
        super().__init__(f"'{login}' is already taken")
        self.login = login


def set_columns(row: object, values: Mapping[str, object]) -> list[str]:
    """Set the values that differ; returns the names of the columns that changed."""
    changed = []
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed.append(name)
    return changed


def create_user(
    session: Session,
    *,
    org: Organization,
    login: str,
    name: str,
    roles: Iterable[str],
    password: str,
    language: str,
    email: str | None = None,
    source: AccountSource = AccountSource.PROVISIONING,
) -> User:
    """A new staff account; colleagues see it from their next pull. Logins are unique."""
    if session.scalar(select(User.id).where(User.login == login)) is not None:
        raise LoginTaken(login)
    user = User(
        id=uuid.uuid4(),
        org_id=org.id,
        login=login,
        display_name=name,
        password_hash=hash_password(password),
        language=language,
        email=email,
        source=source.value,
    )
    session.add(user)
    set_roles(user, roles)
    record_change(session, org.id, EntityType.COLLEAGUE, user.id)
    return user


@dataclass(frozen=True)
class WorkerDetails:
    """What a provisioning file or a roster line says about one worker."""

    ref: str
    name: str
    team_id: uuid.UUID
    counsellor_id: uuid.UUID | None
    contract_type: str | None = None
    contract_start: date | None = None
    contract_end: date | None = None

    def columns(self) -> dict[str, object]:
        """The columns set directly; team and counsellor move through `reassign`."""
        return {
            "display_name": self.name,
            "contract_type": self.contract_type,
            "contract_start": self.contract_start,
            "contract_end": self.contract_end,
            "active": True,
        }


# Changed columns in the words of the files (a provisioning file, a roster).
_WORKER_WORDS = {
    "display_name": "name",
    "contract_type": "contract",
    "contract_start": "contract",
    "contract_end": "contract",
    "active": "active",
}


@dataclass(frozen=True)
class WorkerUpsert:
    """What `upsert_workers` did to one worker."""

    ref: str
    created: bool = False
    # In the files' words: name, contract, team, counsellor; "active" when brought back.
    changed: tuple[str, ...] = ()
    # The other source the worker belonged to, now replaced (None if it was ours or unrecorded).
    taken_from: WorkerSource | None = None


def upsert_workers(
    session: Session,
    *,
    org_id: uuid.UUID,
    wanted: Sequence[WorkerDetails],
    source: WorkerSource,
    progress: Callable[[int], None] = lambda _done: None,
) -> list[WorkerUpsert]:
    """Create or update workers by ref; each then belongs to `source` (the last to list it).

    Moves between teams or counsellors go through `reassign`, once for the whole batch.
    `progress` hears how many are done, every 250 and at the end.
    """
    existing = {w.ref: w for w in session.scalars(select(Worker).where(Worker.org_id == org_id))}
    outcomes: list[WorkerUpsert] = []
    moves: list[Assignment] = []
    for done, details in enumerate(wanted, 1):
        worker = existing.get(details.ref)
        if worker is None:
            worker = Worker(
                id=uuid.uuid4(),
                org_id=org_id,
                ref=details.ref,
                team_id=details.team_id,
                counsellor_id=details.counsellor_id,
                source=source.value,
                **details.columns(),
            )
            session.add(worker)
            existing[details.ref] = worker
            record_change(session, org_id, EntityType.WORKER, worker.id)
            outcomes.append(WorkerUpsert(details.ref, created=True))
        else:
            outcomes.append(_update_worker(session, worker, details, source, moves))
        if done % 250 == 0:
            progress(done)
    progress(len(wanted))
    session.flush()
    reassign(session, org_id, moves)
    return outcomes


def _update_worker(
    session: Session,
    worker: Worker,
    details: WorkerDetails,
    source: WorkerSource,
    moves: list[Assignment],
) -> WorkerUpsert:
    changed = [_WORKER_WORDS[c] for c in set_columns(worker, details.columns())]
    if changed:
        record_change(session, worker.org_id, EntityType.WORKER, worker.id)
    if worker.team_id != details.team_id:
        changed.append("team")
    if worker.counsellor_id != details.counsellor_id:
        changed.append("counsellor")
    if worker.team_id != details.team_id or worker.counsellor_id != details.counsellor_id:
        moves.append(Assignment(worker, details.team_id, details.counsellor_id))
    taken_from = None
    if worker.source != source:
        taken_from = None if worker.source is None else WorkerSource(worker.source)
        worker.source = source.value
    return WorkerUpsert(worker.ref, changed=tuple(dict.fromkeys(changed)), taken_from=taken_from)


def users_with_role(session: Session, org_id: uuid.UUID, role: Role) -> list[User]:
    return list(
        session.scalars(
            select(User)
            .join(UserRole, UserRole.user_id == User.id)
            .where(User.org_id == org_id, UserRole.role == role.value, User.disabled.is_(False))
            .order_by(User.display_name)
        )
    )


class Members:
    """An organisation's users by id, each read when first asked for: a push needs its
    author and the counsellors of its workers, not the whole roster. `preload` reads many
    in one query."""

    def __init__(self, session: Session, org_id: uuid.UUID) -> None:
        self._session = session
        self._org_id = org_id
        self._users: dict[uuid.UUID, User | None] = {}

    def preload(self, ids: Iterable[uuid.UUID | None]) -> None:
        missing = list({i for i in ids if i is not None} - self._users.keys())
        for i in range(0, len(missing), 500):
            chunk = missing[i : i + 500]
            query = select(User).where(User.org_id == self._org_id, User.id.in_(chunk))
            self._users.update((user.id, user) for user in self._session.scalars(query))
            for user_id in chunk:
                self._users.setdefault(user_id, None)

    def get(self, user_id: uuid.UUID) -> User | None:
        if user_id not in self._users:
            self.preload([user_id])
        return self._users[user_id]

    def __getitem__(self, user_id: uuid.UUID) -> User:
        user = self.get(user_id)
        if user is None:
            raise KeyError(user_id)
        return user
