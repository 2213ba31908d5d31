"""The `relais` command on a SQLite file in a temporary folder: each command once as a real
subprocess (`Relais.spawn`, the entry point), its other cases in process (`Relais.__call__`).

Set-up that is not under test (an organisation, a login, an overdue note) is done in process
on the same file. Every person here is invented.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import func, select, text

from relais_testing.command import Relais, assert_clean_failure, assert_ok, output, table_rows
from relais_testing.factories import PASSWORD, World, build_world, open_session
from shared_models import mutations as m
from shared_models.vocabulary import NoteKind, Severity
from sync_server import policy
from sync_server.auth import service as auth
from sync_server.database import Database, utcnow
from sync_server.errors import Unauthenticated
from sync_server.migrations import alembic_config
from sync_server.notes import service as notes
from sync_server.orgs.models import User, Worker
from sync_server.orgs.service import set_availability
from sync_server.routing.models import Delivery

pytestmark = pytest.mark.slow

PROVISIONING = """\
organization: {slug: cli-org, name: "ACI Ligne de Commande (fictional)", country: FR, language: fr}
users:
  - {login: cli_sup, name: Jo Fictif, roles: [supervisor], password: fictional-pass-1}
  - {login: cli_couns, name: Lou Imaginaire, roles: [counsellor], password: fictional-pass-1}
teams:
  - {slug: verts, name: Espaces verts, supervisors: [cli_sup]}
workers:
  - {ref: V01, name: Max A., team: verts, counsellor: cli_couns}
"""
ROSTER_HEADER = "ref,name,team,counsellor,contract_type,start,end"


@pytest.fixture
def relais(tmp_path: Path) -> Relais:
    return Relais(tmp_path)


@pytest.fixture
def world(relais: Relais) -> World:
    """The factories' organisation 'acme', on the command's database file."""
    db = relais.database()
    try:
        return build_world(db)
    finally:
        db.dispose()


def count(relais: Relais, model: type, *where: object) -> int:
    db = Database(relais.url)
    try:
        with db.reading() as session:
            return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)
    finally:
        db.dispose()


# --- provision --------------------------------------------------------------------------


def test_provision_applies_then_reports_nothing_to_change(relais, tmp_path):
    path = tmp_path / "org.yaml"
    path.write_text(PROVISIONING, encoding="utf-8")

    first = relais.spawn("provision", str(path))
    assert_ok(first)
    assert "organisation 'cli-org':" in first.stdout
    assert "change(s) applied" in first.stdout

    second = relais("provision", str(path))
    assert_ok(second)
    assert "organisation 'cli-org': already up to date, nothing changed" in second.stdout
    assert count(relais, Worker) == 1


def test_provision_bad_file_names_the_field_and_changes_nothing(relais, tmp_path):
    path = tmp_path / "org.yaml"
    path.write_text(PROVISIONING, encoding="utf-8")
    assert_ok(relais("provision", str(path)))
    path.write_text(
        PROVISIONING.replace(
            "{ref: V01, name: Max A., team: verts", "{ref: V01, name: Max B., team: batiment"
        ),
        encoding="utf-8",
    )

    result = relais("provision", str(path))

    assert_clean_failure(result)
    assert "workers[0].team: unknown team 'batiment'" in result.stderr
    assert "nothing was changed" in result.stderr
    assert count(relais, Worker, Worker.display_name == "Max A.") == 1


def test_provision_bad_yaml_gives_line_and_column(relais, tmp_path):
    path = tmp_path / "org.yaml"
    path.write_text("organization:\n  slug: cli-org\n bad: indent\n", encoding="utf-8")
    result = relais("provision", str(path))
    assert_clean_failure(result)
    assert "line 3, column 2: not valid YAML" in result.stderr


def test_provision_missing_file_fails_cleanly(relais, tmp_path):
    result = relais("provision", str(tmp_path / "nowhere.yaml"))
    assert_clean_failure(result)
    assert "cannot read the file" in result.stderr


# --- roster import ----------------------------------------------------------------------


def test_roster_import_creates_workers_and_warns_about_staffing(relais, tmp_path):
    path = tmp_path / "org.yaml"
    path.write_text(PROVISIONING, encoding="utf-8")
    assert_ok(relais("provision", str(path)))
    lines = [f"V{i:02d},Person {i},verts,cli_couns,CDDI,2026-01-05," for i in range(2, 15)]
    roster_file = tmp_path / "roster.csv"
    # A spreadsheet's UTF-8 export often starts with a byte order mark.
    roster_file.write_text("\n".join([ROSTER_HEADER, *lines]) + "\n", encoding="utf-8-sig")

    result = relais.spawn("roster", "import", str(roster_file), "--org", "cli-org")

    assert_ok(result)
    assert "13 created, 0 updated, 0 unchanged" in result.stdout
    assert "team 'verts': 14 workers for 1 supervisor(s)" in result.stderr
    assert count(relais, Worker) == 14


def test_roster_import_bad_line_names_line_and_column_and_imports_nothing(relais, tmp_path):
    path = tmp_path / "org.yaml"
    path.write_text(PROVISIONING, encoding="utf-8")
    assert_ok(relais("provision", str(path)))
    roster_file = tmp_path / "roster.csv"
    roster_file.write_text(
        f"{ROSTER_HEADER}\nV02,Nel B.,verts,cli_couns,CDDI,2026-01-05,\nV03,Ode C.,verts,,CDDI,05/01/2026,\n",
        encoding="utf-8",
    )

    result = relais("roster", "import", str(roster_file), "--org", "cli-org")

    assert_clean_failure(result)
    assert "line 3, column 'start': '05/01/2026' is not a date" in result.stderr
    assert "nothing was imported" in result.stderr
    assert count(relais, Worker) == 1


def test_roster_import_unknown_reference_and_unknown_org_fail_cleanly(relais, tmp_path):
    path = tmp_path / "org.yaml"
    path.write_text(PROVISIONING, encoding="utf-8")
    assert_ok(relais("provision", str(path)))
    roster_file = tmp_path / "roster.csv"
    roster_file.write_text(f"{ROSTER_HEADER}\nV02,Nel B.,batiment,cli_couns,,,\n", encoding="utf-8")

    unknown_team = relais("roster", "import", str(roster_file), "--org", "cli-org")
    assert_clean_failure(unknown_team)
    assert "line 2, column 'team': unknown team 'batiment'" in unknown_team.stderr

    unknown_org = relais("roster", "import", str(roster_file), "--org", "nowhere")
    assert_clean_failure(unknown_org)
    assert "no organisation with slug 'nowhere'" in unknown_org.stderr
    assert count(relais, Worker) == 1


def active_workers(relais: Relais) -> dict[str, str]:
    """ref -> name of the active workers in the command's database."""
    db = Database(relais.url)
    try:
        with db.reading() as session:
            query = select(Worker.ref, Worker.display_name).where(Worker.active.is_(True))
            return {ref: name for ref, name in session.execute(query)}
    finally:
        db.dispose()


