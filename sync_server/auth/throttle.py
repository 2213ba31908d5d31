"""Login throttling: failed attempts counted per login and per client address, in the
database (so the limits hold across server processes), and purged once out of the window.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.orm import QueryableAttribute, Session

from sync_server.auth.models import LoginAttempt
from sync_server.errors import TooManyAttempts
from sync_server.settings import Settings

ADDRESS_LENGTH = 64  # LoginAttempt.address


@dataclass(frozen=True)
class LoginLimits:
    per_login: int
    per_address: int
    window: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> LoginLimits:
        return cls(
            per_login=settings.login_max_failures,
            per_address=settings.login_max_failures_per_address,
            window=settings.login_window,
        )

    @property
    def minutes(self) -> int:
        return max(1, math.ceil(self.window.total_seconds() / 60))


def client_address(peer: str | None, forwarded_for: Iterable[str], trusted_proxies: int) -> str:
    """Where a login attempt comes from, as counted for the per-address limit.

    `X-Forwarded-For` is read only when `trusted_proxies` reverse proxies are known to stand
    in front of the server: each appends the address it was reached from, so the client is
    the n-th entry from the right; entries further left are whatever the client sent.
    Without trusted proxies the header is ignored (anyone could send it).
    """
    address = peer or "unknown"
    if trusted_proxies > 0:
        hops = [hop.strip() for header in forwarded_for for hop in header.split(",")]
        hops = [hop for hop in hops if hop]
        if hops:
            address = hops[-trusted_proxies] if len(hops) >= trusted_proxies else hops[0]
    return address_key(address)


def address_key(address: str) -> str:
    """IPv4 addresses as they are; IPv6 ones by their /64 network (what one subscriber
    usually holds, so that an attacker cannot step through it); anything else verbatim."""
    candidate = address.strip()
    if candidate.startswith("[") and "]" in candidate:  # "[2001:db8::1]:443"
        candidate = candidate[1 : candidate.index("]")]
    elif candidate.count(":") == 1:  # "192.0.2.1:443"
        candidate = candidate.partition(":")[0]
    try:
        ip = ipaddress.ip_address(candidate)
    except ValueError:
        return address[:ADDRESS_LENGTH]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def _failures(
    session: Session, column: QueryableAttribute[Any], value: str, since: datetime
) -> int:
    count = session.scalar(
        select(func.count())
        .select_from(LoginAttempt)
        .where(column == value, LoginAttempt.succeeded.is_(False), LoginAttempt.at > since)
    )
    return int(count or 0)


def check_limits(
    session: Session, *, login: str, address: str, limits: LoginLimits, now: datetime
) -> None:
    """Refuse (429) an attempt for a login, or from an address, that failed too often
    within the window; such an attempt is neither checked nor counted."""
    since = now - limits.window
    if _failures(session, LoginAttempt.login, login, since) >= limits.per_login:
        raise TooManyAttempts(
            f"too many failed attempts for this login; wait {limits.minutes} minutes"
        )
    if _failures(session, LoginAttempt.address, address, since) >= limits.per_address:
        raise TooManyAttempts(
            f"too many failed attempts from this address; wait {limits.minutes} minutes"
        )


def locked_logins(
    session: Session, logins: Iterable[str], *, limits: LoginLimits, now: datetime
) -> set[str]:
    """Which of `logins` `check_limits` refuses now (for an admin to unlock)."""
    wanted = list(logins)
    if not wanted:
        return set()
    rows = session.execute(
        select(LoginAttempt.login, func.count())
        .where(
            LoginAttempt.login.in_(wanted),
            LoginAttempt.succeeded.is_(False),
            LoginAttempt.at > now - limits.window,
        )
        .group_by(LoginAttempt.login)
    )
    return {login for login, count in rows if count >= limits.per_login}


def _lock_key(name: str) -> int:
    digest = hashlib.sha256(f"relais-login:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _serialise(session: Session, *names: str) -> None:
    """Attempts for one login or one address are counted one at a time, across processes.
    SQLite's BEGIN IMMEDIATE already does it; PostgreSQL takes transaction-scoped advisory
    locks (in a fixed order: no deadlock)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for key in sorted(_lock_key(name) for name in names):
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def reserve_attempt(
    session: Session, *, login: str, address: str, limits: LoginLimits, now: datetime
) -> int:
    """Count an attempt as failed before its password is checked (outside this transaction);
    a success turns it round (`attempt_succeeded`). Counting first keeps the limits exact
    when attempts run side by side. Raises TooManyAttempts instead when over a limit."""
    _serialise(session, f"login:{login}", f"address:{address}")
    check_limits(session, login=login, address=address, limits=limits, now=now)
    attempt = LoginAttempt(login=login, address=address, at=now, succeeded=False)
    session.add(attempt)
    session.flush()
    return attempt.id


def attempt_succeeded(session: Session, attempt_id: int) -> None:
    session.execute(
        update(LoginAttempt).where(LoginAttempt.id == attempt_id).values(succeeded=True)
    )


def forget_failures(session: Session, login: str) -> int:
    """Lift the per-login block: the login's failed attempts are forgotten."""
    result = session.execute(
        delete(LoginAttempt).where(LoginAttempt.login == login, LoginAttempt.succeeded.is_(False))
    )
    return int(getattr(result, "rowcount", 0) or 0)


def has_attempts_before(session: Session, before: datetime) -> bool:
    return (
        session.scalar(select(LoginAttempt.id).where(LoginAttempt.at < before).limit(1)) is not None
    )


def purge_attempts(session: Session, *, before: datetime, batch: int) -> int:
    """Delete up to `batch` attempts older than `before` (they no longer count)."""
    ids = select(LoginAttempt.id).where(LoginAttempt.at < before).limit(batch)
    result = session.execute(delete(LoginAttempt).where(LoginAttempt.id.in_(ids)))
    return int(getattr(result, "rowcount", 0) or 0)
