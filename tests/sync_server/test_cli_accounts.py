"""`relais user unlock` and `relais user reset-password`, and expired devices in
`relais device list` (issue 8, security item 8): each command once as a real subprocess,
the other cases in process (relais_testing/command.py).

A new password is read from a terminal (asked twice) or from standard input, never from the
command line. Every person here is invented.
"""

from __future__ import annotations

import os
import pty
import select as io_select
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from relais_testing.command import Relais, assert_clean_failure, assert_ok, table_rows
from relais_testing.factories import PASSWORD, World, build_world, open_session
from sync_server.audit import service as audit
from sync_server.audit.models import AuditEvent
from sync_server.auth import service as auth
from sync_server.auth.models import Device, LoginAttempt
from sync_server.auth.passwords import verify_password
from sync_server.database import Database, utcnow
from sync_server.errors import Unauthenticated
from sync_server.orgs.models import User

pytestmark = pytest.mark.slow

NEW_PASSWORD = "fictional-reset-pass"
EXPIRY = timedelta(days=90)


@pytest.fixture
def cli(tmp_path: Path) -> Relais:
    return Relais(tmp_path)


@pytest.fixture
def acme(cli: Relais) -> World:
    """The factories' organisation, on the command's database file."""
    db = cli.database()
    try:
        return build_world(db)
    finally:
        db.dispose()


