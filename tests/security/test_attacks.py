"""Acting on what is not one's own, through every endpoint family: each action of the matrix
is tried with the victim's real ids and with ids that exist nowhere. Across organisations the
two answers are the same (nothing tells another organisation's note, worker, team or colleague
from an unknown id) and both are refusals; across teams, a refusal. Afterwards the victim's
note is as it was: no follow-up, heads-up, acknowledgement or retraction got through."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from relais_testing.factories import mutation
from sync_server.auth.models import Device
from tests.security.conftest import Target


@dataclass(frozen=True)
class Ids:
    """The victim's ids an attacker aims at (or random ones)."""

    note: str
    worker: str
    team: str
    colleague: str
    device: str
    heads_up: str


# An action: what the attacker sends, given the ids aimed at and the attacker's own team.
Action = Callable[[Ids, str], tuple[str, str, Any]]

ACTIONS: dict[str, Action] = {
    "note.create": lambda ids, own_team: (
        "push",
        "note.create",
        {
            "id": str(uuid.uuid4()),
            "worker_id": ids.worker,
            "team_id": ids.team,
            "kind": "signal",
            "category": "fatigue",
            "severity": "urgent",
            "text": "",
            "captured_at": datetime.now(UTC).isoformat(),
        },
    ),
    "note.create in own team": lambda ids, own_team: (
        "push",
        "note.create",
        {
            "id": str(uuid.uuid4()),
            "worker_id": ids.worker,
            "team_id": own_team,
            "kind": "signal",
            "category": "fatigue",
            "severity": "attention",
            "captured_at": datetime.now(UTC).isoformat(),
        },
    ),
    "note.retract": lambda ids, _: ("push", "note.retract", {"note_id": ids.note}),
    "note.acknowledge": lambda ids, _: ("push", "note.acknowledge", {"note_id": ids.note}),
    "note.follow_up": lambda ids, _: (
        "push",
        "note.follow_up",
        {"id": str(uuid.uuid4()), "note_id": ids.note, "action": "other", "close": True},
    ),
    "delivery.seen": lambda ids, _: ("push", "delivery.seen", {"note_id": ids.note}),
    "heads_up.create": lambda ids, _: (
        "push",
        "heads_up.create",
        {"id": str(uuid.uuid4()), "worker_id": ids.worker, "text": "Plan B."},
    ),
    "heads_up.end": lambda ids, _: ("push", "heads_up.end", {"heads_up_id": ids.heads_up}),
    "stand-in": lambda ids, _: (
        "put",
        "/me/availability",
        {
            "away": True,
            "stand_in_id": ids.colleague,
            "until": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
        },
    ),
    "team brief": lambda ids, _: (
        "get",
        "/briefs",
        {"team_id": ids.team, "from": "2026-01-01", "to": "2026-12-31"},
    ),
    "worker brief": lambda ids, _: (
        "get",
        "/briefs",
        {"worker_id": ids.worker, "from": "2026-01-01", "to": "2026-12-31"},
    ),
    "export json": lambda ids, _: ("get", f"/workers/{ids.worker}/export", {"format": "json"}),
    "export pdf": lambda ids, _: ("get", f"/workers/{ids.worker}/export", {"format": "pdf"}),
    "disable account": lambda ids, _: ("post", f"/admin/users/{ids.colleague}/disable", None),
    "enable account": lambda ids, _: ("post", f"/admin/users/{ids.colleague}/enable", None),
    "unlock account": lambda ids, _: ("post", f"/admin/users/{ids.colleague}/unlock", None),
    "new password": lambda ids, _: (
        "post",
        f"/admin/users/{ids.colleague}/password",
        {"password": "another-horse-battery-staple"},
    ),
    "sign a device out": lambda ids, _: ("post", f"/admin/devices/{ids.device}/revoke", None),
}
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def attempt(
    target: Target, org: str, login: str, action: Action, ids: Ids, sent: set[str]
) -> tuple[Any, ...]:
    """The answer, without the ids it may quote: (HTTP status, status, code, message). The
    ids of entities it would create go to `sent`."""
    own_team = str(target.worlds[org].teams["A"])
    how, what, body = action(ids, own_team)
    if how in ("push", "put") and "id" in body:
        sent.add(body["id"])
    headers = target.headers(org, login)
    if how == "push":
        [result] = target.push(org, login, mutation(what, body))
        error = result.get("error") or {}
        answer: tuple[Any, ...] = (200, result["status"], error.get("code"), error.get("message"))
    else:
        url = f"{target.base_url}/api/v1{what}"
        if how == "get":
            response = httpx.get(url, params=body, headers=headers, timeout=60)
        else:
            response = httpx.request(how, url, json=body, headers=headers, timeout=30)
        error = response.json().get("error", {}) if response.status_code >= 400 else {}
        answer = (response.status_code, None, error.get("code"), error.get("message"))
    return tuple(_UUID.sub("<id>", a) if isinstance(a, str) else a for a in answer)


