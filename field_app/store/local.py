"""LocalStore: the sqlite3 file behind one user on one device, one transaction per operation.

It owns the synced entities, the outbox, sent and rejected mutations, the cursor and sign-in.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from field_app.store.schema import MIGRATIONS, SCHEMA_VERSION
from shared_models.mutations import (
    UnknownMutationType,
    describe_validation_error,
    parse_mutation_data,
)
from shared_models.vocabulary import EntityType, MutationType, NoteStatus
from shared_models.wire import (
    MAX_MUTATIONS_PER_PUSH,
    Change,
    LoginResponse,
    MutationResult,
    UserInfo,
)


class InvalidMutation(ValueError):
    """Refused before queuing: the server would reject it, so it never enters the outbox."""


class StoreBelongsToAnotherUser(RuntimeError):
    """Each user has their own file; a second user's queued notes must never mix in."""


@dataclass(frozen=True)
class Credentials:
    server: str
    token: str = field(repr=False)  # never in a log line or a traceback's repr
    device_id: uuid.UUID
    user: UserInfo


@dataclass(frozen=True)
class QueuedMutation:
    seq: int
    id: uuid.UUID
    type: str
    data: dict[str, Any]
    client_time: str
    attempts: int

    def wire(self) -> dict[str, Any]:
        """The protocol's Mutation envelope, as push sends it."""
        return {
            "id": str(self.id),
            "type": self.type,
            "data": self.data,
            "client_time": self.client_time,
        }


@dataclass(frozen=True)
class RejectedMutation:
    id: uuid.UUID
    type: str
    data: dict[str, Any]
    code: str
    message: str
    rejected_at: datetime


@dataclass(frozen=True)
class PushOutcome:
    applied: int = 0
    duplicate: int = 0
    rejected: int = 0

    @property
    def settled(self) -> int:
        """Mutations that left the outbox."""
        return self.applied + self.duplicate + self.rejected

    def __add__(self, other: PushOutcome) -> PushOutcome:
        return PushOutcome(
            self.applied + other.applied,
            self.duplicate + other.duplicate,
            self.rejected + other.rejected,
        )


@dataclass(frozen=True)
class OutboxCounts:
    queued: int
    rejected: int


class LocalStatus(StrEnum):
    """Where a note written on this phone stands before the server's copy (a NoteStatus) is
    pulled; SEEN is what its author is shown once a recipient has opened it."""

    QUEUED = "queued"
    SENT = "sent"
    REJECTED = "rejected"
    SEEN = "seen"


@dataclass(frozen=True)
class NoteView:
    """One line of the supervisor's note list, whether the server has the note yet or not.

    `status` is the server's (`open`, `acknowledged`, `closed`, `retracted`) once pulled,
    `sent` once the server acknowledged it but before the next complete pull, `queued`
    while in the outbox and `rejected` (with `error_code`, `error_message`) when refused.
    `pending` lists the queued mutation types about the note (say `note.acknowledge`).
    """

    id: str
    status: str
    data: dict[str, Any]
    captured_at: datetime
    error_code: str | None = None
    error_message: str | None = None
    pending: tuple[str, ...] = ()


_UNCHECKED: Any = object()


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def _note_of(mutation_type: str, data: Mapping[str, Any]) -> str | None:
    """The note a mutation is about, so that lists can show it beside that note."""
    if mutation_type == MutationType.NOTE_CREATE:
        return str(data["id"])
    note_id = data.get("note_id")
    return str(note_id) if note_id is not None else None


