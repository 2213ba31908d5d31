"""login attempts by client address; devices bound to the password they signed in with

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 17:30:00
"""

import hashlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("login_attempt") as batch:
        batch.add_column(sa.Column("address", sa.String(length=64), nullable=True))
        batch.create_index("ix_login_attempt_address_at", ["address", "at"], unique=False)
        batch.create_index("ix_login_attempt_at", ["at"], unique=False)

    with op.batch_alter_table("device") as batch:
        batch.add_column(sa.Column("password_stamp", sa.String(length=64), nullable=True))
    # Devices signed in before this revision keep working: they are stamped with their
    # user's current password hash (sha256 hex of it, as sync_server.auth.service does).
    connection = op.get_bind()
    rows = connection.execute(
        sa.text(
            "SELECT device.id, user_account.password_hash FROM device "
            "JOIN user_account ON user_account.id = device.user_id"
        )
    ).all()
    for device_id, password_hash in rows:
        connection.execute(
            sa.text("UPDATE device SET password_stamp = :stamp WHERE id = :id"),
            {"stamp": hashlib.sha256(str(password_hash).encode()).hexdigest(), "id": device_id},
        )
    with op.batch_alter_table("device") as batch:
        batch.alter_column("password_stamp", existing_type=sa.String(length=64), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("device") as batch:
        batch.drop_column("password_stamp")
    with op.batch_alter_table("login_attempt") as batch:
        batch.drop_index("ix_login_attempt_at")
        batch.drop_index("ix_login_attempt_address_at")
        batch.drop_column("address")
