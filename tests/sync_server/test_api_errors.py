"""Bad input never gets a 500 (docs/design.md, invariant 3; docs/protocol.md §2.3, error shape).

Every non-2xx answer is exactly `{"error": {"code": str, "message": str}}`; invalid bodies
get 422, too-large bodies 413, unknown paths 404, wrong methods 405; and a batch with bad
content never loses anything stored before it.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import uuid
from collections.abc import Iterator
from datetime import timedelta, timezone
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from relais_testing.factories import (
    PASSWORD,
    World,
    build_world,
    login,
    mutation,
    note_data,
    now_iso,
    pull_all,
)
from relais_testing.serving import server_thread
from shared_models.wire import (
    MAX_JSON_DEPTH,
    MAX_PUSH_BYTES,
    LoginResponse,
    PullResponse,
    PushResponse,
)
from sync_server.app import create_app
from sync_server.sync.models import MutationRecord

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
    """docs/protocol.md §2.3: invalid bodies give 422, however the JSON is broken."""
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
    """What docs/protocol.md §4.1 calls the envelope: protocol, the mutations list, its size, and the
    ids that results are keyed by. Anything wrong there refuses the whole request."""

    def one(**changes: Any) -> dict[str, Any]:
        return _envelope(mutations=[_bad_mutation(world, **changes)])

    bodies: list[tuple[str, Any, str]] = [
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
        ("mutation without id", one(id=...), "invalid_body"),
        ("id not a uuid", one(id="m-1"), "invalid_body"),
        ("id a number", one(id=12345), "invalid_body"),
        ("id a huge number", one(id=10**40), "invalid_body"),
        ("id empty", one(id=""), "invalid_body"),
        (
            "one good, one without a uuid",
            _envelope(mutations=[_bad_mutation(world), _bad_mutation(world, id="x")]),
            "invalid_body",
        ),
    ]
    check_all(
        [
            (label, api.post(PUSH, json=body, headers=sup_a), 422, code)
            for label, body, code in bodies
        ]
    )


def test_malformed_mutation_is_refused_alone_or_with_its_whole_batch(api, db, world, sup_a):
    """A mutation with a uuid but a bad type, data or client_time: either the whole request
    gets 422 and nothing is applied, or that mutation alone is `rejected` with a reason and
    its neighbours are applied. Never a 500, never a silent drop."""
    naive = now_iso().replace("+00:00", "")
    malformed = [
        ("no type", {"type": ...}),
        ("type a list", {"type": ["x"]}),
        ("type a number", {"type": 7}),
        ("type 101 long", {"type": "t" * 101}),
        ("data a list", {"data": [1, 2]}),
        ("data a string", {"data": "{}"}),
        ("data null", {"data": None}),
        ("no data", {"data": ...}),
        ("client_time naive", {"client_time": naive}),
        ("client_time text", {"client_time": "now"}),
        ("client_time number", {"client_time": 1e300}),
        ("client_time null", {"client_time": None}),
        ("no client_time", {"client_time": ...}),
    ]
    wrong = []
    for label, changes in malformed:
        before, bad, after = (
            _bad_mutation(world),
            _bad_mutation(world, **changes),
            _bad_mutation(world),
        )
        response = api.post(PUSH, json=_envelope(mutations=[before, bad, after]), headers=sup_a)
        issue = problem(response)
        if issue is None and response.status_code == 422:
            issue = problem(response, 422, "invalid_body")
            if _push(api, sup_a, before).json()["results"][0]["status"] != "applied":
                issue = "a 422 batch left something applied"
        elif issue is None and response.status_code == 200:
            results = response.json()["results"]
            got = [(r["id"], r["status"]) for r in results]
            if got != [
                (before["id"], "applied"),
                (bad["id"], "rejected"),
                (after["id"], "applied"),
            ]:
                issue = f"results {results}"
            elif not results[1]["error"]["code"] or not results[1]["error"]["message"]:
                issue = f"rejected without a reason: {results[1]}"
        elif issue is None:
            issue = f"unexpected {response.status_code}: {response.text[:200]}"
        if issue:
            wrong.append(f"{label}: {issue}")
    assert not wrong, "\n".join(wrong)


def test_push_with_500_mutations_is_accepted(api, world, sup_a):
    # 500 cheap mutations (an unknown type): the envelope is what is under test here.
    batch = [mutation("note.teleport", {"n": i}) for i in range(500)]
    response = api.post(PUSH, json=_envelope(mutations=batch), headers=sup_a)
    assert response.status_code == 200, response.text[:300]
    results = response.json()["results"]
    assert [r["id"] for r in results] == [m["id"] for m in batch]  # same order
    assert {(r["status"], r["error"]["code"]) for r in results} == {("rejected", "unknown_type")}


def test_pull_body_errors(api, world, sup_a):
    foreign = base64.urlsafe_b64encode(b"c1:000000000000:0:5").decode().rstrip("=")
    bodies: list[tuple[str, Any, int, str | None]] = [
        ("unknown protocol", {"protocol": 2, "cursor": None}, 422, "unsupported_protocol"),
        ("no protocol", {"cursor": None}, 422, "invalid_body"),
        ("nested garbage", {"a": {"b": [[[{"c": None}]]]}}, 422, "invalid_body"),
        ("limit 0", {"protocol": 1, "limit": 0}, 422, "invalid_body"),
        ("limit 1001", {"protocol": 1, "limit": 1001}, 422, "invalid_body"),
        ("limit -1", {"protocol": 1, "limit": -1}, 422, "invalid_body"),
        ("limit huge", {"protocol": 1, "limit": 10**40}, 422, "invalid_body"),
        ("limit text", {"protocol": 1, "limit": "ten"}, 422, "invalid_body"),
        ("limit a number as text", {"protocol": 1, "limit": "10"}, 422, "invalid_body"),
        ("protocol as text", {"protocol": "1"}, 422, "invalid_body"),
        ("protocol true", {"protocol": True}, 422, "invalid_body"),
        ("limit fraction", {"protocol": 1, "limit": 2.5}, 422, "invalid_body"),
        ("limit null", {"protocol": 1, "limit": None}, 422, "invalid_body"),
        ("cursor a number", {"protocol": 1, "cursor": 5}, 422, "invalid_body"),
        ("cursor an object", {"protocol": 1, "cursor": {}}, 422, "invalid_body"),
        ("cursor 201 long", {"protocol": 1, "cursor": "c" * 201}, 422, "invalid_body"),
        # An invalid or foreign cursor is not an error: the client starts over.
        ("cursor garbage", {"protocol": 1, "cursor": "garbage"}, 200, None),
        ("cursor empty", {"protocol": 1, "cursor": ""}, 200, None),
        ("cursor padding", {"protocol": 1, "cursor": "===="}, 200, None),
        ("cursor non-ASCII", {"protocol": 1, "cursor": "é€"}, 200, None),
        ("cursor of another org", {"protocol": 1, "cursor": foreign}, 200, None),
    ]
    cases = []
    for label, body, status, code in bodies:
        response = api.post(PULL, json=body, headers=sup_a)
        cases.append((label, response, status, code))
        if status == 200 and response.status_code == 200:
            assert PullResponse.model_validate(response.json()).reset is True, label
    # A NUL in the cursor: an invalid body (422) or an invalid cursor (reset); never a 500.
    response = api.post(PULL, json={"protocol": 1, "cursor": "c\x00"}, headers=sup_a)
    cases.append(("cursor with NUL", response, None, None))
    if response.status_code == 200:
        assert response.json()["reset"] is True
    check_all(cases)


def _cursor(world: World, epoch: int, seq: int) -> str:
    raw_cursor = f"c1:{world.org.hex[:12]}:{epoch}:{seq}".encode()
    return base64.urlsafe_b64encode(raw_cursor).decode().rstrip("=")


def test_out_of_range_cursor_gets_reset(api, world, sup_a):
    """A cursor whose numbers do not fit the log is invalid: `reset`, never a 500."""
    cases = []
    for label, epoch, seq in [
        ("position below -2**63", 0, -(2**63) - 1),
        ("very negative position", 0, -(10**60)),
        ("huge epoch", 10**60, 0),
        ("position 2**63", 0, 2**63),
    ]:
        body = {"protocol": 1, "cursor": _cursor(world, epoch, seq)}
        response = api.post(PULL, json=body, headers=sup_a)
        cases.append((label, response, 200, None))
        if response.status_code == 200:
            assert response.json()["reset"] is True, (label, response.json())
    check_all(cases)


def test_login_body_errors(api, world):
    ok = {"login": "sup_a", "password": "x", "device_name": "phone"}
    bodies = [
        ("empty object", {}),
        ("no password", {"login": "sup_a", "device_name": "phone"}),
        ("no device name", {"login": "sup_a", "password": "x"}),
        ("empty login", {**ok, "login": ""}),
        ("empty password", {**ok, "password": ""}),
        ("empty device name", {**ok, "device_name": ""}),
        ("login 201 long", {**ok, "login": "l" * 201}),
        ("password 1001 long", {**ok, "password": "p" * 1001}),
        ("device name 201 long", {**ok, "device_name": "d" * 201}),
        ("login a number", {**ok, "login": 5}),
        ("login huge number", {**ok, "login": 10**40}),
        ("password a list", {**ok, "password": ["x"]}),
        ("device name null", {**ok, "device_name": None}),
        ("nested garbage", {"login": {"$ne": None}, "password": {"$gt": ""}, "device_name": []}),
    ]
    check_all([(label, api.post(LOGIN, json=body), 422, "invalid_body") for label, body in bodies])


def test_me_body_errors(api, client, world):
    couns = login(client, "couns_1")
    availability = [
        ("empty object", {}),
        ("away a word", {"away": "maybe"}),
        ("stand-in not a uuid", {"away": True, "stand_in_id": "sophie"}),
        ("stand-in unknown", {"away": True, "stand_in_id": str(uuid.uuid4())}),
        ("until naive", {"away": True, "until": "2030-01-01T00:00:00"}),
        ("until not a date", {"away": True, "until": "soon"}),
        ("until in the past", {"away": True, "until": "2001-01-01T00:00:00+00:00"}),
        # Text is not read as a number or a boolean, nor a number as a time: the schema says.
        ("until a number", {"away": False, "until": 1_900_000_000}),
        ("away as text", {"away": "false"}),
    ]
    preferences = [
        ("unknown time zone", {"timezone": "Mars/Olympus_Mons"}),
        ("path as time zone", {"timezone": "../../etc/passwd"}),
        ("empty time zone", {"timezone": ""}),
        ("time zone 65 long", {"timezone": "Z" * 65}),
        ("quiet start 25:00", {"quiet_start": "25:00"}),
        ("digest time with a zone", {"digest_time": "00:00+16:00"}),
        ("quiet end with a zone", {"quiet_end": "07:00Z"}),
        ("email_urgent a word", {"email_urgent": "maybe"}),
        ("email_digest as text", {"email_digest": "true"}),
        ("email_digest a number", {"email_digest": 0}),
        ("digest time a number", {"digest_time": 3600}),
    ]
    cases = [
        (f"availability {label}", api.put(AVAILABILITY, json=body, headers=couns), 422, None)
        for label, body in availability
    ] + [
        (f"preferences {label}", api.put(PREFERENCES, json=body, headers=couns), 422, None)
        for label, body in preferences
    ]
    check_all(cases)


def _tz_database_entries_that_are_not_zones() -> set[str]:
    """Folders of the time zone database (`Europe`, `America`, `Etc`...) and its other
    files (`zone.tab`, `tzdata.zi`...): names a zone lookup may stumble on."""
    import importlib.resources
    import zoneinfo
    from pathlib import Path

    zones = zoneinfo.available_timezones()
    roots = [
        Path(str(importlib.resources.files("tzdata") / "zoneinfo")),
        Path("/usr/share/zoneinfo"),
    ]
    names = set()
    for root in roots:
        if root.is_dir():
            for path in root.rglob("*"):
                name = path.relative_to(root).as_posix()
                if name not in zones:
                    names.add(name)
    return names


def test_time_zone_names_that_are_not_zones_get_422(api, client, world):
    """Only a real zone of the tz database is a time zone: not its folders, not its files."""
    couns = login(client, "couns_1")
    names = _tz_database_entries_that_are_not_zones()
    assert {"Europe", "America", "Etc", "zone.tab"} <= names
    cases = [
        (
            f"time zone {name!r}",
            api.put(PREFERENCES, json={"timezone": name}, headers=couns),
            422,
            "invalid_body",
        )
        for name in sorted(names)
        if len(name) <= 64
    ]
    check_all(cases)
    for zone in ("Europe/Brussels", "America/Guadeloupe", "Etc/GMT-2", "UTC"):
        response = api.put(PREFERENCES, json={"timezone": zone}, headers=couns)
        assert response.status_code == 200 and response.json()["timezone"] == zone, response.text


# --- one connection, whatever the input ---------------------------------------------------


def _nested(depth: int) -> str:
    """A JSON value `depth` levels deep, arrays and objects in turn."""
    opening = "".join("[" if level % 2 == 0 else '{"k":' for level in range(depth))
    closing = "".join("]" if level % 2 == 0 else "}" for level in reversed(range(depth)))
    return opening + "0" + closing


def _client_port(response: httpx.Response) -> int:
    """The local port of the connection that carried `response`: the same port, the same
    keep-alive connection."""
    return int(response.extensions["network_stream"].get_extra_info("client_addr")[1])


def _deep_bodies(world: World, depth: int) -> list[tuple[str, str, str]]:
    deep = _nested(depth)
    create = mutation("note.create", note_data(world, "a1"))
    in_data = dict(create, id=str(uuid.uuid4()), data={"x": "@@"})
    in_type = dict(create, id=str(uuid.uuid4()), type="@@")
    login_body = {"login": "@@", "password": "x", "device_name": "phone"}
    return [
        ("push data", PUSH, json.dumps(_envelope(mutations=[in_data])).replace('"@@"', deep)),
        ("push type", PUSH, json.dumps(_envelope(mutations=[in_type])).replace('"@@"', deep)),
        ("push envelope", PUSH, json.dumps(_envelope(extra="@@")).replace('"@@"', deep)),
        ("pull cursor", PULL, json.dumps({"protocol": 1, "cursor": "@@"}).replace('"@@"', deep)),
        ("login", LOGIN, json.dumps(login_body).replace('"@@"', deep)),
        ("preferences", PREFERENCES, json.dumps({"timezone": "@@"}).replace('"@@"', deep)),
        ("availability", AVAILABILITY, json.dumps({"away": "@@"}).replace('"@@"', deep)),
        ("whole body", PUSH, deep),
    ]


def test_deep_json_gets_422_and_the_connection_lives_on(db, settings):
    """Nesting deeper than the protocol allows is refused before it is read into Python
    objects (it used to be a RecursionError, a 500, and a reset connection)."""
    world = build_world(db)
    with (
        server_thread(db, settings) as base_url,
        httpx.Client(base_url=base_url, timeout=60) as http,
    ):
        headers = login(http, "couns_1")
        port = _client_port(http.get("/api/v1/health"))
        cases = []
        for depth in (MAX_JSON_DEPTH + 1, 600, 900, 5_000, 100_000):
            for label, path, body in _deep_bodies(world, depth):
                method = "PUT" if path in (PREFERENCES, AVAILABILITY) else "POST"
                response = http.request(method, path, content=body, headers={**JSON, **headers})
                cases.append((f"{label} {depth} deep", response, 422, "invalid_body"))
                after = http.get("/api/v1/health")
                assert after.status_code == 200 and _client_port(after) == port, label
        check_all(cases)
        # As deep as allowed is read as usual: one mutation refused for its data.
        in_data = mutation("note.create", {"x": "@@"})
        at_limit = json.dumps(_envelope(mutations=[in_data])).replace(
            '"@@"', _nested(MAX_JSON_DEPTH - 4)
        )
        response = http.post(PUSH, content=at_limit, headers={**JSON, **headers})
        assert response.status_code == 200, response.text
        assert response.json()["results"][0]["error"]["code"] == "invalid_data"


def test_an_unexpected_error_is_a_500_in_shape_and_the_connection_lives_on(db, settings, caplog):
    """Whatever escapes a handler: the protocol's error shape, no detail of it in the answer
    or in the log (an exception message may quote stored data), and the client's
    keep-alive connection still serves its next request."""
    secret = "Fictional note text quoted by an exception"
    app = create_app(settings, db)

    def raise_one(kind: str) -> None:
        errors: dict[str, Exception] = {
            "runtime": RuntimeError(secret),
            "recursion": RecursionError(secret),
            "key": KeyError(secret),
            "os": IsADirectoryError(21, secret),
        }
        raise errors[kind]

    @app.get("/api/v1/test-crash/sync/{kind}")
    def crash_sync(kind: str) -> None:
        raise_one(kind)

    @app.get("/api/v1/test-crash/async/{kind}")
    async def crash_async(kind: str) -> None:
        raise_one(kind)

    caplog.set_level(logging.DEBUG)
    with (
        server_thread(db, settings, app) as base_url,
        httpx.Client(base_url=base_url, timeout=60) as http,
    ):
        port = _client_port(http.get("/api/v1/health"))
        for flavour in ("sync", "async"):
            for kind in ("runtime", "recursion", "key", "os"):
                response = http.get(f"/api/v1/test-crash/{flavour}/{kind}")
                assert response.status_code == 500, response.text
                assert error_shape_problem(response) is None, response.text
                assert response.json()["error"]["code"] == "internal_error"
                assert secret not in response.text
                after = http.get("/api/v1/health")
                assert after.status_code == 200 and _client_port(after) == port, (flavour, kind)
    assert secret not in caplog.text
    assert "RecursionError" in caplog.text  # the type is logged, for whoever investigates


# --- sizes, paths and methods -----------------------------------------------------------


def test_body_over_1_mib_gets_413(api, sup_a):
    exact = b'{"protocol": 1, "mutations": []}'
    exact += b" " * (MAX_PUSH_BYTES - len(exact))
    assert len(exact) == MAX_PUSH_BYTES
    response = raw(api, "POST", PUSH, exact, sup_a)
    assert response.status_code == 200, response.text
    over = exact + b" "
    cases = [
        (f"{path} 1 MiB + 1", raw(api, "POST", path, over, headers), 413, "payload_too_large")
        for path, headers in ((PUSH, sup_a), (PULL, sup_a), (LOGIN, {}))
    ]
    check_all(cases)


def test_streamed_body_over_1_mib_gets_413(api, sup_a):
    """Without a Content-Length (chunked), the limit holds as the body streams in."""

    def chunks() -> Iterator[bytes]:
        yield b'{"protocol": 1, "mutations": ['
        for _ in range(MAX_PUSH_BYTES // 65536 + 1):
            yield b" " * 65536
        yield b"]}"

    cases = []
    for path, headers in ((PUSH, sup_a), (PULL, sup_a), (LOGIN, {})):
        response = api.post(path, content=chunks(), headers={**JSON, **headers})
        cases.append((f"{path} streamed", response, 413, "payload_too_large"))
    check_all(cases)


def test_unknown_paths_get_404_and_wrong_methods_405(api, sup_a):
    cases = [
        (f"GET {path}", api.get(path, headers=sup_a), 404, "not_found")
        for path in ("/", "/api/v1/nope", "/api/v2/health", "/api/v1/sync/nope", "/api/v1/sync")
    ]
    extra = api.post(PUSH + "/extra", headers=sup_a)
    cases.append(("POST /api/v1/sync/push/extra", extra, 404, "not_found"))
    for method, path in [
        ("GET", PUSH),
        ("GET", PULL),
        ("PUT", PUSH),
        ("GET", LOGIN),
        ("DELETE", LOGOUT),
        ("POST", "/api/v1/health"),
        ("PATCH", AVAILABILITY),
        ("POST", "/api/v1/sync/stream"),
        ("OPTIONS", PUSH),
    ]:
        response = api.request(method, path, headers=sup_a)
        cases.append((f"{method} {path}", response, 405, "method_not_allowed"))
    check_all(cases)


def test_405_allow_lists_every_method_of_the_path(api, sup_a):
    """RFC 9110: `Allow` names what the resource supports, not only the first route found."""
    paths: dict[str, set[str]] = {}
    for path, item in api.app.openapi()["paths"].items():
        paths[path] = {method.upper() for method in item}
    assert paths[PREFERENCES] == {"GET", "PUT"}
    wrong = []
    for path, methods in paths.items():
        for method in ("DELETE", "PATCH", "OPTIONS", "TRACE"):
            if method in methods:
                continue
            response = api.request(method, path, headers=sup_a)
            allowed = {m.strip() for m in response.headers.get("allow", "").split(",")} - {"HEAD"}
            if response.status_code != 405 or allowed != methods:
                wrong.append(f"{method} {path}: {response.status_code}, Allow {allowed}")
    assert not wrong, "\n".join(wrong)


# --- content the database cannot hold ---------------------------------------------------


def _push(api: TestClient, headers: dict[str, str], *mutations: dict[str, Any]) -> Any:
    return api.post(PUSH, json=_envelope(mutations=list(mutations)), headers=headers)


def test_datetimes_beyond_the_utc_range_never_500(api, client, world, sup_a):
    """Valid RFC 3339 that cannot be converted to UTC: refused with a reason, not a crash."""
    couns = login(client, "couns_1")
    cases = []
    for moment in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"):
        m = mutation("note.create", note_data(world, "a1"))
        response = _push(api, sup_a, dict(m, client_time=moment))
        cases.append((f"client_time {moment}", response, None, None))
        data = dict(note_data(world, "a1"), captured_at=moment)
        response = _push(api, sup_a, mutation("note.create", data))
        cases.append((f"captured_at {moment}", response, None, None))
    far = {"away": True, "stand_in_id": None, "until": "9999-12-31T23:59:59-14:00"}
    response = api.put(AVAILABILITY, json=far, headers=couns)
    cases.append(("availability until 9999-12-31T23:59:59-14:00", response, None, None))
    check_all(cases)


def test_nul_characters_never_500(api, client, world, sup_a):
    """A NUL character is valid JSON; PostgreSQL text cannot hold it. Refuse it, never crash."""
    couns = login(client, "couns_1")
    stored = note_data(world, "a1")
    assert _push(api, sup_a, mutation("note.create", stored)).status_code == 200
    worker = str(world.workers["a1"])
    pushes = [
        ("note text", sup_a, mutation("note.create", note_data(world, "a1", text="a\x00b"))),
        ("mutation type", sup_a, mutation("note.create\x00", {})),
        ("unknown field value", sup_a, mutation("x", {"k": "\x00"})),
        (
            "retract reason",
            sup_a,
            mutation("note.retract", {"note_id": stored["id"], "reason": "\x00"}),
        ),
        (
            "heads-up text",
            couns,
            mutation(
                "heads_up.create", {"id": str(uuid.uuid4()), "worker_id": worker, "text": "a\x00"}
            ),
        ),
        (
            "follow-up text",
            couns,
            mutation(
                "note.follow_up",
                {
                    "id": str(uuid.uuid4()),
                    "note_id": stored["id"],
                    "action": "other",
                    "text": "\x00",
                },
            ),
        ),
    ]
    cases = [(label, _push(api, h, m), None, None) for label, h, m in pushes]
    for label, body in [
        ("login", {"login": "sup\x00a", "password": "x", "device_name": "phone"}),
        ("device name", {"login": "sup_a", "password": PASSWORD, "device_name": "ph\x00ne"}),
    ]:
        cases.append((label, api.post(LOGIN, json=body), None, None))
    response = api.put(PREFERENCES, json={"timezone": "Europe/Pa\x00ris"}, headers=couns)
    cases.append(("time zone", response, None, None))
    check_all(cases)


def test_lone_surrogates_never_500(api, world, sup_a):
    """`"\\ud800"` is valid JSON text but cannot be encoded as UTF-8."""
    stored = note_data(world, "a1")
    assert _push(api, sup_a, mutation("note.create", stored)).status_code == 200
    note_text = json.dumps(dict(note_data(world, "a1"), text="@@")).replace("@@", "\\ud800")
    reason = '{"note_id": "' + stored["id"] + '", "reason": "\\udfff"}'
    bodies = [
        ("surrogate in the type", '"\\ud800"', "{}"),
        ("surrogate in unknown data", '"note.teleport"', '{"k": "\\ud800"}'),
        ("surrogate as a data key", '"note.acknowledge"', '{"\\ud800": 1}'),
        ("surrogate in note text", '"note.create"', note_text),
        ("surrogate in retract reason", '"note.retract"', reason),
    ]
    cases = []
    for label, type_, data in bodies:
        body = (
            f'{{"protocol": 1, "mutations": [{{"id": "{uuid.uuid4()}", "type": {type_}, '
            f'"data": {data}, "client_time": "{now_iso()}"}}]}}'
        )
        cases.append((label, raw(api, "POST", PUSH, body, sup_a), None, None))
    body = '{"login": "\\ud800", "password": "x", "device_name": "d"}'
    cases.append(("surrogate in login", raw(api, "POST", LOGIN, body, {}), None, None))
    check_all(cases)


def test_non_finite_numbers_never_500(api, world, sup_a):
    """Python's JSON reader accepts NaN and Infinity; the server must not choke on them later."""
    cases = []
    for type_, data in [
        ("note.teleport", '{"n": NaN}'),
        ("note.teleport", '{"n": Infinity}'),
        ("note.acknowledge", '{"note_id": -Infinity}'),
        ("note.create", '{"text": NaN}'),
    ]:
        body = (
            f'{{"protocol": 1, "mutations": [{{"id": "{uuid.uuid4()}", "type": "{type_}", '
            f'"data": {data}, "client_time": "{now_iso()}"}}]}}'
        )
        cases.append((f"{type_} {data}", raw(api, "POST", PUSH, body, sup_a), None, None))
    cases.append(("NaN protocol", raw(api, "POST", PULL, '{"protocol": NaN}', sup_a), 422, None))
    check_all(cases)