def test_reprovisioning_keeps_roster_workers_and_says_what_it_deactivates(relais, tmp_path):
    path = tmp_path / "org.yaml"
    path.write_text(PROVISIONING + "  - {ref: V09, name: Ana Z., team: verts}\n", encoding="utf-8")
    assert_ok(relais("provision", str(path)))
    roster_file = tmp_path / "roster.csv"
    roster_file.write_text(f"{ROSTER_HEADER}\nV02,Nel B.,verts,cli_couns,,,\n", encoding="utf-8")
    assert_ok(relais("roster", "import", str(roster_file), "--org", "cli-org"))
    path.write_text(PROVISIONING, encoding="utf-8")  # V09 left the file

    result = relais("provision", str(path))

    assert_ok(result)
    assert "organisation 'cli-org': 1 change(s) applied" in result.stdout
    assert "deactivated worker 'V09': no longer in the provisioning file" in result.stdout
    assert "1 worker(s) added by a roster import are not in the file: left as they are" in (
        result.stdout
    )
    assert active_workers(relais) == {"V01": "Max A.", "V02": "Nel B."}


def test_provision_dry_run_shows_the_plan_and_changes_nothing(relais, tmp_path):
    path = tmp_path / "org.yaml"
    path.write_text(PROVISIONING + "  - {ref: V09, name: Ana Z., team: verts}\n", encoding="utf-8")
    planned_first = relais("provision", str(path), "--dry-run")
    assert_ok(planned_first)
    assert "dry run" in planned_first.stdout
    assert "create organisation 'cli-org'" in planned_first.stdout
    assert "create worker 'V09'" in planned_first.stdout
    assert count(relais, Worker) == 0

    assert_ok(relais("provision", str(path)))
    path.write_text(
        PROVISIONING.replace("name: Max A.", "name: Max A.-B.").replace(
            "  - {login: cli_couns",
            "  - {login: cli_coord, name: Eli G., roles: [coordinator], "
            "password: fictional-pass-1}\n  - {login: cli_couns",
        ),
        encoding="utf-8",
    )

    planned = relais("provision", str(path), "--dry-run")

    assert_ok(planned)
    assert "organisation 'cli-org', dry run (nothing was changed): 3 change(s) planned" in (
        planned.stdout
    )
    assert "create user 'cli_coord'" in planned.stdout
    assert "update worker 'V01': name" in planned.stdout
    assert "deactivate worker 'V09': no longer in the provisioning file" in planned.stdout
    assert active_workers(relais) == {"V01": "Max A.", "V09": "Ana Z."}
    assert count(relais, User) == 2

    applied = relais("provision", str(path))
    assert_ok(applied)
    assert "3 change(s) applied" in applied.stdout
    assert active_workers(relais) == {"V01": "Max A.-B."}


