"""Fuzzing push with mutations that look right: every v1 type, its fields drawn from the
organisation's real ids, stray ids, every vocabulary word and a few wrong ones, texts at
and past their limits, odd Unicode, extreme dates; sent by each role, often several times.

Whatever arrives, push answers 200 with one verdict per mutation (applied, duplicate, or
rejected with a code), the same mutation sent again gets the same verdict (or `duplicate`
once applied), every pull still answers 200, and a note the server took is the same note
on every pull that shows it.
"""

from __future__ import annotations

import json
import os
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from relais_testing.factories import SUPERVISES, WORKERS, World, build_world, login, pull_all
from shared_models.mutations import (
    HEADS_UP_TEXT_MAX,
    MUTATION_TYPES,
    NOTE_TEXT_MAX,
    REASON_MAX,
)
from shared_models.vocabulary import CATEGORIES, FollowUpAction, NoteKind, Severity

EXAMPLES = int(os.environ.get("RELAIS_FUZZ_EXAMPLES", "30"))
ROLES = ("sup_a", "sup_b", "couns_1", "couns_2", "coord", "admin")


LIMITS = [n for limit in (HEADS_UP_TEXT_MAX, REASON_MAX, NOTE_TEXT_MAX) for n in (limit, limit + 1)]
TEXTS = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", " ", "\x00", "\ud800", "🙂" * 3]),
    st.sampled_from(LIMITS).map(lambda n: "é" * n),
    st.none(),
    st.integers(),
)


# Three times in four (integers would lean towards 0, the simplest example).
MOSTLY = st.sampled_from([True, True, True, False])
MOMENTS = st.one_of(
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.sampled_from(
        ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00", "2026-11-26T10:00:00", "now"]
    ),
)


