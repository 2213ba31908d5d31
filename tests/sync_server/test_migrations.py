"""The migrations and the models agree (as `alembic check` would say), on both backends; every
revision can be undone; `relais db revision` writes the next one from the models."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select, text

import sync_server.models  # noqa: F401  (every table registered on the metadata)
from relais_testing.databases import scratch_postgres
from relais_testing.factories import build_world
from sync_server.audit import service as audit
from sync_server.database import Base, Database
from sync_server.migrations import (
    HERE,
    NothingToWrite,
    alembic_config,
    differences,
    downgrade,
    revision,
    upgrade,
)
from sync_server.orgs.models import User
from tests.conftest import PG_URL, REQUIRE_POSTGRES, require_or_skip


def head(db: Database) -> str:
    revision = ScriptDirectory.from_config(alembic_config(db)).get_current_head()
    assert revision is not None
    return revision


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


def test_worker_source_revision_keeps_workers_and_leaves_their_source_unrecorded(db):
    """0003 adds `worker.source`: workers stored before it have no known source (NULL)."""
    world = build_world(db)
    try:
        command.downgrade(alembic_config(db), "0002")
        with db.engine.connect() as connection:
            columns = {c["name"] for c in inspect(connection).get_columns("worker")}
            assert "source" not in columns
        upgrade(db)
        with db.engine.connect() as connection:
            rows = connection.execute(text("SELECT id, source FROM worker")).all()
    finally:
        upgrade(db)
    assert len(rows) == len(world.workers)
    assert {source for _, source in rows} == {None}


def test_accounts_an_admin_added_before_0010_stay_the_admins(db):
    """0010 adds `user_account.source`: an account audited as added through the admin API is
    the administrator's, every other account the provisioning file's, as it was before."""
    world = build_world(db)
    added = world.users["couns_2"]
    with db.unit_of_work() as session:
        audit.record(
            session,
            org_id=world.org,
            actor_id=None,
            action=audit.USER_CREATED,
            entity="user",
            entity_id=added,
        )
    try:
        command.downgrade(alembic_config(db), "0009")
        upgrade(db)
    finally:
        upgrade(db)
    with db.unit_of_work() as session:
        sources = {u.login: u.source for u in session.scalars(select(User))}
    assert sources.pop("couns_2") == "admin"
    assert set(sources.values()) == {"provisioning"}


def test_deliveries_stored_without_a_deadline_are_chased_after_the_upgrade(db):
    """Revision 0004: what older routing left unchased (a signal grouped into an alert, the
    coordinators' deliveries of a note about a worker without counsellor) gets the deadline
    routing gives it now; what was acknowledged, and the coordinators' urgent copies, do not."""
    from datetime import UTC, datetime, timedelta

    from alembic import command
    from sqlalchemy import select

    from relais_testing.factories import build_world
    from sync_server.notes.models import Note
    from sync_server.routing.models import Delivery
    from sync_server.routing.service import escalate_overdue

    world = build_world(db)
    command.downgrade(alembic_config(db), "0003")
    delivered = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    rows = {  # name: (worker, recipient, reason, severity, acknowledged)
        "grouped signal": ("a1", "couns_1", "referent", "attention", False),
        "no counsellor": ("b2", "coord", "unassigned", "urgent", False),
        "acknowledged": ("b2", "coord", "unassigned", "info", True),
        "urgent copy": ("a1", "coord", "urgent", "urgent", False),
    }
    ids = {}
    with db.unit_of_work() as session:
        for name, (worker, recipient, reason, severity, acknowledged) in rows.items():
            note = Note(
                id=uuid.uuid4(),
                org_id=world.org,
                author_id=world.users["sup_a"],
                worker_id=world.workers[worker],
                team_id=world.team_of(worker),
                kind="signal",
                category="money",
                severity=severity,
                text="Fictional.",
                captured_at=delivered,
                received_at=delivered,
                status="acknowledged" if acknowledged else "open",
            )
            session.add(note)
            session.flush()
            delivery = Delivery(
                note_id=note.id,
                recipient_id=world.users[recipient],
                reason=reason,
                delivered_at=delivered,
                acknowledged_at=delivered if acknowledged else None,
            )
            session.add(delivery)
            session.flush()
            ids[name] = delivery.id
    upgrade(db)
    assert current_revision(db) == head(db)
    with db.reading() as session:
        due = {
            name: session.scalar(select(Delivery.due_at).where(Delivery.id == delivery_id))
            for name, delivery_id in ids.items()
        }
    assert due == {
        "grouped signal": delivered + timedelta(hours=24),
        "no counsellor": delivered + timedelta(hours=2),
        "acknowledged": None,
        "urgent copy": None,
    }
    with db.unit_of_work() as session:
        assert escalate_overdue(session, delivered + timedelta(days=2)) == 2


def test_devices_signed_in_before_0006_keep_working_after_it(db):
    """0006 binds each device to its user's password: devices from before it are stamped
    with the current password, so that the upgrade signs nobody out."""
    from alembic import command

    from relais_testing.factories import build_world, open_session
    from sync_server.auth import service as auth
    from sync_server.auth.models import Device
    from sync_server.auth.passwords import password_stamp

    build_world(db)
    _, _, token = open_session(db, "sup_a")
    command.downgrade(alembic_config(db), "0005")
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


@pytest.fixture
def empty_db(backend: str, tmp_path: Path, postgres_url: str | None) -> Iterator[Database]:
    """A database of its own, with no table yet (never the one the other tests share)."""
    if backend == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 'empty.db'}")
        yield db
        db.dispose()
        return
    require_or_skip(
        postgres_url is not None, f"PostgreSQL not reachable at {PG_URL}", REQUIRE_POSTGRES
    )
    with scratch_postgres(PG_URL, "relais_migrations") as url:
        db = Database(url)
        try:
            yield db
        finally:
            db.dispose()


