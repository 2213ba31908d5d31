"""`relais brief` and `relais export worker`: the desk's exports from the command line.

Files are written readable by their owner only (0600): they hold personal data. Each export
is in the audit log, under the `--as` login when one is given, else as the command line.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import select

from sync_server.database import Database
from sync_server.errors import InvalidBody, NotFound, RelaisError

export_app = typer.Typer(help="Exports of what is held about a person.", no_args_is_help=True)


class ExportFormat(StrEnum):
    JSON = "json"
    PDF = "pdf"


OrgOption = Annotated[str, typer.Option("--org", help="The organisation's slug.")]
OutputOption = Annotated[Path, typer.Option("--output", "-o", help="File to write (mode 0600).")]
AsOption = Annotated[
    str | None,
    typer.Option("--as", help="The coordinator's login the export is made for (audited)."),
]


def brief(
    org: OrgOption,
    start: Annotated[str, typer.Option("--from", help="First day, YYYY-MM-DD.")],
    end: Annotated[str, typer.Option("--to", help="Last day, included, YYYY-MM-DD.")],
    output: OutputOption,
    team: Annotated[str | None, typer.Option("--team", help="A team's slug.")] = None,
    worker: Annotated[str | None, typer.Option("--worker", help="A worker's reference.")] = None,
    include_sensitive: Annotated[
        bool,
        typer.Option("--include-sensitive", help="Print the text of sensitive notes (needs --as)."),
    ] = False,
    as_login: AsOption = None,
) -> None:
    """Print the meeting brief of a team or a worker over a period, as a PDF."""
    from sync_server.desk.exports import Requester, export_brief
    from sync_server.terminal import fail, out

    if (team is None) == (worker is None):
        fail("give --team SLUG or --worker REF (one of them)")
    if include_sensitive and as_login is None:
        fail("--include-sensitive: say which coordinator asks for it with --as LOGIN")
    first, last = _day("--from", start), _day("--to", end)
    _check_writable(output)
    db, org_id, user_id = _open(org, as_login)
    try:
        export = export_brief(
            db,
            org_id=org_id,
            requester=Requester(user_id, None, "cli"),
            team=team,
            worker=worker,
            start=first,
            end=last,
            include_sensitive=include_sensitive,
        )
    except NotFound as exc:
        fail(f"{'--team' if team is not None else '--worker'}: {exc.message}")
    except InvalidBody as exc:
        fail(f"--from, --to: {exc.message.split(': ', 1)[-1]}")
    except RelaisError as exc:
        fail(f"{'--as' if as_login else '--org'}: {exc.message}")
    finally:
        db.dispose()
    _write_private(output, export.content)
    out.print(
        f"meeting brief written to {output} ({len(export.content)} bytes); recorded in the audit log"
    )


@export_app.command("worker")
def export_worker(
    ref: Annotated[str, typer.Argument(help="The worker's reference.")],
    org: OrgOption,
    output: OutputOption,
    format: Annotated[
        ExportFormat, typer.Option("--format", help="json or pdf.")
    ] = ExportFormat.JSON,
    as_login: AsOption = None,
) -> None:
    """Everything held about one worker (GDPR art. 15), as JSON or PDF."""
    from sync_server.desk.exports import Requester, export_subject_access
    from sync_server.terminal import fail, out

    _check_writable(output)
    db, org_id, user_id = _open(org, as_login)
    try:
        export = export_subject_access(
            db,
            org_id=org_id,
            requester=Requester(user_id, None, "cli"),
            worker=ref,
            fmt=format.value,
        )
    except NotFound as exc:
        fail(f"REF: {exc.message}")
    except RelaisError as exc:
        fail(f"--as: {exc.message}")
    finally:
        db.dispose()
    _write_private(output, export.content)
    out.print(
        f"export of worker '{ref}' written to {output} ({len(export.content)} bytes); recorded in the audit log"
    )


def _day(option: str, value: str) -> date:
    from sync_server.terminal import fail

    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"{option}: '{value}' is not a date (YYYY-MM-DD)")


def _open(slug: str, as_login: str | None) -> tuple[Database, uuid.UUID, uuid.UUID | None]:
    """The database, the organisation's id and the `--as` user's id, or a clean exit."""
    from sync_server.orgs.models import User
    from sync_server.orgs.service import org_by_slug
    from sync_server.terminal import fail, open_database

    db = open_database()
    with db.reading() as session:
        organisation = org_by_slug(session, slug)
        if organisation is None:
            db.dispose()
            fail(f"--org: no organisation with slug '{slug}'")
        user_id = None
        if as_login is not None:
            user = session.scalar(
                select(User).where(User.login == as_login, User.org_id == organisation.id)
            )
            if user is None:
                db.dispose()
                fail(f"--as: no user '{as_login}' in organisation '{slug}'")
            user_id = user.id
    return db, organisation.id, user_id


def _check_writable(path: Path) -> None:
    """Fail before exporting (and auditing) rather than after."""
    from sync_server.terminal import fail

    if path.is_dir():
        fail(f"--output: {path} is a folder")
    if not path.parent.is_dir():
        fail(f"--output: the folder {path.parent} does not exist")
    if not os.access(path.parent, os.W_OK):
        fail(f"--output: cannot write in {path.parent}")


def _write_private(path: Path, content: bytes) -> None:
    """Written whole or not at all, readable by its owner only, even over an older file."""
    fd, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(content)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(partial, 0o600)
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(partial)
        raise
