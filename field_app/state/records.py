"""Typed records on the phone: a note whether or not the server has it yet, names by id, and
small helpers (the time, search, initials, ids from routes and filters).

The synced entities themselves are the shared_models types (WorkerData, NoteData...): the
read layer (reads.py) parses the store's JSON into them once, and screens read attributes.
"""

from __future__ import annotations

import unicodedata
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from field_app.store import LocalStatus, NoteView
from shared_models.entities import (
    DeliveryData,
    NoteData,
    OrganizationData,
    TeamData,
    WorkerData,
)
from shared_models.mutations import NoteCreate


def now() -> datetime:
    return datetime.now(UTC)


def folded(text: str) -> str:
    """Lower case without accents, for search: "lea" finds "Léa"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def initials(name: str) -> str:
    words = [w for w in name.replace(".", " ").split() if w[:1].isalpha()]
    return "".join(w[0].upper() for w in words[:2]) or "?"


def as_id(value: object) -> uuid.UUID | None:
    """The id in a route or a filter's value, or None when there is none (or it is not one)."""
    if isinstance(value, uuid.UUID) or value is None:
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


__all__ = ["Directory", "LocalStatus", "Note", "as_id", "folded", "initials", "now"]

_LOCAL = frozenset({LocalStatus.QUEUED, LocalStatus.SENT, LocalStatus.REJECTED})


@dataclass(frozen=True)
class Note:
    """A note as this phone shows it: the server's copy (NoteData) once pulled, before that
    what was captured here (NoteCreate), queued, sent or rejected.

    `status` is the server's (a NoteStatus) or this phone's (a LocalStatus); `pending` lists
    the queued mutation types about the note (say `note.acknowledge`).
    """

    id: str
    status: str
    data: NoteData | NoteCreate
    error_code: str | None = None
    error_message: str | None = None
    pending: tuple[str, ...] = ()

    @classmethod
    def from_view(cls, view: NoteView) -> Note:
        """Raises pydantic's ValidationError for data this app cannot read."""
        model = NoteCreate if view.status in _LOCAL else NoteData
        return cls(
            id=view.id,
            status=view.status,
            data=model.model_validate(view.data),
            error_code=view.error_code,
            error_message=view.error_message,
            pending=view.pending,
        )

    @property
    def synced(self) -> NoteData | None:
        return self.data if isinstance(self.data, NoteData) else None

    @property
    def captured_at(self) -> datetime:
        return self.data.captured_at

    @property
    def received_at(self) -> datetime | None:
        """When the server took the note in; None until the server sends it back."""
        synced = self.synced
        return synced.received_at if synced is not None else None

    @property
    def author_id(self) -> uuid.UUID | None:
        """None until the server's copy arrives: the note was written by this device's user."""
        return self.synced.author_id if self.synced else None

    @property
    def author_name(self) -> str | None:
        return self.synced.author_name if self.synced else None

    @property
    def deliveries(self) -> list[DeliveryData]:
        """Who received it, when the caller may see that (its author, its recipients)."""
        return (self.synced.deliveries or []) if self.synced else []

    def delivery_to(self, user_id: uuid.UUID) -> DeliveryData | None:
        return next((d for d in self.deliveries if d.recipient_id == user_id), None)


@dataclass(frozen=True)
class Directory:
    """Names by id, loaded once per screen refresh (a few hundred rows at most)."""

    workers: dict[uuid.UUID, WorkerData]
    teams: dict[uuid.UUID, TeamData]
    organization: OrganizationData | None

    def worker(self, worker_id: uuid.UUID | None) -> WorkerData | None:
        return self.workers.get(worker_id) if worker_id else None

    def team_name(self, team_id: uuid.UUID | None) -> str:
        team = self.teams.get(team_id) if team_id else None
        return team.name if team else ""
