"""heads_up.end: its author ends a heads-up early; the supervisors' copies then say it was
valid until yesterday, so no app shows it any more. Nobody else may end it."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from relais_testing.factories import build_world, login, mutation, pull_all, push


def test_the_author_ends_a_heads_up_and_the_supervisors_see_it_ended(client, db):
    world = build_world(db)
    couns, sup, coord = login(client, "couns_1"), login(client, "sup_a"), login(client, "coord")
    heads_up = str(uuid.uuid4())
    until = (date.today() + timedelta(days=14)).isoformat()
    [created] = push(
        client,
        couns,
        mutation(
            "heads_up.create",
            {
                "id": heads_up,
                "worker_id": str(world.workers["a1"]),
                "text": "Fictional: go easy this week.",
                "valid_until": until,
            },
        ),
    )
    assert created["status"] == "applied", created
    state, _, cursor = pull_all(client, sup)
    assert state[("heads_up", heads_up)]["valid_until"] == until

    for who in (sup, coord):  # a supervisor sees it, a coordinator too: neither wrote it
        [refused] = push(client, who, mutation("heads_up.end", {"heads_up_id": heads_up}))
        assert (refused["status"], refused["error"]["code"]) == ("rejected", "forbidden")
    [unknown] = push(client, couns, mutation("heads_up.end", {"heads_up_id": str(uuid.uuid4())}))
    assert unknown["error"]["code"] == "not_found"

    [ended] = push(client, couns, mutation("heads_up.end", {"heads_up_id": heads_up}))
    assert ended["status"] == "applied", ended
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    state, changes, cursor = pull_all(client, sup, cursor)
    assert [c["id"] for c in changes] == [heads_up]
    assert state[("heads_up", heads_up)]["valid_until"] == yesterday.isoformat()

    [again] = push(client, couns, mutation("heads_up.end", {"heads_up_id": heads_up}))
    assert again["status"] == "applied"
    _, changes, _ = pull_all(client, sup, cursor)
    assert changes == []  # ending it again changes nothing
