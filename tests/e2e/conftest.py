"""Fixtures of the browser tests: Debian's Chromium, and a SQLite file with the fictional
organisation of relais_testing/factories.py."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from relais_testing import browser as b
from relais_testing.factories import World, build_world
from sync_server.database import Database
from sync_server.webapp.site import Site
from tests.conftest import REQUIRE_BROWSER, require_or_skip


@pytest.fixture(scope="session")
def pwa_site() -> Site:
    """The field app, built (or found built) before any server needs it."""
    return b.build_app()


@pytest.fixture(scope="module")
def playwright(pwa_site: Site) -> Iterator[Any]:
    require_or_skip(b.have_chromium(), f"Chromium not found at {b.CHROMIUM}", REQUIRE_BROWSER)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def chromium(playwright: Any) -> Iterator[Any]:
    browser = b.launch(playwright)
    yield browser
    browser.close()


@pytest.fixture(autouse=True)
def no_foreign_requests() -> Iterator[None]:
    """The app must never try to reach a host other than its own server."""
    b.FOREIGN.urls.clear()
    yield
    assert not b.FOREIGN.urls, f"requests to other hosts: {b.FOREIGN.urls}"


@pytest.fixture
def world_url(tmp_path: Path, sqlite_template: Path) -> tuple[World, str]:
    """The organisation's ids, and the URL of its migrated SQLite file."""
    path = tmp_path / "relais.db"
    shutil.copy(sqlite_template, path)
    url = f"sqlite:///{path}"
    db = Database(url)
    world = build_world(db)
    db.dispose()
    return world, url
