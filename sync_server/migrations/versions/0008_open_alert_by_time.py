"""index open alerts by recipient and time, for grouping a push's signals

The partial index of open, ungrouped deliveries gains `delivered_at`: a push reads the open
alerts of its notes' recipients within the grouping window through it, instead of walking
every note stored about their workers. Rows are untouched; only the index is rebuilt.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 00:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
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


def downgrade() -> None:
    _replace(["recipient_id"])
