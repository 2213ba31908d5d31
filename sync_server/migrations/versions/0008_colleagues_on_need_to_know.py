"""the pull index files colleagues under who may see them, not under everyone

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 00:30:00

Colleagues are seen on need to know (`sync_server.policy`): themselves, the admins, the
counsellors when they are one, the co-supervisors of their teams. Their change-log
positions are indexed again from the users' current roles and teams, with the keys of
`sync_server.policy.index_keys` as they stand at this revision (written out here, so that
this migration does not change when the policy does). Downgrading files them under
"everyone" again, as revision 0007 did.
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EVERYONE = uuid.UUID("5e1a1500-0000-4000-8000-000000000001")
COUNSELLORS = uuid.UUID("5e1a1500-0000-4000-8000-000000000002")
ADMINS = uuid.UUID("5e1a1500-0000-4000-8000-000000000003")

log = sa.table(
    "change_log",
    sa.column("org_id", sa.Uuid()),
    sa.column("seq", sa.BigInteger()),
    sa.column("entity", sa.String()),
    sa.column("entity_id", sa.Uuid()),
    sa.column("revoked", sa.JSON()),
)
index = sa.table(
    "change_audience",
    sa.column("org_id", sa.Uuid()),
    sa.column("audience", sa.Uuid()),
    sa.column("seq", sa.BigInteger()),
)
user_role = sa.table("user_role", sa.column("user_id", sa.Uuid()), sa.column("role", sa.String()))
team_supervisor = sa.table(
    "team_supervisor", sa.column("user_id", sa.Uuid()), sa.column("team_id", sa.Uuid())
)


def _constant(value: uuid.UUID) -> sa.ColumnElement[uuid.UUID]:
    return sa.literal(value, sa.Uuid())


def _colleague_rows(audience: sa.ColumnElement[uuid.UUID], *joins: tuple) -> sa.Select:
    query = sa.select(log.c.org_id, audience, log.c.seq).select_from(log)
    for target, on in joins:
        query = query.join(target, on)
    return query.where(log.c.entity == "colleague")


def _reindex(selects: list[sa.Select]) -> None:
    """Replace the index rows of every colleague position by `selects` and who lost sight."""
    connection = op.get_bind()
    colleague_position = (
        sa.select(log.c.seq)
        .where(
            log.c.org_id == index.c.org_id,
            log.c.seq == index.c.seq,
            log.c.entity == "colleague",
        )
        .exists()
    )
    connection.execute(index.delete().where(colleague_position))
    for query in selects:
        connection.execute(index.insert().from_select(["org_id", "audience", "seq"], query))
    revoked: list[tuple[uuid.UUID, int, list[str]]] = [
        (row.org_id, row.seq, row.revoked)
        for row in connection.execute(
            sa.select(log.c.org_id, log.c.seq, log.c.revoked).where(
                log.c.entity == "colleague", log.c.revoked.is_not(None)
            )
        )
    ]
    for org_id, seq, users in revoked:
        present: set[uuid.UUID] = set(
            connection.scalars(
                sa.select(index.c.audience).where(index.c.org_id == org_id, index.c.seq == seq)
            )
        )
        missing = {uuid.UUID(u) for u in users or []} - present
        if missing:
            connection.execute(
                index.insert(), [{"org_id": org_id, "audience": u, "seq": seq} for u in missing]
            )


def upgrade() -> None:
    _reindex(
        [
            _colleague_rows(log.c.entity_id),
            _colleague_rows(_constant(ADMINS)),
            _colleague_rows(
                _constant(COUNSELLORS),
                (
                    user_role,
                    sa.and_(
                        user_role.c.user_id == log.c.entity_id, user_role.c.role == "counsellor"
                    ),
                ),
            ),
            _colleague_rows(
                team_supervisor.c.team_id,
                (team_supervisor, team_supervisor.c.user_id == log.c.entity_id),
            ),
        ]
    )


def downgrade() -> None:
    _reindex([_colleague_rows(_constant(EVERYONE))])