def test_roster_import_reads_a_french_excel_file(relais, tmp_path):
    """Excel in French saves CSV with semicolons, in Windows-1252 unless told "CSV UTF-8"."""
    path = tmp_path / "org.yaml"
    path.write_text(PROVISIONING, encoding="utf-8")
    assert_ok(relais("provision", str(path)))
    roster_file = tmp_path / "roster.csv"
    roster_file.write_bytes(
        "ref;name;team;counsellor;contract_type;start;end\r\n"
        "V02;Léa Dupré;verts;cli_couns;CDDI;2026-01-05;\r\n"
        'V03;"Maréchal; Zoé";verts;;CDDI;2026-02-02;2026-12-31\r\n'.encode("cp1252")
    )

    result = relais("roster", "import", str(roster_file), "--org", "cli-org")

    assert_ok(result)
    assert "2 created, 0 updated, 0 unchanged" in result.stdout
    assert "read as Windows-1252 (cp1252), separated by semicolons" in result.stderr
    assert active_workers(relais) == {"V01": "Max A.", "V02": "Léa Dupré", "V03": "Maréchal; Zoé"}


def test_roster_import_explains_a_file_it_cannot_decode(relais, tmp_path):
    path = tmp_path / "org.yaml"
    path.write_text(PROVISIONING, encoding="utf-8")
    assert_ok(relais("provision", str(path)))
    roster_file = tmp_path / "roster.csv"
    # 0x81 is neither UTF-8 here nor any character in Windows-1252.
    roster_file.write_bytes(
        f"{ROSTER_HEADER}\nV02,Nel B.,verts,,,,\nV03,L\xe9a \x81,verts,,,,\n".encode("latin-1")
    )

    result = relais("roster", "import", str(roster_file), "--org", "cli-org")

    assert_clean_failure(result)
    assert "line 3: neither UTF-8 nor Windows-1252" in result.stderr
    assert "CSV UTF-8" in result.stderr  # says how to save it
    assert "nothing was imported" in result.stderr
    assert count(relais, Worker) == 1


def test_roster_import_says_which_workers_it_takes_from_the_file(relais, tmp_path):
    path = tmp_path / "org.yaml"
    path.write_text(PROVISIONING, encoding="utf-8")
    assert_ok(relais("provision", str(path)))
    roster_file = tmp_path / "roster.csv"
    roster_file.write_text(f"{ROSTER_HEADER}\nV01,Max A.,verts,,,,\n", encoding="utf-8")

    result = relais("roster", "import", str(roster_file), "--org", "cli-org")

    assert_ok(result)
    assert "0 created, 1 updated, 0 unchanged" in result.stdout
    assert "taken over from the provisioning file: V01" in result.stderr


# --- user add / list / disable ----------------------------------------------------------


def test_user_add_list_disable(relais, world):
    new_password = "fictional-pass-9"
    added = relais.spawn(
        "user",
        "add",
        "--org",
        "acme",
        "--login",
        "cli_new",
        "--name",
        "Noa Fictive",
        "--role",
        "counsellor",
        "--role",
        "coordinator",
        "--email",
        "noa@example.invalid",
        "--language",
        "en",
        RELAIS_NEW_PASSWORD=new_password,
    )
    assert_ok(added)
    assert "user 'cli_new' created" in added.stdout

    # The password came from RELAIS_NEW_PASSWORD: signing in with it opens a device.
    db = Database(relais.url)
    try:
        device_id, user, _ = open_session(db, "cli_new", new_password, "Noa's test phone")
        assert user.org_id == world.org
        assert user.language == "en"
    finally:
        db.dispose()

    listed = relais.spawn("user", "list", "--org", "acme")
    assert_ok(listed)
    rows = {row[1]: row for row in table_rows(listed.stdout)}
    assert rows["cli_new"] == [
        "acme",
        "cli_new",
        "Noa Fictive",
        "coordinator, counsellor",
        "noa@example.invalid",
        "active",
    ]
    assert {"sup_a", "couns_1", "coord"} <= rows.keys()

    disabled = relais.spawn("user", "disable", "cli_new")
    assert_ok(disabled)
    assert "user 'cli_new' disabled" in disabled.stdout
    rows = {row[1]: row for row in table_rows(relais("user", "list", "--org", "acme").stdout)}
    assert rows["cli_new"][-1] == "disabled"
    assert rows["sup_a"][-1] == "active"
    devices = {
        row[0]: row for row in table_rows(relais("device", "list", "--login", "cli_new").stdout)
    }
    assert devices[str(device_id)][-1] == "revoked"  # disabling signs the account out