def tables(db: Database) -> set[str]:
    with db.engine.connect() as connection:
        return set(inspect(connection).get_table_names()) - {"alembic_version"}


def test_every_revision_can_be_undone_and_done_again(empty_db: Database):
    upgrade(empty_db)
    build_world(empty_db)  # downgrades meet real rows, not only empty tables
    downgrade(empty_db, "base")
    assert current_revision(empty_db) is None
    assert tables(empty_db) == set()
    upgrade(empty_db)
    assert current_revision(empty_db) == head(empty_db)
    assert differences(empty_db) == []


def test_a_revision_is_written_from_the_models_with_the_next_number(tmp_path: Path):
    """What a developer runs (`relais db revision -m ...`), on a copy of the migrations: a
    change the database lacks becomes the next numbered revision, which then applies."""
    scripts = tmp_path / "migrations"
    shutil.copytree(HERE, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    db = Database(f"sqlite:///{tmp_path / 'relais.db'}")
    try:
        upgrade(db)
        with pytest.raises(NothingToWrite):
            revision(db, "nothing", script_location=scripts)
        with db.engine.begin() as connection:  # what a new index on a model looks like
            connection.execute(text("DROP INDEX ix_audit_event_org_at"))
        last = head(db)
        path = revision(db, "Audit events by date", script_location=scripts)
        number = f"{int(last) + 1:04d}"
        assert path.parent == scripts / "versions"
        assert path.name == f"{number}_audit_events_by_date.py"
        written = path.read_text(encoding="utf-8")
        assert f"revision: str = '{number}'" in written
        assert f"down_revision: str | None = '{last}'" in written
        assert "ix_audit_event_org_at" in written
        command.upgrade(alembic_config(db, scripts), "head")
        assert current_revision(db) == number
        assert differences(db) == []
        empty = revision(db, "fill by hand", empty=True, script_location=scripts)
        assert empty.name == f"{int(number) + 1:04d}_fill_by_hand.py"
    finally:
        db.dispose()