# --- nothing stored is lost ---------------------------------------------------------------


def test_batches_with_invalid_content_lose_nothing_stored(api, client, db, world, sup_a):
    first = mutation("note.create", note_data(world, "a1", text="Stored before the bad batches."))
    assert _push(api, sup_a, first).json()["results"][0]["status"] == "applied"

    good = mutation("note.create", note_data(world, "a2", text="Sent with bad neighbours."))
    invalid = mutation("note.create", dict(note_data(world, "a1"), category="ppe"))
    unknown = mutation("note.teleport", {"to": "the moon"})
    foreign = mutation("note.create", note_data(world, "b1"))
    overwrite = dict(first, data=dict(first["data"], text="Rewritten!"))  # same id, new content
    response = _push(api, sup_a, invalid, unknown, good, foreign, overwrite)
    assert response.status_code == 200, response.text
    statuses = [(r["status"], r.get("error", {}).get("code")) for r in response.json()["results"]]
    assert statuses == [
        ("rejected", "invalid_data"),
        ("rejected", "unknown_type"),
        ("applied", None),
        ("rejected", "forbidden"),
        ("rejected", "id_conflict"),
    ]
    # Whole-request refusals, and batches the server may fail on: nothing stored changes.
    _push(api, sup_a, mutation("note.create", note_data(world, "a1")), {"id": "not-a-uuid"})
    api.post(PUSH, json=_envelope(mutations=[first] * 501), headers=sup_a)
    raw(api, "POST", PUSH, b'{"protocol": 1, "mutations": []}' + b" " * MAX_PUSH_BYTES, sup_a)
    _push(api, sup_a, dict(first, id=str(uuid.uuid4()), client_time="0001-01-01T00:00:00+14:00"))
    _push(api, sup_a, mutation("note.create", note_data(world, "a1", text="\x00")))

    notes = {
        key[1]: data
        for key, data in pull_all(client, login(client, "coord"))[0].items()
        if key[0] == "note"
    }
    assert notes[first["data"]["id"]]["text"] == "Stored before the bad batches."
    assert notes[good["data"]["id"]]["text"] == "Sent with bad neighbours."
    assert invalid["data"]["id"] not in notes and foreign["data"]["id"] not in notes
    assert _push(api, sup_a, first).json()["results"][0]["status"] == "duplicate"
    # Rejected mutations are kept, with their reason and content, for inspection.
    with db.reading() as session:
        rejected = select(MutationRecord).where(MutationRecord.status == "rejected")
        kept = {str(r.id): r for r in session.scalars(rejected)}
    for m, code in ((invalid, "invalid_data"), (unknown, "unknown_type"), (foreign, "forbidden")):
        record = kept[m["id"]]
        assert record.error_code == code and record.error_message
        assert record.payload == {"type": m["type"], "data": m["data"]}


