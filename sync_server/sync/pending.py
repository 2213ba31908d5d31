"""What a transaction changed, noted while services work, before the change log numbers it.

Domain services (and `sync.entities`) record here; `sync.changelog` writes the pending
changes, their audience index and the pokes when the transaction commits. Keeping this
apart lets the change log look up audiences without the domains importing it back.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

PENDING = "relais.pending_changes"


@dataclass(frozen=True)
class PendingChange:
    org_id: uuid.UUID
    entity: str
    entity_id: uuid.UUID
    revoked: frozenset[uuid.UUID] = frozenset()
    # The entity's fields the policy reads, when the caller has just read them (see
    # `record_change`); None: the change log loads the entity.
    row: Any = field(default=None, compare=False)


def record_change(
    session: Session,
    org_id: uuid.UUID,
    entity: str,
    entity_id: uuid.UUID,
    revoked: Iterable[uuid.UUID] = (),
    *,
    row: Any = None,
) -> None:
    """Note that `entity_id` changed in this transaction; `revoked` users lose sight of it.

    `row`: the entity as it will commit, with at least the fields its policy rule reads
    (for a note, `policy.NOTE_FIELDS`), from a caller that has just read them: the change
    log then indexes it and finds its audience without reloading it (the escalation sweep
    logs thousands of notes at a time).
    """
    pending_changes(session).append(
        PendingChange(org_id, entity, entity_id, frozenset(revoked), row)
    )


def pending_changes(session: Session) -> list[PendingChange]:
    pending: list[PendingChange] = session.info.setdefault(PENDING, [])
    return pending


def discard_changes_after(session: Session, mark: int) -> None:
    """Forget changes recorded after `mark` (their savepoint was rolled back)."""
    del pending_changes(session)[mark:]
