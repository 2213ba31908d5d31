"""CSV roster import: header and line checks, all or nothing, updates, reassignment, scale.

Every person here is invented.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select

from relais_testing.factories import build_world, login, mutation, note_data, pull_all, push
from sync_server.database import Base, Database
from sync_server.orgs import roster
from sync_server.orgs.models import Organization, User, Worker
from sync_server.orgs.roster import ImportResult, RosterError
from sync_server.orgs.service import disable_user, org_by_slug
from sync_server.sync.changelog import current_position

HEADER = "ref,name,team,counsellor,contract_type,start,end"


def csv_text(*lines: str, header: str = HEADER) -> str:
    return "\n".join([header, *lines]) + "\n"


def import_csv(db: Database, text: str, slug: str = "acme") -> ImportResult:
    """What `relais roster import` does: read, then import in one unit of work."""
    rows = roster.read_rows(text)
    with db.unit_of_work() as session:
        org = org_by_slug(session, slug)
        assert org is not None
        return roster.import_rows(session, org, rows)


def problems_of(db: Database, text: str) -> list[str]:
    with pytest.raises(RosterError) as caught:
        import_csv(db, text)
    return caught.value.problems


def dump(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in a stable order, and each organisation's log position."""
    with db.reading() as session:
        out = {
            table.name: sorted((tuple(row) for row in session.execute(select(table))), key=repr)
            for table in Base.metadata.sorted_tables
        }
        out["positions"] = sorted(
            (str(org_id), current_position(session, org_id))
            for org_id in session.scalars(select(Organization.id))
        )
    return out


def workers(db: Database, slug: str = "acme") -> dict[str, tuple[Any, ...]]:
    with db.reading() as session:
        query = (
            select(Worker, Organization.slug)
            .join(Organization, Organization.id == Worker.org_id)
            .where(Organization.slug == slug)
        )
        return {
            w.ref: (
                w.display_name,
                w.team_id,
                w.counsellor_id,
                w.contract_type,
                w.contract_start,
                w.contract_end,
                w.active,
            )
            for w, _ in session.execute(query)
        }


# --- the file's shape (read_rows) -------------------------------------------------------


def test_header_with_a_missing_column_is_refused():
    with pytest.raises(RosterError) as caught:
        roster.read_rows("ref,name,team,counsellor,contract_type,start\nn1,Ada P.,a,,,2026-01-05\n")
    [problem] = caught.value.problems
    assert problem.startswith("line 1 (header): missing column(s) end")
    assert HEADER in problem  # tells what is expected


@pytest.mark.parametrize("text", [" " * 200_000 + "ref,name", '"ref,name\n' + "x" * 200_000])
def test_an_unreadable_header_line_is_named_not_raised(text):
    with pytest.raises(RosterError) as caught:
        roster.read_rows(text)
    [problem] = caught.value.problems
    assert problem.startswith("line 1 (header): unreadable CSV")


def test_header_with_an_unknown_column_is_refused():
    with pytest.raises(RosterError) as caught:
        roster.read_rows(f"{HEADER},shoe_size\nn1,Ada P.,a,,,,,42\n")
    [problem] = caught.value.problems
    assert "line 1 (header): unknown column(s) shoe_size" in problem


def test_header_reports_missing_and_unknown_together():
    with pytest.raises(RosterError) as caught:
        roster.read_rows("ref,nom,team,counsellor,contract_type,start,end\n")
    [problem] = caught.value.problems
    assert "missing column(s) name" in problem and "unknown column(s) nom" in problem


