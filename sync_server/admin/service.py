"""What an admin does from the app, on the services the command line uses too: accounts
(sync_server/orgs, sync_server/auth), devices, the roster. Every change is audited; nothing
here reads note content."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared_models import admin as wire
from sync_server import policy
from sync_server.audit import service as audit
from sync_server.auth import service as auth
from sync_server.auth import throttle
from sync_server.auth.models import Device
from sync_server.auth.service import AdminActor, Caller
from sync_server.errors import Conflict, Forbidden, NotFound
from sync_server.orgs import roster
from sync_server.orgs import service as orgs
from sync_server.orgs.models import AccountSource, Organization, User, Worker
from sync_server.sync.models import MutationRecord


@dataclass(frozen=True)
class Clock:
    """What the states shown depend on: now, the login window, the device expiry."""

    now: datetime
    limits: throttle.LoginLimits
    device_expiry: timedelta


def admin_of(session: Session, caller: Caller, now: datetime) -> AdminActor:
    """The caller as the actor of admin actions, or 403 for anyone but an admin."""
    user = session.get_one(User, caller.user_id)
    viewer = policy.load_viewer(session, user, now)
    if not policy.may_administer(viewer, caller.org_id):
        raise Forbidden("only an admin of the organisation may do this")
    return AdminActor(via="app", user_id=caller.user_id, device_id=caller.device_id)


def member(session: Session, org_id: uuid.UUID, user_id: uuid.UUID) -> User:
    """A user of the organisation; any other id is 404, as if it did not exist."""
    user = session.get(User, user_id)
    if user is None or user.org_id != org_id:
        raise NotFound("no such user")
    return user


def _active_devices(session: Session, users: list[User], clock: Clock) -> dict[uuid.UUID, int]:
    counts: dict[uuid.UUID, int] = {}
    by_id = {u.id: u for u in users}
    for device in session.scalars(
        select(Device).where(Device.user_id.in_(list(by_id)), Device.revoked_at.is_(None))
    ):
        user = by_id[device.user_id]
        state = auth.device_state(device, user, now=clock.now, expire_after=clock.device_expiry)
        if state == "active":
            counts[user.id] = counts.get(user.id, 0) + 1
    return counts


def users(session: Session, org_id: uuid.UUID, clock: Clock) -> list[wire.AdminUser]:
    members = list(
        session.scalars(select(User).where(User.org_id == org_id).order_by(User.display_name))
    )
    locked = throttle.locked_logins(
        session, (u.login for u in members), limits=clock.limits, now=clock.now
    )
    devices = _active_devices(session, members, clock)
    return [_user(u, u.login in locked, devices.get(u.id, 0)) for u in members]


def one_user(session: Session, user: User, clock: Clock) -> wire.AdminUser:
    locked = throttle.locked_logins(session, [user.login], limits=clock.limits, now=clock.now)
    return _user(user, bool(locked), _active_devices(session, [user], clock).get(user.id, 0))


def _user(user: User, locked: bool, active_devices: int) -> wire.AdminUser:
    return wire.AdminUser(
        id=user.id,
        login=user.login,
        display_name=user.display_name,
        roles=sorted(user.role_names),
        email=user.email,
        language=user.language,
        disabled=user.disabled,
        locked=locked,
        active_devices=active_devices,
    )


def add_user(session: Session, org_id: uuid.UUID, body: wire.NewUser, actor: AdminActor) -> User:
    """A new account (409 `login_taken` if the login exists, in any organisation)."""
    org = session.get_one(Organization, org_id)
    user = orgs.create_user(
        session,
        org=org,
        login=body.login,
        name=body.display_name,
        roles=[r.value for r in body.roles],
        password=body.password,
        language=body.language.value,
        email=body.email or None,
        source=AccountSource.ADMIN,
    )
    session.flush()
    audit.record(
        session,
        org_id=org_id,
        actor_id=actor.user_id,
        device_id=actor.device_id,
        action=audit.USER_CREATED,
        entity="user",
        entity_id=user.id,
        detail=f"via {actor.via}; roles {', '.join(sorted(user.role_names))}",
    )
    return user


def disable(session: Session, user: User, actor: AdminActor) -> None:
    """Disable an account; an admin cannot lock themselves out."""
    if user.id == actor.user_id:
        raise Conflict("an admin cannot disable their own account", code="own_account")
    auth.disable_account(session, user, actor=actor)


def enable(session: Session, user: User, actor: AdminActor) -> None:
    orgs.enable_user(session, user)
    audit.record(
        session,
        org_id=user.org_id,
        actor_id=actor.user_id,
        device_id=actor.device_id,
        action=audit.USER_ENABLED,
        entity="user",
        entity_id=user.id,
        detail=f"via {actor.via}",
    )


def devices(session: Session, org_id: uuid.UUID, clock: Clock) -> list[wire.AdminDevice]:
    """Every device of the organisation's members, by person then newest first."""
    rows = session.execute(
        select(Device, User)
        .join(User, User.id == Device.user_id)
        .where(User.org_id == org_id)
        .order_by(User.display_name, Device.created_at.desc())
    )
    return [
        wire.AdminDevice(
            id=device.id,
            user_id=user.id,
            login=user.login,
            display_name=user.display_name,
            name=device.name,
            created_at=device.created_at,
            last_seen_at=device.last_seen_at,
            state=auth.device_state(device, user, now=clock.now, expire_after=clock.device_expiry),
        )
        for device, user in rows
    ]


