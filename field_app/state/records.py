"""Reading synced entities as the screens need them: times, names, the organisation.

Entities are the server's JSON; these helpers never write and never touch the network.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from field_app.store import LocalStore
from shared_models.vocabulary import EntityType

Entity = dict[str, Any]


def parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_day(value: object) -> date | None:
    if not isinstance(value, str) or not value:
        return None
    return date.fromisoformat(value[:10])


def now() -> datetime:
    return datetime.now(UTC)


def folded(text: str) -> str:
    """Lower case without accents, for search: "lea" finds "Léa"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def initials(name: str) -> str:
    words = [w for w in name.replace(".", " ").split() if w[:1].isalpha()]
    return "".join(w[0].upper() for w in words[:2]) or "?"


@dataclass(frozen=True)
class Directory:
    """Names by id, loaded once per screen refresh (a few hundred rows at most)."""

    workers: dict[str, Entity]
    teams: dict[str, Entity]
    colleagues: dict[str, Entity]
    organization: Entity | None

    @classmethod
    def load(cls, store: LocalStore) -> Directory:
        organizations = store.list_entities(EntityType.ORGANIZATION)
        return cls(
            workers={w["id"]: w for w in store.list_entities(EntityType.WORKER)},
            teams={t["id"]: t for t in store.list_entities(EntityType.TEAM)},
            colleagues={c["id"]: c for c in store.list_entities(EntityType.COLLEAGUE)},
            organization=organizations[0] if organizations else None,
        )

    def worker(self, worker_id: object) -> Entity | None:
        return self.workers.get(str(worker_id)) if worker_id else None

    def team_name(self, team_id: object) -> str:
        team = self.teams.get(str(team_id))
        return str(team["name"]) if team else ""

    def colleague_name(self, user_id: object) -> str:
        colleague = self.colleagues.get(str(user_id))
        return str(colleague["display_name"]) if colleague else ""
