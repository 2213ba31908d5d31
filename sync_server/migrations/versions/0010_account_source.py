"""who added each account: the provisioning file or an administrator

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 00:30:00

Accounts an administrator added through the admin API (audited as "user.create") become the
administrator's; every other stored account was the file's, as before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("user_account") as batch:
        batch.add_column(
            sa.Column(
                "source", sa.String(length=16), nullable=False, server_default="provisioning"
            )
        )
    op.execute(
        "UPDATE user_account SET source = 'admin' WHERE id IN (SELECT entity_id FROM "
        "audit_event WHERE action = 'user.create' AND entity = 'user')"
    )


def downgrade() -> None:
    with op.batch_alter_table("user_account") as batch:
        batch.drop_column("source")
