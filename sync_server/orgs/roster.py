"""`relais roster import FILE.csv --org SLUG`: create or update workers from a CSV roster.

Columns: ref,name,team,counsellor,contract_type,start,end (team by slug, counsellor by
login, dates as YYYY-MM-DD). All or nothing: every problem is reported with its line and
column, and nothing is written unless the whole file is valid.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared_models.vocabulary import Role
from sync_server.orgs import service
from sync_server.orgs.models import Organization, Team, Worker
from sync_server.sync.changelog import record_change

COLUMNS = ("ref", "name", "team", "counsellor", "contract_type", "start", "end")
REQUIRED = ("ref", "name", "team")
_LIMITS = {"ref": 64, "name": 200, "team": 64, "counsellor": 200, "contract_type": 64}
MAX_PROBLEMS_SHOWN = 50


class RosterError(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class RosterRow:
    line: int
    ref: str
    name: str
    team: str
    counsellor: str | None
    contract_type: str | None
    start: date | None
    end: date | None


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int
    unchanged: int
    warnings: list[str]


def _records(reader: csv.DictReader[str]) -> Iterator[dict[str | Any, str | Any]]:
    """The reader's rows, with a broken line (a NUL byte, a runaway quote) named by number."""
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise RosterError([f"line {reader.line_num + 1}: unreadable CSV ({exc})"]) from None


def read_rows(text: str) -> list[RosterRow]:
    """Parse and check the file's shape (not yet its references)."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in COLUMNS if c not in header]
    unknown = [c for c in header if c not in COLUMNS]
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"missing column(s) {', '.join(missing)}")
        if unknown:
            parts.append(f"unknown column(s) {', '.join(unknown)}")
        raise RosterError([f"line 1 (header): {'; '.join(parts)}; expected {','.join(COLUMNS)}"])
    reader.fieldnames = header
    rows, problems = [], []
    seen: dict[str, int] = {}
    for raw in _records(reader):
        line = reader.line_num
        if None in raw:
            problems.append(f"line {line}: more values than columns")
            continue
        values = {k: (v or "").strip() for k, v in raw.items()}
        if not any(values.values()):
            continue
        for column in REQUIRED:
            if not values[column]:
                problems.append(f"line {line}, column '{column}': required")
        for column, value in values.items():
            if "\x00" in value:
                problems.append(f"line {line}, column '{column}': must not contain NUL characters")
        for column, limit in _LIMITS.items():
            if len(values[column]) > limit:
                problems.append(f"line {line}, column '{column}': longer than {limit} characters")
        dates: dict[str, date | None] = {}
        for column in ("start", "end"):
            dates[column] = None
            if values[column]:
                try:
                    dates[column] = date.fromisoformat(values[column])
                except ValueError:
                    problems.append(
                        f"line {line}, column '{column}': '{values[column]}' is not a date (YYYY-MM-DD)"
                    )
        if dates["start"] and dates["end"] and dates["end"] < dates["start"]:
            problems.append(f"line {line}, column 'end': ends before it starts")
        if values["ref"] in seen:
            problems.append(
                f"line {line}, column 'ref': '{values['ref']}' already on line {seen[values['ref']]}"
            )
        seen.setdefault(values["ref"], line)
        rows.append(
            RosterRow(
                line=line,
                ref=values["ref"],
                name=values["name"],
                team=values["team"],
                counsellor=values["counsellor"] or None,
                contract_type=values["contract_type"] or None,
                start=dates["start"],
                end=dates["end"],
            )
        )
    if problems:
        raise RosterError(problems)
    return rows


def import_rows(
    session: Session,
    org: Organization,
    rows: list[RosterRow],
    progress: Callable[[int], None] = lambda _n: None,
) -> ImportResult:
    """Apply checked rows to `org`; raises RosterError (nothing written) on a bad reference."""
    teams = {t.slug: t for t in session.scalars(select(Team).where(Team.org_id == org.id))}
    counsellors = {u.login: u for u in service.users_with_role(session, org.id, Role.COUNSELLOR)}
    problems = []
    for row in rows:
        if row.team not in teams:
            problems.append(f"line {row.line}, column 'team': unknown team '{row.team}'")
        if row.counsellor and row.counsellor not in counsellors:
            problems.append(
                f"line {row.line}, column 'counsellor': no active counsellor with login '{row.counsellor}'"
            )
    if problems:
        raise RosterError(problems)

    existing = {w.ref: w for w in session.scalars(select(Worker).where(Worker.org_id == org.id))}
    created = updated = unchanged = 0
    moves = []
    for i, row in enumerate(rows, 1):
        team_id = teams[row.team].id
        counsellor_id = counsellors[row.counsellor].id if row.counsellor else None
        details = {
            "display_name": row.name,
            "contract_type": row.contract_type,
            "contract_start": row.start,
            "contract_end": row.end,
            "active": True,
        }
        worker = existing.get(row.ref)
        if worker is None:
            worker = Worker(
                id=uuid.uuid4(),
                org_id=org.id,
                ref=row.ref,
                team_id=team_id,
                counsellor_id=counsellor_id,
                **details,
            )
            session.add(worker)
            existing[row.ref] = worker
            created += 1
            record_change(session, org.id, "worker", worker.id)
        else:
            changed = False
            for name, value in details.items():
                if getattr(worker, name) != value:
                    setattr(worker, name, value)
                    changed = True
            moved = worker.team_id != team_id or worker.counsellor_id != counsellor_id
            if changed:
                record_change(session, org.id, "worker", worker.id)
            if moved:
                moves.append(service.Assignment(worker, team_id, counsellor_id))
            updated += changed or moved
            unchanged += not (changed or moved)
        if i % 250 == 0:
            progress(250)
    progress(len(rows) % 250)
    session.flush()
    service.reassign(session, org.id, moves)
    return ImportResult(created, updated, unchanged, service.staffing_warnings(session, org))
