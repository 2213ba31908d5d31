"""A new server version updates the PWA at the next online start, and the outbox survives.

The supervisor's phone has the app cached and one note queued (written offline, browser
closed). The server is then replaced by a newer version: the same code with one wording
changed in the field app, so its build has another version. When the phone starts online
again, the cached (old) app starts at once, sends the note, and says a new version is
ready; "Redémarrer" brings the new version, with the note still there, sent.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import field_app
import shared_models
from field_app.i18n import Translator
from relais_testing import browser as b
from relais_testing.factories import PASSWORD, World
from tests.e2e.test_offline_pwa import capture, offline_cache_ready, row, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow]

FR = Translator("fr")
NOTE = ("Worker A1", "fatigue", "Fictif : très essoufflé après la pause.")
NEWER_OK = "À jour (version suivante)"


def newer_field_app(folder: Path) -> dict[str, str]:
    """A copy of the app's packages with one wording changed, and the environment under which
    a server process packs that copy instead of the installed one."""
    for package in (field_app, shared_models):
        source = Path(package.__file__).resolve().parent
        shutil.copytree(source, folder / source.name, ignore=shutil.ignore_patterns("__pycache__"))
    catalogue = folder / "field_app" / "i18n" / "fr.json"
    words = json.loads(catalogue.read_text(encoding="utf-8"))
    words["sync.ok"] = NEWER_OK
    catalogue.write_text(json.dumps(words, ensure_ascii=False, indent=1), encoding="utf-8")
    # PYTHONSAFEPATH: the working directory (this checkout) must not come before the copy.
    return {"PYTHONPATH": str(folder), "PYTHONSAFEPATH": "1"}


def build_with(env: dict[str, str]) -> None:
    """`relais app build` for the newer version, before the server needs it."""
    done = subprocess.run(
        [sys.executable, "-m", "sync_server", "app", "build"],
        env={**os.environ, **env},  # the same build cache as the servers
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def notes_on_server(database_url: str) -> list[str]:
    with sqlite3.connect(database_url.removeprefix("sqlite:///")) as db:
        return [text for (text,) in db.execute("SELECT text FROM note")]


def test_a_new_version_reaches_the_phone_at_its_next_online_start(
    playwright: Any, world_url: tuple[World, str], tmp_path: Path
) -> None:
    world, database_url = world_url
    t = FR
    shots = b.Shots("update")
    newer = newer_field_app(tmp_path / "newer")
    profile = tmp_path / "supervisor-profile"
    server = b.SyncServer(database_url, tmp_path).start()
    sup_ctx = b.launch_phone(playwright, profile)
    try:
        # The app is cached, then a note is written offline and the browser closed.
        sup = b.open_app(sup_ctx, server.app_url, page=sup_ctx.pages[0])
        b.sign_in(sup, t, "sup_a", PASSWORD)
        b.wait_for(sup, b.button(sup, t("sync.ok")), b.SYNC_MS)
        wait_until(lambda: offline_cache_ready(sup), "the app never became ready offline")
        sup_ctx.set_offline(True)
        capture(sup, *NOTE)
        b.wait_for(sup, b.button(sup, t("sync.offline_queued", n=1)))
        sup_ctx.close()

        # The server is replaced by the newer version, at the same address.
        server.stop()
        build_with(newer)
        server = b.SyncServer(database_url, tmp_path, port=server.port, **newer).start()
        assert NOTE[2] not in notes_on_server(database_url)

        # The phone starts online: the cached app sends the note and offers the update.
        sup_ctx = b.launch_phone(playwright, profile)
        sup = b.open_app(sup_ctx, server.app_url, page=sup_ctx.pages[0])
        b.wait_for(sup, b.button(sup, t("sync.ok")), b.SYNC_MS)
        wait_until(lambda: NOTE[2] in notes_on_server(database_url), "the note never arrived")
        restart = b.wait_for(sup, b.button(sup, t("app.restart")), b.SYNC_MS)
        shots(sup, "update_ready")
        sup.evaluate("() => { window.olderVersion = true; }")
        b.tap(restart)

        # The newer version runs, still signed in, with the note sent.
        sup.wait_for_function("() => !window.olderVersion", timeout=b.START_S * 1000)
        b.wait_for_app(sup)
        b.wait_for(sup, b.button(sup, NEWER_OK), b.SYNC_MS)
        b.wait_for(sup, row(sup, NOTE[0]))
        shots(sup, "updated")
        b.open_tab(sup, t, "my_notes")
        b.wait_for(sup, b.in_app(sup, re.compile(re.escape(NOTE[2]))))
        facts = b.store_facts(b.browser_files(sup), world.users["sup_a"], tmp_path)
        assert facts["queued"] == 0
        assert notes_on_server(database_url).count(NOTE[2]) == 1
    except BaseException:
        b.dump_pages(shots.folder, sup=sup_ctx)
        print(f"--- sync server log ---\n{server.log()}", file=sys.stderr)
        raise
    finally:
        sup_ctx.close()
        server.stop()
    assert "Traceback" not in server.log(), server.log()
