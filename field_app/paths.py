"""Every screen's address. Screens link to one another through these paths, never by class;
field_app/navigation.py maps each pattern to its screen.

A path is also a deep link: a fresh page opened at `/notes/<id>` (from an e-mail, a
bookmark, a reload of the web app) shows that note, with back leading home.
"""

from __future__ import annotations

import uuid

HOME = "/"

NOTE = "/notes/{note_id}"
WORKER = "/workers/{worker_id}"
CAPTURE = "/workers/{worker_id}/capture"
HEADS_UP = "/workers/{worker_id}/heads-up"
TEAM_CAPTURE = "/teams/{team_id}/capture"  # a safety note about the whole team

Id = uuid.UUID | str


def note(note_id: Id) -> str:
    return NOTE.format(note_id=note_id)


def worker(worker_id: Id) -> str:
    return WORKER.format(worker_id=worker_id)


def capture(worker_id: Id) -> str:
    return CAPTURE.format(worker_id=worker_id)


def heads_up(worker_id: Id) -> str:
    return HEADS_UP.format(worker_id=worker_id)


def team_capture(team_id: Id) -> str:
    return TEAM_CAPTURE.format(team_id=team_id)


def tab(tab_id: str) -> str:
    """A section of the home screen: /team, /my-notes, /inbox, /history, /settings..."""
    return "/" + tab_id.replace("_", "-")


def clean(route: str | None) -> str:
    """The path of a route as the page reports it: no query, no trailing slash."""
    path = (route or HOME).split("?", 1)[0].split("#", 1)[0]
    return "/" + path.strip("/")


def match(pattern: str, path: str) -> dict[str, str] | None:
    """The parameters of `path` if it has the shape of `pattern`, else None."""
    wanted, got = pattern.strip("/").split("/"), clean(path).strip("/").split("/")
    if len(wanted) != len(got):
        return None
    params: dict[str, str] = {}
    for part, value in zip(wanted, got, strict=True):
        if part.startswith("{") and part.endswith("}"):
            if not value:
                return None
            params[part[1:-1]] = value
        elif part != value:
            return None
    return params
