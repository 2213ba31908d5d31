"""Alembic environment: runs on the application's own engine (same SQLite pragmas)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

import sync_server.models  # noqa: F401  (registers every table)
from sync_server.database import Base

config = context.config
engine = config.attributes.get("engine") or create_engine(
    config.get_main_option("sqlalchemy.url", "")
)


def _sqlite_foreign_keys(connection: Connection, on: bool) -> None:
    """SQLite alters a table by copying it and dropping the old one, which its foreign keys
    refuse while rows point at it: they are off while migrating, and checked after."""
    cursor = connection.connection.cursor()  # outside any transaction, as the pragma needs
    try:
        cursor.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")
        if on and (broken := cursor.execute("PRAGMA foreign_key_check").fetchall()):
            raise RuntimeError(f"the migration left rows pointing nowhere: {broken[:5]}")
    finally:
        cursor.close()


with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        _sqlite_foreign_keys(connection, on=False)
    try:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=sqlite,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()
    finally:
        if sqlite:
            _sqlite_foreign_keys(connection, on=True)
