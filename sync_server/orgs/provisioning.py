"""`relais provision FILE`: make an organisation match a YAML file, all or nothing.

Applying the same file twice changes nothing. A bad file changes nothing either, and every
problem is reported with the path of the field (`workers[3].team: unknown team 'batiment'`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date
from enum import Enum
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from shared_models.vocabulary import Language, Role
from sync_server.auth.passwords import hash_password, verify_password
from sync_server.orgs import service
from sync_server.orgs.models import (
    AccountSource,
    Organization,
    Team,
    User,
    Worker,
    WorkerSource,
)
from sync_server.sync.changelog import discard_changes_after, pending_changes, record_change

SLUG = r"^[a-z0-9][a-z0-9_-]{0,63}$"


class ProvisioningError(Exception):
    """The file cannot be applied; `problems` name each bad field by its path."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class OrgSpec(_Strict):
    slug: str = Field(pattern=SLUG)
    name: str = Field(min_length=1, max_length=200)
    country: Literal["FR", "BE", "IT", "other"]
    language: Language


class UserSpec(_Strict):
    login: str = Field(min_length=1, max_length=200)
    name: str = Field(min_length=1, max_length=200)
    roles: list[Role] = Field(min_length=1)
    password: str = Field(min_length=8, max_length=1000)
    language: Language | None = None
    email: str | None = Field(default=None, max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class TeamSpec(_Strict):
    slug: str = Field(pattern=SLUG)
    name: str = Field(min_length=1, max_length=200)
    site: str | None = Field(default=None, max_length=200)
    supervisors: list[str] = Field(default_factory=list)


class ContractSpec(_Strict):
    type: str = Field(min_length=1, max_length=64)
    start: date
    end: date | None = None


class WorkerSpec(_Strict):
    ref: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    team: str
    counsellor: str | None = None
    contract: ContractSpec | None = None

    @field_validator("ref", mode="before")
    @classmethod
    def _ref_as_text(cls, value: object) -> object:
        return str(value) if isinstance(value, int) else value


class Deadlines(_Strict):
    urgent: int = Field(default=7200, gt=0)
    attention: int = Field(default=86400, gt=0)
    info: int = Field(default=259200, gt=0)


class RoutingSpec(_Strict):
    deadlines: Deadlines = Field(default_factory=Deadlines)
    group_window: int = Field(default=4 * 3600, ge=0)


class RetentionSpec(_Strict):
    # A file may be reopened for a while after a contract ends; no shorter than a month.
    days_after_contract_end: int = Field(default=730, ge=30, le=36500)


class ProvisioningFile(_Strict):
    organization: OrgSpec
    users: list[UserSpec] = Field(default_factory=list)
    teams: list[TeamSpec] = Field(default_factory=list)
    workers: list[WorkerSpec] = Field(default_factory=list)
    routing: RoutingSpec = Field(default_factory=RoutingSpec)
    retention: RetentionSpec = Field(default_factory=RetentionSpec)


def field_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(file)"


def parse(text: str) -> ProvisioningFile:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ProvisioningError(
            [f"{where}not valid YAML ({getattr(exc, 'problem', exc)})"]
        ) from None
    if not isinstance(raw, dict):
        raise ProvisioningError(["(file): expected a mapping with 'organization', 'users', ..."])
    if nul := [f"{field_path(loc)}: must not contain NUL characters" for loc in _nul_paths(raw)]:
        raise ProvisioningError(nul)
    try:
        spec = ProvisioningFile.model_validate(raw)
    except ValidationError as exc:
        raise ProvisioningError(
            [f"{field_path(e['loc'])}: {e['msg']}" for e in exc.errors()]
        ) from None
    _check_references(spec)
    return spec


def _nul_paths(value: object, loc: tuple[int | str, ...] = ()) -> list[tuple[int | str, ...]]:
    if isinstance(value, str):
        return [loc] if "\x00" in value else []
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _nul_paths(v, (*loc, str(k)))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _nul_paths(v, (*loc, i))]
    return []


def _duplicates(values: list[str]) -> dict[int, str]:
    seen: set[str] = set()
    dup = {}
    for i, v in enumerate(values):
        if v in seen:
            dup[i] = v
        seen.add(v)
    return dup


def _check_references(spec: ProvisioningFile) -> None:
    problems = _repeated_keys(spec) + _team_references(spec) + _worker_references(spec)
    if problems:
        raise ProvisioningError(problems)


def _repeated_keys(spec: ProvisioningFile) -> list[str]:
    return [
        f"{part}[{i}].{key}: '{value}' appears twice"
        for part, key, values in (
            ("users", "login", [u.login for u in spec.users]),
            ("teams", "slug", [t.slug for t in spec.teams]),
            ("workers", "ref", [w.ref for w in spec.workers]),
        )
        for i, value in _duplicates(values).items()
    ]


