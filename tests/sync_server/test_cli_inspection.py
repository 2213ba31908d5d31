"""`relais audit` and `relais quarantine`: what administrators can inspect, without content.

The first test runs both commands as real subprocesses, the others in process
(relais_testing/command.py)."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import select

from relais_testing.command import Relais
from relais_testing.factories import World, build_world, login, mutation, note_data, pull_all, push
from sync_server.database import Database
from sync_server.orgs.models import User
from sync_server.sync.models import MutationRecord

SECRET = "Fictional detail that must never appear in an admin listing."


def relais(
    db: Database, tmp_path: Path, *args: str, spawn: bool = False
) -> subprocess.CompletedProcess[str]:
    command = Relais(tmp_path)
    command.env["RELAIS_DATABASE_URL"] = db.url
    return command.spawn(*args) if spawn else command(*args)


def test_audit_and_quarantine_show_reasons_not_content(client, db, tmp_path):
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

    audit = relais(db, tmp_path, "audit", "--org", world.slug, spawn=True)
    assert audit.returncode == 0, audit.stderr
    assert "note.read_sensitive" in audit.stdout and "couns_1" in audit.stdout
    quarantine = relais(db, tmp_path, "quarantine", "--org", world.slug, spawn=True)
    assert quarantine.returncode == 0, quarantine.stderr
    assert "forbidden" in quarantine.stdout and refused["id"][:8] in quarantine.stdout
    for output in (audit.stdout, quarantine.stdout):
        assert SECRET[:20] not in output

    unknown = relais(db, tmp_path, "audit", "--org", "nope")
    assert unknown.returncode == 1 and "no organisation" in unknown.stderr
    assert "Traceback" not in unknown.stderr


def _refusals(world: World, note_id: str) -> list[tuple[str, dict[str, Any], str]]:
    """Mutations refused for a value that carries the secret (or a sensitive category): in a
    value, a key, the type, the time. Each with how its reason must start: the field."""

    def note(**changes: Any) -> dict[str, Any]:
        return dict(note_data(world, "a1"), **changes)

    secret_id = SECRET.replace(" ", "-")
    follow = {"id": str(uuid.uuid4()), "note_id": note_id, "action": "other"}
    return [
        ("category of another kind", mutation("note.create", note(category=SECRET)), "category"),
        (
            "sensitive category under another kind",
            mutation("note.create", note(kind="safety", category="health")),
            "category",
        ),
        ("kind", mutation("note.create", note(kind=SECRET)), "kind"),
        ("worker id", mutation("note.create", note(worker_id=secret_id)), "worker_id"),
        ("captured at", mutation("note.create", note(captured_at=SECRET)), "captured_at"),
        ("text too long", mutation("note.create", note(text=SECRET * 100)), "text"),
        ("unknown key", mutation("note.create", note(**{SECRET: "x"})), "*: extra_forbidden"),
        ("action", mutation("note.follow_up", dict(follow, action=SECRET)), "action"),
        (
            "retract reason too long",
            mutation("note.retract", {"note_id": note_id, "reason": SECRET * 20}),
            "reason",
        ),
        ("type", mutation(SECRET, {"text": SECRET}), "unknown mutation type"),
        ("data as text", dict(mutation("note.create", {}), data=SECRET), "data"),
        ("client time", dict(mutation("note.acknowledge", {}), client_time=SECRET), "client_time"),
    ]


def test_quarantine_reasons_name_the_field_and_rule_never_the_value(client, db, tmp_path):
    """Reasons are produced from where and which rule, never from what was sent: neither the
    client nor an admin's listing gets back a value (a category, a word of the note)."""
    world = build_world(db)
    sup_a = login(client, "sup_a")
    stored = note_data(world, "a1")
    assert push(client, sup_a, mutation("note.create", stored))[0]["status"] == "applied"
    refusals = _refusals(world, stored["id"])
    results = push(client, sup_a, *(m for _, m, _ in refusals))
    wrong = []
    for (label, _, field), result in zip(refusals, results, strict=True):
        reason = result.get("error", {}).get("message", "")
        if result["status"] != "rejected" or not reason:
            wrong.append(f"{label}: {result}")
        elif SECRET[:12] in reason or "health" in reason:
            wrong.append(f"{label}: the reason quotes the value: {reason!r}")
        elif not reason.startswith(field) and f"; {field}" not in reason:
            wrong.append(f"{label}: the reason does not name {field!r}: {reason!r}")
    assert not wrong, "\n".join(wrong)

    listed = relais(db, tmp_path, "quarantine", "--org", world.slug)
    assert listed.returncode == 0, listed.stderr
    assert SECRET[:12] not in listed.stdout and "health" not in listed.stdout
    assert "category" in listed.stdout and "captured_at" in listed.stdout


def test_quarantine_never_prints_a_stored_reason_raw(client, db, tmp_path):
    """Reasons stored before they were built from field and rule may quote values: the
    listing shows their code and the fields they name, nothing else."""
    world = build_world(db)
    legacy = [
        (
            "note.create",
            "invalid_data",
            f"category: Value error, category '{SECRET}' is not a category of kind 'safety'",
        ),
        (
            "note.create",
            "invalid_data",
            f"data: Value error, category 'health' is not a category of kind 'safety'; text: {SECRET}",
        ),
        (SECRET[:40], "unknown_type", f"unknown mutation type '{SECRET}'"),
        (
            "note.create",
            "invalid_data",
            f"worker_id: Input should be a valid UUID, found `{SECRET}`",
        ),
    ]
    with db.unit_of_work() as session:
        user = session.scalar(select(User).where(User.login == "sup_a"))
        assert user is not None
        for type_, code, message in legacy:
            session.add(
                MutationRecord(
                    id=uuid.uuid4(),
                    org_id=world.org,
                    user_id=user.id,
                    type=type_,
                    content_hash="0" * 64,
                    status="rejected",
                    error_code=code,
                    error_message=message,
                    payload={"type": type_, "data": {"text": SECRET}},
                )
            )
    listed = relais(db, tmp_path, "quarantine", "--org", world.slug)
    assert listed.returncode == 0, listed.stderr
    assert SECRET[:12] not in listed.stdout and "health" not in listed.stdout
    for shown in ("invalid_data", "unknown_type", "category", "worker_id"):
        assert shown in listed.stdout
