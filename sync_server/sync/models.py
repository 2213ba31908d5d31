"""The change log that pull replays, its per-organisation counter, and the mutation ledger.

The ledger makes push idempotent (a mutation id is applied at most once, across all devices
and all time) and keeps rejected mutations, with their reason, for inspection.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from sync_server.database import Base, utcnow


class ChangeCounter(Base):
    """Per-organisation position of the change log; its row lock orders commits."""

    __tablename__ = "change_counter"

    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)


class ChangeLogEntry(Base):
    __tablename__ = "change_log"

    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[uuid.UUID]
    # Users who could see the entity before this change and no longer can: they get `remove`.
    revoked: Mapped[list[str] | None] = mapped_column(JSON)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class ChangeAudience(Base):
    """The pull index: one row per change and key of who might see it (`policy.index_keys`).

    Pull reads only the rows of the caller's keys, so its cost follows what the caller may
    see, not the size of the organisation. Written with the change log, in its transaction.
    """

    __tablename__ = "change_audience"

    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id"), primary_key=True)
    audience: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)


class MutationRecord(Base):
    __tablename__ = "mutation"
    __table_args__ = (Index("ix_mutation_org_status", "org_id", "status"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id"))
    device_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("device.id"))
    type: Mapped[str] = mapped_column(String(100))
    content_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # applied | rejected
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(String(1000))
    # Kept only for rejected mutations (the quarantine), so that nothing is silently dropped.
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    client_time: Mapped[datetime | None]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
