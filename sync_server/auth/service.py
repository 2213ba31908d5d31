"""Passwords (argon2id), device tokens (opaque, stored as SHA-256) and login throttling."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sync_server.auth.models import Device, LoginAttempt
from sync_server.database import utcnow
from sync_server.errors import InvalidCredentials, TooManyAttempts, Unauthenticated
from sync_server.orgs.models import User

_hasher = PasswordHasher()  # argon2id, RFC 9106 low-memory profile
_DUMMY_HASH = _hasher.hash("relais-timing-equaliser")
# A device's last_seen_at is written at most this often, so that reads stay reads.
LAST_SEEN_GRANULARITY = timedelta(minutes=1)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


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
class LoginOutcome:
    user: User | None
    device: Device | None
    token: str | None
    throttled: bool = False


def recent_failures(session: Session, login: str, window: timedelta, now: datetime) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(LoginAttempt)
            .where(
                LoginAttempt.login == login,
                LoginAttempt.succeeded.is_(False),
                LoginAttempt.at > now - window,
            )
        )
        or 0
    )


def login(
    session: Session,
    *,
    login: str,
    password: str,
    device_name: str,
    max_failures: int,
    window: timedelta,
    now: datetime | None = None,
) -> LoginOutcome:
    """Check the password and open a device. Failures are recorded, so commit either way."""
    now = now or utcnow()
    if recent_failures(session, login, window, now) >= max_failures:
        return LoginOutcome(None, None, None, throttled=True)
    user = session.scalar(select(User).where(User.login == login))
    ok = verify_password(user.password_hash if user else _DUMMY_HASH, password)
    if user is None or not ok or user.disabled:
        session.add(LoginAttempt(login=login, at=now, succeeded=False))
        return LoginOutcome(None, None, None)
    session.add(LoginAttempt(login=login, at=now, succeeded=True))
    token = secrets.token_urlsafe(32)
    device = Device(
        user_id=user.id, name=device_name, token_hash=hash_token(token), last_seen_at=now
    )
    session.add(device)
    session.flush()
    return LoginOutcome(user, device, token)


def raise_for(outcome: LoginOutcome) -> None:
    if outcome.throttled:
        raise TooManyAttempts("too many failed attempts for this login; wait 15 minutes")
    if outcome.user is None:
        raise InvalidCredentials("unknown login or wrong password")


def authenticate(session: Session, token: str) -> tuple[Caller, bool]:
    """The caller behind a bearer token, and whether its last_seen_at is stale."""
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
    stale = device.last_seen_at is None or utcnow() - device.last_seen_at > LAST_SEEN_GRANULARITY
    caller = Caller(
        user_id=user.id,
        org_id=user.org_id,
        device_id=device.id,
        roles=user.role_names,
        sync_epoch=user.sync_epoch,
    )
    return caller, stale


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
