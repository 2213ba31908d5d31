"""Notes about workers, the counsellors' follow-ups and their heads-ups back to the worksite.

A note's content never changes once written: corrections are new events (retraction,
follow-up). Only `status`, derived from those events, is kept up to date on the row.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shared_models.vocabulary import NoteStatus
from sync_server.database import Base, utcnow
from sync_server.orgs.models import User, Worker


class Note(Base):
    __tablename__ = "note"
    __table_args__ = (
        Index("ix_note_worker_captured", "worker_id", "captured_at"),
        # A push's repeated signals: the notes of one alert key (`routing.load_open_alerts`).
        Index("ix_note_signal_key", "worker_id", "category", "severity"),
        Index("ix_note_org_received", "org_id", "received_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id"))
    author_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id"), index=True)
    worker_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("worker.id"))
    team_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("team.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text, default="")
    captured_at: Mapped[datetime]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default=NoteStatus.OPEN.value)
    retracted_at: Mapped[datetime | None]
    retract_reason: Mapped[str | None] = mapped_column(String(500))

    author: Mapped[User] = relationship(lazy="raise")
    worker: Mapped[Worker | None] = relationship(lazy="raise")


class FollowUp(Base):
    __tablename__ = "follow_up"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id"))
    note_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("note.id"), index=True)
    author_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id"))
    action: Mapped[str] = mapped_column(String(32))
    text: Mapped[str | None] = mapped_column(Text)
    close: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    note: Mapped[Note] = relationship(lazy="raise")


class HeadsUp(Base):
    """A counsellor's need-to-know message to the supervisors of a worker's team."""

    __tablename__ = "heads_up"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id"))
    worker_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("worker.id"), index=True)
    author_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id"))
    text: Mapped[str] = mapped_column(String(500))
    valid_until: Mapped[date | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    worker: Mapped[Worker] = relationship(lazy="raise")
