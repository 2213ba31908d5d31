"""`relais audit` and `relais quarantine`: what administrators can inspect, without content."""

from __future__ import annotations

import os
import subprocess
import sys

from sync_server.database import Database
from tests.factories import build_world, login, mutation, note_data, pull_all, push

SECRET = "Fictional detail that must never appear in an admin listing."


def relais(db: Database, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, RELAIS_DATABASE_URL=db.url, COLUMNS="200")
    return subprocess.run(
        [sys.executable, "-m", "sync_server", *args], env=env, capture_output=True, text=True
    )


def test_audit_and_quarantine_show_reasons_not_content(client, db):
    world = build_world(db)
    sup_a, couns_1 = login(client, "sup_a"), login(client, "couns_1")
    push(
        client,
        sup_a,
        mutation("note.create", note_data(world, "a1", category="health", text=SECRET)),
    )
    refused = mutation("note.create", note_data(world, "b1", text=SECRET))  # team B: not sup_a's
    assert push(client, sup_a, refused)[0]["status"] == "rejected"
    pull_all(client, couns_1)  # a sensitive read

    audit = relais(db, "audit", "--org", world.slug)
    assert audit.returncode == 0, audit.stderr
    assert "note.read_sensitive" in audit.stdout and "couns_1" in audit.stdout
    quarantine = relais(db, "quarantine", "--org", world.slug)
    assert quarantine.returncode == 0, quarantine.stderr
    assert "forbidden" in quarantine.stdout and refused["id"][:8] in quarantine.stdout
    for output in (audit.stdout, quarantine.stdout):
        assert SECRET[:20] not in output

    unknown = relais(db, "audit", "--org", "nope")
    assert unknown.returncode == 1 and "no organisation" in unknown.stderr
    assert "Traceback" not in unknown.stderr
