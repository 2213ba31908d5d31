"""One real server for the whole package: `relais serve` on a SQLite database seeded with two
fictional organisations ("acme" and "rival", same shape, see relais_testing.factories), JSON logs to
its stderr and to a log file, e-mail to a real SMTP server (aiosmtpd).

Everything a test must never find again is written with a unique marker (`Target.marker`):
notes, follow-ups, heads-ups, retraction reasons and refused mutations. `Target.seeded` says,
for each marker, who may read it; every other reader, log line or e-mail must not hold it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller

from relais_testing.factories import (
    USERS,
    World,
    add_co_supervisor,
    build_world,
    mutation,
    note_data,
)
from relais_testing.serving import free_port, server_process
from sync_server.database import Database
from sync_server.orgs.models import Organization, Worker
from sync_server.sync.changelog import record_change
from tests.live import bearer
from tests.sync_server.test_notify import Inbox

ORGS = {"acme": "", "rival": "r_"}  # organisation slug -> login prefix
LOGINS = (*USERS, "sup_a2")  # sup_a2: a second supervisor of team A


@dataclass(frozen=True)
class Seeded:
    """A marker written into the server, and the logins (without prefix) of its organisation
    who may read it in a pull; nobody else, nowhere else."""

    marker: str
    org: str
    readers: frozenset[str]


@dataclass
class Target:
    base_url: str
    db: Database
    database_url: str
    data_dir: Path
    worlds: dict[str, World]
    inbox: Inbox
    stderr: Path
    log_file: Path
    seeded: list[Seeded] = field(default_factory=list)
    _headers: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    _pulled: dict[tuple[str, str], tuple[dict[tuple[str, str], Any], str | None]] = field(
        default_factory=dict
    )

    def marker(self, name: str) -> str:
        """A string found nowhere but where the test wrote it."""
        return f"MRK{name}{uuid.uuid4().hex[:12]}".replace("_", "")

    def login(self, org: str, login: str) -> str:
        return ORGS[org] + login

    def headers(self, org: str, login: str) -> dict[str, str]:
        key = (org, login)
        if key not in self._headers:
            self._headers[key] = bearer(self.base_url, self.login(org, login))
        return self._headers[key]

    def post(self, org: str, login: str, path: str, body: Any) -> httpx.Response:
        return httpx.post(
            f"{self.base_url}/api/v1{path}", json=body, headers=self.headers(org, login), timeout=30
        )

    def push(self, org: str, login: str, *mutations: dict[str, Any]) -> list[dict[str, Any]]:
        response = self.post(org, login, "/sync/push", {"protocol": 1, "mutations": mutations})
        assert response.status_code == 200, response.text
        results: list[dict[str, Any]] = response.json()["results"]
        return results

    def pull(
        self, org: str, login: str, fresh: bool = False
    ) -> tuple[dict[tuple[str, str], Any], str]:
        """What the caller may see now: (state by (entity, id), the raw text of the pages,
        to search for what must not be there). From the caller's last pull on, or with
        `fresh`, from the start (the state is then rebuilt from nothing)."""
        key = (org, login)
        if fresh or key not in self._pulled:
            self._pulled[key] = ({}, None)
        state, cursor = self._pulled[key]
        pages: list[str] = []
        while True:
            response = self.post(org, login, "/sync/pull", {"protocol": 1, "cursor": cursor})
            assert response.status_code == 200, response.text
            pages.append(response.text)
            body = response.json()
            assert not body["reset"]
            for change in body["changes"]:
                entity = (change["entity"], change["id"])
                if change["op"] == "upsert":
                    state[entity] = change["data"]
                else:
                    state.pop(entity, None)
            cursor = body["cursor"]
            if not body["has_more"]:
                self._pulled[key] = (state, cursor)
                return state, "\n".join(pages)

    def cursor(self, org: str, login: str) -> str | None:
        """Where the caller's last pull ended."""
        return self._pulled[(org, login)][1]

    def note(self, org: str, login: str, worker: str | None, **fields: Any) -> dict[str, Any]:
        """`login` writes a note (applied) about `worker` (a ref of the world, or a new
        worker's id as a string); returns its data."""
        world = self.worlds[org]
        if worker is not None and worker not in world.workers:
            data = note_data(world, "a1", **fields)
            data["worker_id"] = worker
            data["team_id"] = str(world.teams["A"])
        else:
            data = note_data(world, worker, **fields)
        [result] = self.push(org, login, mutation("note.create", data))
        assert result["status"] == "applied", result
        return data

    def add_worker(self, org: str, counsellor: str = "couns_1", team: str = "A") -> str:
        """A new worker of `team`, counselled by `counsellor`: a clean slate for a test."""
        world = self.worlds[org]
        with self.db.unit_of_work() as session:
            worker = Worker(
                id=uuid.uuid4(),
                org_id=world.org,
                ref=f"x{uuid.uuid4().hex[:8]}",
                display_name="Worker X (test)",
                team_id=world.teams[team],
                counsellor_id=world.users[counsellor],
                active=True,
            )
            session.add(worker)
            record_change(session, world.org, "worker", worker.id)
        return str(worker.id)

    def cli(self, *commands: tuple[str, ...]) -> list[str]:
        """`relais` commands on this server's database, as an administrator runs them (at
        once: each starts a Python); what each printed."""
        env = {
            **os.environ,
            "RELAIS_DATABASE_URL": self.database_url,
            "RELAIS_DATA_DIR": str(self.data_dir),
            "COLUMNS": "400",  # whole cells: a marker cut in two would hide
        }
        running = [
            subprocess.Popen(
                [sys.executable, "-m", "sync_server", *command],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for command in commands
        ]
        outputs = []
        for command, process in zip(commands, running, strict=True):
            output, _ = process.communicate(timeout=120)
            assert process.returncode == 0, (command, output)
            outputs.append(output)
        return outputs

    def logs(self) -> str:
        return self.stderr.read_text(errors="replace") + self.log_file.read_text(errors="replace")


def _second_supervisor(db: Database, world: World, prefix: str) -> None:
    add_co_supervisor(db, world, prefix + "sup_a2")
    world.users["sup_a2"] = world.users.pop(prefix + "sup_a2")


def _seed(target: Target, org: str) -> None:
    """The notes, follow-ups and heads-ups of one organisation, each with its readers."""

    def seeded(name: str, *readers: str) -> str:
        marker = target.marker(f"{org}{name}")
        target.seeded.append(Seeded(marker, org, frozenset(readers)))
        return marker

    note = target.note
    fatigue = note(org, "sup_a", "a1", text=seeded("fatigue", "sup_a", "couns_1", "coord"))
    note(
        org,
        "sup_a",
        "a1",
        category="health",
        severity="urgent",
        text=seeded("health", "sup_a", "couns_1", "coord"),
    )
    note(org, "sup_b", "b1", category="family", text=seeded("family", "sup_b", "couns_2", "coord"))
    note(  # b2 has no counsellor: the coordinators receive it
        org,
        "sup_b",
        "b2",
        category="money",
        severity="urgent",
        text=seeded("nocounsellor", "sup_b", "coord"),
    )
    note(
        org,
        "sup_a",
        None,
        kind="safety",
        category="equipment",
        text=seeded("teamlevel", "sup_a", "coord"),
    )
    note(org, "coord", "a3", category="justice", text=seeded("bycoord", "coord", "couns_2"))
    retracted = note(
        org, "sup_b", "b1", category="money", text=seeded("retracted", "sup_b", "coord")
    )
    world = target.worlds[org]
    results = target.push(
        org,
        "couns_1",
        mutation(
            "note.follow_up",
            {
                "id": str(uuid.uuid4()),
                "note_id": fatigue["id"],
                "action": "interview_planned",
                "text": seeded("followup", "couns_1", "coord"),
            },
        ),
        mutation(
            "heads_up.create",
            {
                "id": str(uuid.uuid4()),
                "worker_id": str(world.workers["a1"]),
                "text": seeded("headsup", "couns_1", "coord", "sup_a", "sup_a2"),
            },
        ),
        # Refused (a field the protocol does not know), hence quarantined with what was
        # sent: nobody ever reads it back.
        mutation(
            "heads_up.create",
            {
                "id": str(uuid.uuid4()),
                "worker_id": str(world.workers["a1"]),
                "text": seeded("refusedheadsup"),
                "mood": seeded("unknownfield"),
            },
        ),
    )
    assert [r["status"] for r in results] == ["applied", "applied", "rejected"], results
    refused_note = note_data(world, "a1", category=seeded("badcategory"), text=seeded("refused"))
    retract = {"note_id": retracted["id"], "reason": seeded("reason")}
    results = [
        *target.push(org, "sup_a", mutation("note.create", refused_note)),
        *target.push(org, "sup_b", mutation("note.retract", retract)),
    ]
    assert [r["status"] for r in results] == ["rejected", "applied"], results


@pytest.fixture(scope="package")
def target(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[Target]:
    folder = tmp_path_factory.mktemp("security")
    shutil.copy(sqlite_template, folder / "relais.db")
    database_url = f"sqlite:///{folder / 'relais.db'}"
    db = Database(database_url)
    worlds = {slug: build_world(db, slug, prefix=prefix) for slug, prefix in ORGS.items()}
    for slug, prefix in ORGS.items():
        _second_supervisor(db, worlds[slug], prefix)
    with db.unit_of_work() as session:  # rival's deadlines pass at once: escalations, e-mails
        rival = session.get_one(Organization, worlds["rival"].org)
        rival.deadline_urgent = rival.deadline_attention = rival.deadline_info = 1
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    stderr, log_file = folder / "stderr.log", folder / "relais.log"
    try:
        with (
            stderr.open("wb") as stderr_file,
            server_process(
                database_url,
                stderr_file,
                RELAIS_DATA_DIR=str(folder),
                RELAIS_LOG_FORMAT="json",
                RELAIS_LOG_LEVEL="debug",  # the most a server ever writes
                RELAIS_LOG_FILE=str(log_file),
                RELAIS_ESCALATION_INTERVAL="0.2",
                RELAIS_SMTP_HOST="127.0.0.1",
                RELAIS_SMTP_PORT=str(smtp.port),
                RELAIS_SMTP_FROM="relais@example.invalid",
                RELAIS_PUBLIC_URL="https://relais.example.invalid",
            ) as (base_url, _),
        ):
            target = Target(base_url, db, database_url, folder, worlds, inbox, stderr, log_file)
            for slug in ORGS:
                _seed(target, slug)
            yield target
    finally:
        smtp.stop()
        db.dispose()
