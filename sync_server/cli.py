"""The `relais` command: run the server, set up organisations, look after devices."""

from __future__ import annotations

import getpass
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import select
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from shared_models.vocabulary import Language, Role
from sync_server.desk.cli import brief, export_app
from sync_server.settings import Settings, get_settings
from sync_server.terminal import (
    err,
    fail,
    field_app_site,
    open_database,
    out,
    print_table,
    say,
    tell,
    warn,
)

if TYPE_CHECKING:
    from sync_server.orgs.models import User

app = typer.Typer(
    help="Relais: worksite notes routed to the right counsellor.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,  # never print locals (passwords) or tracebacks to users
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
user_app = typer.Typer(help="Staff accounts.", no_args_is_help=True)
device_app = typer.Typer(help="Signed-in devices.", no_args_is_help=True)
roster_app = typer.Typer(help="Worker rosters.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
app.add_typer(device_app, name="device")
app.add_typer(roster_app, name="roster")
field_app_cli = typer.Typer(help="The field app (a PWA served at /app/).", no_args_is_help=True)
app.add_typer(field_app_cli, name="app")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending migrations."""
    open_database().dispose()
    say("database is up to date")


@db_app.command("revision")
def db_revision(
    message: Annotated[str, typer.Option("--message", "-m", help="What the revision changes.")],
    empty: Annotated[
        bool, typer.Option("--empty", help="An empty revision, to write by hand.")
    ] = False,
) -> None:
    """Write the next migration from the models (docs/migrations.md)."""
    from sync_server.migrations import NothingToWrite, revision

    db = open_database()
    try:
        path = revision(db, message, empty=empty)
    except NothingToWrite as exc:
        fail(f"{exc} (--empty writes one to fill by hand)")
    finally:
        db.dispose()
    say(f"wrote {path}: read it, complete it, and test it (docs/migrations.md)")


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="A revision number, or 'base' (empty).")],
) -> None:
    """Undo migrations down to REVISION (for developers: the data of what is undone is lost)."""
    from alembic.util import CommandError

    from sync_server.migrations import downgrade

    db = open_database()
    try:
        downgrade(db, revision)
    except CommandError as exc:
        fail(f"{revision}: {exc}")
    finally:
        db.dispose()
    say(f"database downgraded to {revision}")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, max=64, help="Server processes (PostgreSQL only).")
    ] = None,
) -> None:
    """Start the sync server and the field app it serves at /app/ (applies pending
    migrations first; builds the app on first use)."""
    import uvicorn

    from sync_server.app import create_app, server_options
    from sync_server.serving import refuse_workers, serve_workers

    settings = get_settings()
    if settings.log_file is not None and not settings.log_file.parent.is_dir():
        fail(f"RELAIS_LOG_FILE: no folder {escape(str(settings.log_file.parent))}")
    processes = workers or settings.workers
    problem = refuse_workers(settings, processes)
    if problem:
        fail(problem)
    db = open_database(settings)
    site = field_app_site(settings)  # built once here, before any worker looks for it
    if processes > 1:
        db.dispose()
        serve_workers(settings, host or settings.host, port or settings.port, processes)
        return
    uvicorn.run(
        create_app(settings, db, site),
        host=host or settings.host,
        port=port or settings.port,
        **server_options(settings),
    )


@app.command()
def provision(
    file: Annotated[Path, typer.Argument(help="The organisation's YAML file.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would change; change nothing.")
    ] = False,
) -> None:
    """Make an organisation match a provisioning file (idempotent, all or nothing)."""
    from sync_server.orgs import provisioning

    try:
        spec = provisioning.load_file(file)
        db = open_database()
        with db.unit_of_work() as session:
            if dry_run:
                changes = provisioning.plan(session, spec)
            else:
                _, changes = provisioning.apply(session, spec)
    except provisioning.ProvisioningError as exc:
        for problem in exc.problems:
            tell(problem, style="red")
        fail(f"{file}: nothing was changed")
    for warning in changes.warnings:
        warn(warning)
    for line in changes.summary(planned=dry_run):
        say(line)


@roster_app.command("import")
def roster_import(
    file: Annotated[
        Path, typer.Argument(help="CSV: ref,name,team,counsellor,contract_type,start,end")
    ],
    org: Annotated[str, typer.Option("--org", help="The organisation's slug.")],
) -> None:
    """Create or update workers from a CSV roster (all or nothing)."""
    from sync_server.orgs import roster
    from sync_server.orgs.service import org_by_slug

    try:
        data = file.read_bytes()
    except OSError as exc:
        fail(f"{file}: cannot read the file ({exc})")
    db = open_database()
    with db.unit_of_work() as session:
        organisation = org_by_slug(session, org)
        if organisation is None:
            fail(f"--org: no organisation with slug '{org}'")
        with Progress(
            TextColumn("importing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        ) as bar:
            task = bar.add_task("rows", total=None)
            report = roster.import_roster(
                session,
                org=organisation,
                data=data,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
    if report.encoding and (report.encoding, report.delimiter) != ("UTF-8", ","):
        separated = roster.DELIMITERS.get(report.delimiter or ",")
        tell(f"read as {report.encoding}, separated by {separated}")
    if report.result is None:
        for problem in report.problems[: roster.MAX_PROBLEMS_SHOWN]:
            tell(problem, style="red")
        hidden = len(report.problems) - roster.MAX_PROBLEMS_SHOWN
        if hidden > 0:
            tell(f"... and {hidden} more problem(s)")
        fail(f"{file}: nothing was imported")
    result = report.result
    if result.taken_over:
        taken = ", ".join(result.taken_over)
        tell(
            f"taken over from the provisioning file: {taken} (re-applying a file that still "
            "lists them takes them back)",
            style="yellow",
        )
    for warning in result.warnings:
        warn(warning)
    say(f"{result.created} created, {result.updated} updated, {result.unchanged} unchanged")


# NewUser's fields, as `relais user add` names them.
_USER_OPTIONS = {
    "login": "--login",
    "display_name": "--name",
    "roles": "--role",
    "password": "--password",
    "language": "--language",
    "email": "--email",
}


@user_app.command("add")
def user_add(
    org: Annotated[str, typer.Option("--org", help="The organisation's slug.")],
    login: Annotated[str, typer.Option(help="Sign-in name.")],
    name: Annotated[str, typer.Option(help="Name shown to colleagues.")],
    role: Annotated[list[Role], typer.Option("--role", help="Repeat for several roles.")],
    email: Annotated[str | None, typer.Option(help="For urgent alerts and digests.")] = None,
    language: Annotated[str, typer.Option(help=f"One of {', '.join(Language)}.")] = Language.FR,
    password: Annotated[
        str | None, typer.Option(help="Asked for when not given.", envvar="RELAIS_NEW_PASSWORD")
    ] = None,
) -> None:
    """Create a staff account (written to the audit log)."""
    from pydantic import ValidationError

    from shared_models.admin import NewUser
    from sync_server.admin.service import add_user
    from sync_server.auth.service import COMMAND_LINE
    from sync_server.orgs.service import LoginTaken, org_by_slug

    if password is None:
        password = getpass.getpass("password: ")
    try:  # the checks the admin API makes
        account = NewUser.model_validate(
            {
                "login": login,
                "display_name": name,
                "roles": role,
                "password": password,
                "language": language,
                "email": email,
            }
        )
    except ValidationError as exc:
        problem = exc.errors()[0]
        fail(f"{_USER_OPTIONS[str(problem['loc'][0])]}: {problem['msg']}")
    db = open_database()
    with db.unit_of_work() as session:
        organisation = org_by_slug(session, org)
        if organisation is None:
            fail(f"--org: no organisation with slug '{org}'")
        try:
            add_user(session, organisation.id, account, COMMAND_LINE)
        except LoginTaken as exc:
            fail(f"--login: {exc.message}")
    say(f"user '{login}' created")


@user_app.command("list")
def user_list(org: Annotated[str | None, typer.Option("--org")] = None) -> None:
    """List staff accounts."""
    from sync_server.orgs.models import Organization, User

    db = open_database()
    with db.reading() as session:
        query = select(User, Organization.slug).join(Organization, Organization.id == User.org_id)
        if org:
            query = query.where(Organization.slug == org)
        rows = [
            (
                slug,
                user.login,
                user.display_name,
                ", ".join(sorted(user.role_names)),
                user.email or "",
                "disabled" if user.disabled else "active",
            )
            for user, slug in session.execute(query.order_by(Organization.slug, User.login))
        ]
    print_table(("org", "login", "name", "roles", "e-mail", "state"), rows)


@user_app.command("disable")
def user_disable(login: Annotated[str, typer.Argument()]) -> None:
    """Disable an account and sign out all its devices (written to the audit log)."""
    from sync_server.auth.service import COMMAND_LINE, disable_account

    db = open_database()
    with db.unit_of_work() as session:
        user = _user(session, login)
        disable_account(session, user, actor=COMMAND_LINE)
    say(f"user '{login}' disabled; its devices are signed out")


def _user(session: Session, login: str) -> User:
    """The account with this login, in any organisation; the command fails without one."""
    from sync_server.orgs.models import User

    user = session.scalar(select(User).where(User.login == login))
    if user is None:
        fail(f"no user with login '{login}'")
    return user


def read_new_password() -> str:
    """A new password, asked for twice on a terminal, or the first line of standard input
    (for scripts). Never a command-line argument: those show in `ps` and shell histories."""
    from sync_server.auth.passwords import MAX_LENGTH, MIN_LENGTH

    if sys.stdin.isatty():
        password = getpass.getpass("new password: ")
        if getpass.getpass("again: ") != password:
            fail("the two passwords differ; nothing was changed")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        fail(f"password: {MIN_LENGTH} to {MAX_LENGTH} characters; nothing was changed")
    return password


@user_app.command("unlock")
def user_unlock(login: Annotated[str, typer.Argument()]) -> None:
    """Lift the block after too many failed logins (written to the audit log)."""
    from sync_server.auth.service import COMMAND_LINE, unlock_login

    db = open_database()
    with db.unit_of_work() as session:
        user = _user(session, login)
        forgotten = unlock_login(session, user, actor=COMMAND_LINE)
    say(f"login '{login}' unlocked ({forgotten} failed attempt(s) forgotten)")


@user_app.command("reset-password")
def user_reset_password(login: Annotated[str, typer.Argument()]) -> None:
    """Set a new password (asked for, or read from standard input): every device of the
    user is signed out and the login unlocked (written to the audit log)."""
    from sync_server.auth.passwords import hash_password
    from sync_server.auth.service import COMMAND_LINE, reset_password

    db = open_database()
    with db.reading() as session:
        _user(session, login)
    password_hash = hash_password(read_new_password())  # outside any transaction
    with db.unit_of_work() as session:
        user = _user(session, login)
        ended = reset_password(session, user, password_hash, actor=COMMAND_LINE)
    say(f"password of '{login}' reset; {ended} device(s) signed out")


@device_app.command("list")
def device_list(login: Annotated[str | None, typer.Option("--login")] = None) -> None:
    """List devices, with when they were last seen."""
    from sync_server.auth.service import device_state, devices
    from sync_server.database import utcnow

    settings = get_settings()
    db = open_database(settings)
    now = utcnow()
    with db.reading() as session:
        rows = [
            (
                device.id,
                user.login,
                device.name,
                f"{device.created_at:%Y-%m-%d %H:%M}",
                f"{device.last_seen_at:%Y-%m-%d %H:%M}" if device.last_seen_at else "",
                device_state(device, user, now=now, expire_after=settings.device_expiry),
            )
            for device, user in devices(session, login)
        ]
    print_table(("device id", "login", "name", "created", "last seen", "state"), rows)


@device_app.command("revoke")
def device_revoke(
    device_id: Annotated[str, typer.Argument(help="From `relais device list`.")],
) -> None:
    """Sign a device out: its token stops working at once (written to the audit log)."""
    from sync_server.auth.service import COMMAND_LINE, sign_out_device

    try:
        parsed = uuid.UUID(device_id)
    except ValueError:
        fail(f"'{device_id}' is not a device id")
    db = open_database()
    with db.unit_of_work() as session:
        if not sign_out_device(session, parsed, actor=COMMAND_LINE):
            fail(f"no device with id {device_id}")
    say(f"device {device_id} revoked")


def _organisation_logins(session: Session, slug: str) -> tuple[uuid.UUID, dict[uuid.UUID, str]]:
    """The organisation's id and its members' logins, or a clean exit naming `--org`."""
    from sync_server.orgs.models import User
    from sync_server.orgs.service import org_by_slug

    organisation = org_by_slug(session, slug)
    if organisation is None:
        fail(f"--org: no organisation with slug '{slug}'")
    logins = session.execute(select(User.id, User.login).where(User.org_id == organisation.id))
    return organisation.id, dict(logins.all())


@app.command()
def audit(
    org: Annotated[str, typer.Option("--org", help="The organisation's slug.")],
    limit: Annotated[int, typer.Option(help="How many events, newest first.")] = 100,
) -> None:
    """Who read which sensitive note, and who exported what (no note content shown)."""
    from sync_server.audit.service import events

    with open_database().reading() as session:
        org_id, names = _organisation_logins(session, org)
        rows = [
            (
                f"{event.at:%Y-%m-%d %H:%M:%S}",
                names.get(event.actor_id, "") if event.actor_id else "",
                event.action,
                event.entity or "",
                event.entity_id or "",
                event.device_id or "",
            )
            for event in events(session, org_id, limit)
        ]
    print_table(("when (UTC)", "who", "action", "entity", "entity id", "device"), rows)


@app.command()
def quarantine(
    org: Annotated[str, typer.Option("--org", help="The organisation's slug.")],
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 100,
) -> None:
    """Mutations the server refused: their code and the fields at fault, never what was sent
    (it is kept, not shown)."""
    from shared_models.mutations import MUTATION_TYPES, fields_and_rules
    from sync_server.sync.models import MutationRecord

    with open_database().reading() as session:
        org_id, names = _organisation_logins(session, org)
        records = session.scalars(
            select(MutationRecord)
            .where(MutationRecord.org_id == org_id, MutationRecord.status == "rejected")
            .order_by(MutationRecord.received_at.desc())
            .limit(limit)
        )
        rows = [
            (
                f"{record.received_at:%Y-%m-%d %H:%M:%S}",
                names.get(record.user_id, ""),
                # An unknown type is whatever the client wrote there.
                record.type if record.type in MUTATION_TYPES else "(unknown)",
                record.error_code or "",
                fields_and_rules(record.error_message or ""),
                record.id,
            )
            for record in records
        ]
    print_table(("received (UTC)", "who", "type", "code", "fields", "mutation id"), rows)


@app.command()
def escalate(
    once: Annotated[bool, typer.Option("--once", help="Run one sweep and exit.")] = False,
) -> None:
    """Escalate overdue deliveries and send due e-mails (the server also does this itself)."""
    import time

    from sync_server.sweeps import sweep_once

    settings = get_settings()
    db = open_database(settings)
    while True:
        report = sweep_once(db, settings)
        say(
            f"{report.escalated} escalated, {report.absences_ended} absence(s) ended, "
            f"{report.emails_sent} e-mail(s) sent"
        )
        if once:
            return
        time.sleep(settings.escalation_interval or 60)


@app.command()
def retention(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only count what would be deleted.")
    ] = False,
) -> None:
    """Delete what is held about workers whose contract ended more than the organisation's
    retention period ago (the server also does this in its sweeps)."""
    from sync_server.database import utcnow
    from sync_server.orgs.models import Organization
    from sync_server.retention import count_expired
    from sync_server.sweeps import purge_all_expired

    db = open_database()
    today = utcnow().date()
    if dry_run:
        with db.reading() as session:
            for org in session.scalars(select(Organization).order_by(Organization.slug)):
                count = count_expired(session, org, today)
                say(
                    f"organisation '{org.slug}': {count} worker(s) past retention "
                    f"({org.retention_days} days after the contract ends); nothing deleted"
                )
        return
    report = purge_all_expired(db, utcnow())
    say(
        f"{report.workers} worker(s) past retention deleted, with {report.notes} note(s), "
        f"{report.follow_ups} follow-up(s), {report.heads_ups} heads-up(s); "
        f"{report.refused_mutations} refused mutation(s) emptied"
    )


def _embedded_database(settings: Settings, what: str) -> Path:
    from sync_server.backup import sqlite_path

    path = sqlite_path(settings.resolved_database_url)
    if path is None:
        fail(
            f"{what} is for the embedded SQLite database; on PostgreSQL use pg_dump and pg_restore (docs/deploy.md)"
        )
    return path


@app.command()
def backup(
    file: Annotated[Path, typer.Argument(help="The backup file to create (mode 0600).")],
) -> None:
    """Copy the embedded database to FILE while the server runs (SQLite's backup API)."""
    from sync_server.backup import BackupError
    from sync_server.backup import backup as take_backup

    database = _embedded_database(get_settings(), "relais backup")
    try:
        report = take_backup(database, file)
    except BackupError as exc:
        fail(str(exc))
    out.print(
        f"backup written: {report.path} ({report.size / 2**20:.1f} MiB, integrity ok)",
        highlight=False,
    )


@app.command()
def restore(
    file: Annotated[Path, typer.Argument(help="A file written by `relais backup`.")],
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: the server is stopped.")] = False,
) -> None:
    """Replace the embedded database by a backup (stop the server first)."""
    from sync_server.backup import BackupError
    from sync_server.backup import restore as restore_backup

    settings = get_settings()
    database = _embedded_database(settings, "relais restore")
    if not yes:
        fail("restoring replaces the current data: stop the server, then add --yes")
    try:
        kept = restore_backup(file, database)
    except BackupError as exc:
        fail(str(exc))
    open_database(settings).dispose()  # an older backup gets this version's migrations
    if kept:
        out.print(f"the previous database was kept as {kept}", highlight=False)
    out.print(f"restored {file} into {database}", highlight=False)


@app.command()
def demo(
    port: Annotated[int | None, typer.Option(help="Sync server port.")] = None,
    no_app: Annotated[bool, typer.Option("--no-app", help="Serve the API only.")] = False,
) -> None:
    """Run the whole product on a fictional organisation, and print the logins."""
    from sync_server.demo.launcher import run_demo

    run_demo(port=port, with_app=not no_app)


@field_app_cli.command("build")
def app_build(
    force: Annotated[bool, typer.Option("--force", help="Build again even if unchanged.")] = False,
) -> None:
    """Build the field app for browsers (the PWA that `relais serve` serves at /app/)."""
    from sync_server.webapp.build import BuildFailed, build

    settings = get_settings()
    try:
        site = build(settings.app_cache_dir, force=force, say=lambda text: out.print(text))
    except BuildFailed as exc:
        fail(escape(str(exc)))
    out.print(f"app {site.version}: {site.path}")


# The coordinator's desk (sync_server/desk/cli.py).
app.command("brief")(brief)
app.add_typer(export_app, name="export")


def main() -> None:
    try:
        app()
    except OperationalError as exc:
        tell(f"database unavailable ({exc.orig.__class__.__name__})", "error: ", "bold red")
        sys.exit(1)
    except SQLAlchemyError as exc:
        # Never a traceback: its parameters could show stored data (even password hashes).
        tell(
            f"the database refused the change ({type(exc).__name__}); nothing was changed",
            "error: ",
            "bold red",
        )
        sys.exit(1)
