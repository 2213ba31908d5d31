"""`relais roster import FILE.csv --org SLUG`: create or update workers from a CSV roster.

Columns: ref,name,team,counsellor,contract_type,start,end (team by slug, counsellor by
login, dates as YYYY-MM-DD), separated by commas, semicolons (Excel in French) or tabs, in
UTF-8 (with or without a byte order mark) or Windows-1252. All or nothing: every problem is
reported with its line and column, and nothing is written unless the whole file is valid.
"""

from __future__ import annotations

import codecs
import csv
import io
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic import ValidationInfo as Info
from pydantic_core import PydanticCustomError
from sqlalchemy import select
from sqlalchemy.orm import Session

from shared_models.vocabulary import Role
from sync_server.orgs import service
from sync_server.orgs.models import Organization, Team, WorkerSource

COLUMNS = ("ref", "name", "team", "counsellor", "contract_type", "start", "end")
OPTIONAL = ("counsellor", "contract_type", "start", "end")
DELIMITERS = {",": "commas", ";": "semicolons", "\t": "tabs"}
MAX_PROBLEMS_SHOWN = 50
SAVE_AS = "save it from the spreadsheet as 'CSV UTF-8'"
Progress = Callable[[int, int], None]  # (rows done, rows in all)


@dataclass(frozen=True)
class RosterProblem:
    """One thing wrong with the file, where a person can find it: `code` and `params` for
    the app to say it in the admin's language, `message` in English for the command line."""

    line: int
    column: str | None
    code: str
    message: str
    header: bool = False
    params: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        where = f"line {self.line}" + (" (header)" if self.header else "")
        where += f", column '{self.column}'" if self.column else ""
        return f"{where}: {self.message}"


class RosterError(Exception):
    def __init__(self, issues: list[RosterProblem]) -> None:
        super().__init__("\n".join(map(str, issues)))
        self.issues = issues

    @property
    def problems(self) -> list[str]:
        """The problems as printed: `line 3, column 'start': ...`."""
        return [str(issue) for issue in self.issues]


def _value_error(kind: str, message: str, **context: Any) -> PydanticCustomError:
    return PydanticCustomError(kind, message, context)


Text = Annotated[str, Field(min_length=1)]


class RosterRow(BaseModel):
    """One line of the file, checked on its own (its team and counsellor are checked later)."""

    model_config = ConfigDict(frozen=True, str_strip_whitespace=True)

    line: int
    ref: Text = Field(max_length=64)
    name: Text = Field(max_length=200)
    team: Text = Field(max_length=64)
    counsellor: str | None = Field(default=None, max_length=200)
    contract_type: str | None = Field(default=None, max_length=64)
    start: date | None = None
    end: date | None = None

    @field_validator(*COLUMNS, mode="before")
    @classmethod
    def _cell(cls, value: object, info: Info) -> object:
        if not isinstance(value, str):
            return value
        if "\x00" in value:
            raise _value_error("nul", "must not contain NUL characters")
        if not value and info.field_name in OPTIONAL:
            return None
        if info.field_name in ("start", "end"):
            try:
                return date.fromisoformat(value)
            except ValueError:
                message = "'{value}' is not a date (YYYY-MM-DD)"
                raise _value_error("not_a_date", message, value=value) from None
        return value

    @field_validator("end")
    @classmethod
    def _after_start(cls, end: date | None, info: Info) -> date | None:
        start = info.data.get("start")
        if end and start and end < start:
            raise _value_error("ends_before_start", "ends before it starts")
        return end


# The codes of RosterRow's own checks (`_value_error`); any other pydantic error is `invalid`.
ROW_CODES = ("nul", "not_a_date", "ends_before_start")


def _problem(line: int, error: Any) -> RosterProblem:
    """A pydantic error in the file's words."""
    column = str(error["loc"][0]) if error["loc"] else None
    if error["type"] in ("string_too_short", "missing"):
        return RosterProblem(line, column, "required", "required")
    if error["type"] == "string_too_long":
        limit = str(error["ctx"]["max_length"])
        message = f"longer than {limit} characters"
        return RosterProblem(line, column, "too_long", message, params={"max": limit})
    code = error["type"] if error["type"] in ROW_CODES else "invalid"
    params = {k: str(v) for k, v in (error.get("ctx") or {}).items()}
    return RosterProblem(line, column, code, error["msg"], params=params)


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int
    unchanged: int
    warnings: list[str]
    # Refs the provisioning file had listed, that now belong to the roster.
    taken_over: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RosterText:
    text: str
    encoding: str  # as people name it: "UTF-8", "Windows-1252 (cp1252)"


def decode(data: bytes) -> RosterText:
    """UTF-8 (a byte order mark is fine), else Windows-1252; anything else is explained."""
    if not data.strip():
        raise RosterError([RosterProblem(1, None, "empty", "the file is empty", header=True)])
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        message = f"saved as UTF-16 (Excel's 'Unicode text'), which is not read; {SAVE_AS}"
        raise RosterError([RosterProblem(1, None, "utf16", message)])
    try:
        return RosterText(data.decode("utf-8-sig"), "UTF-8")
    except UnicodeDecodeError:
        pass
    try:
        return RosterText(data.decode("cp1252"), "Windows-1252 (cp1252)")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        byte = f"0x{data[exc.start]:02x}"
        message = f"neither UTF-8 nor Windows-1252 (byte {byte}); {SAVE_AS}"
        problem = RosterProblem(line, None, "not_decodable", message, params={"byte": byte})
        raise RosterError([problem]) from None


def detect_delimiter(text: str) -> str:
    """The separator the header line uses most: a comma unless semicolons or tabs win."""
    header = text.lstrip("\ufeff").partition("\n")[0]
    return max(DELIMITERS, key=header.count)


