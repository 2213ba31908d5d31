"""The OpenAPI document tells the truth: Schemathesis, with every one of its checks, against
the real server (uvicorn) on SQLite and PostgreSQL.

Beyond "never a 500", every answer must be one the schema documents, with the body and
headers it documents; a request valid by the schema must be accepted; an invalid one
refused with a 4xx; an undocumented method gets 405 with a true `Allow`; and an operation
that declares a bearer token refuses a request without one. Cases are sent with a
supervisor's token, a fresh one for each logout (which revokes it).

A few refusals depend on what is stored or on the clock, not on the shape of the request, so
no schema can express them: an unknown colleague as stand-in, an absence ending in the past,
an unknown time zone. A schema-valid request refused for one of these (and only these)
passes the check that valid requests are accepted. The live stream never ends by design: tests/sync_server/test_stream.py covers it.
Examples per operation are bounded to keep the suite quick: RELAIS_FUZZ_EXAMPLES raises it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.specs.openapi.checks import positive_data_acceptance

from relais_testing.factories import PASSWORD, build_world, login
from relais_testing.serving import server_thread
from sync_server.app import create_app
from sync_server.database import Database
from sync_server.settings import Settings

EXAMPLES = int(os.environ.get("RELAIS_FUZZ_EXAMPLES", "30"))
STREAM = "/api/v1/sync/stream"
LOGIN = "/api/v1/auth/login"
LOGOUT = "/api/v1/auth/logout"

# (method, path) -> the fields whose values are checked against stored data or the clock, or
# against each other (one of two parameters; a period's length): rules OpenAPI cannot state.
REFUSED_BEYOND_THE_SCHEMA = {
    ("PUT", "/api/v1/me/availability"): ("stand_in_id: ", "until: "),
    ("PUT", "/api/v1/me/preferences"): ("timezone: ",),
    ("GET", "/api/v1/briefs"): ("team_id, worker_id: ", "from, to: ", "to: "),
}


def _schema() -> Any:
    """The API's schema, as the application publishes it (no database is touched)."""
    app = create_app(Settings(data_dir=Path(tempfile.gettempdir())), Database("sqlite://"))
    return schemathesis.openapi.from_dict(app.openapi()).exclude(path=STREAM)


SCHEMA = _schema()
load_all_checks()
ALL_CHECKS = list(CHECKS.get_all())


@pytest.fixture
def server(db, settings) -> Iterator[str]:
    build_world(db)
    with server_thread(db, settings) as base_url:
        yield base_url


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        yield s


# The coordinator's exports answer a supervisor 403 before reading anything: they are
# fuzzed as a coordinator, so that their parameters reach the code that reads them.
DESK = ("/api/v1/briefs", "/api/v1/workers/")


class Token:
    """One token per person (the supervisor; the coordinator for the desk), the same for
    every case, a new one after a logout."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.headers: dict[str, dict[str, str]] = {}

    def __call__(self, who: str) -> dict[str, str]:
        if who not in self.headers:
            with httpx.Client(base_url=self.base_url, timeout=60) as http:
                self.headers[who] = login(http, who, PASSWORD, device="fuzz")
        return dict(self.headers[who])

    def forget(self) -> None:
        self.headers = {}


@pytest.fixture
def token(server) -> Token:
    return Token(server)


def _refused_beyond_the_schema(case: Any, response: Any) -> bool:
    fields = REFUSED_BEYOND_THE_SCHEMA.get((case.method.upper(), case.path), ())
    if response.status_code != 422 or not fields:
        return False
    message = response.json()["error"]["message"]
    return message.startswith(fields) and ";" not in message


@SCHEMA.parametrize()
@hypothesis_settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_keeps_to_its_schema(case, server, session, token):
    headers = {"User-Agent": "fuzz"}
    if case.path != LOGIN:
        headers |= token("coord" if case.path.startswith(DESK) else "sup_a")
    response = case.call(base_url=server, session=session, headers=headers)
    if case.path == LOGOUT:
        token.forget()
    excluded = [positive_data_acceptance] if _refused_beyond_the_schema(case, response) else []
    case.validate_response(
        response,
        checks=ALL_CHECKS,
        excluded_checks=excluded,
        headers=headers,
        transport_kwargs={"base_url": server},
    )
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error"}, body
        assert set(body["error"]) == {"code", "message"}, body
