"""Alembic migrations; `upgrade(db)` applies the pending ones."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from sync_server.database import Database

HERE = Path(__file__).parent


def alembic_config(db: Database) -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.set_main_option("sqlalchemy.url", db.url.replace("%", "%%"))
    config.attributes["engine"] = db.engine
    return config


def upgrade(db: Database, revision: str = "head") -> None:
    command.upgrade(alembic_config(db), revision)
