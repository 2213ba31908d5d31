"""Engine, ORM base and the unit of work.

SQLite (embedded default) runs with WAL and foreign keys on, and every writing transaction
starts with BEGIN IMMEDIATE: one writer at a time, so the change log is in commit order. Its
files are made private (0600) before it opens them.
PostgreSQL is reached through psycopg 3.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    ColumnElement,
    Date,
    DateTime,
    Engine,
    MetaData,
    Table,
    Uuid,
    create_engine,
    event,
    func,
    literal_column,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from sync_server.files import secure_sqlite_files

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on SQLite (which keeps no zone) too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        uuid.UUID: Uuid(),
        datetime: UTCDateTime(),
        date: Date(),
        dict[str, Any]: JSON(),
        list[str]: JSON(),
    }


def utcnow() -> datetime:
    return datetime.now(UTC)


def table(model: type[Base]) -> Table:
    """A model's table, for Core statements: bulk inserts of plain rows skip the ORM's
    per-row bookkeeping."""
    return cast(Table, model.__table__)


def random_uuid(dialect: str) -> ColumnElement[uuid.UUID]:
    """A new random (version 4) UUID made by the database, for rows that `INSERT ... SELECT`
    builds there: PostgreSQL's gen_random_uuid(); on SQLite, the 32 hex digits the `Uuid`
    type stores, from randomblob()."""
    if dialect == "postgresql":
        return func.gen_random_uuid(type_=Uuid())
    variant = "substr('89ab', 1 + abs(random() % 4), 1)"
    return literal_column(
        "lower(hex(randomblob(6)) || '4' || substr(hex(randomblob(2)), 2)"
        f" || {variant} || substr(hex(randomblob(8)), 2))",
        Uuid(),
    )


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # SQLAlchemy, not pysqlite, decides when to BEGIN
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        conn.exec_driver_sql(f"BEGIN {mode}")


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        secure_sqlite_files(url)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs
        )
        _sqlite_setup(engine)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    return create_engine(url, pool_pre_ping=True, **kwargs)


class Database:
    """One engine and its two session factories: writing (serialised) and reading."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self._writer = sessionmaker(self.engine, expire_on_commit=False)
        reader_engine = (
            self.engine.execution_options(sqlite_begin="DEFERRED")
            if self.is_sqlite
            else self.engine
        )
        self._reader = sessionmaker(reader_engine, expire_on_commit=False)
        # SQLite has one writer at a time, and its busy handler makes waiting writers sleep
        # and retry; queueing them here instead serves them promptly, one after the other.
        self._sqlite_writer = threading.Lock() if self.is_sqlite else None

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        """A writing transaction: commits if the block ends normally, rolls back otherwise."""
        with self._writing(), self._writer() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    @contextmanager
    def _writing(self) -> Iterator[None]:
        if self._sqlite_writer is None:
            yield
            return
        with self._sqlite_writer:
            yield

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A read-only transaction; on SQLite it does not take the write lock.

        Closing (not rolling back) leaves loaded objects readable after the block.
        """
        with self._reader() as session:
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
