"""Note text leaves no trace where staff who may not read it would find it: in the server's
logs (JSON to stderr and to its log file, and a second server's text logs), in e-mails sent
through a real SMTP server, in what an administrator's commands print, or in the desk
downloads an administrator asks for. Every marker written by the package (notes, follow-ups,
heads-ups, retraction reasons, refused mutations) is searched for."""

from __future__ import annotations

import json
import uuid
from email.message import Message
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from relais_testing.factories import mutation, note_data
from relais_testing.serving import server_process
from sync_server.routing.models import Delivery
from tests.live import bearer, wait_until
from tests.security.conftest import ORGS, Target

# Categories are content too: e-mails name neither text nor category.
CATEGORIES = ("health", "family", "justice", "money", "fatigue", "santé", "famille")


def tour(target: Target, base_url: str, org: str) -> list[str]:
    """A session through every endpoint family, note text everywhere it may go (and where it
    is refused); returns the markers written."""
    markers = [target.marker(f"tour{i}") for i in range(6)]
    world = target.worlds[org]
    supervisor = bearer(base_url, target.login(org, "sup_a"))
    counsellor = bearer(base_url, target.login(org, "couns_1"))

    def push(headers: dict[str, str], *mutations: dict[str, object]) -> None:
        body = {"protocol": 1, "mutations": mutations}
        response = httpx.post(
            f"{base_url}/api/v1/sync/push", json=body, headers=headers, timeout=60
        )
        assert response.status_code == 200

    note = note_data(world, "a1", category="health", severity="urgent", text=markers[0])
    push(
        supervisor,
        mutation("note.create", note),
        mutation("note.create", note_data(world, "a1", category=markers[1], text=markers[2])),
        mutation("note.retract", {"note_id": str(uuid.uuid4()), "reason": markers[3]}),
    )
    follow_up = {"id": str(uuid.uuid4()), "note_id": note["id"], "action": "other"}
    push(
        counsellor,
        mutation("note.follow_up", follow_up | {"text": markers[4]}),
        mutation("heads_up.create", {"id": "x", "worker_id": "y", "text": markers[5]}),
    )
    for headers in (supervisor, counsellor):
        pull = {"protocol": 1, "cursor": None}
        httpx.post(f"{base_url}/api/v1/sync/pull", json=pull, headers=headers, timeout=60)
    bad = json.dumps({"login": markers[0], "password": markers[1]})  # a marker as login
    httpx.post(
        f"{base_url}/api/v1/auth/login", content=bad, headers={"X-Request-ID": "tour"}, timeout=60
    )
    return markers


def every_marker(target: Target, *more: str) -> list[str]:
    return [s.marker for s in target.seeded] + list(more)


def test_the_json_logs_hold_no_note_text(target: Target):
    markers = tour(target, target.base_url, "acme")
    logs = target.logs()
    lines = [json.loads(line) for line in target.log_file.read_text().splitlines()]
    assert any(line.get("route") == "/api/v1/sync/push" for line in lines)  # the logs are on
    assert any(line.get("request_id") == "tour" for line in lines)
    assert [m for m in every_marker(target, *markers) if m in logs] == []


def test_the_text_logs_hold_no_note_text(target: Target, tmp_path: Path):
    """A second server, logging as text (its stderr and a log file), on the same database."""
    log_file, stderr = tmp_path / "relais.log", tmp_path / "stderr.log"
    with (
        stderr.open("wb") as stderr_file,
        server_process(
            target.database_url,
            stderr_file,
            RELAIS_LOG_LEVEL="debug",
            RELAIS_LOG_FILE=str(log_file),
            RELAIS_DATA_DIR=str(tmp_path),
        ) as (base_url, _),
    ):
        markers = tour(target, base_url, "rival")
    logs = stderr.read_text() + log_file.read_text()
    assert "Uvicorn running" in logs and "POST /api/v1/sync/push" in logs
    assert [m for m in every_marker(target, *markers) if m in logs] == []


def _content(message: Message) -> str:
    parts = [f"{name}: {value}" for name, value in message.items()]
    for part in message.walk():
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            parts.append(payload.decode(part.get_content_charset() or "utf-8", "replace"))
    return "\n".join(parts)


def test_e_mails_hold_no_note_text_nor_category(target: Target):
    """Urgent deliveries, escalations (rival's deadlines pass at once) and digests."""

    def mailed_to(org: str, login: str) -> bool:
        address = f"{target.login(org, login)}@example.invalid"
        return any(address in m["X-Rcpt"] for m in target.inbox.messages)

    def escalation_mailed() -> bool:
        with target.db.reading() as session:
            return bool(
                session.scalars(
                    select(Delivery.id).where(
                        Delivery.reason == "escalation", Delivery.notified_at.is_not(None)
                    )
                ).first()
            )

    everyone = [(org, login) for org in ORGS for login in ("couns_1", "coord")]
    wait_until(lambda: all(mailed_to(*who) for who in everyone) and escalation_mailed(), 90)
    for message in target.inbox.messages:
        content = _content(message)
        assert "relais.example.invalid" in content  # the link to the app: the body was read
        assert [m for m in every_marker(target) if m in content] == []
        assert [c for c in CATEGORIES if c in content.lower()] == []


ADMIN_COMMANDS = [("quarantine", "--org", "acme"), ("device", "list"), ("audit", "--org", "acme")]


def test_admin_commands_print_no_note_content(target: Target):
    for command, output in zip(ADMIN_COMMANDS, target.cli(*ADMIN_COMMANDS), strict=True):
        if command[0] == "quarantine":  # the refused mutations are listed, not what they said
            assert "heads_up.create" in output and "invalid_data" in output, output
        assert [m for m in every_marker(target) if m in output] == [], command


@pytest.mark.parametrize("org", ORGS)
def test_an_admin_reads_no_note_content_on_the_desk_or_admin_pages(target: Target, org: str):
    world, headers = target.worlds[org], target.headers(org, "admin")
    days = {"from": "2026-01-01", "to": "2026-12-31"}
    for path, params in [
        ("/briefs", {"team_id": str(world.teams["A"])} | days),
        ("/briefs", {"worker_id": str(world.workers["a1"]), "include_sensitive": "true"} | days),
        (f"/workers/{world.workers['a1']}/export", {"format": "json"}),
        (f"/workers/{world.workers['a1']}/export", {"format": "pdf"}),
    ]:
        response = httpx.get(
            f"{target.base_url}/api/v1{path}", params=params, headers=headers, timeout=60
        )
        assert response.status_code == 403, path
        assert [m for m in every_marker(target) if m in response.text] == []
    for path in ("/admin/overview", "/admin/users", "/admin/devices"):  # an admin's own pages
        response = httpx.get(f"{target.base_url}/api/v1{path}", headers=headers, timeout=60)
        assert response.status_code == 200, path
        assert [m for m in every_marker(target) if m in response.text] == []
