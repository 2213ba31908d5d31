"""Side channels: an author learns about her note's deliveries, and nothing there may depend
on a colleague's note. Each case writes the author's note about a worker a colleague also
wrote about (the probe, before or after, kept or retracted) and the same note about a worker
nobody else wrote about (the control): every field the author receives about the two is the
same, and so is every field the colleague receives about the probe and about a control probe.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from relais_testing.factories import mutation
from tests.security.conftest import Target


def _when(value: str | None) -> bool:
    return value is not None


def shown(note: dict[str, Any]) -> dict[str, Any]:
    """What a reader receives about a note, but for what differs between any two notes (ids,
    worker, times): whether each time is set, and each deadline as a delay."""
    deliveries = []
    for d in note["deliveries"]:
        delay = None
        if d["due_at"] is not None:
            due, sent = (
                datetime.fromisoformat(d["due_at"]),
                datetime.fromisoformat(d["delivered_at"]),
            )
            delay = round((due - sent).total_seconds())
        deliveries.append(
            {
                **{k: v for k, v in d.items() if not k.endswith("_at")},
                **{k: _when(v) for k, v in d.items() if k.endswith("_at")},
                "delay": delay,
            }
        )
    kept = {k: v for k, v in note.items() if k not in ("id", "worker_id", "deliveries")}
    return {
        **{k: v for k, v in kept.items() if not k.endswith("_at")},
        **{k: _when(v) for k, v in kept.items() if k.endswith("_at")},
        "deliveries": sorted(deliveries, key=lambda d: (d["recipient_id"], d["reason"])),
    }


@pytest.mark.parametrize("severity", ["attention", "urgent"])
@pytest.mark.parametrize("probe", ["before", "after", "before, retracted", "after, retracted"])
@pytest.mark.parametrize("colleague", ["sup_a2", "coord"])
def test_an_authors_deliveries_say_nothing_of_a_colleagues_note(
    target: Target, colleague: str, probe: str, severity: str
):
    subject, control, elsewhere = (target.add_worker("acme") for _ in range(3))
    same = {"category": "health", "severity": severity, "text": "Limped all morning."}

    def probe_note(worker: str) -> dict[str, Any]:
        return target.note("acme", colleague, worker, **same)

    if probe.startswith("before"):
        probed = probe_note(subject)
    mine = target.note("acme", "sup_a", subject, **same)
    mine_alone = target.note("acme", "sup_a", control, **same)
    if probe.startswith("after"):
        probed = probe_note(subject)
    probe_alone = probe_note(elsewhere)
    if probe.endswith("retracted"):
        for note in (probed, probe_alone):
            [result] = target.push(
                "acme", colleague, mutation("note.retract", {"note_id": note["id"]})
            )
            assert result["status"] == "applied"

    mine_seen, _ = target.pull("acme", "sup_a")
    assert shown(mine_seen[("note", mine["id"])]) == shown(mine_seen[("note", mine_alone["id"])])
    theirs, _ = target.pull("acme", colleague)
    assert shown(theirs[("note", probed["id"])]) == shown(theirs[("note", probe_alone["id"])])


def test_the_counsellor_does_see_the_group(target: Target):
    """The grouping the authors must not see is there: the counsellor's inbox groups the
    second signal into the first (else the test above would prove nothing)."""
    worker = target.add_worker("acme")
    first = target.note("acme", "sup_a", worker, category="health")
    second = target.note("acme", "sup_a2", worker, category="health")
    state, _ = target.pull("acme", "couns_1")
    [delivery] = state[("note", second["id"])]["deliveries"]
    assert delivery["grouped_into"] == first["id"]
