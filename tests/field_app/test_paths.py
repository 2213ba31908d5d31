"""Paths: every builder gives a path its pattern matches back, and a path of another shape
(a missing or extra segment, a query, a trailing slash) is read the way a browser means it."""

from __future__ import annotations

import uuid

import pytest

from field_app import paths
from field_app.navigation import ROUTES, SECTIONS, section_of

ID = uuid.uuid4()


@pytest.mark.parametrize(
    ("build", "pattern", "name"),
    [
        (paths.note, paths.NOTE, "note_id"),
        (paths.worker, paths.WORKER, "worker_id"),
        (paths.capture, paths.CAPTURE, "worker_id"),
        (paths.heads_up, paths.HEADS_UP, "worker_id"),
        (paths.team_capture, paths.TEAM_CAPTURE, "team_id"),
    ],
)
def test_each_builder_matches_its_own_pattern_and_no_other(build, pattern, name):
    path = build(ID)
    assert paths.match(pattern, path) == {name: str(ID)}
    assert paths.match(pattern, path + "/") == {name: str(ID)}
    assert paths.match(pattern, path + "?from=mail") == {name: str(ID)}
    assert [p for p in ROUTES if paths.match(p, path) is not None] == [pattern]
    assert paths.match(pattern, path + "/more") is None


@pytest.mark.parametrize("route", ["/notes", "/notes//", "/workers//capture", "/", "", "//"])
def test_a_path_missing_its_id_matches_no_screen(route):
    assert [p for p in ROUTES if paths.match(p, route) is not None] == []


def test_every_section_has_a_path_and_only_those_name_a_section():
    for tab in SECTIONS:
        assert section_of(paths.tab(tab)) == tab
        assert section_of(paths.tab(tab) + "/?x=1") == tab
    assert paths.tab("my_notes") == "/my-notes"
    assert section_of("/") is None and section_of("/notes/x") is None
    assert paths.clean(None) == paths.clean("") == paths.clean("/") == "/"
