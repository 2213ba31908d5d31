"""The `relais` command: run the server, set up organisations, look after devices."""

from __future__ import annotations

import getpass
import sys
import uuid
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from shared_models.vocabulary import Role
from sync_server.database import Database
from sync_server.settings import Settings, get_settings

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

out = Console()
err = Console(stderr=True)


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def open_database(settings: Settings | None = None) -> Database:
    """The configured database, with every pending migration applied."""
    from sync_server.migrations import upgrade

    settings = settings or get_settings()
    if not settings.database_url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.resolved_database_url)
    try:
        upgrade(db)
    except OperationalError as exc:
        fail(f"cannot open the database ({exc.orig.__class__.__name__}: {exc.orig})")
    return db


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending migrations."""
    open_database().dispose()
    out.print("database is up to date")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, max=64, help="Server processes (PostgreSQL only).")
    ] = None,
) -> None:
    """Start the sync server (applies pending migrations first)."""
    import uvicorn

    from sync_server.app import create_app
    from sync_server.observability import uvicorn_log_config
    from sync_server.serving import refuse_workers, serve_workers

    settings = get_settings()
    processes = workers or settings.workers
    problem = refuse_workers(settings, processes)
    if problem:
        fail(problem)
    db = open_database(settings)
    if processes > 1:
        db.dispose()
        serve_workers(settings, host or settings.host, port or settings.port, processes)
        return
    uvicorn.run(
        create_app(settings, db),
        host=host or settings.host,
        port=port or settings.port,
        log_level=settings.log_level.lower(),
        log_config=uvicorn_log_config(settings),
        timeout_graceful_shutdown=3,
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
            err.print(problem, style="red", markup=False, highlight=False)
        fail(f"{file}: nothing was changed")
    for warning in changes.warnings:
        err.print(f"warning: {warning}", style="yellow", markup=False, highlight=False)
    for line in changes.summary(planned=dry_run):
        out.print(line, markup=False, highlight=False)


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
        err.print(f"read as {report.encoding}, separated by {separated}", highlight=False)
    if report.result is None:
        for problem in report.problems[: roster.MAX_PROBLEMS_SHOWN]:
            err.print(str(problem), style="red", markup=False, highlight=False)
        hidden = len(report.problems) - roster.MAX_PROBLEMS_SHOWN
        if hidden > 0:
            err.print(f"... and {hidden} more problem(s)")
        fail(f"{file}: nothing was imported")
    result = report.result
    if result.taken_over:
        taken = ", ".join(result.taken_over)
        err.print(
            f"taken over from the provisioning file: {taken} (re-applying a file that still "
            "lists them takes them back)",
            style="yellow",
            markup=False,
            highlight=False,
        )
    for warning in result.warnings:
        err.print(f"[yellow]warning:[/] {warning}", highlight=False)
    out.print(f"{result.created} created, {result.updated} updated, {result.unchanged} unchanged")


@user_app.command("add")
def user_add(
    org: Annotated[str, typer.Option("--org", help="The organisation's slug.")],
    login: Annotated[str, typer.Option(help="Sign-in name.")],
    name: Annotated[str, typer.Option(help="Name shown to colleagues.")],
    role: Annotated[list[Role], typer.Option("--role", help="Repeat for several roles.")],
    email: Annotated[str | None, typer.Option(help="For urgent alerts and digests.")] = None,
    language: Annotated[str, typer.Option(help="fr, en, it or nl.")] = "fr",
    password: Annotated[
        str | None, typer.Option(help="Asked for when not given.", envvar="RELAIS_NEW_PASSWORD")
    ] = None,
) -> None:
    """Create a staff account."""
    from sync_server.orgs.service import LoginTaken, create_user, org_by_slug

    if language not in ("fr", "en", "it", "nl"):
        fail(f"--language: '{language}' is not one of fr, en, it, nl")
    if password is None:
        password = getpass.getpass("password: ")
    if len(password) < 8:
        fail("--password: at least 8 characters")
    for option, value, limit in (
        ("--login", login, 200),
        ("--name", name, 200),
        ("--email", email or "", 320),
    ):
        if len(value) > limit or "\x00" in value:
            fail(f"{option}: at most {limit} characters, no NUL")
    db = open_database()
    with db.unit_of_work() as session:
        organisation = org_by_slug(session, org)
        if organisation is None:
            fail(f"--org: no organisation with slug '{org}'")
        try:
            create_user(
                session,
                org=organisation,
                login=login,
                name=name,
                roles=[r.value for r in role],
                password=password,
                language=language,
                email=email,
            )
        except LoginTaken as exc:
            fail(f"--login: {exc.message}")
    out.print(f"user '{login}' created")


@user_app.command("list")
def user_list(org: Annotated[str | None, typer.Option("--org")] = None) -> None:
    """List staff accounts."""
    from sync_server.orgs.models import Organization, User

    db = open_database()
    table = Table("org", "login", "name", "roles", "e-mail", "state")
    with db.reading() as session:
        query = select(User, Organization.slug).join(Organization, Organization.id == User.org_id)
        if org:
            query = query.where(Organization.slug == org)
        for user, slug in session.execute(query.order_by(Organization.slug, User.login)):
            table.add_row(
                slug,
                user.login,
                user.display_name,
                ", ".join(sorted(user.role_names)),
                user.email or "",
                "disabled" if user.disabled else "active",
            )
    out.print(table)


@user_app.command("disable")
def user_disable(login: Annotated[str, typer.Argument()]) -> None:
    """Disable an account and sign out all its devices."""
    from sync_server.orgs.models import User
    from sync_server.orgs.service import disable_user

    db = open_database()
    with db.unit_of_work() as session:
        user = session.scalar(select(User).where(User.login == login))
        if user is None:
            fail(f"no user with login '{login}'")
        disable_user(session, user)
    out.print(f"user '{login}' disabled; its devices are signed out")


@device_app.command("list")
def device_list(login: Annotated[str | None, typer.Option("--login")] = None) -> None:
    """List devices, with when they were last seen."""
    from sync_server.auth.service import devices

    db = open_database()
    table = Table("device id", "login", "name", "created", "last seen", "state")
    with db.reading() as session:
        for device, user in devices(session, login):
            table.add_row(
                str(device.id),
                user.login,
                device.name,
                f"{device.created_at:%Y-%m-%d %H:%M}",
                f"{device.last_seen_at:%Y-%m-%d %H:%M}" if device.last_seen_at else "",
                "revoked" if device.revoked_at else "active",
            )
    out.print(table)


@device_app.command("revoke")
def device_revoke(
    device_id: Annotated[str, typer.Argument(help="From `relais device list`.")],
) -> None:
    """Sign a device out: its token stops working at once."""
    from sync_server.auth.service import revoke_device

    try:
        parsed = uuid.UUID(device_id)
    except ValueError:
        fail(f"'{device_id}' is not a device id")
    db = open_database()
    with db.unit_of_work() as session:
        if not revoke_device(session, parsed):
            fail(f"no device with id {device_id}")
    out.print(f"device {device_id} revoked")


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

    table = Table("when (UTC)", "who", "action", "entity", "entity id", "device")
    with open_database().reading() as session:
        org_id, names = _organisation_logins(session, org)
        for event in events(session, org_id, limit):
            table.add_row(
                f"{event.at:%Y-%m-%d %H:%M:%S}",
                names.get(event.actor_id, "") if event.actor_id else "",
                event.action,
                event.entity or "",
                str(event.entity_id or ""),
                str(event.device_id or ""),
            )
    out.print(table)


@app.command()
def quarantine(
    org: Annotated[str, typer.Option("--org", help="The organisation's slug.")],
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 100,
) -> None:
    """Mutations the server refused, with their reasons (their content is kept, not shown)."""
    from sync_server.sync.models import MutationRecord

    table = Table("received (UTC)", "who", "type", "code", "reason", "mutation id")
    with open_database().reading() as session:
        org_id, names = _organisation_logins(session, org)
        rows = session.scalars(
            select(MutationRecord)
            .where(MutationRecord.org_id == org_id, MutationRecord.status == "rejected")
            .order_by(MutationRecord.received_at.desc())
            .limit(limit)
        )
        for record in rows:
            table.add_row(
                f"{record.received_at:%Y-%m-%d %H:%M:%S}",
                names.get(record.user_id, ""),
                record.type,
                record.error_code or "",
                record.error_message or "",
                str(record.id),
            )
    out.print(table)


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
        out.print(
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
                out.print(
                    f"organisation '{org.slug}': {count} worker(s) past retention "
                    f"({org.retention_days} days after the contract ends); nothing deleted"
                )
        return
    report = purge_all_expired(db, utcnow())
    out.print(
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
    app_port: Annotated[int | None, typer.Option(help="Web app port.")] = None,
    no_app: Annotated[bool, typer.Option("--no-app", help="Start the server only.")] = False,
) -> None:
    """Run the whole product on a fictional organisation, and print the logins."""
    from sync_server.demo.launcher import run_demo

    run_demo(port=port, app_port=app_port, with_app=not no_app)


@app.command("app")
def field_app(
    server: Annotated[str | None, typer.Option(help="Sync server address.")] = None,
    port: Annotated[int | None, typer.Option(help="Web app port.")] = None,
    web: Annotated[
        bool, typer.Option("--web", help="Serve the web app even with a display.")
    ] = False,
) -> None:
    """Start the field app: a desktop window where a display exists, otherwise the web app."""
    import subprocess

    settings = get_settings()
    command = [sys.executable, "-m", "field_app", "--port", str(port or settings.app_port)]
    command += ["--server", server or f"http://{settings.host}:{settings.port}"]
    if web:
        command.append("--web")
    # A separate process: the field app never imports the server.
    raise typer.Exit(subprocess.call(command))


def main() -> None:
    try:
        app()
    except OperationalError as exc:
        err.print(f"[bold red]error:[/] database unavailable ({exc.orig.__class__.__name__})")
        sys.exit(1)
    except SQLAlchemyError as exc:
        # Never a traceback: its parameters could show stored data (even password hashes).
        err.print(
            f"[bold red]error:[/] the database refused the change ({type(exc).__name__}); nothing was changed"
        )
        sys.exit(1)