def test_header_cells_may_carry_spaces():
    rows = roster.read_rows(
        " ref , name ,team,counsellor,contract_type,start,end\nn1,Ada P.,a,,,,\n"
    )
    assert [(r.ref, r.name, r.team) for r in rows] == [("n1", "Ada P.", "a")]


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        pytest.param(
            ["n1,Ada P.,a,,CDDI,2026-01-05,", "n2,Bram Q.,a,,CDDI,2026-13-01,"],
            "line 3, column 'start': '2026-13-01' is not a date (YYYY-MM-DD)",
            id="bad date",
        ),
        pytest.param(
            ["n1,Ada P.,a,,CDDI,2026-01-05,05/01/2027"],
            "line 2, column 'end': '05/01/2027' is not a date (YYYY-MM-DD)",
            id="bad end date",
        ),
        pytest.param(
            ["n1,Ada P.,a,,CDDI,2026-01-05,2025-12-31"],
            "line 2, column 'end': ends before it starts",
            id="end before start",
        ),
        pytest.param(["n1,,a,,,,"], "line 2, column 'name': required", id="empty name"),
        pytest.param(
            ["n1,Ada P.,a,,,,", ",Bram Q.,a,,,,"], "line 3, column 'ref': required", id="empty ref"
        ),
        pytest.param(["n1,Ada P., ,,,,"], "line 2, column 'team': required", id="blank team"),
        pytest.param(
            ["n1,Ada P.,a,,,,", "n2,Bram Q.,a,,,,", "n1,Cleo R.,b,,,,"],
            "line 4, column 'ref': 'n1' already on line 2",
            id="duplicate ref",
        ),
        pytest.param(
            ["n1,Ada P.,a,,,,", "n2,Bram Q.,a,couns_1,CDDI,2026-01-05,,extra"],
            "line 3: more values than columns",
            id="too many values",
        ),
        pytest.param(
            ["R" * 65 + ",Ada P.,a,,,,"],
            "line 2, column 'ref': longer than 64 characters",
            id="ref too long",
        ),
    ],
)
def test_line_problems_name_the_line_and_column(lines, expected):
    with pytest.raises(RosterError) as caught:
        roster.read_rows(csv_text(*lines))
    assert expected in caught.value.problems


def test_every_bad_line_is_reported_at_once():
    with pytest.raises(RosterError) as caught:
        roster.read_rows(csv_text("n1,,a,,,,", "n2,Bram Q.,a,,,yesterday,", "n3,Cleo R.,a,,,,"))
    assert caught.value.problems == [
        "line 2, column 'name': required",
        "line 3, column 'start': 'yesterday' is not a date (YYYY-MM-DD)",
    ]


def test_every_problem_has_a_stable_code_and_its_values_for_the_app():
    """The app says problems in the admin's language from `code` and `params`, never from
    the English `message`."""
    with pytest.raises(RosterError) as caught:
        roster.read_rows(
            csv_text(
                "n1,,a,,,,",
                "n2,Bram Q.,a,,,05/01/2026,",
                "n3,Cleo R.,a,,,2026-02-01,2026-01-01",
                "n2,Dan S.,a,,,,",
                "R" * 65 + ",Eve T.,a,,,,",
                "n6,Fay U.,a,,,,,extra",
                "n7,Gus\x00,a,,,,",
            )
        )
    assert [(p.line, p.column, p.code, p.params) for p in caught.value.issues] == [
        (2, "name", "required", {}),
        (3, "start", "not_a_date", {"value": "05/01/2026"}),
        (4, "end", "ends_before_start", {}),
        (5, "ref", "duplicate_ref", {"value": "n2", "first_line": "3"}),
        (6, "ref", "too_long", {"max": "64"}),
        (7, None, "extra_values", {}),
        (8, "name", "nul", {}),
    ]
    with pytest.raises(RosterError) as caught:
        roster.read_rows("ref;nom;team;counsellor;contract_type;start;end\n")
    [header] = caught.value.issues
    assert (header.line, header.header, header.code) == (1, True, "wrong_columns")
    assert header.params == {
        "missing": "name",
        "unknown": "nom",
        "expected": "ref,name,team,counsellor,contract_type,start,end",
    }
    with pytest.raises(RosterError) as caught:
        roster.read_rows("ref|name\n")
    assert caught.value.issues[0].code == "one_column"
    codes = []
    for data in (b"", "x".encode("utf-16"), b"ref\n\x81"):
        with pytest.raises(RosterError) as caught:
            roster.decode(data)
        codes += [(p.code, p.params) for p in caught.value.issues]
    assert codes == [("empty", {}), ("utf16", {}), ("not_decodable", {"byte": "0x81"})]