def refused(answer: tuple[Any, ...]) -> bool:
    status, result, _, _ = answer
    return status >= 400 or result == "rejected"


def victim_note(target: Target) -> Ids:
    """A fresh urgent note by acme's sup_a about a1, and the ids around it (a colleague,
    couns_2, and one of her devices; a heads-up by couns_1 about a1)."""
    world = target.worlds["acme"]
    note = target.note("acme", "sup_a", "a1", severity="urgent")
    target.headers("acme", "couns_2")  # signed in: she has a device
    with target.db.reading() as session:
        device = session.scalars(
            select(Device.id).where(Device.user_id == world.users["couns_2"])
        ).first()
    colleague = str(world.users["couns_2"])
    heads_up = {"id": str(uuid.uuid4()), "worker_id": str(world.workers["a1"]), "text": "Calm."}
    [result] = target.push("acme", "couns_1", mutation("heads_up.create", heads_up))
    assert result["status"] == "applied"
    ids = Ids(
        note["id"],
        str(world.workers["a1"]),
        str(world.teams["A"]),
        colleague,
        str(device),
        heads_up["id"],
    )
    return ids


def random_ids() -> Ids:
    return Ids(*(str(uuid.uuid4()) for _ in range(6)))


def assert_untouched(target: Target, ids: Ids, sent: set[str]) -> None:
    """As acme's coordinator sees it: the note open, never seen nor acknowledged, the
    heads-up not ended, and none of the notes, follow-ups or heads-ups the attacker sent;
    couns_2's account and device as they were (her token still works)."""
    state, _ = target.pull("acme", "coord")
    target.pull("acme", "couns_2")
    valid_until = state[("heads_up", ids.heads_up)]["valid_until"]
    assert valid_until is None or date.fromisoformat(valid_until) >= datetime.now(UTC).date()
    seen = state[("note", ids.note)]
    assert seen["status"] == "open"
    assert all(d["seen_at"] is None and d["acknowledged_at"] is None for d in seen["deliveries"])
    assert sent
    assert not {entity_id for _, entity_id in state} & sent


@pytest.mark.parametrize("login", ["sup_a", "couns_1", "coord", "admin"])
def test_another_organisations_ids_are_unknown_ids(target: Target, login: str):
    ids = victim_note(target)
    sent: set[str] = set()
    for name, action in ACTIONS.items():
        foreign = attempt(target, "rival", login, action, ids, sent)
        unknown = attempt(target, "rival", login, action, random_ids(), sent)
        assert refused(foreign), (name, foreign)
        assert foreign == unknown, name
    assert_untouched(target, ids, sent)


@pytest.mark.parametrize(
    "login",
    [
        "sup_b",  # a supervisor of team B, about team A
        "sup_a2",  # a supervisor of team A, about a colleague's note
        "couns_2",  # a counsellor, about a worker who is not hers
    ],
)
def test_nobody_acts_on_a_colleagues_note_or_a_worker_not_theirs(target: Target, login: str):
    ids = victim_note(target)
    sent: set[str] = set()
    for name, action in ACTIONS.items():
        if name in ("stand-in", "note.create in own team"):
            continue  # naming a colleague as stand-in is the point of that endpoint
        if name == "note.create" and login == "sup_a2":
            continue  # a1 is one of sup_a2's workers too
        answer = attempt(target, "acme", login, action, ids, sent)
        assert refused(answer), (name, answer)
        if name in ("note.retract", "note.acknowledge", "note.follow_up", "delivery.seen"):
            # An invisible note is an unknown note.
            assert answer == attempt(target, "acme", login, action, random_ids(), sent), name
    assert_untouched(target, ids, sent)
