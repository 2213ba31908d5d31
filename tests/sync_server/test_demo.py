"""The demo: its fictional organisation and history, and `relais demo` as a real process."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from shared_models.vocabulary import Role
from sync_server.database import Database
from sync_server.demo.seed import PASSWORD, ensure_demo
from sync_server.migrations import upgrade
from sync_server.notes.models import FollowUp, HeadsUp, Note
from sync_server.orgs.models import Team, TeamSupervisor, User, UserRole, Worker
from sync_server.routing.models import Delivery


def counts(db: Database, org_id: object) -> dict[str, int]:
    def n(query: object) -> int:
        return int(session.scalar(query) or 0)  # type: ignore[arg-type]

    with db.reading() as session:
        return {
            "notes": n(select(func.count()).select_from(Note).where(Note.org_id == org_id)),
            "deliveries": n(
                select(func.count())
                .select_from(Delivery)
                .join(Note, Note.id == Delivery.note_id)
                .where(Note.org_id == org_id)
            ),
            "seen": n(
                select(func.count())
                .select_from(Delivery)
                .join(Note, Note.id == Delivery.note_id)
                .where(Note.org_id == org_id, Delivery.seen_at.is_not(None))
            ),
            "acknowledged": n(
                select(func.count())
                .select_from(Delivery)
                .join(Note, Note.id == Delivery.note_id)
                .where(Note.org_id == org_id, Delivery.acknowledged_at.is_not(None))
            ),
            "follow_ups": n(
                select(func.count()).select_from(FollowUp).where(FollowUp.org_id == org_id)
            ),
            "heads_ups": n(
                select(func.count()).select_from(HeadsUp).where(HeadsUp.org_id == org_id)
            ),
        }


@pytest.fixture
def fresh_sqlite(tmp_path: Path):
    db = Database(f"sqlite:///{tmp_path / 'demo.db'}")
    upgrade(db)
    yield db
    db.dispose()


def test_ensure_demo_creates_the_organisation_and_its_history(fresh_sqlite):
    db = fresh_sqlite
    org, logins, created = ensure_demo(db)

    assert created is True
    assert org.slug == "demo"
    with db.reading() as session:
        teams = {t.slug: t.id for t in session.scalars(select(Team).where(Team.org_id == org.id))}
        per_team = dict(
            session.execute(
                select(Worker.team_id, func.count())
                .where(Worker.org_id == org.id, Worker.active.is_(True))
                .group_by(Worker.team_id)
            ).all()
        )
        roles = dict(
            session.execute(
                select(UserRole.role, func.count())
                .join(User, User.id == UserRole.user_id)
                .where(User.org_id == org.id, User.disabled.is_(False))
                .group_by(UserRole.role)
            ).all()
        )
        supervised = set(
            session.scalars(
                select(TeamSupervisor.team_id).where(TeamSupervisor.team_id.in_(teams.values()))
            )
        )
    assert len(teams) == 2
    assert sorted(per_team[team_id] for team_id in teams.values()) == [9, 12]
    assert roles == {
        Role.SUPERVISOR.value: 2,
        Role.COUNSELLOR.value: 2,
        Role.COORDINATOR.value: 1,
        Role.ADMIN.value: 1,
    }
    assert supervised == set(teams.values())  # every team has its supervisor
    assert len(logins) == 6 and "camille" in {entry.login for entry in logins}

    history = counts(db, org.id)
    assert history["notes"] > 0
    assert history["deliveries"] > 0
    assert history["seen"] > 0
    assert history["acknowledged"] > 0
    assert history["follow_ups"] > 0
    assert history["heads_ups"] > 0


def test_ensure_demo_twice_reuses_the_organisation(fresh_sqlite):
    db = fresh_sqlite
    org, _, created = ensure_demo(db)
    assert created is True
    before = counts(db, org.id)

    again, logins, created_again = ensure_demo(db)

    assert created_again is False
    assert again.id == org.id
    assert len(logins) == 6
    assert counts(db, org.id) == before


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Output:
    """Collects a process's output lines on a thread, so that the pipe never fills up."""

    def __init__(self, stream) -> None:  # type: ignore[no-untyped-def]
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:  # type: ignore[no-untyped-def]
        for line in stream:
            self.lines.append(line.rstrip("\n"))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def wait_for(condition, timeout: float, what: str, process: subprocess.Popen, out: Output) -> None:  # type: ignore[no-untyped-def, type-arg]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        assert process.poll() is None, f"relais demo exited early:\n{out.text}"
        time.sleep(0.3)
    raise AssertionError(f"{what} within {timeout:.0f} s; output so far:\n{out.text}")


def health_ok(url: str) -> bool:
    try:
        return httpx.get(f"{url}/api/v1/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def printed_logins(text: str) -> list[tuple[str, str, str]]:
    """(login, roles, password) rows of the printed 'Demo logins' table."""
    rows = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("│").split("│")]
        if len(cells) == 4 and cells[3] == PASSWORD:
            rows.append((cells[0], cells[2], cells[3]))
    return rows


@pytest.mark.slow
def test_relais_demo_serves_then_stops_on_sigterm(tmp_path: Path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAIS_")}
    env.update(COLUMNS="200", PYTHONUNBUFFERED="1", NO_COLOR="1")
    process = subprocess.Popen(
        [sys.executable, "-m", "sync_server", "demo", "--no-app", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, so that cleanup reaches the server too
    )
    out = Output(process.stdout)
    try:
        wait_for(lambda: health_ok(url), 180, "no healthy server", process, out)
        wait_for(lambda: printed_logins(out.text), 30, "no login table printed", process, out)

        logins = printed_logins(out.text)
        assert {"camille", "sophie", "nadia"} <= {login for login, _, _ in logins}
        supervisor = next(login for login, roles, _ in logins if "supervisor" in roles)
        response = httpx.post(
            f"{url}/api/v1/auth/login",
            json={"login": supervisor, "password": PASSWORD, "device_name": "demo test"},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        assert response.json()["user"]["roles"] == ["supervisor"]
        # The embedded default database, in the data folder under the working directory.
        assert (tmp_path / "relais-data" / "relais.db").is_file()

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) is not None
        # Stopping the demo stops the whole product: the server it started goes too.
        deadline = time.monotonic() + 15
        while health_ok(url) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not health_ok(url), "the sync server kept running after relais demo was stopped"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
