"""What one push loads once for all its mutations, and what they share while they run.

Every mutation handler receives the batch as an argument: nothing about a push is kept on
the session. Outside a push (the demo's history, a test writing one note) a handler loads
a batch of its own with `PushBatch.load`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import insert
from sqlalchemy.orm import Session

from shared_models.vocabulary import Role
from sync_server.database import Base
from sync_server.orgs.models import Organization, User
from sync_server.orgs.service import Members, users_with_role
from sync_server.routing.service import OpenAlerts

_T = TypeVar("_T")


@dataclass
class PushBatch:
    organisation: Organization
    # The organisation's users by id: routing finds counsellors and stand-ins here.
    members: Members
    coordinators: list[User]
    # The open alerts the batch's notes may join (routing keeps them true as it goes).
    alerts: OpenAlerts = field(default_factory=OpenAlerts)
    # Entity ids the batch creates that one query found unused: no lookup each.
    fresh_ids: set[uuid.UUID] = field(default_factory=set)
    # Rows the mutations refer to, by (model, id), held for the whole push: the session's
    # identity map holds objects weakly, and without these each note would look its worker,
    # team and counsellor up again.
    held: dict[tuple[type[Any], uuid.UUID], Any] = field(default_factory=dict)
    # Rows the handlers created (notes, deliveries, the ledger), inserted by `write` in one
    # statement per table: an ORM object each cost more than the rest of a note's push.
    rows: dict[type[Base], list[dict[str, Any]]] = field(default_factory=dict)

    @classmethod
    def load(cls, session: Session, org_id: uuid.UUID) -> PushBatch:
        """A batch with the organisation, its members (read as needed) and its coordinators."""
        return cls(
            organisation=session.get_one(Organization, org_id),
            members=Members(session, org_id),
            coordinators=users_with_role(session, org_id, Role.COORDINATOR),
        )

    def get(self, session: Session, model: type[_T], entity_id: uuid.UUID) -> _T | None:
        """A row the batch holds (no identity-map lookup), else the session's."""
        held = self.held.get((model, entity_id))
        return held if held is not None else session.get(model, entity_id)

    def add(self, model: type[Base], rows: list[dict[str, Any]]) -> None:
        """Rows to insert at the next `write`, after those added before (parents first)."""
        self.rows.setdefault(model, []).extend(rows)

    def write(self, session: Session) -> None:
        """Insert the rows added so far. Rows that leave a column out get the column's
        NULL (a statement for each set of columns), as an ORM object would."""
        rows, self.rows = self.rows, {}
        connection = session.connection()
        for model, added in rows.items():
            by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
            for row in added:
                by_columns.setdefault(tuple(row), []).append(row)
            for same in by_columns.values():
                connection.execute(insert(model), same)

    def claim_fresh(self, entity_id: uuid.UUID) -> bool:
        """Whether `entity_id` is known unused; a second use in the batch is checked for real."""
        if entity_id in self.fresh_ids:
            self.fresh_ids.discard(entity_id)
            return True
        return False
