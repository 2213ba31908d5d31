"""The `data` of each v1 mutation type, validated the same way on the phone and the server."""

from __future__ import annotations

from datetime import date
from typing import Any, get_args
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from pydantic_core.core_schema import ErrorType

from shared_models.fields import Moment, OptionalText, Text
from shared_models.vocabulary import CATEGORIES, FollowUpAction, MutationType, NoteKind, Severity
from shared_models.wire import Mutation

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

    # Rules say what is wrong, never with what: a reason may be shown to an administrator,
    # and a category alone can be sensitive.
    @field_validator("category")
    @classmethod
    def _category_fits_kind(cls, category: str, info: ValidationInfo) -> str:
        kind = info.data.get("kind")
        if kind is not None and category not in CATEGORIES[kind]:
            raise PydanticCustomError("category_of_other_kind", "not a category of this kind")
        return category

    @model_validator(mode="after")
    def _worker_unless_team_safety(self) -> NoteCreate:
        if self.worker_id is None and self.kind is not NoteKind.SAFETY:
            raise PydanticCustomError(
                "worker_id_required", "worker_id is required, except for a team-level safety note"
            )
        return self


class NoteRetract(_MutationData):
    note_id: UUID
    reason: OptionalText = Field(default=None, max_length=REASON_MAX)


class NoteAcknowledge(_MutationData):
    note_id: UUID


class NoteFollowUp(_MutationData):
    id: UUID
    note_id: UUID
    action: FollowUpAction
    text: OptionalText = Field(default=None, max_length=NOTE_TEXT_MAX)
    close: bool = False


class HeadsUpCreate(_MutationData):
    id: UUID
    worker_id: UUID
    text: Text = Field(min_length=1, max_length=HEADS_UP_TEXT_MAX)
    valid_until: date | None = None

    @field_validator("text")
    @classmethod
    def _text_not_blank(cls, text: str) -> str:
        if not text.strip():
            raise PydanticCustomError("blank", "must not be blank")
        return text


class DeliverySeen(_MutationData):
    note_id: UUID


class HeadsUpEnd(_MutationData):
    heads_up_id: UUID


MUTATION_TYPES: dict[str, type[_MutationData]] = {
    MutationType.NOTE_CREATE: NoteCreate,
    MutationType.NOTE_RETRACT: NoteRetract,
    MutationType.NOTE_ACKNOWLEDGE: NoteAcknowledge,
    MutationType.NOTE_FOLLOW_UP: NoteFollowUp,
    MutationType.HEADS_UP_CREATE: HeadsUpCreate,
    MutationType.HEADS_UP_END: HeadsUpEnd,
    MutationType.DELIVERY_SEEN: DeliverySeen,
}


class UnknownMutationType(ValueError):
    pass


def parse_mutation_data(mutation_type: str, data: dict[str, Any]) -> _MutationData:
    """Validate `data` for `mutation_type`; raises UnknownMutationType or ValidationError."""
    model = MUTATION_TYPES.get(mutation_type)
    if model is None:
        known = ", ".join(MUTATION_TYPES)
        raise UnknownMutationType(f"unknown mutation type (known: {known})")
    return model.model_validate(data)


# Names a reason may quote: the protocol's own, never a key a client made up.
FIELD_NAMES = frozenset(
    {"data", *Mutation.model_fields}.union(
        *(model.model_fields for model in MUTATION_TYPES.values())
    )
)
# Rules a reason may name: pydantic's, and this module's own.
RULES = frozenset(get_args(ErrorType)) | {"category_of_other_kind", "worker_id_required", "blank"}
UNNAMED = "*"  # a field the protocol does not know


def _where(loc: tuple[int | str, ...]) -> str:
    parts = [str(p) if isinstance(p, int) or p in FIELD_NAMES else UNNAMED for p in loc]
    return ".".join(parts) or "data"


def describe_validation_error(error: ValidationError) -> str:
    """One line naming each bad field and the rule it breaks (`category: category_of_other_kind;
    text: string_too_long`), from where and which rule only: never a value that was sent,
    nor a key the protocol does not know."""
    return "; ".join(f"{_where(item['loc'])}: {item['type']}" for item in error.errors())


def fields_and_rules(reason: str) -> str:
    """What of a stored reason names protocol fields and rules, and nothing else: reasons
    stored by older versions may quote values."""
    kept = []
    for part in reason.split("; "):
        where, colon, rule = part.partition(": ")
        path = where.split(".")
        if not colon or not all(p in FIELD_NAMES or p.isdigit() or p == UNNAMED for p in path):
            continue
        kept.append(f"{where}: {rule}" if rule in RULES else where)
    return "; ".join(kept)
