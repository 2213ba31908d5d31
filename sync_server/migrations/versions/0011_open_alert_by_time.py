"""index notes by alert key, and open alerts by recipient and time, for grouping signals

A push reads the open alerts its signals may join through the notes of each alert key
(worker, category, severity: `ix_note_signal_key`), instead of walking every note stored
about their workers; the partial index of open, ungrouped deliveries gains `delivered_at`,
for a single note's lookup within the grouping window. Rows are untouched.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 00:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OPEN_ALERT = sa.text("acknowledged_at IS NULL AND grouped_into_id IS NULL")


def _replace(columns: list[str]) -> None:
    op.drop_index(
        "ix_delivery_open_alert",
        table_name="delivery",
        postgresql_where=_OPEN_ALERT,
        sqlite_where=_OPEN_ALERT,
    )
    op.create_index(
        "ix_delivery_open_alert",
        "delivery",
        columns,
        unique=False,
        postgresql_where=_OPEN_ALERT,
        sqlite_where=_OPEN_ALERT,
    )


def upgrade() -> None:
    _replace(["recipient_id", "delivered_at"])
    op.create_index("ix_note_signal_key", "note", ["worker_id", "category", "severity"])


def downgrade() -> None:
    op.drop_index("ix_note_signal_key", table_name="note")
    _replace(["recipient_id"])