def _role_problem(roles: dict[str, set[Role]], login: str, role: Role) -> str | None:
    """Why `login` cannot be named where the file needs someone with `role`."""
    if login not in roles:
        return f"unknown user '{login}'"
    if role not in roles[login]:
        return f"'{login}' is not a {role.value}"
    return None


def _team_references(spec: ProvisioningFile) -> list[str]:
    roles = {u.login: set(u.roles) for u in spec.users}
    return [
        f"teams[{i}].supervisors[{j}]: {problem}"
        for i, team in enumerate(spec.teams)
        for j, login in enumerate(team.supervisors)
        if (problem := _role_problem(roles, login, Role.SUPERVISOR))
    ]


def _worker_references(spec: ProvisioningFile) -> list[str]:
    problems = []
    roles = {u.login: set(u.roles) for u in spec.users}
    slugs = {t.slug for t in spec.teams}
    for i, w in enumerate(spec.workers):
        if w.team not in slugs:
            problems.append(f"workers[{i}].team: unknown team '{w.team}'")
        counsellor = w.counsellor
        if counsellor is not None and (
            problem := _role_problem(roles, counsellor, Role.COUNSELLOR)
        ):
            problems.append(f"workers[{i}].counsellor: {problem}")
        if w.contract and w.contract.end and w.contract.end < w.contract.start:
            problems.append(f"workers[{i}].contract.end: ends before it starts")
    return problems


def load_file(path: Path) -> ProvisioningFile:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProvisioningError([f"{path}: cannot read the file ({exc})"]) from None
    return parse(text)


class Action(Enum):
    """What a run does to one thing; the value is the plan's verb."""

    CREATE = "create"
    UPDATE = "update"
    ENABLE = "re-enable"
    DISABLE = "disable"
    REACTIVATE = "reactivate"
    DEACTIVATE = "deactivate"
    TAKE_OVER = "take over"

    @property
    def past(self) -> str:
        return {Action.TAKE_OVER: "took over"}.get(self, f"{self.value}d")


NOT_LISTED = "no longer in the provisioning file"
LISTED = "listed in the provisioning file"
# Why the file leaves alone an account or a worker it does not list, by its source.
_KEPT = {
    AccountSource.ADMIN.value: "account(s) added by an administrator",
    WorkerSource.ROSTER.value: "worker(s) added by a roster import",
    None: "worker(s) of unrecorded origin (stored before Relais recorded sources)",
}


@dataclass(frozen=True)
class Change:
    part: str  # organisation, user, team or worker
    key: str  # its slug, login or ref
    action: Action
    reason: str = ""  # why, or what changed (the file's field names)

    def describe(self, *, planned: bool) -> str:
        verb = self.action.value if planned else self.action.past
        return f"{verb} {self.part} '{self.key}'" + (f": {self.reason}" if self.reason else "")


