"""Field types every side agrees on: text a database can store, times it can convert."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field, WithJsonSchema


def _storable_text(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (no lone surrogates)") from None
    return value


def _storable_or_none(value: str | None) -> str | None:
    return None if value is None else _storable_text(value)


def _a_number(value: Any) -> Any:
    if isinstance(value, str | bytes | bool):
        raise ValueError("must be a number, not text or a boolean")
    return value


def _not_a_number(value: Any) -> Any:
    if isinstance(value, int | float):
        raise ValueError("must be an RFC 3339 date-time with an offset, not a number")
    return value


def _utc_representable(value: datetime) -> datetime:
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of the range of representable times") from None
    return value


def _without_zone(value: time) -> time:
    if value.tzinfo is not None:
        raise ValueError("must be a time of day without a time zone (HH:MM): the user's applies")
    return value


# Text people type: any Unicode a database column can hold (no NUL, no lone surrogate). The
# schema states the first rule; no JSON Schema pattern can state the second.
Text = Annotated[
    str,
    Field(json_schema_extra={"pattern": "^[^\\u0000]*$"}),
    AfterValidator(_storable_text),
]
# Text or null, for an optional field: the check is around the union, so a length bound
# given with the field stays on the string and its error counts characters (on `Text | None`
# pydantic can only check it after Text's validator, and says "items").
OptionalText = Annotated[
    str | None,
    Field(json_schema_extra={"pattern": "^[^\\u0000]*$"}),
    AfterValidator(_storable_or_none),
]
# A whole number as JSON Schema counts them: 3 or 3.0, never "3" or true.
WholeNumber = Annotated[int, BeforeValidator(_a_number)]
# A moment with its UTC offset (RFC 3339: text, not a count of seconds), within the range
# every database can store.
Moment = Annotated[
    AwareDatetime, BeforeValidator(_not_a_number), AfterValidator(_utc_representable)
]
# A time of day on the user's clock (their `timezone` says which). Not JSON Schema's `time`
# format, which requires an offset: the schema says what is really sent and accepted.
TimeOfDay = Annotated[
    time,
    AfterValidator(_without_zone),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?$",
            "description": "A time of day without offset: HH:MM or HH:MM:SS[.ffffff].",
        }
    ),
]
