"""Bad input never gets a 500 (DESIGN.md, invariant 3; PROTOCOL.md, error shape).

Every non-2xx answer is exactly `{"error": {"code": str, "message": str}}`; invalid bodies
get 422, too-large bodies 413, unknown paths 404, wrong methods 405; and a batch with bad
content never loses anything stored before it.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Iterator
from datetime import timedelta, timezone
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from shared_models.wire import MAX_PUSH_BYTES, LoginResponse, PullResponse, PushResponse
from sync_server.sync.models import MutationRecord
from tests.factories import World, build_world, login, mutation, note_data, now_iso, pull_all

LOGIN = "/api/v1/auth/login"
LOGOUT = "/api/v1/auth/logout"
PUSH = "/api/v1/sync/push"
PULL = "/api/v1/sync/pull"
AVAILABILITY = "/api/v1/me/availability"
PREFERENCES = "/api/v1/me/preferences"
JSON = {"content-type": "application/json"}


def error_shape_problem(response: Any) -> str | None:
    """None if the response is a 2xx or has exactly the protocol's error shape."""
    if response.status_code < 300:
        return None
    try:
        body = response.json()
    except ValueError:
        return f"{response.status_code} with a non-JSON body {response.text[:80]!r}"
    if (
        not isinstance(body, dict)
        or set(body) != {"error"}
        or not isinstance(body["error"], dict)
        or set(body["error"]) != {"code", "message"}
        or not isinstance(body["error"]["code"], str)
        or not isinstance(body["error"]["message"], str)
        or not re.fullmatch(r"[a-z][a-z0-9_]*", body["error"]["code"])
        or not body["error"]["message"]
    ):
        return f"{response.status_code} with a body not in the error shape: {body!r:.200}"
    return None


def problem(response: Any, expected: int | None = None, code: str | None = None) -> str | None:
    """What is wrong with an answer to bad input: a 5xx, the wrong status, a bad shape."""
    if response.status_code >= 500:
        return f"{response.status_code}: {response.text[:200]}"
    if expected is not None and response.status_code != expected:
        return f"{response.status_code} instead of {expected}: {response.text[:200]}"
    shape = error_shape_problem(response)
    if shape:
        return shape
    if code is not None and response.json()["error"]["code"] != code:
        return f"code {response.json()['error']['code']!r} instead of {code!r}"
    return None


def push_results_problem(response: Any) -> str | None:
    """A 200 to push must carry one well-formed result per mutation."""
    if response.status_code != 200:
        return None
    results = PushResponse.model_validate(response.json()).results
    for result in results:
        if result.status == "rejected" and result.error is None:
            return f"rejected without a reason: {result}"
    return None


@pytest.fixture
def api(client: TestClient) -> TestClient:
    """The same application, answering a crash with its 500 instead of raising it here."""
    return TestClient(client.app, raise_server_exceptions=False)


@pytest.fixture
def world(db) -> World:
    return build_world(db)


@pytest.fixture
def sup_a(client: TestClient, world: World) -> dict[str, str]:
    return login(client, "sup_a")


def raw(api: TestClient, method: str, path: str, body: bytes | str, headers: dict) -> Any:
    content = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body
    return api.request(method, path, content=content, headers={**JSON, **headers})


def check_all(cases: list[tuple[str, Any, int | None, str | None]]) -> None:
    wrong = []
    for label, response, expected, code in cases:
        issue = problem(response, expected, code)
        if issue is None and response.status_code == 200:
            issue = push_results_problem(response) if response.url.path == PUSH else None
        if issue:
            wrong.append(f"{label}: {issue}")
    assert not wrong, "\n".join(wrong)


# --- hand-made bad bodies, endpoint by endpoint -----------------------------------------

NOT_AN_OBJECT = [
    ("empty body", b""),
    ("not JSON", b"this is not json"),
    ("truncated JSON", b'{"protocol": 1, "mutations": ['),
    ("JSON array", b"[]"),
    ("JSON array of objects", b'[{"protocol": 1}]'),
    ("JSON null", b"null"),
    ("JSON number", b"42"),
    ("JSON string", b'"push"'),
    ("JSON true", b"true"),
    ("NUL byte", b"\x00"),
]


def _body_endpoints(headers: dict[str, str]) -> list[tuple[str, str, dict[str, str]]]:
    return [
        ("POST", LOGIN, {}),
        ("POST", PUSH, headers),
        ("POST", PULL, headers),
        ("PUT", AVAILABILITY, headers),
        ("PUT", PREFERENCES, headers),
    ]


def test_bodies_that_are_not_a_json_object_get_422(api, sup_a):
    cases = []
    for method, path, headers in _body_endpoints(sup_a):
        for label, body in NOT_AN_OBJECT:
            response = raw(api, method, path, body, headers)
            cases.append((f"{method} {path} {label}", response, 422, "invalid_body"))
        response = api.request(
            method,
            path,
            content=b'{"protocol": 1}',
            headers={**headers, "content-type": "text/plain"},
        )
        cases.append((f"{method} {path} text/plain", response, 422, None))
    check_all(cases)


UNPARSABLE = [
    ("invalid UTF-8", b'{"protocol": 1, "mutations": ["\xff\xfe"]}'),
    ("a 5000-digit number", b'{"protocol": 1' + b"0" * 5000 + b', "mutations": []}'),
    ("nesting 100000 deep", b"[" * 100_000 + b"]" * 100_000),
]


