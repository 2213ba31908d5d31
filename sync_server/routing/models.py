"""Deliveries: one routed copy of a note to one recipient. They answer "who knew what, when"."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sync_server.database import Base, utcnow
from sync_server.notes.models import Note
from sync_server.orgs.models import User

_OPEN = "acknowledged_at IS NULL AND escalated_at IS NULL AND due_at IS NOT NULL"
_OPEN_ALERT = "acknowledged_at IS NULL AND grouped_into_id IS NULL"


class Delivery(Base):
    __tablename__ = "delivery"
    __table_args__ = (
        UniqueConstraint("note_id", "recipient_id"),
        # The escalation sweep reads only open, unescalated deliveries past their deadline.
        Index(
            "ix_delivery_due_open",
            "due_at",
            postgresql_where=text(_OPEN),
            sqlite_where=text(_OPEN),
        ),
        Index("ix_delivery_recipient", "recipient_id", "delivered_at"),
        # Open alerts of a recipient, oldest first: what a new signal may be grouped into.
        Index(
            "ix_delivery_open_alert",
            "recipient_id",
            "delivered_at",
            postgresql_where=text(_OPEN_ALERT),
            sqlite_where=text(_OPEN_ALERT),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    note_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("note.id"), index=True)
    recipient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id"))
    reason: Mapped[str] = mapped_column(String(16))
    delivered_at: Mapped[datetime] = mapped_column(default=utcnow)
    due_at: Mapped[datetime | None]
    seen_at: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]
    # Alert fatigue: a repeat signal joins the open alert of the same worker and category.
    grouped_into_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("delivery.id"))
    # When the recipient was told outside the app (e-mail), if they were.
    notified_at: Mapped[datetime | None]

    note: Mapped[Note] = relationship(lazy="raise")
    recipient: Mapped[User] = relationship(lazy="raise")


def responsible(counsellor: User | None, stand_in: User | None, at: datetime) -> User | None:
    """Who new notes about a counsellor's workers go to at `at`: the stand-in while the
    counsellor is away and an enabled stand-in covers, else the counsellor; nobody (the
    coordinators, then) without an enabled counsellor. Routing and the worker entity agree."""
    if counsellor is None or counsellor.disabled:
        return None
    if counsellor.is_away(at) and stand_in is not None and not stand_in.disabled:
        return stand_in
    return counsellor
