"""What the app's screens are built from, fed by a real server's pulls or by plain changes:
the counsellor's inbox when an alert's first signal is retracted, and the meeting list's
order."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from field_app.state.reads import Reads
from field_app.store import LocalStore
from relais_testing.factories import build_world, login, mutation, note_data, pull_all, push
from shared_models.wire import Change

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def _into(store: LocalStore, changes: list[dict[str, Any]], cursor: str) -> None:
    store.apply_pull([Change.model_validate(c) for c in changes], cursor)


def test_the_inbox_keeps_every_signal_when_an_alerts_first_one_is_retracted(client, db, tmp_path):
    world = build_world(db)
    sup_a, couns_1 = login(client, "sup_a"), login(client, "couns_1")
    me = world.users["couns_1"]
    first, second, third = (note_data(world, "a1", category="money") for _ in range(3))
    push(client, sup_a, mutation("note.create", first), mutation("note.create", second))
    with LocalStore(tmp_path / "couns_1.sqlite3") as store:
        reads = Reads(store, me)
        _, changes, cursor = pull_all(client, couns_1)
        _into(store, changes, cursor)
        [alert] = reads.inbox(datetime.now(UTC))
        assert (alert.note_id, alert.group_count) == (first["id"], 2)

        push(client, sup_a, mutation("note.retract", {"note_id": first["id"]}))
        _, changes, cursor = pull_all(client, couns_1, cursor)
        _into(store, changes, cursor)
        [alert] = reads.inbox(datetime.now(UTC))
        assert (alert.note_id, alert.group_count) == (second["id"], 1)
        assert alert.due_at is not None and not alert.acknowledged

        push(client, sup_a, mutation("note.create", third))  # joins the alert that remains
        _, changes, cursor = pull_all(client, couns_1, cursor)
        _into(store, changes, cursor)
        [alert] = reads.inbox(datetime.now(UTC))
        assert (alert.note_id, alert.group_count) == (second["id"], 2)


def _note(
    name: str,
    status: str,
    severity: str,
    *,
    captured: timedelta,
    due: timedelta | None,
    acknowledged: bool = False,
    escalated: bool = False,
) -> Change:
    note_id = uuid.uuid5(uuid.NAMESPACE_URL, name)
    delivered = NOW + captured
    delivery = {
        "recipient_id": str(uuid.uuid4()),
        "recipient_name": "Coord (test)",
        "reason": "unassigned",
        "delivered_at": delivered.isoformat(),
        "due_at": (NOW + due).isoformat() if due is not None else None,
        "acknowledged_at": (delivered + timedelta(hours=1)).isoformat() if acknowledged else None,
        "escalated_at": (NOW + due).isoformat() if escalated and due is not None else None,
    }
    return Change(
        entity="note",
        op="upsert",
        id=note_id,
        data={
            "id": str(note_id),
            "author_id": str(uuid.uuid4()),
            "worker_id": str(uuid.uuid4()),
            "team_id": str(uuid.uuid4()),
            "kind": "signal",
            "category": "money",
            "severity": severity,
            "text": f"Fictional: {name}.",
            "captured_at": delivered.isoformat(),
            "received_at": delivered.isoformat(),
            "status": status,
            "deliveries": [delivery],
        },
    )


def test_the_meeting_list_puts_what_is_open_and_late_first(tmp_path: Path):
    """ "Most pressing first": nobody has acknowledged it and its deadline has passed; then
    what nobody has acknowledged yet; then what is being handled but was late."""
    changes = [
        _note(
            "handled after escalation",
            "acknowledged",
            "urgent",
            captured=-timedelta(days=3),
            due=-timedelta(days=2),
            acknowledged=True,
            escalated=True,
        ),
        _note(
            "open, not due yet",
            "open",
            "urgent",
            captured=-timedelta(hours=1),
            due=timedelta(hours=1),
        ),
        _note(
            "open, late", "open", "attention", captured=-timedelta(days=2), due=-timedelta(days=1)
        ),
        _note(
            "open, late for eleven days",
            "open",
            "urgent",
            captured=-timedelta(days=11),
            due=-timedelta(days=11) + timedelta(hours=2),
            escalated=True,
        ),
        _note(
            "open, late, info", "open", "info", captured=-timedelta(days=5), due=-timedelta(days=2)
        ),
    ]
    with LocalStore(tmp_path / "coord.sqlite3") as store:
        store.apply_pull(changes, "cursor")
        meeting = Reads(store, uuid.uuid4()).meeting(NOW)
        order = [item.note.data.text for item in meeting]
    assert order == [
        "Fictional: open, late for eleven days.",
        "Fictional: open, late.",
        "Fictional: open, late, info.",
        "Fictional: open, not due yet.",
        "Fictional: handled after escalation.",
    ]
