"""Notification preferences through the field-side client, against the real server."""

from __future__ import annotations

import asyncio
from datetime import time

import pytest

from field_app.store import LocalStore
from field_app.sync import PreferencesRefused, SyncClient
from relais_testing.factories import PASSWORD, build_world
from relais_testing.serving import server_thread
from shared_models.wire import Preferences


def test_preferences_round_trip_and_refusal(db, settings, tmp_path):
    build_world(db)

    async def scenario(base_url: str) -> None:
        store = LocalStore(tmp_path / "couns_1.sqlite")
        async with SyncClient(store) as client:
            await client.login(base_url, "couns_1", PASSWORD, "test phone")
            assert await client.preferences() == Preferences()  # the defaults
            wanted = Preferences(
                email_urgent=True,
                email_digest=False,
                quiet_start=time(19),
                quiet_end=time(7),
                digest_time=time(8, 15),
                timezone="Europe/Brussels",
            )
            assert await client.set_preferences(wanted) == wanted
            assert await client.preferences() == wanted
            with pytest.raises(PreferencesRefused) as refused:
                await client.set_preferences(wanted.model_copy(update={"timezone": "Mars/Olympus"}))
            assert refused.value.code == "invalid_body"
            assert await client.preferences() == wanted  # nothing changed
        store.close()

    with server_thread(db, settings) as base_url:
        asyncio.run(scenario(base_url))
