"""Two sessions of the app in one process, signed in as different users, see only their own
data and queue, in their own store files; and each session's lifecycle (disconnect pauses
its sync, connect resumes it, close stops it and closes the store)."""

from __future__ import annotations

import asyncio

import pytest

from relais_testing.factories import PASSWORD, build_world
from relais_testing.serving import server_thread
from relais_testing.ui_harness import open_app, session_of, sign_in, synced


@pytest.fixture
def world_url(db, settings):
    build_world(db)
    with server_thread(db, settings) as url:
        yield url


def test_two_sessions_in_one_process_stay_isolated(world_url, tmp_path):
    url = world_url

    async def scenario() -> None:
        a = await open_app(url, tmp_path)  # two devices, one process
        b = await open_app(url, tmp_path)
        await sign_in(a, "sup_a", PASSWORD)
        await sign_in(b, "sup_b", PASSWORD)
        await synced(a)
        await synced(b)
        assert a.exists("worker-a1") and not a.exists("worker-b1")
        assert b.exists("worker-b1") and not b.exists("worker-a1")

        session_a, session_b = session_of(a), session_of(b)
        assert session_a is not session_b
        assert session_a.require_store().path != session_b.require_store().path
        assert session_a.device.path != session_b.device.path

        # A queues a note while the two sessions sync: it never shows up on B's side.
        await a.click("worker-a1")
        await a.select("kind-signal", True)
        await a.select("category-mobility", True)
        await a.type("capture-text", "Fictional: missed the bus twice.")
        await a.click("capture-save")
        assert session_b.require_store().counts().queued == 0
        await synced(a)
        await synced(b)
        assert [v.data["text"] for v in session_a.require_store().notes_view()] == [
            "Fictional: missed the bus twice."
        ]
        assert session_b.require_store().notes_view() == []
        await b.nav("nav", 1)
        assert b.find(key="my-notes-empty")
        assert not b.has_text("missed the bus")
        assert "Sup B" not in a.text() and "Sup A" not in b.text()

        await a.close()  # one session ends: the other keeps syncing
        await a.wait_until(lambda: session_a.store is None)
        assert session_b.syncing
        await b.close()

    asyncio.run(scenario())


def test_disconnect_pauses_connect_resumes_close_releases(world_url, tmp_path):
    url = world_url

    async def scenario() -> None:
        h = await open_app(url, tmp_path)
        await sign_in(h, "couns_1", PASSWORD)
        await synced(h)
        app_session = session_of(h)
        assert app_session.syncing

        await h.disconnect()  # the websocket went away (tab closed or reloading)
        await h.wait_until(lambda: not app_session.syncing)
        assert app_session.store is not None  # kept for a reconnect

        await h.session.connect(h.conn)  # the same tab came back
        await h.settle()
        await h.wait_until(lambda: app_session.syncing)

        store = app_session.store
        await h.close()  # the session expired: everything released
        await h.wait_until(lambda: app_session.store is None)
        assert not app_session.syncing
        with pytest.raises(Exception, match="closed"):
            store.counts()

    asyncio.run(scenario())
