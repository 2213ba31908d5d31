"""Fixtures of the browser tests: Debian's Chromium, and a SQLite file with the fictional
organisation of tests/factories.py."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sync_server.database import Database
from tests.conftest import REQUIRE_BROWSER, require_or_skip
from tests.e2e import browser as b
from tests.factories import World, build_world


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    require_or_skip(b.have_chromium(), f"Chromium not found at {b.CHROMIUM}", REQUIRE_BROWSER)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = b.launch(playwright)
        yield browser
        browser.close()


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
