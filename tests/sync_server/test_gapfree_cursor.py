"""Pull never skips a late commit on PostgreSQL (docs/protocol.md §10, the gap-free cursor).

Writers hold their transactions open (pg_sleep) after taking their change-log position,
while a reader pulls continuously. Everything pulled must equal everything committed.
The same test against a naive sequence cursor must lose changes: that variant stays in the
suite to show the test has teeth.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event, func, insert, select, text
from sqlalchemy.orm import Session

from relais_testing.factories import build_world
from sync_server.database import Database, utcnow
from sync_server.orgs.models import Worker
from sync_server.sync.changelog import record_change
from sync_server.sync.models import ChangeLogEntry

SLOW = "test.slow_commit"


@contextmanager
def slow_commits() -> Iterator[None]:
    """Sleep inside the transaction *after* the change log took its positions, before COMMIT."""

    def pause(session: Session) -> None:
        seconds = session.info.pop(SLOW, None)
        if seconds:
            session.execute(text("SELECT pg_sleep(:s)"), {"s": seconds})

    event.listen(Session, "before_commit", pause)  # runs after the change log's own hook
    try:
        yield
    finally:
        event.remove(Session, "before_commit", pause)


def counter_writer(
    db: Database, org_id: uuid.UUID, team_id: uuid.UUID
) -> Callable[[float], uuid.UUID]:
    """The real mechanism: a new worker recorded through the change log."""

    def write(hold: float) -> uuid.UUID:
        with db.unit_of_work() as session:
            worker = Worker(
                id=uuid.uuid4(),
                org_id=org_id,
                ref=uuid.uuid4().hex[:12],
                display_name="W",
                team_id=team_id,
            )
            session.add(worker)
            record_change(session, org_id, "worker", worker.id)
            session.info[SLOW] = hold
        return worker.id

    return write


def naive_writer(db: Database, org_id: uuid.UUID) -> Callable[[float], uuid.UUID]:
    """A plain sequence as the cursor: the value is taken early, the commit happens later."""
    with db.engine.begin() as conn:
        start = 1 + (conn.execute(select(func.max(ChangeLogEntry.seq))).scalar() or 0)
        conn.execute(text("DROP SEQUENCE IF EXISTS naive_change_seq"))
        conn.execute(text(f"CREATE SEQUENCE naive_change_seq START WITH {start}"))

    def write(hold: float) -> uuid.UUID:
        entity_id = uuid.uuid4()
        with db.engine.begin() as conn:
            seq = conn.execute(text("SELECT nextval('naive_change_seq')")).scalar_one()
            conn.execute(
                insert(ChangeLogEntry).values(
                    org_id=org_id, seq=seq, entity="worker", entity_id=entity_id, at=utcnow()
                )
            )
            conn.execute(text("SELECT pg_sleep(:s)"), {"s": hold})
        return entity_id

    return write


def read_after(db: Database, org_id: uuid.UUID, after: int) -> list[tuple[int, uuid.UUID]]:
    """Exactly pull's query: the change log after the cursor, in position order."""
    with db.reading() as session:
        return [
            (seq, entity_id)
            for seq, entity_id in session.execute(
                select(ChangeLogEntry.seq, ChangeLogEntry.entity_id)
                .where(ChangeLogEntry.org_id == org_id, ChangeLogEntry.seq > after)
                .order_by(ChangeLogEntry.seq)
            )
        ]


class Reader:
    """Pulls continuously in a thread, moving its cursor as a client would."""

    def __init__(self, db: Database, org_id: uuid.UUID) -> None:
        self.db, self.org_id = db, org_id
        self.cursor = max((seq for seq, _ in read_after(db, org_id, 0)), default=0)
        self.seen: set[uuid.UUID] = set()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def pull(self) -> None:
        for seq, entity_id in read_after(self.db, self.org_id, self.cursor):
            assert seq > self.cursor  # cursors only move forward
            self.cursor = seq
            self.seen.add(entity_id)

    def _run(self) -> None:
        while not self.stop.is_set():
            self.pull()
            time.sleep(0.002)

    def __enter__(self) -> Reader:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
        self.pull()  # a last pull after every writer has committed


def late_commit_race(write: Callable[[float], uuid.UUID], reader: Reader) -> set[uuid.UUID]:
    """A takes its position and holds its transaction; B commits after it; the reader looks."""
    a_done: list[uuid.UUID] = []
    slow = threading.Thread(target=lambda: a_done.append(write(0.8)))
    slow.start()
    time.sleep(0.2)  # A has its position and sleeps inside its transaction
    b = write(0.0)  # with the counter row, this waits for A's commit; with a sequence, it doesn't
    time.sleep(0.2)  # the reader runs meanwhile
    slow.join()
    return {a_done[0], b}


@pytest.mark.parametrize("mechanism", ["counter", "naive_sequence"])
def test_late_commit_is_never_skipped(pg_db, mechanism):
    world = build_world(pg_db)
    write = (
        counter_writer(pg_db, world.org, world.teams["A"])
        if mechanism == "counter"
        else naive_writer(pg_db, world.org)
    )
    with slow_commits(), Reader(pg_db, world.org) as reader:
        committed = late_commit_race(write, reader)
    missing = committed - reader.seen
    if mechanism == "counter":
        assert missing == set()
    else:
        # The naive cursor skipped A: its lower position committed after B's was pulled.
        assert len(missing) == 1


@pytest.mark.slow
@pytest.mark.parametrize("mechanism", ["counter", "naive_sequence"])
def test_concurrent_slow_writers_and_a_continuous_reader(pg_db, mechanism):
    world = build_world(pg_db)
    write = (
        counter_writer(pg_db, world.org, world.teams["A"])
        if mechanism == "counter"
        else naive_writer(pg_db, world.org)
    )
    committed: set[uuid.UUID] = set()
    lock = threading.Lock()

    def writer(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(12):
            entity_id = write(rng.choice((0.0, 0.0, 0.02, 0.05, 0.15)))
            with lock:
                committed.add(entity_id)

    with slow_commits(), Reader(pg_db, world.org) as reader:
        writers = [threading.Thread(target=writer, args=(i,)) for i in range(6)]
        for w in writers:
            w.start()
        for w in writers:
            w.join()
    if mechanism == "counter":
        assert reader.seen == committed
    else:
        assert committed - reader.seen, (
            "the naive sequence cursor should have skipped a late commit"
        )
