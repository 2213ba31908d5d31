"""Online backup and restore of the embedded SQLite database (PostgreSQL: pg_dump).

A backup goes through SQLite's backup API: one consistent snapshot taken while the server
keeps running (WAL readers do not block writers), checked with `integrity_check`, written
as a single file readable by its owner only (mode 0600: it holds notes about people).
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url


class BackupError(Exception):
    """Nothing was written; the message says why, in words for the command line."""


@dataclass(frozen=True)
class BackupReport:
    path: Path
    size: int


def sqlite_path(database_url: str) -> Path | None:
    """The database file behind a SQLite URL, or None for another database."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database:
        return None
    return Path(url.database)


def _private_empty_file(path: Path) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)


def _copy(source: Path, target: Path, *, single_file: bool) -> None:
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)  # one step: a consistent snapshot
        if single_file:
            dst.execute("PRAGMA journal_mode=DELETE")
    src.close()
    dst.close()


def check_database(path: Path) -> None:
    """Refuse a file that is not a sound Relais database."""
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            result = conn.execute("PRAGMA integrity_check").fetchone()
            if not result or result[0] != "ok":
                raise BackupError(f"{path}: failed SQLite's integrity check ({result})")
            if not conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name='alembic_version'"
            ).fetchone():
                raise BackupError(f"{path}: not a Relais database (no schema version)")
        conn.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path}: not a SQLite database ({exc})") from None


def backup(database: Path, target: Path) -> BackupReport:
    """Copy the live database to `target` (a new file, mode 0600)."""
    if not database.exists():
        raise BackupError(f"{database}: no database here yet")
    if target.exists():
        raise BackupError(f"{target}: already exists; choose a new file name")
    if not target.parent.is_dir():
        raise BackupError(f"{target.parent}: no such folder")
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    _private_empty_file(partial)
    try:
        _copy(database, partial, single_file=True)
        check_database(partial)
        with open(partial, "rb") as written:
            os.fsync(written.fileno())
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    os.chmod(target, 0o600)
    return BackupReport(target, target.stat().st_size)


def restore(source: Path, database: Path) -> Path | None:
    """Replace the database's content by a backup's. Stop the server first.

    The current database, if any, is kept beside it first (mode 0600), so a restore never
    loses data by mistake; returns that copy's path.
    """
    if not source.is_file():
        raise BackupError(f"{source}: no such file")
    check_database(source)
    kept = None
    if database.exists():
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        kept = database.with_name(f"{database.name}.before-restore-{stamp}")
        _private_empty_file(kept)
        _copy(database, kept, single_file=True)
    else:
        database.parent.mkdir(parents=True, exist_ok=True)
        _private_empty_file(database)
    # Through the backup API too: it rewrites the file and its WAL consistently.
    _copy(source, database, single_file=False)
    os.chmod(database, 0o600)
    return kept
