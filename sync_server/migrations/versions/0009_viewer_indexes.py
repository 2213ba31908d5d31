"""index who a user stands in for and which teams they supervise

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 00:40:00

Every pull builds the caller's viewer from these two questions; without an index each
reads every supervisor row and every account of the organisation, a cost that grows with
the organisation rather than with what the caller may see.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_team_supervisor_user_id", "team_supervisor", ["user_id"])
    op.create_index("ix_user_account_stand_in_id", "user_account", ["stand_in_id"])


def downgrade() -> None:
    op.drop_index("ix_user_account_stand_in_id", table_name="user_account")
    op.drop_index("ix_team_supervisor_user_id", table_name="team_supervisor")