def test_quoted_values_and_blank_lines_are_read():
    rows = roster.read_rows(
        csv_text(
            'n1,"Dupont, Ada",a,couns_1,CDDI,2026-01-05,2026-12-31',
            "",
            ",,,,,,",
            "n2,Bram Q.,b,,,,",
        )
    )
    assert [(r.line, r.ref, r.name, r.counsellor, r.start, r.end) for r in rows] == [
        (2, "n1", "Dupont, Ada", "couns_1", date(2026, 1, 5), date(2026, 12, 31)),
        (5, "n2", "Bram Q.", None, None, None),
    ]


def test_byte_order_mark_is_ignored():
    rows = roster.read_rows("\ufeff" + csv_text("n1,Ada P.,a,couns_1,CDDI,2026-01-05,"))
    assert [(r.ref, r.team, r.counsellor, r.contract_type) for r in rows] == [
        ("n1", "a", "couns_1", "CDDI")
    ]


# --- references and writing (import_rows) ----------------------------------------------


def test_unknown_team_names_line_and_column(db):
    build_world(db)
    assert problems_of(db, csv_text("n1,Ada P.,a,,,,", "n2,Bram Q.,batiment,,,,")) == [
        "line 3, column 'team': unknown team 'batiment'"
    ]


def test_unknown_counsellor_names_line_and_column(db):
    build_world(db)
    problems = problems_of(
        db,
        csv_text("n1,Ada P.,a,ghost,,,", "n2,Bram Q.,a,sup_a,,,", "n3,Cleo R.,a,couns_1,,,"),
    )
    assert problems == [
        "line 2, column 'counsellor': no active counsellor with login 'ghost'",
        "line 3, column 'counsellor': no active counsellor with login 'sup_a'",
    ]


def test_disabled_counsellor_is_refused(db):
    build_world(db)
    with db.unit_of_work() as session:
        disable_user(session, session.scalars(select(User).where(User.login == "couns_2")).one())
    assert problems_of(db, csv_text("n1,Ada P.,a,couns_2,,,")) == [
        "line 2, column 'counsellor': no active counsellor with login 'couns_2'"
    ]


def test_teams_and_counsellors_of_another_organisation_are_unknown(db):
    build_world(db)
    build_world(db, slug="other", prefix="o_")
    problems = problems_of(db, csv_text("n1,Ada P.,a,o_couns_1,,,"))
    assert problems == ["line 2, column 'counsellor': no active counsellor with login 'o_couns_1'"]


def test_overlong_contract_type_is_refused_with_line_and_column(db):
    """The column is 64 characters wide: a longer value must be a line error, not a crash."""
    build_world(db)
    before = dump(db)
    text = csv_text("n1,Ada P.,a,couns_1," + "C" * 65 + ",2026-01-05,")
    with pytest.raises(RosterError) as caught:
        import_csv(db, text)
    assert any(p.startswith("line 2, column 'contract_type'") for p in caught.value.problems)
    assert dump(db) == before


def test_bad_last_line_imports_nothing(db):
    build_world(db)
    before = dump(db)
    good = [f"n{i:03d},Person {i},a,couns_1,CDDI,2026-01-05," for i in range(300)]

    assert problems_of(db, csv_text(*good, "n999,Last One,a,couns_1,CDDI,2026-02-31,")) == [
        "line 302, column 'start': '2026-02-31' is not a date (YYYY-MM-DD)"
    ]
    assert dump(db) == before

    assert problems_of(db, csv_text(*good, "n999,Last One,batiment,couns_1,,,")) == [
        "line 302, column 'team': unknown team 'batiment'"
    ]
    assert dump(db) == before

    assert problems_of(db, csv_text(*good, "n999,Last One,a,nobody,,,")) == [
        "line 302, column 'counsellor': no active counsellor with login 'nobody'"
    ]
    assert dump(db) == before


