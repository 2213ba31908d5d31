"""The `data` of each v1 mutation type, validated the same way on the phone and the server."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from shared_models.fields import Moment, Text
from shared_models.vocabulary import CATEGORIES, FollowUpAction, MutationType, NoteKind, Severity

NOTE_TEXT_MAX = 2000
HEADS_UP_TEXT_MAX = 500
REASON_MAX = 500


class _MutationData(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NoteCreate(_MutationData):
    id: UUID
    worker_id: UUID | None = None
    team_id: UUID
    kind: NoteKind
    category: Text
    severity: Severity
    text: Text = Field(default="", max_length=NOTE_TEXT_MAX)
    captured_at: Moment

    @model_validator(mode="after")
    def _category_fits_kind(self) -> NoteCreate:
        if self.category not in CATEGORIES[self.kind]:
            raise ValueError(
                f"category '{self.category}' is not a category of kind '{self.kind.value}'"
            )
        if self.worker_id is None and self.kind is not NoteKind.SAFETY:
            raise ValueError("worker_id is required, except for a team-level safety note")
        return self


class NoteRetract(_MutationData):
    note_id: UUID
    reason: Text | None = Field(default=None, max_length=REASON_MAX)


class NoteAcknowledge(_MutationData):
    note_id: UUID


class NoteFollowUp(_MutationData):
    id: UUID
    note_id: UUID
    action: FollowUpAction
    text: Text | None = Field(default=None, max_length=NOTE_TEXT_MAX)
    close: bool = False


class HeadsUpCreate(_MutationData):
    id: UUID
    worker_id: UUID
    text: Text = Field(min_length=1, max_length=HEADS_UP_TEXT_MAX)
    valid_until: date | None = None

    @model_validator(mode="after")
    def _text_not_blank(self) -> HeadsUpCreate:
        if not self.text.strip():
            raise ValueError("text must not be blank")
        return self


class DeliverySeen(_MutationData):
    note_id: UUID


MUTATION_TYPES: dict[str, type[_MutationData]] = {
    MutationType.NOTE_CREATE: NoteCreate,
    MutationType.NOTE_RETRACT: NoteRetract,
    MutationType.NOTE_ACKNOWLEDGE: NoteAcknowledge,
    MutationType.NOTE_FOLLOW_UP: NoteFollowUp,
    MutationType.HEADS_UP_CREATE: HeadsUpCreate,
    MutationType.DELIVERY_SEEN: DeliverySeen,
}


class UnknownMutationType(ValueError):
    pass


def parse_mutation_data(mutation_type: str, data: dict[str, Any]) -> _MutationData:
    """Validate `data` for `mutation_type`; raises UnknownMutationType or ValidationError."""
    model = MUTATION_TYPES.get(mutation_type)
    if model is None:
        raise UnknownMutationType(f"unknown mutation type '{mutation_type}'")
    return model.model_validate(data)


def describe_validation_error(error: ValidationError) -> str:
    """One line naming each bad field, for an error message a person can act on."""
    parts = []
    for item in error.errors():
        path = ".".join(str(p) for p in item["loc"]) or "data"
        parts.append(f"{path}: {item['msg']}")
    return "; ".join(parts)
