"""The app's screens, tested in process against a real server thread on SQLite (the server's
own tests cover PostgreSQL): a fictional organisation and its URL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from relais_testing.factories import World, build_world
from relais_testing.serving import server_thread
from sync_server.database import Database
from sync_server.settings import Settings


@pytest.fixture
def backend() -> str:
    return "sqlite"


@pytest.fixture
def world_url(db: Database, settings: Settings) -> Iterator[tuple[World, str]]:
    world = build_world(db)
    with server_thread(db, settings) as url:
        yield world, url
