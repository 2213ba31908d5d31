"""Passwords: argon2id hashes, and the gate that keeps checking them from stalling the server.

A check costs about 0.1 s of CPU and 64 MiB on purpose. The server runs them on a few
threads of their own (at a lower CPU priority on Linux), never inside a database
transaction or on the event loop, and at most `limit` at once per process, with a short
queue: beyond it a login is answered 503 at once, so that a flood of failed logins cannot
take the CPU and threads that pushes and pulls need.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import sys
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from sync_server.errors import ServiceUnavailable

_hasher = PasswordHasher()  # argon2id, RFC 9106 low-memory profile
# Checked when the login is unknown, so that it costs what a known login costs.
DUMMY_HASH = _hasher.hash("relais-timing-equaliser")
MIN_LENGTH = 8
MAX_LENGTH = 1000


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def password_stamp(password_hash: str) -> str:
    """What a device keeps of the password it signed in with: when the password changes,
    the stamps no longer match and the device's token stops working (whoever changed it)."""
    return hashlib.sha256(password_hash.encode()).hexdigest()


HASHING_NICENESS = 10


def _yield_the_cpu() -> None:
    """Run password checks at a lower CPU priority than the rest of the server (Linux lets
    one thread have its own niceness), so that pushes and pulls come first under a flood."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError):
        tid = threading.get_native_id()
        os.setpriority(
            os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + HASHING_NICENESS
        )


class PasswordGate:
    """At most `limit` password checks at once, on the gate's own threads, and at most
    `waiting` logins waiting for their turn (sign-ins that arrive together just wait a
    moment); any further login is answered 503 at once."""

    def __init__(self, limit: int, waiting: int) -> None:
        self.limit = limit
        self.waiting = waiting
        self.in_use = 0  # checking or waiting; changed on the event loop only
        self._turns: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None
        self._executor: ThreadPoolExecutor | None = None  # made on first use, again after close

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._turns is None or self._turns[0] is not loop:  # a new lifespan, a new loop
            self._turns = (loop, asyncio.Semaphore(self.limit))
        return self._turns[1]

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Wait for one of the `limit` places, or answer 503 (`unavailable`) at once when
        `waiting` logins already wait."""
        if self.in_use >= self.limit + self.waiting:
            raise ServiceUnavailable(
                "the server is busy checking other sign-ins; try again in a moment",
                retry_after=1,
            )
        self.in_use += 1
        try:
            async with self._semaphore():
                yield
        finally:
            self.in_use -= 1

    async def verify(self, password_hash: str, password: str) -> bool:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                self.limit, thread_name_prefix="relais-password", initializer=_yield_the_cpu
            )
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, verify_password, password_hash, password)

    def close(self) -> None:
        """Let the threads go (at the end of the app's lifespan; a restart makes new ones)."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
