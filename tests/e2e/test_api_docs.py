"""/api/docs, switched on, in a real browser under its own Content-Security-Policy: the page
works (the operations are listed), loads nothing from elsewhere, and breaks no rule of its
policy."""

from __future__ import annotations

import pytest

from relais_testing import browser as b
from relais_testing.serving import server_thread
from sync_server.database import Database
from sync_server.settings import Settings

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_api_docs_work_under_their_policy_with_nothing_from_elsewhere(
    chromium, world_url, tmp_path
):
    settings = Settings(data_dir=tmp_path, escalation_interval=0, api_docs=True)
    db = Database(world_url[1])
    with server_thread(db, settings) as base_url:
        context = chromium.new_context()
        try:
            page = context.new_page()
            requested: list[str] = []
            complaints: list[str] = []
            page.on("request", lambda request: requested.append(request.url))
            page.on("console", lambda message: complaints.append(message.text))
            page.on("pageerror", lambda error: complaints.append(str(error)))
            page.goto(f"{base_url}/api/docs", timeout=b.START_S * 1000)
            page.get_by_text("/api/v1/sync/push").first.wait_for(timeout=b.UI_MS)
            page.get_by_text("/api/v1/me/preferences").first.wait_for(timeout=b.UI_MS)
        finally:
            context.close()
    db.dispose()
    elsewhere = [url for url in requested if not url.startswith(base_url)]
    assert not elsewhere, elsewhere
    assert f"{base_url}/api/openapi.json" in requested
    policy_breaks = [text for text in complaints if "Content Security Policy" in text]
    assert not policy_breaks, policy_breaks
