"""Live fan-out of pokes: "something you may see has committed, pull".

Every server process keeps a hub of its open streams. On SQLite (one process) a commit
publishes to the hub directly. On PostgreSQL the commit sends NOTIFY, and every server
process LISTENs and publishes to its own hub, so several processes behind one address all
poke their own listeners. A poke carries no records, so a lost poke only delays a pull.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from starlette.concurrency import run_in_threadpool

from sync_server.metrics import STREAM_LISTENERS

log = logging.getLogger(__name__)

NOTIFY_CHANNEL = "relais_changes"
# PostgreSQL refuses NOTIFY payloads of 8000 bytes or more; larger pokes go to the whole org.
_NOTIFY_MAX = 7000


@dataclass(frozen=True)
class Poke:
    """Committed changes of one organisation, and who may see them (None: anyone in it)."""

    org_id: uuid.UUID
    seq: int
    user_ids: frozenset[uuid.UUID] | None

    def to_json(self) -> str:
        users = None if self.user_ids is None else sorted(str(u) for u in self.user_ids)
        text = json.dumps({"org": str(self.org_id), "seq": self.seq, "users": users})
        if len(text) > _NOTIFY_MAX:
            text = json.dumps({"org": str(self.org_id), "seq": self.seq, "users": None})
        return text

    @classmethod
    def from_json(cls, text: str) -> Poke:
        raw = json.loads(text)
        users = raw.get("users")
        return cls(
            org_id=uuid.UUID(raw["org"]),
            seq=int(raw["seq"]),
            user_ids=None if users is None else frozenset(uuid.UUID(u) for u in users),
        )


@dataclass(eq=False)
class Listener:
    """One open stream. Pokes coalesce: only the newest position matters."""

    org_id: uuid.UUID
    user_id: uuid.UUID
    loop: asyncio.AbstractEventLoop
    latest: int = 0
    _event: asyncio.Event = field(default_factory=asyncio.Event)

    def _deliver(self, seq: int) -> None:
        self.latest = max(self.latest, seq)
        self._event.set()

    async def wait(self, timeout: float) -> int | None:
        """The newest poked position, or None if nothing came within `timeout` seconds."""
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except TimeoutError:
            return None
        self._event.clear()
        return self.latest


class Hub:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_org: dict[uuid.UUID, set[Listener]] = {}
        self._published: dict[uuid.UUID, int] = {}

    def subscribe(self, org_id: uuid.UUID, user_id: uuid.UUID) -> Listener:
        listener = Listener(org_id, user_id, asyncio.get_running_loop())
        with self._lock:
            self._by_org.setdefault(org_id, set()).add(listener)
        STREAM_LISTENERS.inc()
        return listener

    def unsubscribe(self, listener: Listener) -> None:
        with self._lock:
            listeners = self._by_org.get(listener.org_id, set())
            if listener not in listeners:
                return
            listeners.discard(listener)
        STREAM_LISTENERS.dec()

    def publish(self, poke: Poke) -> None:
        """Callable from any thread: hands the poke to each concerned listener's loop."""
        with self._lock:
            self._published[poke.org_id] = max(self._published.get(poke.org_id, 0), poke.seq)
            targets = [
                lis
                for lis in self._by_org.get(poke.org_id, ())
                if poke.user_ids is None or lis.user_id in poke.user_ids
            ]
        for lis in targets:
            with contextlib.suppress(RuntimeError):  # its loop has closed
                lis.loop.call_soon_threadsafe(lis._deliver, poke.seq)

    def poke_everyone(self) -> None:
        """After a gap in fan-out (listener reconnect), make every stream pull once."""
        with self._lock:
            orgs = list(self._by_org)
        for org_id in orgs:
            self.publish(Poke(org_id, 0, None))

    def watched(self) -> dict[uuid.UUID, int]:
        """Organisations with open streams, and the newest position poked for each."""
        with self._lock:
            return {org: self._published.get(org, 0) for org, lis in self._by_org.items() if lis}

    def listener_count(self) -> int:
        with self._lock:
            return sum(len(s) for s in self._by_org.values())


hub = Hub()


async def listen_postgres(conninfo: str, ready: asyncio.Event | None = None) -> None:
    """LISTEN for pokes from every server process sharing the database; runs until cancelled."""
    import psycopg

    delay = 0.5
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
                await conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                delay = 0.5
                hub.poke_everyone()
                if ready is not None:
                    ready.set()
                async for notice in conn.notifies():
                    try:
                        hub.publish(Poke.from_json(notice.payload))
                    except (ValueError, KeyError):
                        log.warning("ignoring a malformed poke")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the database went away: retry, streams keep their timers
            log.warning("poke listener lost its connection (%s); retrying", type(exc).__name__)
            await asyncio.sleep(delay + random.random() * delay)
            delay = min(delay * 2, 15.0)


async def watch_other_writers(
    read_positions: Callable[[list[uuid.UUID]], dict[uuid.UUID, int]], interval: float = 2.0
) -> None:
    """SQLite: commits made by other processes (the admin CLI) poke nobody; look for them.

    Every `interval` seconds, the change counters of watched organisations are compared with
    what this process poked, and a gap pokes the whole organisation (who may see it is
    unknown here; pokes carry no records, so that reveals nothing).
    """
    while True:
        await asyncio.sleep(interval)
        orgs = list(hub.watched())
        if not orgs:
            continue
        try:
            positions = await asyncio.to_thread(read_positions, orgs)
        except Exception as exc:
            log.warning("could not read change positions (%s)", type(exc).__name__)
            continue
        published = hub.watched()  # read after the counters: our own commits are in it
        for org_id, seq in positions.items():
            if seq > published.get(org_id, seq):
                hub.publish(Poke(org_id, seq, None))


async def follow(
    org_id: uuid.UUID,
    user_id: uuid.UUID,
    *,
    heartbeat: float,
    position: Callable[[], int],
    still_signed_in: Callable[[], bool],
) -> AsyncIterator[int | None]:
    """One device's stream: the organisation's position at once, then the newest position
    after each poke, and None (a keep-alive) when `heartbeat` seconds pass quietly.

    Whether the device is still signed in is asked again once per heartbeat: a revoked
    device or a changed role ends the stream. `position` and `still_signed_in` read the
    database, so they run in the request thread pool, never on the event loop.
    """
    listener = hub.subscribe(org_id, user_id)
    try:
        seq = await run_in_threadpool(position)
        yield seq
        checked = time.monotonic()
        while True:
            poked = await listener.wait(heartbeat)
            if time.monotonic() - checked >= heartbeat:
                if not await run_in_threadpool(still_signed_in):
                    return
                checked = time.monotonic()
            if poked is None:
                yield None
            else:
                seq = max(poked, seq)
                yield seq
    finally:
        hub.unsubscribe(listener)