def test_update_and_create_counts(db):
    world = build_world(db)
    text = csv_text(
        "a1,Worker A1,a,couns_1,,,",  # exactly as stored: unchanged
        "a2,Worker A2 (renamed),a,couns_1,,,",  # renamed: updated
        "a3,Worker A3,a,couns_1,,,",  # moved to couns_1: updated
        "b2,Worker B2,b,,CDDI,2026-04-01,2027-03-31",  # contract added: updated
        "n1,Ada P.,b,couns_2,CDDI,2026-01-05,",  # new
        "n2,Bram Q.,a,,,,",  # new, no counsellor
    )
    result = import_csv(db, text)
    assert (result.created, result.updated, result.unchanged) == (2, 3, 1)

    stored = workers(db)
    assert stored["a2"][0] == "Worker A2 (renamed)"
    assert stored["a3"][2] == world.users["couns_1"]
    assert stored["b2"][3:6] == ("CDDI", date(2026, 4, 1), date(2027, 3, 31))
    assert stored["n1"] == (
        "Ada P.",
        world.teams["B"],
        world.users["couns_2"],
        "CDDI",
        date(2026, 1, 5),
        None,
        True,
    )
    assert stored["n2"] == ("Bram Q.", world.teams["A"], None, None, None, None, True)
    assert stored["b1"] == (
        "Worker B1",
        world.teams["B"],
        world.users["couns_2"],
        None,
        None,
        None,
        True,
    )  # not in the file: left alone

    before = dump(db)
    again = import_csv(db, text)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 6)
    assert dump(db) == before  # a re-import writes nothing, not even to the change log


def test_import_into_one_organisation_leaves_another_alone(db):
    build_world(db)
    other = build_world(db, slug="other", prefix="o_")
    before = workers(db, "other")
    result = import_csv(db, csv_text("a1,Renamed In Acme,b,couns_2,,,", "n1,Ada P.,a,,,,"))
    assert (result.created, result.updated) == (1, 1)
    assert workers(db, "other") == before
    assert workers(db, "other")["a1"][1] == other.teams["A"]


def test_moving_a_worker_to_another_counsellor_removes_it_from_the_old_one(client, db):
    world = build_world(db)
    sup_a, couns_1, couns_2 = (
        login(client, "sup_a"),
        login(client, "couns_1"),
        login(client, "couns_2"),
    )
    note = note_data(world, "a1", text="Arrived at 9:40 after the bus broke down.")
    assert push(client, sup_a, mutation("note.create", note))[0]["status"] == "applied"
    state_1, _, cursor_1 = pull_all(client, couns_1)
    state_2, _, cursor_2 = pull_all(client, couns_2)
    worker_id = str(world.workers["a1"])
    assert ("worker", worker_id) in state_1 and ("note", note["id"]) in state_1
    assert ("note", note["id"]) not in state_2

    result = import_csv(db, csv_text("a1,Worker A1,a,couns_2,,,"))
    assert (result.created, result.updated, result.unchanged) == (0, 1, 0)

    _, changes_1, _ = pull_all(client, couns_1, cursor_1)
    assert {"entity": "worker", "op": "remove", "id": worker_id, "data": None} in changes_1
    assert {"entity": "note", "op": "remove", "id": note["id"], "data": None} in changes_1
    state_2, _, _ = pull_all(client, couns_2, cursor_2)
    assert state_2[("worker", worker_id)]["counsellor_id"] == str(world.users["couns_2"])
    assert ("note", note["id"]) in state_2
    # The supervisor still has the worker (same team), now with the new counsellor.
    state_sup, _, _ = pull_all(client, sup_a)
    assert state_sup[("worker", worker_id)]["counsellor_id"] == str(world.users["couns_2"])


def test_five_thousand_rows(db):
    build_world(db)
    lines = [
        f"R{i:05d},Person {i},{'a' if i % 2 else 'b'},{'couns_1' if i % 3 else 'couns_2'},"
        f"CDDI,2026-{1 + i % 12:02d}-{1 + i % 28:02d},"
        for i in range(5000)
    ]
    text = csv_text(*lines)

    result = import_csv(db, text)
    assert (result.created, result.updated, result.unchanged) == (5000, 0, 0)
    with db.reading() as session:
        org = org_by_slug(session, "acme")
        assert org is not None
        count = session.scalar(
            select(func.count()).select_from(Worker).where(Worker.org_id == org.id)
        )
    assert count == 5000 + 5

    again = import_csv(db, text)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 5000)


