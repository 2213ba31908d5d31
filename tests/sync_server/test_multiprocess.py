"""Two real `relais serve` processes on one PostgreSQL database, behind deploy/'s nginx.

Pokes cross processes (LISTEN/NOTIFY), sweeps in both escalate each overdue delivery
once, the login failure limit holds whichever process answers, and the reverse proxy
config in deploy/nginx serves both over TLS, streams included.

The two servers, their database and its organisation serve the whole module (starting two
servers is most of its cost): each test uses logins and workers the others leave usable.
"""

from __future__ import annotations

import os
import re
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select, update

from relais_testing.factories import World, build_world, note_data
from relais_testing.servers import free_port
from relais_testing.serving import server_process
from shared_models.vocabulary import CATEGORIES, NoteKind
from sync_server.database import Database, utcnow
from sync_server.routing.models import Delivery
from tests.conftest import empty_tables, make_database, require_or_skip
from tests.live import bearer, held_stream, push_notes, scrape, sign_in, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

REPO = Path(__file__).resolve().parents[2]
NGINX_CONF = REPO / "deploy" / "nginx" / "relais.conf"
REQUIRE_NGINX = os.environ.get("RELAIS_REQUIRE_NGINX") == "1"
SERVER_ENV = {
    "RELAIS_ESCALATION_INTERVAL": "0.3",
    "RELAIS_LOGIN_MAX_FAILURES": "4",
    "RELAIS_STREAM_HEARTBEAT": "1",
}


@pytest.fixture(scope="module")
def pg_db(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path, postgres_url: str | None
) -> Iterator[Database]:
    """The PostgreSQL database of the module's servers, emptied after its last test."""
    database = make_database(
        "postgres", tmp_path_factory.mktemp("multiprocess"), sqlite_template, postgres_url
    )
    yield database
    empty_tables(database)
    database.dispose()


@pytest.fixture(scope="module")
def world(pg_db: Database) -> World:
    return build_world(pg_db)


@pytest.fixture(scope="module")
def servers(world: World, postgres_url: str) -> Iterator[list[tuple[str, subprocess.Popen[bytes]]]]:
    with (
        server_process(postgres_url, **SERVER_ENV) as first,
        server_process(postgres_url, **SERVER_ENV) as second,
    ):
        yield [first, second]


@pytest.mark.parametrize("direction", ["first to second", "second to first"])
def test_a_push_on_one_process_pokes_a_stream_held_on_the_other(
    servers: list[tuple[str, subprocess.Popen[bytes]]], world: World, direction: str
) -> None:
    (writer, _), (reader, _) = servers if direction == "first to second" else servers[::-1]
    counsellor = bearer(reader, "couns_1")
    supervisor = bearer(writer, "sup_a")
    with held_stream(reader, counsellor) as pokes:
        opened_with = len(pokes)
        note = note_data(world, "a1")
        push_notes(writer, supervisor, note)
        wait_until(lambda: len(pokes) > opened_with)
    pulled = httpx.post(
        f"{reader}/api/v1/sync/pull",
        json={"protocol": 1, "cursor": None},
        headers=counsellor,
        timeout=60,
    )
    assert note["id"] in {c["id"] for c in pulled.json()["changes"] if c["entity"] == "note"}


def test_sweeps_in_both_processes_escalate_each_delivery_once(
    servers: list[tuple[str, subprocess.Popen[bytes]]], world: World, pg_db: Database
) -> None:
    (first, first_process), (second, second_process) = servers
    supervisor_a = bearer(first, "sup_a")
    supervisor_b = bearer(second, "sup_b")
    # Distinct (worker, category) pairs: repeats would be grouped into one alert.
    for category in CATEGORIES[NoteKind.SIGNAL]:
        push_notes(
            first,
            supervisor_a,
            *(note_data(world, w, category=category) for w in ("a1", "a2", "a3")),
        )
        push_notes(second, supervisor_b, note_data(world, "b1", category=category))
    escalated_before = scrape(first, "relais_escalations_total") + scrape(
        second, "relais_escalations_total"
    )
    with pg_db.unit_of_work() as session:
        overdue = session.execute(
            update(Delivery)
            .where(Delivery.due_at.is_not(None), Delivery.acknowledged_at.is_(None))
            .values(due_at=utcnow())
        ).rowcount
    assert overdue >= 4 * len(CATEGORIES[NoteKind.SIGNAL])

    def left() -> int:
        with pg_db.reading() as session:
            return int(
                session.scalar(
                    select(func.count())
                    .select_from(Delivery)
                    .where(Delivery.due_at.is_not(None), Delivery.escalated_at.is_(None))
                )
                or 0
            )

    wait_until(lambda: left() == 0, timeout=60)
    counts = [scrape(url, "relais_escalations_total") for url in (first, second)]
    # Each process counts what it escalated: together, each delivery exactly once.
    assert sum(counts) - escalated_before == overdue
    with pg_db.reading() as session:
        copies = session.execute(
            select(Delivery.note_id, func.count())
            .where(Delivery.reason == "escalation")
            .group_by(Delivery.note_id)
        ).all()
    assert copies and {count for _, count in copies} == {1}  # one coordinator, one copy
    for url in (first, second):
        assert scrape(url, "relais_sweep_duration_seconds_count") > 0  # both swept
    for process in (first_process, second_process):
        assert process.poll() is None


