"""The supervisor's side: their teams and workers, heads-ups about them, and the category
chips in the order this device uses them most."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime

from field_app.state.records import Entity, folded, parse_day, parse_time
from field_app.store import LocalStore
from shared_models.vocabulary import EntityType, categories_for

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class TeamRoster:
    team: Entity
    workers: list[Entity]


def supervised_teams(store: LocalStore, user_id: str) -> list[Entity]:
    teams = [
        t for t in store.list_entities(EntityType.TEAM) if user_id in t.get("supervisor_ids", [])
    ]
    return sorted(teams, key=lambda t: folded(t["name"]))


def roster(store: LocalStore, user_id: str, search: str = "") -> list[TeamRoster]:
    """Active workers of each team the user supervises, by name; `search` matches name,
    reference or counsellor, accents and case ignored."""
    wanted = folded(search.strip())
    out = []
    workers = store.list_entities(EntityType.WORKER, active=True)
    for team in supervised_teams(store, user_id):
        members = [
            w
            for w in workers
            if w["team_id"] == team["id"]
            and (
                not wanted
                or wanted in folded(w["display_name"])
                or wanted in folded(w.get("ref") or "")
                or wanted in folded(w.get("counsellor_name") or "")
            )
        ]
        out.append(TeamRoster(team, sorted(members, key=lambda w: folded(w["display_name"]))))
    return out


def category_order(store: LocalStore, kind: str) -> list[str]:
    """Categories of `kind`, the ones most used in notes written on this device first.

    Only the user's own notes count: queued, sent and rejected ones are always theirs, and
    synced ones are theirs when they are the author.
    """
    credentials = store.credentials()
    me = str(credentials.user.id) if credentials else None
    used: Counter[str] = Counter()
    for view in store.notes_view():
        author = view.data.get("author_id")
        if view.data.get("kind") == kind and (author is None or author == me):
            used[view.data["category"]] += 1
    vocabulary = list(categories_for(kind))
    return sorted(vocabulary, key=lambda c: (-used[c], c == "other", vocabulary.index(c)))


@dataclass(frozen=True)
class HeadsUpView:
    data: Entity
    worker: Entity | None


def current_heads_ups(store: LocalStore, today: date, worker_ids: set[str]) -> list[HeadsUpView]:
    """Heads-ups about these workers that have not run out, newest first."""
    workers = {w["id"]: w for w in store.list_entities(EntityType.WORKER)}
    items = [
        HeadsUpView(h, workers.get(h["worker_id"]))
        for h in store.list_entities(EntityType.HEADS_UP)
        if h["worker_id"] in worker_ids
        and ((until := parse_day(h.get("valid_until"))) is None or until >= today)
    ]
    return sorted(items, key=lambda h: parse_time(h.data["created_at"]) or _EPOCH, reverse=True)
