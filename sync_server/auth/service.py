"""Device tokens (opaque, stored as SHA-256), the sessions they open and end, and the
account actions an admin takes (sign a device out, disable an account, unlock a login, reset
a password), each written to the audit log.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from sync_server.audit import service as audit
from sync_server.auth import throttle
from sync_server.auth.models import Device
from sync_server.auth.passwords import DUMMY_HASH, password_stamp
from sync_server.auth.passwords import hash_password as hash_password  # for provisioning, CLI
from sync_server.auth.passwords import verify_password as verify_password
from sync_server.database import utcnow
from sync_server.errors import Unauthenticated
from sync_server.orgs.models import User
from sync_server.orgs.service import disable_user

# A device's last_seen_at is written at most this often, so that reads stay reads.
LAST_SEEN_GRANULARITY = timedelta(minutes=1)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Caller:
    """Who is calling, from their token: the only source of identity the server trusts."""

    user_id: uuid.UUID
    org_id: uuid.UUID
    device_id: uuid.UUID
    roles: frozenset[str]
    sync_epoch: int


@dataclass(frozen=True)
class Candidate:
    """What a login attempt is checked against. An unknown login gets a dummy hash, so
    that checking it costs the same and its answer tells nothing."""

    user_id: uuid.UUID | None
    password_hash: str
    disabled: bool


def find_candidate(session: Session, login: str) -> Candidate:
    user = session.scalar(select(User).where(User.login == login))
    if user is None:
        return Candidate(None, DUMMY_HASH, disabled=True)
    return Candidate(user.id, user.password_hash, user.disabled)


def open_device(
    session: Session, *, user_id: uuid.UUID, password_hash: str, device_name: str, now: datetime
) -> tuple[Device, User, str]:
    """A new device and its token, bound to the password hash that was just checked (if the
    password changed meanwhile, the token is born finished)."""
    token = secrets.token_urlsafe(32)
    device = Device(
        user_id=user_id,
        name=device_name,
        token_hash=hash_token(token),
        password_stamp=password_stamp(password_hash),
        created_at=now,
        last_seen_at=now,
    )
    session.add(device)
    session.flush()
    return device, session.get_one(User, user_id), token


def _unseen_since(device: Device) -> datetime:
    return device.last_seen_at or device.created_at


def authenticate(
    session: Session, token: str, *, expire_after: timedelta, now: datetime | None = None
) -> tuple[Caller, bool]:
    """The caller behind a bearer token, and whether its last_seen_at is stale.

    A token stops working when its device is signed out, when its user's password changed
    after it was issued, and when its device was not seen for `expire_after`.
    """
    now = now or utcnow()
    row = session.execute(
        select(Device, User)
        .join(User, User.id == Device.user_id)
        .where(Device.token_hash == hash_token(token))
    ).first()
    if row is None:
        raise Unauthenticated("unknown token", code="invalid_token")
    device, user = row
    if user.disabled:
        raise Unauthenticated("this account is disabled", code="user_disabled")
    if device.revoked_at is not None:
        raise Unauthenticated("this device was signed out", code="token_revoked")
    if device.password_stamp != password_stamp(user.password_hash):
        raise Unauthenticated(
            "this device was signed out: the password was changed", code="token_revoked"
        )
    if now - _unseen_since(device) >= expire_after:
        raise Unauthenticated(
            f"this device was signed out: unused for {expire_after.days} days",
            code="token_revoked",
        )
    stale = device.last_seen_at is None or now - device.last_seen_at > LAST_SEEN_GRANULARITY
    caller = Caller(
        user_id=user.id,
        org_id=user.org_id,
        device_id=device.id,
        roles=user.role_names,
        sync_epoch=user.sync_epoch,
    )
    return caller, stale


def device_state(device: Device, user: User, *, now: datetime, expire_after: timedelta) -> str:
    """How an admin sees a device: `active`, `revoked`, `password changed` or `expired`."""
    if device.revoked_at is not None or user.disabled:
        return "revoked"
    if device.password_stamp != password_stamp(user.password_hash):
        return "password changed"
    if now - _unseen_since(device) >= expire_after:
        return "expired"
    return "active"


def touch_device(session: Session, device_id: uuid.UUID) -> None:
    device = session.get(Device, device_id)
    if device is not None:
        device.last_seen_at = utcnow()


def revoke_device(session: Session, device_id: uuid.UUID) -> bool:
    device = session.get(Device, device_id)
    if device is None:
        return False
    if device.revoked_at is None:
        device.revoked_at = utcnow()
    return True


def devices(session: Session, login: str | None = None) -> list[tuple[Device, User]]:
    query = select(Device, User).join(User, User.id == Device.user_id)
    if login:
        query = query.where(User.login == login)
    return [(d, u) for d, u in session.execute(query.order_by(User.login, Device.created_at))]


def set_password(
    session: Session,
    user: User,
    password_hash: str,
    *,
    keep_device_id: uuid.UUID | None = None,
    now: datetime | None = None,
) -> int:
    """Give the user a new password (already hashed: never hash inside a transaction).
    Every device signed in before it is signed out, except `keep_device_id` (the one the
    user changed it from). Returns how many were signed out."""
    now = now or utcnow()
    user.password_hash = password_hash
    ended = 0
    for device in session.scalars(
        select(Device).where(Device.user_id == user.id, Device.revoked_at.is_(None))
    ):
        if device.id == keep_device_id:
            device.password_stamp = password_stamp(password_hash)
        else:
            device.revoked_at = now
            ended += 1
    return ended


@dataclass(frozen=True)
class AdminActor:
    """Who took an admin action, for the audit log: a signed-in admin, or the command line."""

    via: str
    user_id: uuid.UUID | None = None
    device_id: uuid.UUID | None = None


COMMAND_LINE = AdminActor(via="command line")


def sign_out_device(session: Session, device_id: uuid.UUID, *, actor: AdminActor) -> bool:
    """An admin signs a device out (a lost phone, say): its token stops working at once.
    False when there is no such device."""
    row = session.execute(
        select(Device, User).join(User, User.id == Device.user_id).where(Device.id == device_id)
    ).first()
    if row is None:
        return False
    device, user = row
    revoke_device(session, device.id)
    _audit(session, user, actor, audit.DEVICE_REVOKED, "signed out", entity=("device", device.id))
    return True


def disable_account(session: Session, user: User, *, actor: AdminActor) -> None:
    """An admin disables an account: every device is signed out, colleagues stop seeing it;
    its notes stay."""
    disable_user(session, user)
    _audit(session, user, actor, audit.USER_DISABLED, "devices signed out")


def unlock_login(session: Session, user: User, *, actor: AdminActor) -> int:
    """Lift the block on a login after too many failed attempts. Returns how many failed
    attempts were forgotten."""
    forgotten = throttle.forget_failures(session, user.login)
    _audit(session, user, actor, audit.LOGIN_UNLOCKED, f"{forgotten} failed attempt(s) forgotten")
    return forgotten


def reset_password(session: Session, user: User, password_hash: str, *, actor: AdminActor) -> int:
    """An admin sets a new password (already hashed): every session of the user ends, and
    the login is unlocked. Returns how many devices were signed out."""
    ended = set_password(session, user, password_hash)
    throttle.forget_failures(session, user.login)
    _audit(session, user, actor, audit.PASSWORD_RESET, f"{ended} device(s) signed out")
    return ended


def _audit(
    session: Session,
    user: User,
    actor: AdminActor,
    action: str,
    outcome: str,
    entity: tuple[str, uuid.UUID] | None = None,
) -> None:
    """One audit event for an admin action on `user`'s account (or on one of its devices)."""
    kind, entity_id = entity or ("user", user.id)
    audit.record(
        session,
        org_id=user.org_id,
        actor_id=actor.user_id,
        device_id=actor.device_id,
        action=action,
        entity=kind,
        entity_id=entity_id,
        detail=f"via {actor.via}; {outcome}",
    )
