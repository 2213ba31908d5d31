"""`relais provision FILE`: make an organisation match a YAML file, all or nothing.

Applying the same file twice changes nothing. A bad file changes nothing either, and every
problem is reported with the path of the field (`workers[3].team: unknown team 'batiment'`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from shared_models.vocabulary import Language, Role
from sync_server.auth.service import hash_password, verify_password
from sync_server.orgs import service
from sync_server.orgs.models import Organization, Team, User, Worker
from sync_server.sync.changelog import record_change

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
    problems = []
    for i, login in _duplicates([u.login for u in spec.users]).items():
        problems.append(f"users[{i}].login: '{login}' appears twice")
    for i, slug in _duplicates([t.slug for t in spec.teams]).items():
        problems.append(f"teams[{i}].slug: '{slug}' appears twice")
    for i, ref in _duplicates([w.ref for w in spec.workers]).items():
        problems.append(f"workers[{i}].ref: '{ref}' appears twice")
    roles = {u.login: set(u.roles) for u in spec.users}
    for i, team in enumerate(spec.teams):
        for j, login in enumerate(team.supervisors):
            if login not in roles:
                problems.append(f"teams[{i}].supervisors[{j}]: unknown user '{login}'")
            elif Role.SUPERVISOR not in roles[login]:
                problems.append(f"teams[{i}].supervisors[{j}]: '{login}' is not a supervisor")
    slugs = {t.slug for t in spec.teams}
    for i, w in enumerate(spec.workers):
        if w.team not in slugs:
            problems.append(f"workers[{i}].team: unknown team '{w.team}'")
        if w.counsellor is not None:
            if w.counsellor not in roles:
                problems.append(f"workers[{i}].counsellor: unknown user '{w.counsellor}'")
            elif Role.COUNSELLOR not in roles[w.counsellor]:
                problems.append(f"workers[{i}].counsellor: '{w.counsellor}' is not a counsellor")
        if w.contract and w.contract.end and w.contract.end < w.contract.start:
            problems.append(f"workers[{i}].contract.end: ends before it starts")
    if problems:
        raise ProvisioningError(problems)


def load_file(path: Path) -> ProvisioningFile:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProvisioningError([f"{path}: cannot read the file ({exc})"]) from None
    return parse(text)


def apply(session: Session, spec: ProvisioningFile) -> tuple[Organization, int]:
    """Make the database match `spec`; returns the organisation and how many things changed."""
    changes = 0
    o = spec.organization
    org = service.org_by_slug(session, o.slug)
    if org is None:
        org = Organization(slug=o.slug, name=o.name, country=o.country, language=o.language)
        session.add(org)
        session.flush()
        record_change(session, org.id, "organization", org.id)
        changes += 1
    d = spec.routing.deadlines
    wanted_org = {
        "name": o.name,
        "country": o.country,
        "language": o.language,
        "deadline_urgent": d.urgent,
        "deadline_attention": d.attention,
        "deadline_info": d.info,
        "group_window": spec.routing.group_window,
        "retention_days": spec.retention.days_after_contract_end,
    }
    if _update(org, wanted_org):
        changes += 1
        record_change(session, org.id, "organization", org.id)

    taken = {
        login
        for login, org_id in session.execute(
            select(User.login, User.org_id).where(User.login.in_([u.login for u in spec.users]))
        )
        if org_id != org.id
    }
    if taken:
        raise ProvisioningError(
            [
                f"users[{i}].login: '{u.login}' is already used in another organisation"
                for i, u in enumerate(spec.users)
                if u.login in taken
            ]
        )
    users = {u.login: u for u in session.scalars(select(User).where(User.org_id == org.id))}
    for u in spec.users:
        user = users.get(u.login)
        if user is None:
            user = User(
                org_id=org.id,
                login=u.login,
                display_name=u.name,
                password_hash=hash_password(u.password),
                language=u.language or o.language,
                email=u.email,
            )
            session.add(user)
            session.flush()
            users[u.login] = user
            service.set_roles(user, u.roles)
            record_change(session, org.id, "colleague", user.id)
            changes += 1
            continue
        changed = _update(
            user, {"display_name": u.name, "language": u.language or o.language, "email": u.email}
        )
        if not verify_password(user.password_hash, u.password):
            user.password_hash = hash_password(u.password)
            changed = True
        changed |= service.set_roles(user, u.roles)
        if user.disabled:
            service.enable_user(session, user)
            changed = True
        if changed:
            record_change(session, org.id, "colleague", user.id)
            changes += 1
    listed = {u.login for u in spec.users}
    for login, user in users.items():
        if login not in listed and not user.disabled:
            service.disable_user(session, user)
            changes += 1

    teams = {
        t.slug: t
        for t in session.scalars(
            select(Team).where(Team.org_id == org.id).options(selectinload(Team.supervisors))
        )
    }
    for t in spec.teams:
        team = teams.get(t.slug)
        if team is None:
            team = Team(org_id=org.id, slug=t.slug, name=t.name, site=t.site, supervisors=[])
            session.add(team)
            session.flush()
            teams[t.slug] = team
            changes += 1
            record_change(session, org.id, "team", team.id)
        elif _update(team, {"name": t.name, "site": t.site}):
            changes += 1
            record_change(session, org.id, "team", team.id)
        wanted_sups = [users[login] for login in t.supervisors]
        if {s.id for s in team.supervisors} != {s.id for s in wanted_sups}:
            for user in set(team.supervisors) ^ set(wanted_sups):
                service.bump_sync_epoch(user)
            team.supervisors = wanted_sups
            changes += 1
            record_change(session, org.id, "team", team.id)

    workers = {w.ref: w for w in session.scalars(select(Worker).where(Worker.org_id == org.id))}
    moves = []
    for w in spec.workers:
        team_id = teams[w.team].id
        counsellor_id = users[w.counsellor].id if w.counsellor else None
        contract = w.contract
        details = {
            "display_name": w.name,
            "contract_type": contract.type if contract else None,
            "contract_start": contract.start if contract else None,
            "contract_end": contract.end if contract else None,
            "active": True,
        }
        worker = workers.get(w.ref)
        if worker is None:
            worker = Worker(
                org_id=org.id, ref=w.ref, team_id=team_id, counsellor_id=counsellor_id, **details
            )
            session.add(worker)
            session.flush()
            record_change(session, org.id, "worker", worker.id)
            changes += 1
            continue
        if _update(worker, details):
            record_change(session, org.id, "worker", worker.id)
            changes += 1
        moves.append(service.Assignment(worker, team_id, counsellor_id))
    changes += service.reassign(session, org.id, moves)
    listed_refs = {w.ref for w in spec.workers}
    for ref, worker in workers.items():
        if ref not in listed_refs and worker.active:
            worker.active = False
            record_change(session, org.id, "worker", worker.id)
            changes += 1
    session.flush()
    return org, changes


def _update(obj: object, values: Mapping[str, object]) -> bool:
    changed = False
    for name, value in values.items():
        if getattr(obj, name) != value:
            setattr(obj, name, value)
            changed = True
    return changed