def test_user_add_refusals_fail_cleanly(relais, world):
    common = ["user", "add", "--org", "acme", "--name", "Zoé Fictive", "--role", "supervisor"]
    short = relais(*common, "--login", "cli_short", RELAIS_NEW_PASSWORD="short")
    assert_clean_failure(short)
    assert "at least 8 characters" in short.stderr

    taken = relais(*common, "--login", "sup_a", RELAIS_NEW_PASSWORD="fictional-pass-9")
    assert_clean_failure(taken)
    assert "'sup_a' is already taken" in taken.stderr

    no_org = relais(
        "user",
        "add",
        "--org",
        "nowhere",
        "--login",
        "cli_x",
        "--name",
        "X",
        "--role",
        "admin",
        RELAIS_NEW_PASSWORD="fictional-pass-9",
    )
    assert_clean_failure(no_org)
    assert "no organisation with slug 'nowhere'" in no_org.stderr

    unknown = relais("user", "disable", "nobody")
    assert_clean_failure(unknown)
    assert "no user with login 'nobody'" in unknown.stderr
    assert count(relais, User) == 6


# --- device list / revoke ---------------------------------------------------------------


def test_device_list_and_revoke(relais, world):
    db = Database(relais.url)
    try:
        device_id, _, token = open_session(db, "sup_a", PASSWORD, "Worksite phone")

        listed = relais("device", "list")
        assert_ok(listed)
        rows = {row[0]: row for row in table_rows(listed.stdout)}
        assert rows[str(device_id)][1:3] == ["sup_a", "Worksite phone"]
        assert rows[str(device_id)][-1] == "active"

        revoked = relais.spawn("device", "revoke", str(device_id))
        assert_ok(revoked)
        assert f"device {device_id} revoked" in revoked.stdout

        rows = {
            row[0]: row for row in table_rows(relais("device", "list", "--login", "sup_a").stdout)
        }
        assert rows[str(device_id)][-1] == "revoked"
        with db.reading() as session, pytest.raises(Unauthenticated) as caught:
            auth.authenticate(session, token, expire_after=timedelta(days=90))
        assert caught.value.code == "token_revoked"
    finally:
        db.dispose()

    unknown = relais("device", "revoke", str(uuid.uuid4()))
    assert_clean_failure(unknown)
    assert "no device with id" in unknown.stderr
    garbage = relais("device", "revoke", "not-a-device")
    assert_clean_failure(garbage)
    assert "'not-a-device' is not a device id" in garbage.stderr


# Text people typed, that a terminal could take for instructions: rich markup, emoji codes,
# ANSI escapes (colours, hyperlinks, bells), bidirectional overrides, line breaks.
HOSTILE = [
    "[/]",
    "[bold red]Alarm[/]",
    "[link=https://example.invalid]click[/link]",
    ":warning: phone",
    "\x1b[31mred\x1b[0m",
    "\x1b]8;;https://example.invalid\x07link\x1b]8;;\x07",
    "\u202egnp.exe",
    "two\nlines\rand\ttab",
]
RAW_CONTROLS = ("\x1b", "\x07", "\u202e", "\r", "\x9b")