def test_staffing_warning_for_a_french_team_over_twelve_per_supervisor(db):
    build_world(db)  # FR; team A has one supervisor and 3 workers
    result = import_csv(db, csv_text(*(f"n{i},Person {i},a,couns_1,,," for i in range(10))))
    assert result.warnings == [
        "team 'a': 13 workers for 1 supervisor(s); the ACI rule is at most 12 per supervisor"
    ]


def test_no_staffing_warning_at_exactly_twelve(db):
    build_world(db)
    result = import_csv(db, csv_text(*(f"n{i},Person {i},a,couns_1,,," for i in range(9))))
    assert result.warnings == []


def test_no_staffing_warning_outside_france(db):
    build_world(db, slug="bxl", country="BE")
    result = import_csv(
        db, csv_text(*(f"n{i},Person {i},a,couns_1,,," for i in range(20))), slug="bxl"
    )
    assert result.created == 20
    assert result.warnings == []


# --- files as spreadsheets save them: encodings and separators --------------------------

# Invented people whose names need more than ASCII.
ACCENTED = [
    ("n1", "Léa Dupré", "a", "couns_1", "CDDI", "2026-01-05", ""),
    ("n2", "Zoé Maréchal", "b", "", "CDDI", "2026-02-02", "2026-12-31"),
    ("n3", "Dupré, Noël; Œdipe «Ça»", "a", "", "", "", ""),  # both separators inside a name
]


