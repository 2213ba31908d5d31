"""Reading a server-sent event stream line by line (the subset Relais uses).

Pokes (`event: poke`, data `{"cursor": ...}`) carry no records; comment lines keep it alive.
"""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class StreamEvent:
    name: str
    data: str


class EventParser:
    """Feed lines without their line ending; an empty line completes an event."""

    def __init__(self) -> None:
        self._name = ""
        self._data: list[str] = []

    def feed(self, line: str) -> StreamEvent | None:
        if not line:
            if not self._name and not self._data:
                return None
            event = StreamEvent(self._name or "message", "\n".join(self._data))
            self._name, self._data = "", []
            return event
        if line.startswith(":"):  # a comment: the server's heartbeat
            return None
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            self._name = value
        elif field == "data":
            self._data.append(value)
        return None


def poke_cursor(data: str) -> str | None:
    """The cursor a poke announces, or None if its data is not what the protocol says."""
    try:
        cursor = json.loads(data).get("cursor")
    except (ValueError, AttributeError):
        return None
    return cursor if isinstance(cursor, str) else None