def mutations(
    world: World,
    ids: st.SearchStrategy[str],
    notes: st.SearchStrategy[str],
    about: dict[str, str],
) -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
    """(who pushes, what). Mostly plausible mutations (real workers, their team, a category of
    the kind, notes already written), mostly by the person who would send them; the rest
    wild, by anyone. Either may have a field changed, dropped or added."""
    words = st.sampled_from(
        [c for cs in CATEGORIES.values() for c in cs]
        + [k.value for k in NoteKind]
        + [s.value for s in Severity]
        + [a.value for a in FollowUpAction]
        + ["", "HEALTH", "santé"]
    )
    wild: dict[str, st.SearchStrategy[Any]] = {
        "id": ids,
        "note_id": st.one_of(ids, notes),
        "heads_up_id": ids,
        "worker_id": st.one_of(ids, st.none()),
        "team_id": ids,
        "kind": words,
        "category": words,
        "severity": words,
        "action": words,
        "text": TEXTS,
        "reason": TEXTS,
        "close": st.one_of(st.booleans(), st.just("yes")),
        "captured_at": MOMENTS,
        "valid_until": st.one_of(st.dates().map(str), st.just("31/12/2026"), st.none()),
    }
    # Fresh ids, truly new: Hypothesis's own uuids repeat on purpose (id_conflict everywhere).
    new_id = st.builds(lambda: str(uuid.uuid4()))
    refs = {str(v): k for k, v in world.workers.items()}  # worker id -> ref

    @st.composite
    def plausible(draw: st.DrawFn, type_: str) -> dict[str, Any]:
        worker = draw(st.sampled_from(sorted(world.workers)))
        kind = draw(st.sampled_from(list(NoteKind)))
        return {
            "note.create": lambda: {
                "id": draw(new_id),
                "worker_id": str(world.workers[worker]),
                "team_id": str(world.team_of(worker)),
                "kind": kind.value,
                "category": draw(st.sampled_from(CATEGORIES[kind])),
                "severity": draw(st.sampled_from([s.value for s in Severity])),
                "text": draw(st.text(max_size=30)),
                "captured_at": datetime.now(UTC).isoformat(),
            },
            "note.retract": lambda: {"note_id": draw(notes), "reason": "Fictif : erreur."},
            "note.acknowledge": lambda: {"note_id": draw(notes)},
            "delivery.seen": lambda: {"note_id": draw(notes)},
            "note.follow_up": lambda: {
                "id": draw(new_id),
                "note_id": draw(notes),
                "action": draw(st.sampled_from([a.value for a in FollowUpAction])),
                "text": "Fictif : rendez-vous pris.",
                "close": draw(st.booleans()),
            },
            "heads_up.create": lambda: {
                "id": draw(new_id),
                "worker_id": str(world.workers[worker]),
                "text": "Fictif : horaires aménagés.",
            },
            "heads_up.end": lambda: {"heads_up_id": draw(ids)},
        }[type_]()

    def sender(type_: str, data: dict[str, Any]) -> str:
        """Who would send it: a note's team supervisor writes or retracts it, the worker's
        counsellor (or a coordinator) handles it. `about`: note id -> worker ref."""
        ref = refs.get(str(data.get("worker_id"))) or about.get(str(data.get("note_id")))
        if ref is None:
            return "coord"
        if type_ in ("note.create", "note.retract"):
            return SUPERVISES[WORKERS[ref][0]][0]
        return WORKERS[ref][1] or "coord"

    @st.composite
    def one(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
        type_ = draw(st.sampled_from([*MUTATION_TYPES, "note.delete"]))
        model = MUTATION_TYPES.get(type_)
        role = draw(st.sampled_from(ROLES))
        if model is not None and draw(MOSTLY):
            data = draw(plausible(type_))
            if draw(MOSTLY):
                role = sender(type_, data)
        else:
            data = {name: draw(wild[name]) for name in (model.model_fields if model else ["id"])}
        if data and not draw(MOSTLY):  # one field changed, dropped or added
            name = draw(st.sampled_from(sorted(data)))
            change = draw(st.sampled_from(["change", "drop", "add"]))
            if change == "change":
                data[name] = draw(wild.get(name, ids))
            elif change == "drop":
                del data[name]
            else:
                data[draw(st.sampled_from(["extra", "org_id", "author_id"]))] = draw(ids)
        client_time = draw(st.one_of(st.builds(lambda: datetime.now(UTC).isoformat()), MOMENTS))
        mutation = {"id": draw(new_id), "type": type_, "data": data, "client_time": client_time}
        return role, mutation

    return one()


def test_push_gives_one_verdict_per_mutation_and_never_fails(client, db):
    world = build_world(db)
    headers = {role: login(client, role) for role in ROLES}
    real = [str(i) for i in (*world.workers.values(), *world.teams.values(), *world.users.values())]
    written: list[str] = [str(uuid.uuid4())]  # ids of the notes pushes created, as they go
    about: dict[str, str] = {}  # note id -> worker ref
    refs = {str(v): k for k, v in world.workers.items()}
    notes = st.integers(0, 10_000).map(lambda i: written[i % len(written)])
    ids = st.one_of(st.sampled_from(real), notes, st.uuids().map(str))

    @given(st.lists(mutations(world, ids, notes, about), min_size=1, max_size=6))
    @hypothesis_settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    def push_some(batch: list[tuple[str, dict[str, Any]]]) -> None:
        for role, mutation in batch:
            body = {"protocol": 1, "mutations": [mutation, mutation]}
            response = client.post(
                "/api/v1/sync/push",
                content=json.dumps(body).encode(),  # escapes: lone surrogates travel too
                headers=headers[role] | {"Content-Type": "application/json"},
            )
            assert response.status_code == 200, response.text
            first, again = response.json()["results"]
            assert first["id"] == again["id"] == mutation["id"]
            assert first["status"] in ("applied", "rejected", "duplicate"), first
            outcomes[first["status"]] += 1
            if first["status"] == "rejected":
                assert first["error"]["code"] and again == first
            else:
                assert again["status"] == "duplicate"
                if mutation["type"] == "note.create" and first["status"] == "applied":
                    written.append(str(mutation["data"]["id"]))
                    ref = refs.get(str(mutation["data"].get("worker_id")))
                    if ref:
                        about[written[-1]] = ref

    outcomes: Counter[str] = Counter()
    push_some()
    # The fuzz reached the handlers, not only validation: some mutations went through.
    assert outcomes["applied"] and outcomes["rejected"], outcomes
    seen: dict[str, Any] = {}
    for role in ROLES:
        state, _, _ = pull_all(client, headers[role])
        for (entity, entity_id), data in state.items():
            if entity == "note":
                facts = {k: data[k] for k in ("text", "kind", "category", "captured_at")}
                assert seen.setdefault(entity_id, facts) == facts
