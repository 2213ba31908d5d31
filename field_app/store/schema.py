"""The local store's tables, created in one transaction when a file is first opened.

Bump SCHEMA_VERSION and add a step to MIGRATIONS when the layout changes.
"""

from __future__ import annotations

SCHEMA_VERSION = 1

# Each step runs inside the transaction that also sets PRAGMA user_version.
MIGRATIONS: dict[int, str] = {
    1: """
    -- The server's truth, as this user may see it: replaced page by page by pull.
    CREATE TABLE entity (
        entity TEXT NOT NULL,
        id     TEXT NOT NULL,
        data   TEXT NOT NULL,
        PRIMARY KEY (entity, id)
    ) WITHOUT ROWID;

    -- Changes made here and not yet acknowledged by the server, oldest first.
    CREATE TABLE outbox (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        mutation_id TEXT NOT NULL UNIQUE,
        type        TEXT NOT NULL,
        data        TEXT NOT NULL,
        note_id     TEXT,
        client_time TEXT NOT NULL,
        created_at  TEXT NOT NULL,
        attempts    INTEGER NOT NULL DEFAULT 0
    );

    -- Acknowledged by the server but not yet seen in a complete pull: still shown as "sent".
    CREATE TABLE sent (
        seq         INTEGER PRIMARY KEY,
        mutation_id TEXT NOT NULL UNIQUE,
        type        TEXT NOT NULL,
        data        TEXT NOT NULL,
        note_id     TEXT,
        sent_at     TEXT NOT NULL
    );

    -- Refused for good: kept and shown to the user, never sent again.
    CREATE TABLE rejected (
        mutation_id TEXT PRIMARY KEY,
        type        TEXT NOT NULL,
        data        TEXT NOT NULL,
        note_id     TEXT,
        client_time TEXT NOT NULL,
        code        TEXT NOT NULL,
        message     TEXT NOT NULL,
        rejected_at TEXT NOT NULL
    );

    -- Cursor, server address, token, device and user.
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID;
    """,
}
