"""Files that hold personal data, private to the server's account whatever the umask:
the data folder (0700), the SQLite database and its -wal/-shm files, logs and exports (0600).
"""

from __future__ import annotations

import io
import logging
import os
import tempfile
from pathlib import Path
from typing import IO, Any

from sqlalchemy.engine import make_url

PRIVATE_FOLDER = 0o700
PRIVATE_FILE = 0o600
# Files SQLite keeps next to a database: they hold the same data (WAL pages, shared memory).
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def private_folder(path: Path) -> Path:
    """Create the folder if needed, and make it (again) readable by the owner only."""
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_FOLDER)
    os.chmod(path, PRIVATE_FOLDER)
    return path


def _private_opener(path: str, flags: int) -> int:
    return os.open(path, flags, PRIVATE_FILE)


def open_private(path: Path | str, mode: str = "w", **kwargs: Any) -> IO[Any]:
    """`open()` for a file only the owner may read: created 0600 (no window where it is
    wider), and narrowed to 0600 if it already existed."""
    handle = open(path, mode, opener=_private_opener, **kwargs)  # noqa: SIM115 (returned)
    try:
        os.chmod(path, PRIVATE_FILE)
    except BaseException:
        handle.close()
        raise
    return handle


def write_private_file(path: Path, data: str | bytes, encoding: str = "utf-8") -> Path:
    """Write a whole file (an export, say) that only the owner may read. Readers see the old
    content or the new one, never half a file: it is written aside, then renamed."""
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode(encoding) if isinstance(data, str) else data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, PRIVATE_FILE)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL, or None (another database, or in memory)."""
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database:
        return None
    if database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def secure_sqlite_files(url: str) -> None:
    """Make a SQLite database and its companion files private, before SQLite opens them.

    SQLite creates a new database 0644 under umask 022, and its -wal and -shm files with the
    database's own mode: creating the (empty) database file 0600 first covers all three.
    """
    path = sqlite_path(url)
    if path is None or not path.parent.is_dir():
        return  # nothing to protect, or SQLite itself will say the folder is missing
    if not path.exists():
        os.close(_private_opener(str(path), os.O_WRONLY | os.O_CREAT))
    for candidate in (path, *(Path(f"{path}{suffix}") for suffix in SQLITE_COMPANIONS)):
        if candidate.exists():
            os.chmod(candidate, PRIVATE_FILE)


class PrivateFileHandler(logging.FileHandler):
    """A log file only the owner may read (logs name people and devices)."""

    def _open(self) -> io.TextIOWrapper:
        handle = open_private(
            self.baseFilename, self.mode, encoding=self.encoding, errors=self.errors
        )
        assert isinstance(handle, io.TextIOWrapper)  # text mode: "a" or "w"
        return handle
