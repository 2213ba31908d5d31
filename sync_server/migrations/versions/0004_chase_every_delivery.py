"""every delivery chased: deadlines for deliveries stored without one

Before this revision, a signal grouped into an open alert, and the coordinators' deliveries
of a note about a worker without counsellor (or of a team-level note), were stored without
a deadline and so were never escalated. Routing now gives them one; this gives the ones
already stored, still unacknowledged and not escalated, the deadline routing would have
given them (`delivered_at` + the organisation's deadline for the note's severity). The
next sweep escalates those already past it, once.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 18:00:00
"""

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import cast

import sqlalchemy as sa
from alembic import op

import sync_server.database

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_MOMENT = sync_server.database.UTCDateTime(timezone=True)
_delivery = sa.table(
    "delivery",
    sa.column("id", sa.Uuid()),
    sa.column("note_id", sa.Uuid()),
    sa.column("reason", sa.String()),
    sa.column("delivered_at", _MOMENT),
    sa.column("due_at", _MOMENT),
    sa.column("acknowledged_at", _MOMENT),
    sa.column("escalated_at", _MOMENT),
)
_note = sa.table(
    "note", sa.column("id", sa.Uuid()), sa.column("org_id", sa.Uuid()), sa.column("severity")
)
_organization = sa.table(
    "organization",
    sa.column("id", sa.Uuid()),
    sa.column("deadline_urgent", sa.Integer()),
    sa.column("deadline_attention", sa.Integer()),
    sa.column("deadline_info", sa.Integer()),
)


def upgrade() -> None:
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(
            _delivery.c.id,
            _delivery.c.delivered_at,
            _note.c.severity,
            _organization.c.deadline_urgent,
            _organization.c.deadline_attention,
            _organization.c.deadline_info,
        )
        .join(_note, _note.c.id == _delivery.c.note_id)
        .join(_organization, _organization.c.id == _note.c.org_id)
        .where(
            _delivery.c.due_at.is_(None),
            _delivery.c.acknowledged_at.is_(None),
            _delivery.c.escalated_at.is_(None),
            _delivery.c.reason.in_(["referent", "stand_in", "unassigned"]),
        )
    ).all()
    for delivery_id, delivered_at, severity, urgent, attention, info in rows:
        deadlines = {"urgent": urgent, "attention": attention, "info": info}
        due_at = cast(datetime, delivered_at) + timedelta(seconds=cast(int, deadlines[str(severity)]))
        connection.execute(
            sa.update(_delivery).where(_delivery.c.id == delivery_id).values(due_at=due_at)
        )


def downgrade() -> None:
    pass  # the deadlines stay: they are what routing gives such deliveries