def test_listings_and_messages_show_user_text_as_text(relais, world):
    """Names come from users: printed as they are, never as markup or terminal codes."""
    db = Database(relais.url)
    try:
        for name in HOSTILE:
            open_session(db, "sup_a", device=name)
        with db.unit_of_work() as session:
            user = session.scalar(select(User).where(User.login == "couns_1"))
            assert user is not None
            user.display_name = "[/] " + HOSTILE[4]
    finally:
        db.dispose()

    devices = relais.spawn("device", "list")
    users = relais("user", "list")
    added = relais(
        *("user", "add", "--org", "acme", "--login", "[/]x", "--name", HOSTILE[1]),
        *("--role", "supervisor"),
        RELAIS_NEW_PASSWORD="fictional-pass-9",
    )
    unknown = relais("user", "disable", "[bold]nobody[/]")
    for result in (devices, users, added):
        assert_ok(result)
    assert_clean_failure(unknown)
    for result in (devices, users, added, unknown):
        for control in RAW_CONTROLS:
            assert control not in output(result), (control, output(result))
    for literal in ("[/]", "[bold red]Alarm[/]", "[link=https://example.invalid]click[/link]"):
        assert literal in devices.stdout
    assert ":warning: phone" in devices.stdout  # not an emoji
    assert "\\x1b[31mred\\x1b[0m" in devices.stdout  # the escape, made visible
    assert "\\u202egnp.exe" in devices.stdout
    assert "two\\nlines\\rand\\ttab" in devices.stdout  # one row, one line
    assert "[/] \\x1b[31mred" in users.stdout
    assert "user '[/]x' created" in added.stdout
    assert "no user with login '[bold]nobody[/]'" in unknown.stderr


# --- db upgrade -------------------------------------------------------------------------


def test_db_upgrade_creates_the_schema_and_is_repeatable(relais, tmp_path):
    first = relais("db", "upgrade")
    assert_ok(first)
    assert "database is up to date" in first.stdout
    again = relais("db", "upgrade")
    assert_ok(again)

    db = Database(relais.url)
    try:
        head = ScriptDirectory.from_config(alembic_config(db)).get_current_head()
        with db.reading() as session:
            assert session.scalar(text("SELECT version_num FROM alembic_version")) == head
    finally:
        db.dispose()


def test_db_upgrade_uses_the_embedded_default_in_the_data_folder(relais, tmp_path):
    del relais.env["RELAIS_DATABASE_URL"]
    result = relais.spawn("db", "upgrade")
    assert_ok(result)
    assert (tmp_path / "data" / "relais.db").is_file()


# --- escalate ---------------------------------------------------------------------------


def test_escalate_once_prints_a_summary_and_escalates_each_delivery_once(relais, world):
    db = Database(relais.url)
    try:
        three_days_ago = utcnow() - timedelta(days=3)
        with db.unit_of_work() as session:
            author = session.get_one(User, world.users["sup_a"])
            viewer = policy.load_viewer(session, author, three_days_ago)
            notes.create_note(
                session,
                viewer=viewer,
                data=m.NoteCreate(
                    id=uuid.uuid4(),
                    worker_id=world.workers["a1"],
                    team_id=world.teams["A"],
                    kind=NoteKind.SIGNAL,
                    category="fatigue",
                    severity=Severity.ATTENTION,
                    text="Sat down several times during the morning.",
                    captured_at=three_days_ago,
                ),
                now=three_days_ago,
            )
            away = session.get_one(User, world.users["couns_2"])
            stand_in = session.get_one(User, world.users["couns_1"])
            set_availability(
                session, away, away=True, stand_in=stand_in, until=utcnow() - timedelta(hours=1)
            )
    finally:
        db.dispose()

    first = relais.spawn("escalate", "--once")
    assert_ok(first)
    assert "1 escalated, 1 absence(s) ended, 0 e-mail(s) sent" in first.stdout

    second = relais("escalate", "--once")
    assert_ok(second)
    assert "0 escalated, 0 absence(s) ended, 0 e-mail(s) sent" in second.stdout
    assert count(relais, Delivery, Delivery.reason == "escalation") == 1
    assert count(relais, User, User.away.is_(True)) == 0


def test_retention_dry_run_counts_then_the_purge_deletes(relais, world):
    db = Database(relais.url)
    try:
        with db.unit_of_work() as session:
            worker = session.get_one(Worker, world.workers["b1"])
            worker.contract_end = utcnow().date() - timedelta(days=800)
    finally:
        db.dispose()

    dry = relais("retention", "--dry-run")
    assert_ok(dry)
    assert (
        "organisation 'acme': 1 worker(s) past retention (730 days after the contract ends); "
        "nothing deleted" in dry.stdout
    )
    assert count(relais, Worker) == 5

    purge = relais.spawn("retention")
    assert_ok(purge)
    assert "1 worker(s) past retention deleted, with 0 note(s)" in purge.stdout
    assert count(relais, Worker) == 4
    assert count(relais, Worker, Worker.id == world.workers["b1"]) == 0