def _create_private(path: Path) -> None:
    """Create the file readable by this user only: it holds the token and note text."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
    with contextlib.suppress(OSError):  # platforms without POSIX modes
        os.chmod(path, 0o600)


class LocalStore:
    """Every public method is one transaction: a kill at any point leaves a consistent file.

    Safe to share between the asyncio loop and worker threads: a lock serialises operations.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        journal_mode: str = "WAL",
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        """`on_commit` runs after each write transaction (the PWA copies the file to the
        browser's storage then); `journal_mode` DELETE where the disk has no shared memory."""
        self.path = Path(path)
        self._on_commit = on_commit
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _create_private(self.path)
        self._lock = threading.RLock()
        # isolation_level=None: sqlite3 never opens transactions behind our back.
        self._db = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=10.0
        )
        self._db.execute(f"PRAGMA journal_mode={journal_mode}")
        # FULL, not NORMAL: in WAL mode NORMAL may lose the last commits on power loss or an
        # OS crash, and a note the user saw as queued must survive that. Writes are rare and
        # small (one per note), so the extra fsync costs nothing noticeable.
        self._db.execute("PRAGMA synchronous=FULL")
        self._migrate()
        for suffix in ("-wal", "-shm"):
            with contextlib.suppress(OSError):
                os.chmod(f"{self.path}{suffix}", 0o600)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> LocalStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One writing transaction: BEGIN IMMEDIATE takes the write lock before any read."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        if self._on_commit is not None:
            self._on_commit()

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """One reading transaction, so that several queries see the same snapshot."""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                yield self._db
            finally:
                self._db.execute("COMMIT")

    def _migrate(self) -> None:
        with self._write() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            for step in range(version + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[step].split(";"):
                    if statement.strip():
                        db.execute(statement)
            if version < SCHEMA_VERSION:
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    # Meta ------------------------------------------------------------------------------

    @staticmethod
    def _get_meta(db: sqlite3.Connection, key: str) -> str | None:
        row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    @staticmethod
    def _set_meta(db: sqlite3.Connection, key: str, value: str | None) -> None:
        if value is None:
            db.execute("DELETE FROM meta WHERE key = ?", (key,))
        else:
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # Sign-in ---------------------------------------------------------------------------

    def sign_in(self, server: str, session: LoginResponse) -> None:
        """Keep the token; the file stays bound to the first user who signed in on it."""
        with self._write() as db:
            owner = self._get_meta(db, "owner_id")
            if owner is not None and owner != str(session.user.id):
                raise StoreBelongsToAnotherUser(
                    "this local store belongs to another user; open that user's own file"
                )
            self._set_meta(db, "owner_id", str(session.user.id))
            self._set_meta(db, "server", server)
            self._set_meta(db, "token", session.token)
            self._set_meta(db, "device_id", str(session.device_id))
            self._set_meta(db, "user", session.user.model_dump_json())
            self._set_meta(db, "signed_out_reason", None)

    def credentials(self) -> Credentials | None:
        with self._read() as db:
            values = {k: self._get_meta(db, k) for k in ("server", "token", "device_id", "user")}
        if any(v is None for v in values.values()):
            return None
        return Credentials(
            server=str(values["server"]),
            token=str(values["token"]),
            device_id=uuid.UUID(str(values["device_id"])),
            user=UserInfo.model_validate_json(str(values["user"])),
        )

    def user(self) -> UserInfo | None:
        """The last user signed in here, still known after sign-out (for the sign-in screen)."""
        with self._read() as db:
            raw = self._get_meta(db, "user")
        return None if raw is None else UserInfo.model_validate_json(raw)

    def server(self) -> str | None:
        with self._read() as db:
            return self._get_meta(db, "server")

    def signed_out_reason(self) -> str | None:
        with self._read() as db:
            return self._get_meta(db, "signed_out_reason")

    def sign_out(self, reason: str | None = None, *, token: str | None = None) -> bool:
        """Forget the token and every synced copy; queued and rejected mutations stay.

        With `token`, only if that is still the stored token (a late 401 for an old
        session must not end the current one). Returns whether it signed out.
        """
        with self._write() as db:
            if token is not None and self._get_meta(db, "token") != token:
                return False
            self._set_meta(db, "token", None)
            self._set_meta(db, "device_id", None)
            self._set_meta(db, "cursor", None)
            self._set_meta(db, "signed_out_reason", reason or "signed_out")
            db.execute("DELETE FROM entity")
            db.execute("DELETE FROM sent")  # the server has them; their text leaves with them
        return True

    # Outbox ----------------------------------------------------------------------------

    def queue(
        self,
        mutation_type: str,
        data: Mapping[str, Any],
        *,
        mutation_id: uuid.UUID | None = None,
        client_time: datetime | None = None,
    ) -> uuid.UUID:
        """Validate `data` as the server will, then queue it; returns the mutation id."""
        try:
            parsed = parse_mutation_data(mutation_type, dict(data))
        except UnknownMutationType as exc:
            raise InvalidMutation(str(exc)) from None
        except ValidationError as exc:
            raise InvalidMutation(f"{mutation_type}: {describe_validation_error(exc)}") from None
        if client_time is not None and client_time.tzinfo is None:
            raise InvalidMutation("client_time must carry a UTC offset")
        normalised = parsed.model_dump(mode="json", exclude_unset=True)
        mutation_id = mutation_id or uuid.uuid4()
        now = _now()
        with self._write() as db:
            db.execute(
                "INSERT INTO outbox (mutation_id, type, data, note_id, client_time, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    str(mutation_id),
                    mutation_type,
                    _dumps(normalised),
                    _note_of(mutation_type, normalised),
                    (client_time.isoformat() if client_time else now),
                    now,
                ),
            )
        return mutation_id

    def pending(self, limit: int = MAX_MUTATIONS_PER_PUSH) -> list[QueuedMutation]:
        """The oldest queued mutations, in the order they were made."""
        with self._read() as db:
            rows = db.execute(
                "SELECT seq, mutation_id, type, data, client_time, attempts FROM outbox"
                " ORDER BY seq LIMIT ?",
                (limit,),
            ).fetchall()
        return [
            QueuedMutation(seq, uuid.UUID(mid), type_, json.loads(data), client_time, attempts)
            for seq, mid, type_, data, client_time, attempts in rows
        ]

    def note_attempt(self, mutation_ids: Iterable[uuid.UUID]) -> None:
        """Count a send attempt (for diagnostics; a retry is always safe)."""
        with self._write() as db:
            db.executemany(
                "UPDATE outbox SET attempts = attempts + 1 WHERE mutation_id = ?",
                [(str(i),) for i in mutation_ids],
            )

    def apply_push_results(self, results: Iterable[MutationResult]) -> PushOutcome:
        """Settle queued mutations from a 200 push answer, all in one transaction.

        `applied` and `duplicate` leave the outbox (kept as sent until the next complete
        pull); `rejected` moves to the rejected list for good. Unknown ids are ignored: the
        answer may be a late duplicate of one already settled.
        """
        counts = {"applied": 0, "duplicate": 0, "rejected": 0}
        now = _now()
        with self._write() as db:
            for result in results:
                row = db.execute(
                    "SELECT seq, type, data, note_id, client_time FROM outbox"
                    " WHERE mutation_id = ?",
                    (str(result.id),),
                ).fetchone()
                if row is None:
                    continue
                seq, type_, data, note_id, client_time = row
                if result.status == "rejected":
                    error = result.error
                    db.execute(
                        "INSERT OR REPLACE INTO rejected (mutation_id, type, data, note_id,"
                        " client_time, code, message, rejected_at)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            str(result.id),
                            type_,
                            data,
                            note_id,
                            client_time,
                            error.code if error else "rejected",
                            error.message if error else "",
                            now,
                        ),
                    )
                else:
                    db.execute(
                        "INSERT OR REPLACE INTO sent (seq, mutation_id, type, data, note_id,"
                        " sent_at) VALUES (?, ?, ?, ?, ?, ?)",
                        (seq, str(result.id), type_, data, note_id, now),
                    )
                db.execute("DELETE FROM outbox WHERE seq = ?", (seq,))
                counts[result.status] += 1
        return PushOutcome(**counts)

    def reject_locally(self, mutation_id: uuid.UUID, code: str, message: str) -> bool:
        """Move a queued mutation to the rejected list without a server verdict.

        For a mutation the server cannot even read (`invalid_envelope`), which would
        otherwise block the outbox forever.
        """
        result = MutationResult.model_validate(
            {"id": mutation_id, "status": "rejected", "error": {"code": code, "message": message}}
        )
        return self.apply_push_results([result]).rejected == 1

    def rejected_mutations(self) -> list[RejectedMutation]:
        with self._read() as db:
            rows = db.execute(
                "SELECT mutation_id, type, data, code, message, rejected_at FROM rejected"
                " ORDER BY rejected_at DESC, mutation_id"
            ).fetchall()
        return [
            RejectedMutation(
                uuid.UUID(mid), type_, json.loads(data), code, message, datetime.fromisoformat(at)
            )
            for mid, type_, data, code, message, at in rows
        ]

    def dismiss_rejected(self, mutation_id: uuid.UUID) -> bool:
        """The user has read the refusal and wants it off the list."""
        with self._write() as db:
            cursor = db.execute("DELETE FROM rejected WHERE mutation_id = ?", (str(mutation_id),))
        return cursor.rowcount == 1

    def counts(self) -> OutboxCounts:
        with self._read() as db:
            queued = db.execute("SELECT count(*) FROM outbox").fetchone()[0]
            rejected = db.execute("SELECT count(*) FROM rejected").fetchone()[0]
        return OutboxCounts(queued=queued, rejected=rejected)

    # Pull ------------------------------------------------------------------------------

    def cursor(self) -> str | None:
        with self._read() as db:
            return self._get_meta(db, "cursor")

    def apply_pull(
        self,
        changes: Iterable[Change],
        cursor: str | None,
        reset: bool = False,
        *,
        since: str | None = _UNCHECKED,
        token: str = _UNCHECKED,
    ) -> bool:
        """Apply one pulled page and its cursor in one transaction; False if it was stale.

        `reset` drops every synced copy and the cursor (the next pull starts from null) and
        keeps the outbox and the rejected list. `since` (the cursor the page was asked
        from) and `token` (the token it was asked with) make a late answer harmless: if
        another pull moved the cursor meanwhile, or the user signed out, nothing changes.
        """
        with self._write() as db:
            if since is not _UNCHECKED and self._get_meta(db, "cursor") != since:
                return False
            if token is not _UNCHECKED and self._get_meta(db, "token") != token:
                return False
            if reset:
                db.execute("DELETE FROM entity")
                self._set_meta(db, "cursor", None)
                return True
            for change in changes:
                if change.op == "upsert" and change.data is not None:
                    db.execute(
                        "INSERT OR REPLACE INTO entity (entity, id, data) VALUES (?, ?, ?)",
                        (change.entity, str(change.id), _dumps(change.data)),
                    )
                else:
                    db.execute(
                        "DELETE FROM entity WHERE entity = ? AND id = ?",
                        (change.entity, str(change.id)),
                    )
            self._set_meta(db, "cursor", cursor)
        return True

    def sent_watermark(self) -> int:
        """Taken before a pull: what was sent by then shows up in that pull if visible at all."""
        with self._read() as db:
            return int(db.execute("SELECT coalesce(max(seq), 0) FROM sent").fetchone()[0])

    def forget_sent(self, through: int) -> None:
        """After a complete pull: the synced copies now speak for what was sent before it."""
        with self._write() as db:
            db.execute("DELETE FROM sent WHERE seq <= ?", (through,))

    # Reads -----------------------------------------------------------------------------

    def get_entity(self, entity: str, entity_id: uuid.UUID | str) -> dict[str, Any] | None:
        with self._read() as db:
            row = db.execute(
                "SELECT data FROM entity WHERE entity = ? AND id = ?", (entity, str(entity_id))
            ).fetchone()
        return None if row is None else json.loads(row[0])

    def list_entities(self, entity: str, **equals: Any) -> list[dict[str, Any]]:
        """Synced entities of one type whose fields equal `equals` (say worker_id=...)."""
        with self._read() as db:
            rows = db.execute(
                "SELECT data FROM entity WHERE entity = ? ORDER BY id", (entity,)
            ).fetchall()
        items = [json.loads(row[0]) for row in rows]
        return [item for item in items if _matches(item, equals)]

    def count_entities(self, entity: str) -> int:
        with self._read() as db:
            return int(
                db.execute("SELECT count(*) FROM entity WHERE entity = ?", (entity,)).fetchone()[0]
            )

    def notes_view(
        self, *, worker_id: uuid.UUID | str | None = None, team_id: uuid.UUID | str | None = None
    ) -> list[NoteView]:
        """Synced notes, then sent, queued and rejected ones; newest capture first."""
        create = MutationType.NOTE_CREATE
        with self._read() as db:
            rows = _NoteRows(
                synced=db.execute(
                    "SELECT data FROM entity WHERE entity = ?", (EntityType.NOTE,)
                ).fetchall(),
                sent=db.execute("SELECT data FROM sent WHERE type = ?", (create,)).fetchall(),
                outbox=db.execute("SELECT type, data, note_id FROM outbox ORDER BY seq").fetchall(),
                rejected=db.execute(
                    "SELECT data, code, message FROM rejected WHERE type = ?", (create,)
                ).fetchall(),
            )
        wanted = {
            key: value
            for key, value in (("worker_id", worker_id), ("team_id", team_id))
            if value is not None
        }
        shown = [v for v in rows.merged().values() if _matches(v.data, wanted)]
        return sorted(shown, key=lambda v: (v.captured_at, v.id), reverse=True)

    def note_view(self, note_id: uuid.UUID | str) -> NoteView | None:
        """One note, merged as notes_view merges them, without reading any other note."""
        key, create = str(note_id), MutationType.NOTE_CREATE
        with self._read() as db:
            rows = _NoteRows(
                synced=db.execute(
                    "SELECT data FROM entity WHERE entity = ? AND id = ?", (EntityType.NOTE, key)
                ).fetchall(),
                sent=db.execute(
                    "SELECT data FROM sent WHERE type = ? AND note_id = ?", (create, key)
                ).fetchall(),
                outbox=db.execute(
                    "SELECT type, data, note_id FROM outbox WHERE note_id = ? ORDER BY seq", (key,)
                ).fetchall(),
                rejected=db.execute(
                    "SELECT data, code, message FROM rejected WHERE type = ? AND note_id = ?",
                    (create, key),
                ).fetchall(),
            )
        return rows.merged().get(key)


