"""Fuzzing the HTTP API from its own OpenAPI schema (Schemathesis strategies): whatever the
body or the query, valid by the schema or not, the server answers with a 2xx or with a 4xx
in the protocol's error shape, never a 500; on SQLite and PostgreSQL.

Each case is sent with a fresh supervisor's token (a generated logout must not spoil the next
case), and bodies go out as JSON text with escapes, so lone surrogates reach the server too.
The live stream never ends by design: tests/sync_server/test_stream.py covers it.
Examples per operation are bounded to keep the suite quick: RELAIS_FUZZ_EXAMPLES raises it.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from sync_server.app import create_app
from sync_server.database import Database
from sync_server.settings import Settings
from tests.factories import PASSWORD, build_world, login

EXAMPLES = int(os.environ.get("RELAIS_FUZZ_EXAMPLES", "30"))
STREAM = "/api/v1/sync/stream"


def _schema() -> Any:
    """The API's schema, as the application publishes it (no database is touched)."""
    app = create_app(Settings(data_dir=Path(tempfile.gettempdir())), Database("sqlite://"))
    return schemathesis.openapi.from_dict(app.openapi())


SCHEMA = _schema()
OPERATIONS = [
    (op.path, op.method.upper())
    for op in (result.ok() for result in SCHEMA.get_all_operations())
    if op.path != STREAM
]


# The coordinator's exports answer a supervisor 403 before reading anything: fuzz them as
# a coordinator too, so that their parameters reach the code that reads them.
DESK = [(p, m) for p, m in OPERATIONS if p.startswith(("/api/v1/briefs", "/api/v1/workers/"))]


@pytest.mark.parametrize(("path", "method"), OPERATIONS, ids=[f"{m} {p}" for p, m in OPERATIONS])
def test_no_request_gets_a_server_error(client, db, path, method):
    fuzz(client, db, path, method, "sup_a")


@pytest.mark.parametrize(("path", "method"), DESK, ids=[f"{m} {p}" for p, m in DESK])
def test_no_coordinator_request_to_the_desk_gets_a_server_error(client, db, path, method):
    fuzz(client, db, path, method, "coord")


def fuzz(client: Any, db: Database, path: str, method: str, who: str) -> None:
    build_world(db)
    operation = SCHEMA[path][method]
    cases = st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )

    @given(cases)
    @hypothesis_settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    def send(case: Any) -> None:
        request = case.as_transport_kwargs(base_url=str(client.base_url))
        headers = {"User-Agent": "fuzz"}
        if path != "/api/v1/auth/login":
            headers |= login(client, who, PASSWORD, device="fuzz")
        content = request.get("data")
        if "json" in request:
            content = json.dumps(request["json"]).encode()
            headers["Content-Type"] = "application/json"
        response = client.request(
            method, request["url"], headers=headers, params=request.get("params"), content=content
        )
        assert response.status_code < 500, (case.as_curl_command(), response.text)
        if response.status_code >= 400:
            body = response.json()
            assert set(body) == {"error"}, body
            assert {"code", "message"} <= set(body["error"]), body

    send()