def test_the_login_limit_holds_across_processes(
    servers: list[tuple[str, subprocess.Popen[bytes]]], world: World
) -> None:
    urls = [url for url, _ in servers]
    # couns_2: no other test of the module signs in with it (it stays blocked).
    for attempt in range(4):  # RELAIS_LOGIN_MAX_FAILURES, alternating processes
        refused = sign_in(urls[attempt % 2], "couns_2", "wrong password")
        assert refused.status_code == 401, refused.text
    for url in urls:
        throttled = sign_in(url, "couns_2")  # even the right password
        assert throttled.status_code == 429, throttled.text
        assert throttled.json()["error"]["code"] == "too_many_attempts"
        assert sign_in(url, "sup_b").status_code == 200  # other logins are not affected


# --- behind the reverse proxy ------------------------------------------------------------


def render_nginx_site(
    upstreams: list[str], https_port: int, http_port: int, cert: Path, key: Path
) -> str:
    """deploy/nginx/relais.conf with this test's ports and certificate: nothing else."""
    site = NGINX_CONF.read_text()
    servers = "\n    ".join(f"server {u.removeprefix('http://')};" for u in upstreams)
    replacements = [
        (r"server 127\.0\.0\.1:8040;", servers),
        (r"listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;"),
        (r"listen 80;", f"listen 127.0.0.1:{http_port};"),
        (r"\n\s*listen \[::\]:\d+[^;]*;", ""),
        (r"ssl_certificate /\S+;", f"ssl_certificate {cert};"),
        (r"ssl_certificate_key /\S+;", f"ssl_certificate_key {key};"),
    ]
    for pattern, replacement in replacements:
        site, count = re.subn(pattern, replacement, site)
        assert count >= 1, f"deploy/nginx/relais.conf no longer has {pattern}"
    return site


@pytest.fixture
def proxy(
    servers: list[tuple[str, subprocess.Popen[bytes]]], tmp_path: Path
) -> Iterator[tuple[str, ssl.SSLContext]]:
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    require_or_skip(
        nginx is not None, "nginx is not installed (apt-get install nginx)", REQUIRE_NGINX
    )
    require_or_skip(shutil.which("openssl") is not None, "openssl is not installed", REQUIRE_NGINX)
    assert nginx is not None
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    https_port, http_port = free_port(), free_port()
    site = tmp_path / "relais.conf"
    site.write_text(render_nginx_site([u for u, _ in servers], https_port, http_port, cert, key))
    temp = {name: tmp_path / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    user = "user root root;\n" if os.geteuid() == 0 else ""
    main = tmp_path / "nginx.conf"
    main.write_text(
        f"{user}worker_processes 1;\npid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\n"
        "events { worker_connections 256; }\n"
        "http {\n"
        f"  access_log {tmp_path}/access.log;\n"
        + "".join(f"  {name}_temp_path {path};\n" for name, path in temp.items()).replace(
            "body_temp_path", "client_body_temp_path"
        )
        + f"  include {site};\n}}\n"
    )
    checked = subprocess.run(
        [nginx, "-t", "-c", str(main), "-p", str(tmp_path)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr
    process = subprocess.Popen(
        [nginx, "-c", str(main), "-p", str(tmp_path), "-g", "daemon off;"],
        stderr=subprocess.PIPE,
    )
    context = ssl.create_default_context(cafile=str(cert))
    base_url = f"https://127.0.0.1:{https_port}"
    try:

        def up() -> bool:
            try:
                return (
                    httpx.get(f"{base_url}/api/v1/health", verify=context, timeout=60).status_code
                    == 200
                )
            except httpx.HTTPError:
                return False

        wait_until(up)
        redirect = httpx.get(f"http://127.0.0.1:{http_port}/app/", timeout=60)
        assert redirect.status_code == 301 and redirect.headers["location"].startswith("https://")
        yield base_url, context
    finally:
        process.terminate()
        process.wait(10)


def test_the_proxy_serves_both_processes_over_tls(
    proxy: tuple[str, ssl.SSLContext],
    servers: list[tuple[str, subprocess.Popen[bytes]]],
    world: World,
) -> None:
    base_url, context = proxy
    upstreams = [url for url, _ in servers]
    health = {"route": "/api/v1/health", "method": "GET"}
    before = [
        scrape(url, "relais_http_request_duration_seconds_count", **health) for url in upstreams
    ]
    with httpx.Client(base_url=base_url, verify=context, timeout=60) as client:
        for _ in range(20):
            response = client.get("/api/v1/health")
            assert response.status_code == 200
            assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])  # nginx's id
        assert client.get("/metrics").status_code == 404  # never through the proxy
    after = [
        scrape(url, "relais_http_request_duration_seconds_count", **health) for url in upstreams
    ]
    served = [a - b for a, b in zip(after, before, strict=True)]
    assert sum(served) >= 20 and all(s > 0 for s in served), served  # one address, both processes

    # A stream through the proxy is poked by pushes on either process, unbuffered.
    counsellor = bearer(base_url, "couns_1", verify=context)
    supervisor = [bearer(url, "sup_a") for url in upstreams]
    with held_stream(base_url, counsellor, verify=context) as pokes:
        for url, headers in zip(upstreams, supervisor, strict=True):
            seen = len(pokes)
            push_notes(
                url, headers, note_data(world, "a1", category="fatigue" if seen < 2 else "money")
            )
            wait_until(lambda seen=seen: len(pokes) > seen)  # type: ignore[misc]