@dataclass(frozen=True)
class _NoteRows:
    """The rows a note can come from: the server's copy first, then the sent, queued and
    rejected creations; the other queued mutations about a note are its `pending`."""

    synced: list[tuple[str]]
    sent: list[tuple[str]]
    outbox: list[tuple[str, str, str | None]]
    rejected: list[tuple[str, str, str]]

    def merged(self) -> dict[str, NoteView]:
        create = MutationType.NOTE_CREATE
        pending: dict[str, list[str]] = {}
        for type_, _data, note_id in self.outbox:
            if note_id is not None and type_ != create:
                pending.setdefault(note_id, []).append(type_)
        views: dict[str, NoteView] = {}

        def add(
            data: dict[str, Any], status: str, code: str | None = None, message: str | None = None
        ) -> None:
            note_id = str(data["id"])
            if note_id in views:
                return
            views[note_id] = NoteView(
                id=note_id,
                status=status,
                data=data,
                captured_at=datetime.fromisoformat(data["captured_at"]),
                error_code=code,
                error_message=message,
                pending=tuple(pending.get(note_id, ())),
            )

        for (raw,) in self.synced:
            data = json.loads(raw)
            add(data, str(data.get("status", NoteStatus.OPEN)))
        for (raw,) in self.sent:
            add(json.loads(raw), LocalStatus.SENT)
        for type_, raw, _note_id in self.outbox:
            if type_ == create:
                add(json.loads(raw), LocalStatus.QUEUED)
        for raw, code, message in self.rejected:
            add(json.loads(raw), LocalStatus.REJECTED, code, message)
        return views


def _matches(item: Mapping[str, Any], equals: Mapping[str, Any]) -> bool:
    for key, wanted in equals.items():
        value = item.get(key)
        if wanted is None or isinstance(wanted, bool):
            if value is not wanted:
                return False
        elif value is None or str(value) != str(wanted):
            return False
    return True
