"""Field types every side agrees on: text a database can store, times it can convert."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime


def _storable_text(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (no lone surrogates)") from None
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


# Text people type: any Unicode a database column can hold (no NUL, no lone surrogate).
Text = Annotated[str, AfterValidator(_storable_text)]
# A moment with its UTC offset, within the range every database can store.
Moment = Annotated[AwareDatetime, AfterValidator(_utc_representable)]
# A time of day on the user's clock (their `timezone` says which).
TimeOfDay = Annotated[time, AfterValidator(_without_zone)]