def test_unparsable_json_gets_422_not_400(api, sup_a):
    """PROTOCOL.md: invalid bodies give 422, however the JSON is broken."""
    cases = []
    for method, path, headers in _body_endpoints(sup_a):
        for label, body in UNPARSABLE:
            response = raw(api, method, path, body, headers)
            cases.append((f"{method} {path} {label}", response, 422, "invalid_body"))
    check_all(cases)


def _envelope(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"protocol": 1, "mutations": []}
    body.update(changes)
    return body


def _bad_mutation(world: World, **changes: Any) -> dict[str, Any]:
    m = mutation("note.create", note_data(world, "a1"))
    m.update(changes)
    return {k: v for k, v in m.items() if v is not ...}


def test_push_envelope_errors_get_422(api, world, sup_a):
    naive = now_iso().replace("+00:00", "")
    bodies: list[tuple[str, Any, str | None]] = [
        ("unknown protocol 2", _envelope(protocol=2), "unsupported_protocol"),
        ("protocol 0", _envelope(protocol=0), "unsupported_protocol"),
        ("huge protocol", _envelope(protocol=10**40), "unsupported_protocol"),
        ("protocol as text", _envelope(protocol="one"), "invalid_body"),
        ("protocol null", _envelope(protocol=None), "invalid_body"),
        ("no protocol", {"mutations": []}, "invalid_body"),
        ("nested garbage", {"a": {"b": [[[{"c": None}]]]}, "d": [1, "2", 3.5]}, "invalid_body"),
        ("no mutations", {"protocol": 1}, "invalid_body"),
        ("mutations an object", _envelope(mutations={}), "invalid_body"),
        ("mutations a string", _envelope(mutations="[]"), "invalid_body"),
        ("mutations [null]", _envelope(mutations=[None]), "invalid_body"),
        ("mutations [[]]", _envelope(mutations=[[]]), "invalid_body"),
        (
            "501 mutations",
            _envelope(mutations=[_bad_mutation(world) for _ in range(501)]),
            "invalid_body",
        ),
        ("mutation without id", _envelope(mutations=[_bad_mutation(world, id=...)]), None),
        ("id not a uuid", _envelope(mutations=[_bad_mutation(world, id="m-1")]), None),
        ("id a number", _envelope(mutations=[_bad_mutation(world, id=12345)]), None),
        ("id a huge number", _envelope(mutations=[_bad_mutation(world, id=10**40)]), None),
        ("id empty", _envelope(mutations=[_bad_mutation(world, id="")]), None),
        ("no type", _envelope(mutations=[_bad_mutation(world, type=...)]), None),
        ("type a list", _envelope(mutations=[_bad_mutation(world, type=["x"])]), None),
        ("type 101 long", _envelope(mutations=[_bad_mutation(world, type="t" * 101)]), None),
        ("data a list", _envelope(mutations=[_bad_mutation(world, data=[1, 2])]), None),
        ("data a string", _envelope(mutations=[_bad_mutation(world, data="{}")]), None),
        ("data null", _envelope(mutations=[_bad_mutation(world, data=None)]), None),
        ("no data", _envelope(mutations=[_bad_mutation(world, data=...)]), None),
        ("client_time naive", _envelope(mutations=[_bad_mutation(world, client_time=naive)]), None),
        ("client_time text", _envelope(mutations=[_bad_mutation(world, client_time="now")]), None),
        (
            "client_time number",
            _envelope(mutations=[_bad_mutation(world, client_time=1e300)]),
            None,
        ),
        ("no client_time", _envelope(mutations=[_bad_mutation(world, client_time=...)]), None),
        (
            "one good, one bad envelope",
            _envelope(mutations=[_bad_mutation(world), _bad_mutation(world, id="x")]),
            None,
        ),
    ]
    cases = []
    for label, body, code in bodies:
        response = api.post(PUSH, json=body, headers=sup_a)
    event(f"status {response.status_code}")
    if response.status_code == 200:
        for result in response.json()["results"]:
            event(f"{result['status']} {result.get('error', {}).get('code', '')}")
    assert _fuzz_problem(response, PushResponse) is None, (body, response.text[:300])
    assert push_results_problem(response) is None


@given(data=st.data())
@fuzz_settings(100)
def test_fuzz_pull(api, world, sup_a, data):
    tag = world.org.hex[:12]
    cursors = st.one_of(
        st.none(),
        st.text(max_size=40),
        json_values,
        st.builds(
            lambda t, e, s: base64.urlsafe_b64encode(f"c1:{t}:{e}:{s}".encode()).decode(),
            st.sampled_from([tag, "000000000000"]),
            st.just(0) | st.integers(),
            st.integers(),
        ),
    )
    body = data.draw(
        json_values
        | st.fixed_dictionaries(
            {"protocol": st.just(1) | json_values, "cursor": cursors},
            optional={"limit": st.integers(min_value=-5, max_value=2000) | json_values},
        )
    )
    response = api.post(PULL, json=body, headers=sup_a)
    event(f"status {response.status_code} reset {response.json().get('reset')}")
    assert _fuzz_problem(response, PullResponse) is None, (body, response.text[:300])


@given(
    body=json_values
    | st.fixed_dictionaries(
        {
            "login": st.sampled_from(["sup_a", "nobody"]) | st.text(max_size=12) | json_values,
            "password": st.text(max_size=12) | json_values,
            "device_name": st.text(max_size=12) | json_values,
        }
    )
)
@fuzz_settings(50)
def test_fuzz_login(api, world, body):
    response = api.post(LOGIN, json=body)
    event(f"status {response.status_code}")
    assert _fuzz_problem(response, LoginResponse) is None, (body, response.text[:300])