def run_in_terminal(relais: Relais, answers: list[str], *args: str) -> tuple[int, str]:
    """Run the command on a pseudo-terminal, typing each answer when a prompt ends with
    ': '. Returns the exit code and everything the terminal showed."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: becomes the command, with the terminal as its own
        os.chdir(relais.cwd)
        os.execve(sys.executable, [sys.executable, "-m", "sync_server", *args], relais.env)
    shown = b""
    typed = 0
    deadline = time.monotonic() + 180
    try:
        while time.monotonic() < deadline:
            ready, _, _ = io_select.select([fd], [], [], 0.5)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            shown += chunk
            prompts = shown.count(b"new password: ") + shown.count(b"again: ")
            while typed < min(prompts, len(answers)):
                os.write(fd, answers[typed].encode() + b"\n")
                typed += 1
    finally:
        os.close(fd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), shown.decode(errors="replace")


def add_failures(db: Database, login: str, n: int) -> None:
    with db.unit_of_work() as session:
        for _ in range(n):
            session.add(LoginAttempt(login=login, address="192.0.2.1", at=utcnow()))


def failures(db: Database, login: str) -> int:
    with db.reading() as session:
        query = select(LoginAttempt).where(LoginAttempt.login == login, ~LoginAttempt.succeeded)
        return len(session.scalars(query).all())


def events(db: Database, action: str) -> list[AuditEvent]:
    with db.reading() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def token_code(db: Database, token: str) -> str:
    """'ok', or the 401 code the token gets now."""
    with db.reading() as session:
        try:
            auth.authenticate(session, token, expire_after=EXPIRY)
        except Unauthenticated as refused:
            return refused.code
    return "ok"


def password_hash(db: Database, login: str) -> str:
    with db.reading() as session:
        return session.scalars(select(User.password_hash).where(User.login == login)).one()


def test_user_unlock_forgets_the_failures_and_is_audited(cli, acme):
    db = cli.database()
    try:
        add_failures(db, "sup_a", 10)
        add_failures(db, "sup_b", 3)
        result = cli.spawn("user", "unlock", "sup_a")
        assert_ok(result)
        assert "login 'sup_a' unlocked (10 failed attempt(s) forgotten)" in result.stdout
        assert (failures(db, "sup_a"), failures(db, "sup_b")) == (0, 3)
        [event] = events(db, audit.LOGIN_UNLOCKED)
        assert (event.org_id, event.actor_id, event.entity_id) == (
            acme.org,
            None,
            acme.users["sup_a"],
        )
        assert event.detail == "via command line; 10 failed attempt(s) forgotten"
        shown = cli.spawn("audit", "--org", "acme")
        assert_ok(shown)
        assert "user.unlock" in shown.stdout

        unknown = cli("user", "unlock", "nobody")
        assert_clean_failure(unknown)
        assert "no user with login 'nobody'" in unknown.stderr
        assert len(events(db, audit.LOGIN_UNLOCKED)) == 1
    finally:
        db.dispose()


def test_user_reset_password_from_standard_input_ends_every_session(cli, acme):
    db = cli.database()
    try:
        sessions = [open_session(db, "sup_a", PASSWORD, name)[2] for name in ("phone", "tab")]
        colleague = open_session(db, "sup_b")[2]
        add_failures(db, "sup_a", 10)

        result = cli.spawn("user", "reset-password", "sup_a", input=NEW_PASSWORD + "\n")
        assert_ok(result)
        assert "password of 'sup_a' reset; 2 device(s) signed out" in result.stdout
        assert NEW_PASSWORD not in result.stdout + result.stderr
        assert [token_code(db, t) for t in sessions] == ["token_revoked", "token_revoked"]
        assert token_code(db, colleague) == "ok"
        stored = password_hash(db, "sup_a")
        assert verify_password(stored, NEW_PASSWORD) and not verify_password(stored, PASSWORD)
        assert failures(db, "sup_a") == 0  # unlocked too
        assert open_session(db, "sup_a", NEW_PASSWORD)
        [event] = events(db, audit.PASSWORD_RESET)
        assert (event.actor_id, event.entity_id) == (None, acme.users["sup_a"])
        assert event.detail == "via command line; 2 device(s) signed out"
    finally:
        db.dispose()


def test_user_reset_password_refusals_change_nothing(cli, acme):
    db = cli.database()
    try:
        token = open_session(db, "sup_a")[2]
        before = password_hash(db, "sup_a")
        refusals = [
            # Never a password on the command line (it would show in `ps` and histories).
            (cli("user", "reset-password", "sup_a", NEW_PASSWORD), "unexpected extra argument"),
            (cli("user", "reset-password", "sup_a", "--password", NEW_PASSWORD), "--password"),
            (cli("user", "reset-password", "sup_a", input="short\n"), "8 to 1000"),
            (cli("user", "reset-password", "sup_a", input=""), "8 to 1000"),
            (cli("user", "reset-password", "nobody", input=NEW_PASSWORD), "nobody"),
        ]
        for result, reason in refusals:
            assert_clean_failure(result)
            assert reason in result.stderr, result.stderr
        assert password_hash(db, "sup_a") == before
        assert token_code(db, token) == "ok"
        assert events(db, audit.PASSWORD_RESET) == []
    finally:
        db.dispose()


def test_user_reset_password_asks_twice_on_a_terminal(cli, acme):
    db = cli.database()
    try:
        token = open_session(db, "sup_a")[2]
        before = password_hash(db, "sup_a")
        code, shown = run_in_terminal(
            cli, [NEW_PASSWORD, NEW_PASSWORD + "x"], "user", "reset-password", "sup_a"
        )
        assert code != 0, shown
        assert "the two passwords differ; nothing was changed" in shown
        assert password_hash(db, "sup_a") == before and token_code(db, token) == "ok"

        code, shown = run_in_terminal(
            cli, [NEW_PASSWORD, NEW_PASSWORD], "user", "reset-password", "sup_a"
        )
        assert code == 0, shown
        assert "password of 'sup_a' reset; 1 device(s) signed out" in shown
        assert NEW_PASSWORD not in shown  # not echoed
        assert verify_password(password_hash(db, "sup_a"), NEW_PASSWORD)
        assert token_code(db, token) == "token_revoked"
    finally:
        db.dispose()


def test_device_list_shows_expired_devices_and_those_of_a_changed_password(cli, acme):
    db = cli.database()
    try:
        drawer, _, _ = open_session(db, "sup_a", PASSWORD, "drawer phone")
        daily, _, _ = open_session(db, "sup_a", PASSWORD, "daily phone")
        before, _, _ = open_session(db, "sup_b", PASSWORD, "before the change")
        with db.unit_of_work() as session:
            session.get_one(Device, drawer).last_seen_at = utcnow() - timedelta(days=100)
            # What re-provisioning with a new password does: the hash changes.
            user = session.scalars(select(User).where(User.login == "sup_b")).one()
            user.password_hash = auth.hash_password(NEW_PASSWORD)

        def states(**env: str) -> dict[str, str]:
            listed = cli("device", "list", **env)
            assert_ok(listed)
            return {row[0]: row[-1] for row in table_rows(listed.stdout)}

        assert states() == {
            str(drawer): "expired",
            str(daily): "active",
            str(before): "password changed",
        }
        assert states(RELAIS_DEVICE_EXPIRY_DAYS="120")[str(drawer)] == "active"
    finally:
        db.dispose()


def test_device_revoke_and_user_disable_are_audited(cli, acme):
    db = cli.database()
    try:
        lost = open_session(db, "sup_a", PASSWORD, "lost phone")[0]
        assert_ok(cli("device", "revoke", str(lost)))
        assert_ok(cli("user", "disable", "sup_b"))
        [revoked] = events(db, audit.DEVICE_REVOKED)
        assert (revoked.entity, revoked.entity_id, revoked.actor_id) == ("device", lost, None)
        assert revoked.detail == "via command line; signed out"
        [disabled] = events(db, audit.USER_DISABLED)
        assert (disabled.entity, disabled.entity_id) == ("user", acme.users["sup_b"])
        shown = cli("audit", "--org", "acme")
        assert_ok(shown)
        assert "device.revoke" in shown.stdout and "user.disable" in shown.stdout
    finally:
        db.dispose()


def test_user_add_makes_the_admin_api_checks_and_is_audited(cli, acme):
    common = ["user", "add", "--org", "acme", "--name", "Zoé Fictive", "--role", "counsellor"]
    common += ["--password", NEW_PASSWORD]
    for option, value, says in (
        ("--language", "xx", "--language: "),
        ("--email", "x" * 321, "--email: "),
        ("--login", "x" * 201, "--login: "),
    ):
        refused = cli(*common, "--login", "cli_new", option, value)
        assert_clean_failure(refused)
        assert says in refused.stderr
    assert_ok(cli(*common, "--login", "cli_new"))
    db = cli.database()
    try:
        with db.reading() as session:
            user = session.scalars(select(User).where(User.login == "cli_new")).one()
        [created] = events(db, audit.USER_CREATED)
        assert (created.entity, created.entity_id, created.actor_id) == ("user", user.id, None)
        assert created.detail == "via command line; roles counsellor"
    finally:
        db.dispose()
