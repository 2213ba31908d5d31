"""The supervisor's side: their teams and workers, heads-ups about them, and the category
chips in their one fixed order."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from field_app.state.records import folded
from shared_models.entities import HeadsUpData, TeamData, WorkerData
from shared_models.vocabulary import categories_for


@dataclass(frozen=True)
class TeamRoster:
    team: TeamData
    workers: list[WorkerData]


def supervised_teams(teams: Iterable[TeamData], me: uuid.UUID) -> list[TeamData]:
    return sorted((t for t in teams if me in t.supervisor_ids), key=lambda t: folded(t.name))


def roster(
    teams: Iterable[TeamData], workers: Iterable[WorkerData], me: uuid.UUID, search: str = ""
) -> list[TeamRoster]:
    """Active workers of each team the user supervises, by name; `search` matches name,
    reference or counsellor, accents and case ignored. `workers`: the active ones."""
    wanted = folded(search.strip())
    workers = list(workers)
    out = []
    for team in supervised_teams(teams, me):
        members = [
            w
            for w in workers
            if w.team_id == team.id
            and (
                not wanted
                or wanted in folded(w.display_name)
                or wanted in folded(w.ref)
                or wanted in folded(w.counsellor_name or "")
            )
        ]
        out.append(TeamRoster(team, sorted(members, key=lambda w: folded(w.display_name))))
    return out


def category_order(kind: str) -> list[str]:
    """Categories of `kind` in the vocabulary's order, "other" last: the same on every worker
    and every day, so that hands learn where each one is (an order by use moved them)."""
    vocabulary = list(categories_for(kind))
    return sorted(vocabulary, key=lambda c: c == "other")


@dataclass(frozen=True)
class HeadsUpView:
    heads_up: HeadsUpData
    worker: WorkerData | None


def current_heads_ups(
    heads_ups: Iterable[HeadsUpData],
    workers: Mapping[uuid.UUID, WorkerData],
    today: date,
    worker_ids: set[uuid.UUID],
) -> list[HeadsUpView]:
    """Heads-ups about these workers that have not run out, newest first."""
    items = [
        HeadsUpView(h, workers.get(h.worker_id))
        for h in heads_ups
        if h.worker_id in worker_ids and (h.valid_until is None or h.valid_until >= today)
    ]
    return sorted(items, key=lambda h: h.heads_up.created_at, reverse=True)