# --- fuzz -------------------------------------------------------------------------------


def fuzz_settings(examples: int) -> Any:
    """Bounded and reproducible; no example database written into the repository."""
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
# RFC 3339 offsets: whole minutes, less than a day either way.
offsets = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
rfc3339 = st.datetimes(timezones=offsets).map(lambda d: d.isoformat())


def _templates(world: World, note_id: str) -> dict[str, dict[str, Any]]:
    """A valid `data` per mutation type, about real rows, for the fuzz to spoil."""
    worker = str(world.workers["a1"])
    return {
        "note.create": note_data(world, "a1"),
        "note.retract": {"note_id": note_id, "reason": "wrong worker"},
        "note.acknowledge": {"note_id": note_id},
        "note.follow_up": {"id": str(uuid.uuid4()), "note_id": note_id, "action": "other"},
        "heads_up.create": {"id": str(uuid.uuid4()), "worker_id": worker, "text": "Go easy."},
        "heads_up.end": {"heads_up_id": str(uuid.uuid4())},
        "delivery.seen": {"note_id": note_id},
    }


@pytest.fixture
def stored_note(api, world, sup_a) -> str:
    data = note_data(world, "a1", category="health")
    assert _push(api, sup_a, mutation("note.create", data)).status_code == 200
    return str(data["id"])


