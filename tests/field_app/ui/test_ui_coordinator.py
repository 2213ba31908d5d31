"""The coordinator's screens against a real server: history filters, per-worker figures
(counts, open, unacknowledged, median time to acknowledge), the chart's text summary, the
"before the meeting" list, and the French staffing warning."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from relais_testing.factories import PASSWORD, build_world
from relais_testing.serving import server_thread
from relais_testing.ui_harness import open_app, session_of, sign_in, synced
from sync_server.orgs.models import Worker
from sync_server.sync.changelog import record_change


@pytest.fixture
def world_url(db, settings):
    world = build_world(db)
    with db.unit_of_work() as session:  # team A grows to 13 active workers: over the FR rule
        for n in range(10):
            worker = Worker(
                id=uuid.uuid4(),
                org_id=world.org,
                ref=f"x{n}",
                display_name=f"Extra Worker {n}",
                team_id=world.teams["A"],
                counsellor_id=None,
                active=True,
            )
            session.add(worker)
            session.flush()
            record_change(session, world.org, "worker", worker.id)
    with server_thread(db, settings) as url:
        yield world, url


async def seed(url, tmp_path, world):
    """sup_a: three notes about a1 (one acknowledged by couns_1), one about a2; sup_b: b1."""
    sup_a = await open_app(url, tmp_path)
    await sign_in(sup_a, "sup_a", PASSWORD)
    sup_b = await open_app(url, tmp_path)
    await sign_in(sup_b, "sup_b", PASSWORD)
    await synced(sup_a)
    await synced(sup_b)
    notes = [
        (sup_a, "a1", "signal", "housing", "attention"),
        (sup_a, "a1", "safety", "ppe", "info"),
        (sup_a, "a1", "observation", "teamwork", "info"),
        (sup_a, "a2", "signal", "money", "urgent"),
        (sup_b, "b1", "signal", "fatigue", "attention"),
    ]
    ids = []
    for h, ref, kind, category, severity in notes:
        ids.append(
            session_of(h).capture_note(
                team_id=str(world.team_of(ref)),
                worker_id=str(world.workers[ref]),
                kind=kind,
                category=category,
                severity=severity,
                text=f"Fictional {category} note.",
            )
        )
        await synced(h)
    couns = await open_app(url, tmp_path)
    await sign_in(couns, "couns_1", PASSWORD)
    await synced(couns)
    session_of(couns).acknowledge(ids[0])  # a1's housing signal
    await synced(couns)
    for h in (sup_a, sup_b, couns):
        await h.close()
    return ids


def history_count(h) -> str:
    return h.find(key="history-count").value


def test_history_filters_summary_chart_meeting_and_staffing(world_url, tmp_path):
    world, url = world_url

    async def scenario() -> None:
        ids = await seed(url, tmp_path, world)
        h = await open_app(url, tmp_path)
        await sign_in(h, "coord", PASSWORD)
        await synced(h)
        store = session_of(h).require_store()
        await h.wait_until(
            lambda: (n := store.get_entity("note", ids[0])) and n["status"] == "acknowledged"
        )

        # Before the meeting: open signals and safety notes, not the acknowledged one, nor the
        # observation; and the staffing warning for team A (13 workers, 1 supervisor).
        meeting = h.find(key="meeting-list").controls
        keys = {c.content.key for c in meeting}
        assert keys == {f"meeting-{i}" for i in (ids[1], ids[3], ids[4])}
        warning = h.find(key=f"staffing-{world.teams['A']}")
        assert "13" in h.text() and "12" in h.text() and warning.visible
        assert not h.exists(f"staffing-{world.teams['B']}")

        await h.nav("nav", 1)  # History
        await h.wait_until(lambda: history_count(h) == "Notes : 5")
        await h.dropdown("filter-team", str(world.teams["B"]))
        assert history_count(h) == "Notes : 1"
        await h.dropdown("filter-team", "all")
        await h.dropdown("filter-worker", str(world.workers["a1"]))
        assert history_count(h) == "Notes : 3"
        await h.dropdown("filter-kind", "signal")
        assert history_count(h) == "Notes : 1"
        await h.dropdown("filter-kind", "all")
        await h.dropdown("filter-category", "ppe")
        assert history_count(h) == "Notes : 1"
        await h.dropdown("filter-category", "all")
        await h.dropdown("filter-status", "acknowledged")
        assert history_count(h) == "Notes : 1"
        await h.dropdown("filter-status", "all")
        await h.dropdown("filter-period", "7")
        assert history_count(h) == "Notes : 3"

        await h.nav("nav", 2)  # Reports
        line = h.find(key="summary-line-a1").value
        assert line.startswith("Notes : 3 · ouvertes : 1 · non prises en compte : 1")
        assert "délai médian de prise en compte" in line and "—" not in line
        assert h.find(key="summary-line-a2").value.startswith("Notes : 1 · ouvertes : 1")
        assert h.find(key="summary-line-x0").value.startswith("Notes : 0 ·")
        chart = h.find(key="category-chart-semantics")
        assert "Graphique des notes par sujet et par semaine" in chart.label
        assert "notes : 5" in chart.label and "Logement 1" in chart.label
        await h.dropdown("report-team", str(world.teams["B"]))
        assert h.exists("summary-b1") and not h.exists("summary-a1")
        assert "notes : 1 " in h.find(key="category-chart-semantics").label
        await h.close()

    asyncio.run(scenario())
