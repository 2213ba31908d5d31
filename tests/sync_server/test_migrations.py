"""The migrations and the models agree (as `alembic check` would say), on both backends."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

import sync_server.models  # noqa: F401  (every table registered on the metadata)
from sync_server.database import Base, Database
from sync_server.migrations import alembic_config, upgrade
from sync_server.orgs.models import User


def head(db: Database) -> str:
    revision = ScriptDirectory.from_config(alembic_config(db)).get_current_head()
    assert revision is not None
    return revision


def differences(db: Database) -> list[object]:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "compare_type": True,
                "compare_server_default": True,
                "render_as_batch": db.is_sqlite,
            },
        )
        diff: list[object] = compare_metadata(context, Base.metadata)
        return diff


def current_revision(db: Database) -> str | None:
    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def test_models_and_migrations_agree(db):
    assert current_revision(db) == head(db)
    assert differences(db) == []


def test_every_model_table_exists_after_upgrade(db):
    with db.engine.connect() as connection:
        tables = set(inspect(connection).get_table_names())
    assert set(Base.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_upgrade_twice_is_harmless(db):
    upgrade(db)  # the fixture already migrated to head
    upgrade(db)
    assert current_revision(db) == head(db)
    assert differences(db) == []


def test_fresh_sqlite_file_reaches_head(tmp_path: Path):
    path = tmp_path / "fresh" / "relais.db"
    path.parent.mkdir()
    db = Database(f"sqlite:///{path}")
    try:
        assert current_revision(db) is None
        upgrade(db)
        assert path.is_file()
        assert current_revision(db) == head(db)
        assert differences(db) == []
        with db.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        db.dispose()


def test_devices_signed_in_before_0003_keep_working_after_it(db):
    """0003 binds each device to its user's password: devices from before it are stamped
    with the current password, so that the upgrade signs nobody out."""
    from alembic import command

    from sync_server.auth import service as auth
    from sync_server.auth.models import Device
    from sync_server.auth.passwords import password_stamp
    from tests.factories import build_world, open_session

    build_world(db)
    _, _, token = open_session(db, "sup_a")
    command.downgrade(alembic_config(db), "0002")
    try:
        with db.engine.connect() as connection:
            assert "password_stamp" not in {
                c["name"] for c in inspect(connection).get_columns("device")
            }
    finally:
        upgrade(db)
    assert differences(db) == []
    with db.reading() as session:
        caller, _ = auth.authenticate(session, token, expire_after=timedelta(days=90))
        device = session.get_one(Device, caller.device_id)
        user = session.get_one(User, caller.user_id)
        assert device.password_stamp == password_stamp(user.password_hash)