def _fuzz_problem(response: Any, model: Any) -> str | None:
    issue = problem(response)
    if issue is None and response.status_code == 200 and model is not None:
        model.model_validate(response.json())
    return issue


def sometimes_junk(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly `good`, one draw in twenty anything at all: most batches reach the handlers."""
    return st.integers(0, 19).flatmap(lambda n: json_values if n == 7 else good)


@given(data=st.data())
@fuzz_settings(100)
def test_fuzz_push(api, world, sup_a, stored_note, data):
    templates = _templates(world, stored_note)
    words = st.sampled_from(
        [
            *(str(world.workers["a1"]), str(world.teams["A"]), stored_note),
            *("signal", "safety", "health", "ppe", "urgent", "other", "interview_planned"),
        ]
    )
    values = json_values | words | rfc3339 | st.uuids().map(str)

    @st.composite
    def spoiled_mutation(draw: st.DrawFn) -> dict[str, Any]:
        type_ = draw(sometimes_junk(st.sampled_from(sorted(templates))))
        base = dict(templates.get(type_, {})) if isinstance(type_, str) else {}
        base.update(draw(st.dictionaries(st.sampled_from([*base, "extra"]), values, max_size=3)))
        for key in draw(st.sets(st.sampled_from(sorted(base) or ["x"]), max_size=2)):
            base.pop(key, None)
        return {
            # Fresh ids (not Hypothesis' recurring ones), or every batch is an id conflict.
            "id": draw(sometimes_junk(st.builds(lambda: str(uuid.uuid4())))),
            "type": type_,
            "data": draw(sometimes_junk(st.just(base))),
            "client_time": draw(sometimes_junk(rfc3339)),
        }

    batches = st.fixed_dictionaries(
        {"protocol": st.just(1), "mutations": st.lists(spoiled_mutation(), max_size=3)}
    )
    body = data.draw(
        st.one_of(
            batches,
            batches,
            batches,
            st.fixed_dictionaries({"protocol": json_values, "mutations": json_values}),
            json_values,
        )
    )
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
        st.builds(
            lambda t, e, s: base64.urlsafe_b64encode(f"c1:{t}:{e}:{s}".encode()).decode(),
            st.sampled_from([tag, "000000000000"]),
            st.just(0) | st.integers(),
            st.integers(),
        ),
    )
    body = data.draw(
        st.one_of(
            st.fixed_dictionaries(
                {"protocol": sometimes_junk(st.just(1)), "cursor": cursors},
                optional={"limit": sometimes_junk(st.integers(min_value=-5, max_value=2000))},
            ),
            json_values,
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