def _records(reader: csv.DictReader[str]) -> Iterator[dict[str | Any, str | Any]]:
    """The reader's rows, with a broken line (a NUL byte, a runaway quote) named by number."""
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            problem = RosterProblem(
                reader.line_num + 1, None, "unreadable", f"unreadable CSV ({exc})"
            )
            raise RosterError([problem]) from None


def _header(reader: csv.DictReader[str]) -> list[str]:
    try:
        names = reader.fieldnames or []
    except csv.Error as exc:  # a header line longer than any real one, a NUL byte…
        raise RosterError(
            [RosterProblem(1, None, "unreadable", f"unreadable CSV ({exc})", header=True)]
        ) from None
    header = [h.strip() for h in names]
    missing = [c for c in COLUMNS if c not in header]
    unknown = [c for c in header if c not in COLUMNS]
    if not (missing or unknown):
        return header
    params = {"missing": ", ".join(missing), "unknown": ", ".join(unknown)}
    params["expected"] = ",".join(COLUMNS)
    parts = []
    if missing:
        parts.append(f"missing column(s) {params['missing']}")
    if unknown:
        parts.append(f"unknown column(s) {params['unknown']}")
    message = f"{'; '.join(parts)}; expected {params['expected']}"
    code = "wrong_columns" if missing and unknown else "missing_columns"
    code = code if missing else "unknown_columns"
    if len(header) == 1:  # most likely another separator than ours (a pipe…)
        code = "one_column"
        message += " (separated by commas or semicolons)"
    raise RosterError([RosterProblem(1, None, code, message, header=True, params=params)])


def read_rows(text: str) -> list[RosterRow]:
    """Parse and check the file's shape (not yet its references)."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")), delimiter=detect_delimiter(text))
    reader.fieldnames = _header(reader)
    rows: list[RosterRow] = []
    problems: list[RosterProblem] = []
    first_line: dict[str, int] = {}
    for raw in _records(reader):
        line = reader.line_num
        if None in raw:
            problems.append(RosterProblem(line, None, "extra_values", "more values than columns"))
            continue
        values = {k: (v or "").strip() for k, v in raw.items()}
        if not any(values.values()):
            continue
        try:
            rows.append(RosterRow(line=line, **values))
        except ValidationError as exc:
            problems += [_problem(line, e) for e in exc.errors()]
        ref = values["ref"]
        if ref in first_line:
            first = str(first_line[ref])
            problems.append(
                RosterProblem(
                    line,
                    "ref",
                    "duplicate_ref",
                    f"'{ref}' already on line {first}",
                    params={"value": ref, "first_line": first},
                )
            )
        elif ref:
            first_line[ref] = line
    if problems:
        raise RosterError(problems)
    return rows


def import_rows(
    session: Session,
    org: Organization,
    rows: list[RosterRow],
    progress: Progress = lambda _done, _total: None,
) -> ImportResult:
    """Apply checked rows to `org`; raises RosterError (nothing written) on a bad reference."""
    teams = {t.slug: t.id for t in session.scalars(select(Team).where(Team.org_id == org.id))}
    counsellors = {u.login: u.id for u in service.users_with_role(session, org.id, Role.COUNSELLOR)}
    if problems := _reference_problems(rows, teams, counsellors):
        raise RosterError(problems)

    wanted = [
        service.WorkerDetails(
            ref=row.ref,
            name=row.name,
            team_id=teams[row.team],
            counsellor_id=counsellors[row.counsellor] if row.counsellor else None,
            contract_type=row.contract_type,
            contract_start=row.start,
            contract_end=row.end,
        )
        for row in rows
    ]
    outcomes = service.upsert_workers(
        session,
        org_id=org.id,
        wanted=wanted,
        source=WorkerSource.ROSTER,
        progress=lambda done: progress(done, len(rows)),
    )
    created = sum(o.created for o in outcomes)
    updated = sum(bool(o.changed) for o in outcomes)
    return ImportResult(
        created=created,
        updated=updated,
        unchanged=len(outcomes) - created - updated,
        warnings=service.staffing_warnings(session, org),
        taken_over=[o.ref for o in outcomes if o.taken_from is WorkerSource.PROVISIONING],
    )


def _reference_problems(
    rows: list[RosterRow], teams: dict[str, uuid.UUID], counsellors: dict[str, uuid.UUID]
) -> list[RosterProblem]:
    """Teams by slug and counsellors by login, in this organisation."""
    problems = []
    for row in rows:
        if row.team not in teams:
            message = f"unknown team '{row.team}'"
            problems.append(
                RosterProblem(row.line, "team", "unknown_team", message, params={"value": row.team})
            )
        if row.counsellor and row.counsellor not in counsellors:
            message = f"no active counsellor with login '{row.counsellor}'"
            params = {"value": row.counsellor}
            problems.append(
                RosterProblem(row.line, "counsellor", "unknown_counsellor", message, params=params)
            )
    return problems


@dataclass(frozen=True)
class RosterReport:
    """What importing a file did; with problems, nothing was written."""

    result: ImportResult | None
    problems: list[RosterProblem]
    encoding: str | None = None  # None: the bytes could not be decoded
    delimiter: str | None = None


def import_roster(
    session: Session,
    *,
    org: Organization,
    data: bytes,
    progress: Progress = lambda _done, _total: None,
) -> RosterReport:
    """Import a roster file as uploaded or read from disk: problems come back as data."""
    encoding = delimiter = None
    try:
        decoded = decode(data)
        encoding, delimiter = decoded.encoding, detect_delimiter(decoded.text)
        rows = read_rows(decoded.text)
        result = import_rows(session, org, rows, progress)
    except RosterError as exc:
        return RosterReport(None, exc.issues, encoding, delimiter)
    return RosterReport(result, [], encoding, delimiter)
