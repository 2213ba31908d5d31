"""/metrics (a real scrape over HTTP while notes flow), /api/v1/ready, request ids, JSON logs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text, update

from relais_testing.factories import build_world, mutation, note_data
from relais_testing.servers import free_port, wait_for_health
from relais_testing.serving import server_thread
from sync_server.app import create_app
from sync_server.database import Database, utcnow
from sync_server.routing.models import Delivery
from sync_server.settings import Settings
from tests.live import bearer, held_stream, sign_in, wait_until

REPO = Path(__file__).resolve().parents[2]
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape_all(base_url: str, **headers: str) -> Samples:
    response = httpx.get(f"{base_url}/metrics", headers=headers, timeout=60)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_a_scrape_follows_notes_as_they_flow(db: Database, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, escalation_interval=0.2, stream_heartbeat=1.0)
    world = build_world(db)
    push_route = {"method": "POST", "route": "/api/v1/sync/push", "status": "200"}
    with server_thread(db, settings) as base_url:
        sup = bearer(base_url, "sup_a")
        counsellor = bearer(base_url, "couns_1")
        before = scrape_all(base_url)
        assert value(before, "relais_db_pool_capacity") > 0

        with held_stream(base_url, counsellor):
            wait_until(
                lambda: (
                    value(scrape_all(base_url), "relais_stream_listeners")
                    == value(before, "relais_stream_listeners") + 1
                )
            )
            # Three workers: repeats about one worker would be grouped into one alert.
            notes = [mutation("note.create", note_data(world, w)) for w in ("a1", "a2", "a3")]
            bad = mutation("note.create", {"id": "not-a-uuid"})
            response = httpx.post(
                f"{base_url}/api/v1/sync/push",
                json={"protocol": 1, "mutations": [*notes, bad]},
                headers=sup,
                timeout=60,
            )
            assert response.status_code == 200
            during = scrape_all(base_url)
        after_stream = scrape_all(base_url)

        applied = {"type": "note.create", "status": "applied"}
        rejected = {"type": "note.create", "status": "rejected"}
        assert value(during, "relais_mutations_total", **applied) == (
            value(before, "relais_mutations_total", **applied) + 3
        )
        assert value(during, "relais_mutations_total", **rejected) == (
            value(before, "relais_mutations_total", **rejected) + 1
        )
        # Latency per route template, never per raw path.
        assert value(during, "relais_http_request_duration_seconds_count", **push_route) == (
            value(before, "relais_http_request_duration_seconds_count", **push_route) + 1
        )
        assert not any("/sync/pull/" in str(labels) for _name, labels in during)
        assert (
            value(during, "relais_deliveries_open") == value(before, "relais_deliveries_open") + 3
        )
        assert value(after_stream, "relais_stream_listeners") == value(
            before, "relais_stream_listeners"
        )

        refused = sign_in(base_url, "sup_a", "wrong password")
        assert refused.status_code == 401
        failures = scrape_all(base_url)
        assert value(failures, "relais_login_failures_total", reason="invalid_credentials") == (
            value(before, "relais_login_failures_total", reason="invalid_credentials") + 1
        )

        # Overdue: the gauge sees them, then the background sweep escalates them.
        with db.unit_of_work() as session:
            session.execute(update(Delivery).values(due_at=utcnow()))
        swept_before = value(failures, "relais_sweep_duration_seconds_count")
        wait_until(lambda: value(scrape_all(base_url), "relais_deliveries_overdue") == 0)
        settled = scrape_all(base_url)
        assert value(settled, "relais_escalations_total") >= (
            value(before, "relais_escalations_total") + 3
        )
        assert value(settled, "relais_sweep_duration_seconds_count") > swept_before
        assert value(settled, "relais_deliveries_open") == value(before, "relais_deliveries_open")


def test_overdue_deliveries_show_before_a_sweep(db: Database, settings: Settings) -> None:
    world = build_world(db)
    with server_thread(db, settings) as base_url:  # sweeps off
        sup = bearer(base_url, "sup_a")
        notes = [mutation("note.create", note_data(world, ref)) for ref in ("a1", "a2", "a3")]
        httpx.post(
            f"{base_url}/api/v1/sync/push",
            json={"protocol": 1, "mutations": notes},
            headers=sup,
            timeout=60,
        ).raise_for_status()
        assert value(scrape_all(base_url), "relais_deliveries_overdue") == 0
        with db.unit_of_work() as session:
            session.execute(update(Delivery).values(due_at=utcnow()))
        assert value(scrape_all(base_url), "relais_deliveries_overdue") == 3


@pytest.mark.parametrize("header", ["X-Forwarded-For", "Forwarded"])
def test_metrics_refuse_requests_that_came_through_a_proxy(
    db: Database, settings: Settings, header: str
) -> None:
    with server_thread(db, settings) as base_url:
        response = httpx.get(f"{base_url}/metrics", headers={header: "203.0.113.9"}, timeout=60)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


def test_metrics_refuse_other_addresses(db: Database, settings: Settings) -> None:
    with TestClient(create_app(settings, db)) as client:  # client address: "testclient"
        response = client.get("/metrics")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


def test_a_metrics_token_is_required_once_set(db: Database, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, escalation_interval=0, metrics_token="s3cret-scrape")
    with server_thread(db, settings) as base_url:
        for given in (None, "Bearer wrong", "Basic s3cret-scrape"):
            headers = {"Authorization": given} if given else {}
            response = httpx.get(f"{base_url}/metrics", headers=headers, timeout=60)
            assert response.status_code == 401, given
            assert response.json()["error"]["code"] == "invalid_token"
        # With the token, even through a proxy.
        samples = scrape_all(
            base_url, Authorization="Bearer s3cret-scrape", **{"X-Forwarded-For": "203.0.113.9"}
        )
        assert value(samples, "relais_deliveries_open") == 0


def test_ready_checks_the_database_and_its_schema(db: Database, settings: Settings) -> None:
    with TestClient(create_app(settings, db)) as client:
        assert client.get("/api/v1/ready").json() == {"status": "ready"}
        with db.unit_of_work() as session:
            head = session.scalar(text("SELECT version_num FROM alembic_version"))
            session.execute(text("UPDATE alembic_version SET version_num = '0001'"))
        try:
            response = client.get("/api/v1/ready")
            assert response.status_code == 503
            assert response.json()["error"]["code"] == "schema_mismatch"
            assert client.get("/api/v1/health").status_code == 200  # health stays as it was
        finally:  # the PostgreSQL database is shared by the whole run
            with db.unit_of_work() as session:
                session.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": head})


def test_ready_answers_503_when_the_database_is_gone(tmp_path: Path) -> None:
    path = tmp_path / "gone" / "relais.db"  # its folder does not exist: cannot open
    settings = Settings(data_dir=tmp_path, escalation_interval=0)
    db = Database(f"sqlite:///{path}")
    with TestClient(create_app(settings, db), client=("127.0.0.1", 50000)) as client:
        response = client.get("/api/v1/ready")
        scraped = client.get("/metrics")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "unavailable"
    # /metrics still answers, and says the database is down.
    assert scraped.status_code == 200
    assert "relais_database_up 0.0" in scraped.text
    assert "relais_deliveries_open" not in scraped.text


@pytest.mark.parametrize(
    ("given", "echoed"),
    [("req-42.a:b_c", True), ("x" * 65, False), ("bad id with spaces", False), ("", False)],
)
def test_every_answer_carries_a_request_id(
    db: Database, settings: Settings, given: str, echoed: bool
) -> None:
    with TestClient(create_app(settings, db)) as client:
        response = client.get("/api/v1/health", headers={"X-Request-ID": given})
        missing = client.get("/api/v1/nowhere")
    request_id = response.headers["x-request-id"]
    assert (request_id == given) is echoed
    assert 1 <= len(request_id) <= 64 and " " not in request_id
    assert missing.status_code == 404 and missing.headers["x-request-id"]


@pytest.mark.slow
def test_json_logs_carry_request_ids_and_never_note_text(
    db: Database, tmp_path: Path, backend: str
) -> None:
    world = build_world(db)
    port = free_port()
    environment = dict(
        os.environ,
        RELAIS_DATABASE_URL=db.url,
        RELAIS_DATA_DIR=str(tmp_path),
        RELAIS_ESCALATION_INTERVAL="0",
        RELAIS_LOG_FORMAT="json",
        RELAIS_LOG_LEVEL="info",
        RELAIS_SERVE_APP="0",  # no app build: its progress lines are for a terminal
    )
    command = [sys.executable, "-m", "sync_server", "serve", "--port", str(port)]
    server = subprocess.Popen(command, env=environment, stderr=subprocess.PIPE, text=True)
    base_url = f"http://127.0.0.1:{port}"
    secret = "Private words about Worker A1 that must never reach a log"
    try:
        wait_for_health(base_url, process=server)  # type: ignore[arg-type]
        sup = bearer(base_url, "sup_a")
        note = mutation("note.create", note_data(world, "a1", text=secret))
        invalid = mutation("note.create", {**note_data(world, "a1", text=secret), "kind": "x"})
        response = httpx.post(
            f"{base_url}/api/v1/sync/push",
            json={"protocol": 1, "mutations": [note, invalid]},
            headers={**sup, "X-Request-ID": "trace-me-7"},
            timeout=60,
        )
        assert response.status_code == 200
        assert response.headers["x-request-id"] == "trace-me-7"
    finally:
        server.terminate()
        _, errors = server.communicate(timeout=120)
    lines = [json.loads(line) for line in errors.splitlines() if line.strip()]  # all JSON
    assert secret not in errors
    access = [
        line
        for line in lines
        if line["logger"] == "relais.access" and line.get("request_id") == "trace-me-7"
    ]
    assert len(access) == 1
    assert access[0]["route"] == "/api/v1/sync/push" and access[0]["status"] == 200
    assert isinstance(access[0]["duration_ms"], float)
    # The refusal was logged within the request, with its id (and without the text).
    assert any(
        line["logger"].startswith("sync_server") and line.get("request_id") == "trace-me-7"
        for line in lines
    )


def test_the_grafana_dashboard_uses_only_metrics_the_server_exposes(
    db: Database, settings: Settings
) -> None:
    dashboard = json.loads((REPO / "deploy" / "grafana" / "relais-dashboard.json").read_text())
    used = {
        re.sub(r"_(bucket|sum|count)$", "", name)
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"\brelais_[a-z_]+", target["expr"])
    }
    with TestClient(create_app(settings, db), client=("127.0.0.1", 50000)) as client:
        exposition = client.get("/metrics").text
    exposed = set(re.findall(r"^# TYPE (relais_[a-z_]+) ", exposition, flags=re.MULTILINE))
    assert used and used <= exposed, used - exposed