def spreadsheet_bytes(delimiter: str, encoding: str, newline: str = "\r\n") -> bytes:
    """A roster as a spreadsheet would save it, quoting only what needs quoting."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator=newline)
    writer.writerow(HEADER.split(","))
    writer.writerows(ACCENTED)
    return out.getvalue().encode(encoding)


ENCODINGS = [
    pytest.param("utf-8", "UTF-8", id="utf-8"),
    pytest.param("utf-8-sig", "UTF-8", id="utf-8 with BOM"),
    pytest.param("cp1252", "Windows-1252 (cp1252)", id="windows-1252"),
]
DELIMITERS = [
    pytest.param(",", id="comma"),
    pytest.param(";", id="semicolon"),
    pytest.param("\t", id="tab"),
]


@pytest.mark.parametrize(("encoding", "described"), ENCODINGS)
@pytest.mark.parametrize("delimiter", DELIMITERS)
def test_spreadsheet_files_are_read_whatever_their_encoding_and_separator(
    encoding, described, delimiter
):
    data = spreadsheet_bytes(delimiter, encoding)
    if encoding == "cp1252":
        with pytest.raises(UnicodeDecodeError):
            data.decode("utf-8")  # the bytes really are Windows-1252, not UTF-8

    text = roster.decode(data)
    rows = roster.read_rows(text.text)

    assert text.encoding == described
    assert roster.detect_delimiter(text.text) == delimiter
    assert [(r.line, r.ref, r.name, r.team, r.counsellor, r.start, r.end) for r in rows] == [
        (2, "n1", "Léa Dupré", "a", "couns_1", date(2026, 1, 5), None),
        (3, "n2", "Zoé Maréchal", "b", None, date(2026, 2, 2), date(2026, 12, 31)),
        (4, "n3", "Dupré, Noël; Œdipe «Ça»", "a", None, None, None),
    ]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(
            f"{HEADER}\nn1,Ada P.,a,,,,\nn2,L\xe9a \x81,a,,,,\n".encode("latin-1"),
            "line 3: neither UTF-8 nor Windows-1252 (byte 0x81)",
            id="byte undefined in Windows-1252",
        ),
        pytest.param(
            csv_text("n1,Léa Dupré,a,,,,").encode("utf-16"),
            "line 1: saved as UTF-16 (Excel's 'Unicode text')",
            id="utf-16",
        ),
        pytest.param(b"", "line 1 (header): the file is empty", id="empty"),
    ],
)
def test_a_file_that_cannot_be_decoded_is_explained(data, expected):
    with pytest.raises(RosterError) as caught:
        roster.decode(data)
    [problem] = caught.value.problems
    assert problem.startswith(expected)
    if data:
        assert "CSV UTF-8" in problem  # says how to save it instead


def test_a_file_in_an_unknown_layout_is_explained():
    with pytest.raises(RosterError) as caught:
        roster.read_rows("ref|name|team|counsellor|contract_type|start|end\nn1|Ada P.|a||||\n")
    [problem] = caught.value.problems
    assert problem.startswith("line 1 (header): missing column(s) ref, name")
    assert "separated by commas or semicolons" in problem


def import_bytes(db: Database, data: bytes, slug: str = "acme") -> roster.RosterReport:
    with db.unit_of_work() as session:
        org = org_by_slug(session, slug)
        assert org is not None
        return roster.import_roster(session, org=org, data=data)


def test_the_import_service_takes_bytes_and_returns_what_it_did(db):
    world = build_world(db)
    report = import_bytes(db, spreadsheet_bytes(";", "cp1252"))

    assert report.problems == []
    assert (report.encoding, report.delimiter) == ("Windows-1252 (cp1252)", ";")
    assert report.result is not None
    assert (report.result.created, report.result.updated, report.result.unchanged) == (3, 0, 0)
    stored = workers(db)
    assert stored["n1"][:3] == ("Léa Dupré", world.teams["A"], world.users["couns_1"])
    assert stored["n2"][0] == "Zoé Maréchal"


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        pytest.param(
            ["n1;Léa Dupré;a;;CDDI;05/01/2026;", "n2;Zoé Maréchal;batiment;;;;"],
            [
                roster.RosterProblem(
                    2,
                    "start",
                    "not_a_date",
                    "'05/01/2026' is not a date (YYYY-MM-DD)",
                    params={"value": "05/01/2026"},
                ),
            ],
            id="line problem",
        ),
        pytest.param(
            ["n1;Léa Dupré;a;;;;", "n2;Zoé Maréchal;batiment;ghost;;;"],
            [
                roster.RosterProblem(
                    3,
                    "team",
                    "unknown_team",
                    "unknown team 'batiment'",
                    params={"value": "batiment"},
                ),
                roster.RosterProblem(
                    3,
                    "counsellor",
                    "unknown_counsellor",
                    "no active counsellor with login 'ghost'",
                    params={"value": "ghost"},
                ),
            ],
            id="reference problems",
        ),
    ],
)
def test_the_import_service_returns_problems_as_data_and_writes_nothing(db, lines, expected):
    build_world(db)
    before = dump(db)
    data = "\r\n".join([HEADER.replace(",", ";"), *lines, ""]).encode("cp1252")

    report = import_bytes(db, data)

    assert report.result is None
    assert report.problems == expected
    assert [str(p) for p in report.problems] == [
        f"line {p.line}, column '{p.column}': {p.message}" for p in expected
    ]
    assert dump(db) == before


def test_header_and_decoding_problems_come_back_as_data_too(db):
    build_world(db)
    report = import_bytes(db, b"ref;name\r\nn1;L\xe9a\r\n")
    assert report.result is None
    [problem] = report.problems
    assert (problem.line, problem.column, problem.header) == (1, None, True)
    assert problem.message.startswith("missing column(s) team")


def test_a_roster_import_takes_over_workers_the_provisioning_file_listed(db):
    build_world(db)
    with db.unit_of_work() as session:
        for worker in session.scalars(select(Worker).where(Worker.ref.in_(["a1", "a2"]))):
            worker.source = "provisioning"

    result = import_csv(db, csv_text("a1,Worker A1,a,couns_1,,,", "a3,Worker A3,a,couns_2,,,"))

    assert result.taken_over == ["a1"]
    assert (result.created, result.updated, result.unchanged) == (0, 0, 2)
    with db.reading() as session:
        sources = dict(session.execute(select(Worker.ref, Worker.source)).all())
    assert (sources["a1"], sources["a2"], sources["a3"]) == ("roster", "provisioning", "roster")
