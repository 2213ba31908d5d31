"""the pull index: change-log positions by key of who might see them

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 21:00:00

The existing change log is indexed from the entities' current state, with the keys of
`sync_server.policy.index_keys` as they stand at this revision (written out here, so that
this migration does not change when the policy does).
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
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
note = sa.table(
    "note",
    sa.column("id", sa.Uuid()),
    sa.column("author_id", sa.Uuid()),
    sa.column("worker_id", sa.Uuid()),
)
follow_up = sa.table(
    "follow_up",
    sa.column("id", sa.Uuid()),
    sa.column("author_id", sa.Uuid()),
    sa.column("note_id", sa.Uuid()),
)
heads_up = sa.table(
    "heads_up",
    sa.column("id", sa.Uuid()),
    sa.column("author_id", sa.Uuid()),
    sa.column("worker_id", sa.Uuid()),
)
worker = sa.table("worker", sa.column("id", sa.Uuid()), sa.column("team_id", sa.Uuid()))
team = sa.table("team", sa.column("id", sa.Uuid()))


def _constant(value: uuid.UUID) -> sa.ColumnElement[uuid.UUID]:
    return sa.literal(value, sa.Uuid())


def _backfill() -> None:
    def rows(entity: str, audience: sa.ColumnElement[uuid.UUID], *joins: tuple) -> sa.Select:
        query = sa.select(log.c.org_id, audience, log.c.seq).select_from(log)
        for target, on in joins:
            query = query.join(target, on)
        return query.where(log.c.entity == entity, audience.is_not(None))

    on_note = (note, note.c.id == log.c.entity_id)
    on_follow_up = (follow_up, follow_up.c.id == log.c.entity_id)
    on_heads_up = (heads_up, heads_up.c.id == log.c.entity_id)
    on_worker = (worker, worker.c.id == log.c.entity_id)
    on_team = (team, team.c.id == log.c.entity_id)
    selects = [
        rows("note", note.c.author_id, on_note),
        rows("note", note.c.worker_id, on_note),
        rows("follow_up", follow_up.c.author_id, on_follow_up),
        rows("follow_up", note.c.worker_id, on_follow_up, (note, note.c.id == follow_up.c.note_id)),
        rows("heads_up", heads_up.c.author_id, on_heads_up),
        rows("heads_up", heads_up.c.worker_id, on_heads_up),
        rows(
            "heads_up", worker.c.team_id, on_heads_up, (worker, worker.c.id == heads_up.c.worker_id)
        ),
        rows("worker", _constant(ADMINS), on_worker),
        rows("worker", worker.c.id, on_worker),
        rows("worker", worker.c.team_id, on_worker),
        rows("team", _constant(ADMINS), on_team),
        rows("team", _constant(COUNSELLORS), on_team),
        rows("team", team.c.id, on_team),
        rows("colleague", _constant(EVERYONE)),
        rows("organization", _constant(EVERYONE)),
    ]
    connection = op.get_bind()
    for query in selects:
        connection.execute(index.insert().from_select(["org_id", "audience", "seq"], query))
    # Those who lost sight of an entity read its `remove` under their own id.
    revoked: list[tuple[uuid.UUID, int, list[str]]] = [
        (row.org_id, row.seq, row.revoked)
        for row in connection.execute(
            sa.select(log.c.org_id, log.c.seq, log.c.revoked).where(log.c.revoked.is_not(None))
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
    op.create_table(
        "change_audience",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("audience", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organization.id"], name=op.f("fk_change_audience_org_id_organization")
        ),
        sa.PrimaryKeyConstraint("org_id", "audience", "seq", name=op.f("pk_change_audience")),
    )
    _backfill()


def downgrade() -> None:
    op.drop_table("change_audience")
