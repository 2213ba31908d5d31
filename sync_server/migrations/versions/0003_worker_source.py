"""who owns each worker: the provisioning file or a roster import

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 09:00:00

Workers already stored keep no source (NULL): nobody knows which file added them, so a
provisioning file that does not list them leaves them alone, and one that lists them adopts them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("worker") as batch:
        batch.add_column(sa.Column("source", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("worker") as batch:
        batch.drop_column("source")