def revoke(session: Session, org_id: uuid.UUID, device_id: uuid.UUID, actor: AdminActor) -> None:
    """Sign a device out: at its next call the app is told, and wipes what it holds."""
    owner = session.scalar(
        select(User.org_id).join(Device, Device.user_id == User.id).where(Device.id == device_id)
    )
    if owner != org_id:
        raise NotFound("no such device")
    auth.sign_out_device(session, device_id, actor=actor)


def import_roster(
    session: Session, org_id: uuid.UUID, data: bytes, actor: AdminActor
) -> wire.RosterImport:
    """A roster file as uploaded: all or nothing, problems by line and column."""
    org = session.get_one(Organization, org_id)
    report = roster.import_roster(session, org=org, data=data)
    outcome = wire.RosterImport(
        imported=report.result is not None,
        encoding=report.encoding,
        delimiter=report.delimiter,
        problems=[
            wire.RosterProblemItem(
                line=p.line,
                column=p.column,
                code=p.code,
                params=p.params,
                message=p.message,
                header=p.header,
            )
            for p in report.problems[: roster.MAX_PROBLEMS_SHOWN]
        ],
    )
    if report.result is None:
        return outcome
    result = report.result
    audit.record(
        session,
        org_id=org_id,
        actor_id=actor.user_id,
        device_id=actor.device_id,
        action=audit.ROSTER_IMPORTED,
        entity="organization",
        entity_id=org_id,
        detail=(
            f"via {actor.via}; {result.created} created, {result.updated} updated, "
            f"{result.unchanged} unchanged"
        ),
    )
    return outcome.model_copy(
        update={
            "created": result.created,
            "updated": result.updated,
            "unchanged": result.unchanged,
            "warnings": result.warnings,
            "staffing": _staffing(session, org),
            "taken_over": result.taken_over,
        }
    )


def overview(session: Session, org_id: uuid.UUID, clock: Clock) -> wire.AdminOverview:
    """Counts for the admin's first screen: accounts, devices, workers, the quarantine, and
    the teams over the ACI supervision ratio."""
    org = session.get_one(Organization, org_id)
    listed = users(session, org_id, clock)
    quarantine = session.execute(
        select(MutationRecord.error_code, func.count())
        .where(MutationRecord.org_id == org_id, MutationRecord.status == "rejected")
        .group_by(MutationRecord.error_code)
        .order_by(func.count().desc())
    ).all()
    workers = session.scalar(
        select(func.count()).where(Worker.org_id == org_id, Worker.active.is_(True))
    )
    return wire.AdminOverview(
        users=sum(not u.disabled for u in listed),
        disabled_users=sum(u.disabled for u in listed),
        locked_logins=sum(u.locked for u in listed),
        active_devices=sum(u.active_devices for u in listed),
        active_workers=int(workers or 0),
        quarantined=sum(int(n) for _, n in quarantine),
        quarantine=[
            wire.QuarantineCount(code=code or "unknown", count=n) for code, n in quarantine
        ],
        staffing=_staffing(session, org),
    )


def _staffing(session: Session, org: Organization) -> list[wire.StaffingWarning]:
    """The teams over the ACI supervision ratio, for the app to say in its language."""
    return [
        wire.StaffingWarning(
            team_id=u.team.id, team=u.team.name, workers=u.workers, supervisors=u.supervisors
        )
        for u in orgs.understaffed_teams(session, org)
    ]