@dataclass
class Changes:
    """What one run changes, in order: each change once, logged for pull, and explained.

    Plain data only, so that a dry run's plan outlives its rolled-back transaction.
    """

    org_id: uuid.UUID
    slug: str
    items: list[Change] = field(default_factory=list)
    # Active accounts and workers the file does not list and does not own, left alone: how
    # many, by source.
    kept: dict[str | None, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    _logged: set[tuple[str, uuid.UUID]] = field(default_factory=set, repr=False)

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[Change]:
        return iter(self.items)

    def add(self, change: Change) -> None:
        """A change whose log entries a service already wrote; an update joins an earlier one."""
        for i, earlier in enumerate(self.items):
            if (earlier.part, earlier.key) != (change.part, change.key):
                continue
            if change.action is Action.UPDATE and earlier.action is Action.CREATE:
                return
            if change.action is Action.UPDATE and earlier.action is Action.UPDATE:
                self.items[i] = replace(earlier, reason=f"{earlier.reason}, {change.reason}")
                return
        self.items.append(change)

    def record(self, session: Session, entity: str, entity_id: uuid.UUID, change: Change) -> None:
        """A change to `entity_id`: into the change log (once), and into the account."""
        if (entity, entity_id) not in self._logged:
            self._logged.add((entity, entity_id))
            record_change(session, self.org_id, entity, entity_id)
        self.add(change)

    def keep(self, source: str | None) -> None:
        self.kept[source] = self.kept.get(source, 0) + 1

    def summary(self, *, planned: bool) -> list[str]:
        """Lines for people: what changed (or would), then what was left alone and why."""
        head = f"organisation '{self.slug}'" + (
            ", dry run (nothing was changed)" if planned else ""
        )
        if not self.items:
            lines = [f"{head}: already up to date" + ("" if planned else ", nothing changed")]
        else:
            done = "planned" if planned else "applied"
            lines = [f"{head}: {len(self.items)} change(s) {done}"]
            lines += [f"  {change.describe(planned=planned)}" for change in self.items]
        lines += [
            f"{count} {_KEPT.get(source, f'worker(s) from {source}')} are not in the file: "
            "left as they are"
            for source, count in self.kept.items()
        ]
        return lines


def apply(session: Session, spec: ProvisioningFile) -> tuple[Organization, Changes]:
    """Make the database match `spec`; returns the organisation and what changed."""
    org, changes = _organisation(session, spec)
    _routing(session, org, spec, changes)
    users = _users(session, org, spec, changes)
    teams = _teams(session, org, spec, users, changes)
    _workers(session, org, spec, users, teams, changes)
    session.flush()
    changes.warnings = service.staffing_warnings(session, org)
    return org, changes


def plan(session: Session, spec: ProvisioningFile) -> Changes:
    """What `apply` would change, without changing anything (`relais provision --dry-run`).

    It is `apply` itself, in a savepoint rolled back: the plan cannot drift from the real run.
    """
    mark = len(pending_changes(session))
    savepoint = session.begin_nested()
    try:
        _, changes = apply(session, spec)
    finally:
        savepoint.rollback()
        discard_changes_after(session, mark)
    return changes


def _organisation(session: Session, spec: ProvisioningFile) -> tuple[Organization, Changes]:
    o = spec.organization
    wanted = {"name": o.name, "country": o.country, "language": o.language}
    org = service.org_by_slug(session, o.slug)
    if org is None:
        org = Organization(id=uuid.uuid4(), slug=o.slug, **wanted)
        session.add(org)
        changes = Changes(org.id, o.slug)
        changes.record(
            session, "organization", org.id, Change("organisation", o.slug, Action.CREATE)
        )
        return org, changes
    changes = Changes(org.id, org.slug)
    if changed := service.set_columns(org, wanted):
        changes.record(
            session,
            "organization",
            org.id,
            Change("organisation", o.slug, Action.UPDATE, ", ".join(changed)),
        )
    return org, changes


def _routing(session: Session, org: Organization, spec: ProvisioningFile, changes: Changes) -> None:
    """Deadlines, grouping and retention: settings of the organisation, named as in the file."""
    d = spec.routing.deadlines
    wanted = {
        "deadline_urgent": d.urgent,
        "deadline_attention": d.attention,
        "deadline_info": d.info,
        "group_window": spec.routing.group_window,
        "retention_days": spec.retention.days_after_contract_end,
    }
    paths = {
        "deadline_urgent": "routing.deadlines.urgent",
        "deadline_attention": "routing.deadlines.attention",
        "deadline_info": "routing.deadlines.info",
        "group_window": "routing.group_window",
        "retention_days": "retention.days_after_contract_end",
    }
    if changed := service.set_columns(org, wanted):
        reason = ", ".join(paths[c] for c in changed)
        changes.record(
            session, "organization", org.id, Change("organisation", org.slug, Action.UPDATE, reason)
        )


def _users(
    session: Session, org: Organization, spec: ProvisioningFile, changes: Changes
) -> dict[str, User]:
    """The file's accounts follow the file: one it no longer lists is disabled. Accounts an
    administrator added are left alone until the file lists them, and then become its own."""
    _refuse_logins_of_other_organisations(session, org, spec)
    users = {u.login: u for u in session.scalars(select(User).where(User.org_id == org.id))}
    language = spec.organization.language
    for u in spec.users:
        user = users.get(u.login)
        if user is None:
            users[u.login] = service.create_user(
                session,
                org=org,
                login=u.login,
                name=u.name,
                roles=u.roles,
                password=u.password,
                language=u.language or language,
                email=u.email,
            )
            changes.add(Change("user", u.login, Action.CREATE))
        else:
            _update_user(session, user, u, language, changes)
    listed = {u.login for u in spec.users}
    for login in sorted(users.keys() - listed):
        user = users[login]
        if user.disabled:
            continue
        if user.source != AccountSource.PROVISIONING:
            changes.keep(user.source)
            continue
        service.disable_user(session, user)
        changes.add(Change("user", login, Action.DISABLE, NOT_LISTED))
    return users


def _refuse_logins_of_other_organisations(
    session: Session, org: Organization, spec: ProvisioningFile
) -> None:
    logins = [u.login for u in spec.users]
    query = select(User.login).where(User.login.in_(logins), User.org_id != org.id)
    if taken := set(session.scalars(query)):
        raise ProvisioningError(
            [
                f"users[{i}].login: '{login}' is already used in another organisation"
                for i, login in enumerate(logins)
                if login in taken
            ]
        )


_USER_WORDS = {"display_name": "name", "language": "language", "email": "email"}


def _update_user(
    session: Session, user: User, u: UserSpec, language: str, changes: Changes
) -> None:
    wanted = {"display_name": u.name, "language": u.language or language, "email": u.email}
    changed = [_USER_WORDS[c] for c in service.set_columns(user, wanted)]
    if not verify_password(user.password_hash, u.password):
        user.password_hash = hash_password(u.password)
        changed.append("password")
    if service.change_roles(session, user, u.roles):
        changed.append("roles")
    if user.source != AccountSource.PROVISIONING:
        user.source = AccountSource.PROVISIONING.value
        change = Change("user", u.login, Action.TAKE_OVER, "it was added by an administrator")
        changes.record(session, "colleague", user.id, change)
    if user.disabled:
        service.enable_user(session, user)
        reason = LISTED + (f" ({', '.join(changed)})" if changed else "")
        changes.record(
            session, "colleague", user.id, Change("user", u.login, Action.ENABLE, reason)
        )
    elif changed:
        change = Change("user", u.login, Action.UPDATE, ", ".join(changed))
        changes.record(session, "colleague", user.id, change)


def _teams(
    session: Session,
    org: Organization,
    spec: ProvisioningFile,
    users: dict[str, User],
    changes: Changes,
) -> dict[str, Team]:
    query = select(Team).where(Team.org_id == org.id).options(selectinload(Team.supervisors))
    teams = {t.slug: t for t in session.scalars(query)}
    created = set()
    for t in spec.teams:
        if t.slug not in teams:
            team = Team(id=uuid.uuid4(), org_id=org.id, slug=t.slug, name=t.name, site=t.site)
            team.supervisors = []
            session.add(team)
            teams[t.slug] = team
            created.add(t.slug)
    # Supervisors for every team at once: one look at who sees whom before and after.
    supervised = service.set_team_supervisors(
        session,
        org.id,
        {teams[t.slug]: [users[login] for login in t.supervisors] for t in spec.teams},
    )
    for t in spec.teams:
        team = teams[t.slug]
        if t.slug in created:
            changes.record(session, "team", team.id, Change("team", t.slug, Action.CREATE))
        changed = service.set_columns(team, {"name": t.name, "site": t.site})
        if team.id in supervised:
            changed.append("supervisors")
        if changed:
            change = Change("team", t.slug, Action.UPDATE, ", ".join(changed))
            changes.record(session, "team", team.id, change)
    return teams


def _workers(
    session: Session,
    org: Organization,
    spec: ProvisioningFile,
    users: dict[str, User],
    teams: dict[str, Team],
    changes: Changes,
) -> None:
    """The file's workers, as the file says; it deactivates only the ones it owns."""
    wanted = [
        service.WorkerDetails(
            ref=w.ref,
            name=w.name,
            team_id=teams[w.team].id,
            counsellor_id=users[w.counsellor].id if w.counsellor else None,
            contract_type=w.contract.type if w.contract else None,
            contract_start=w.contract.start if w.contract else None,
            contract_end=w.contract.end if w.contract else None,
        )
        for w in spec.workers
    ]
    outcomes = service.upsert_workers(
        session, org_id=org.id, wanted=wanted, source=WorkerSource.PROVISIONING
    )
    for outcome in outcomes:
        for change in _worker_changes(outcome):
            changes.add(change)
    _let_go(session, org, {w.ref for w in spec.workers}, changes)


def _let_go(session: Session, org: Organization, listed: set[str], changes: Changes) -> None:
    """Deactivate the file's own workers it no longer lists; count the others it leaves alone."""
    query = select(Worker).where(Worker.org_id == org.id, Worker.active.is_(True))
    for worker in sorted(session.scalars(query), key=lambda w: w.ref):
        if worker.ref in listed:
            continue
        if worker.source != WorkerSource.PROVISIONING:
            changes.keep(worker.source)
            continue
        worker.active = False
        change = Change("worker", worker.ref, Action.DEACTIVATE, NOT_LISTED)
        changes.record(session, "worker", worker.id, change)


def _worker_changes(outcome: service.WorkerUpsert) -> list[Change]:
    ref = outcome.ref
    if outcome.created:
        return [Change("worker", ref, Action.CREATE)]
    out = []
    if outcome.taken_from is not None:
        out.append(
            Change("worker", ref, Action.TAKE_OVER, f"it came from {_FROM[outcome.taken_from]}")
        )
    fields = [f for f in outcome.changed if f != "active"]
    if "active" in outcome.changed:
        reason = LISTED + (f" ({', '.join(fields)})" if fields else "")
        out.append(Change("worker", ref, Action.REACTIVATE, reason))
    elif fields:
        out.append(Change("worker", ref, Action.UPDATE, ", ".join(fields)))
    return out


_FROM = {WorkerSource.ROSTER: "a roster import", WorkerSource.PROVISIONING: "the file"}
