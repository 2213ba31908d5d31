"""No input gives a 500: every route that takes a body gets bodies nested too deep (in any
encoding, under any content type), too large, not UTF-8, of the wrong content type, and
times at the edges of the calendar and of the time zones. Each answer is below 500 with the
protocol's error shape, and the same keep-alive connection then serves the next request."""

from __future__ import annotations

import http.client
import json
import uuid
from urllib.parse import urlsplit

import httpx
import pytest

from relais_testing.factories import mutation, note_data
from shared_models.wire import MAX_PUSH_BYTES
from tests.security.conftest import Target

ROUTES = [
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/logout"),
    ("POST", "/api/v1/sync/push"),
    ("POST", "/api/v1/sync/pull"),
    ("PUT", "/api/v1/me/availability"),
    ("PUT", "/api/v1/me/preferences"),
    ("POST", "/api/v1/admin/users"),
    ("POST", "/api/v1/admin/users/{user_id}/disable"),
    ("POST", "/api/v1/admin/users/{user_id}/enable"),
    ("POST", "/api/v1/admin/users/{user_id}/unlock"),
    ("POST", "/api/v1/admin/users/{user_id}/password"),
    ("POST", "/api/v1/admin/devices/{device_id}/revoke"),
    ("POST", "/api/v1/admin/roster"),
]
DEEP = '{"protocol": 1, "mutations": [], "a": ' + "[" * 3000 + "]" * 3000 + "}"
# U+2200 holds a quote byte in UTF-16 and UTF-32: read byte by byte, it makes what follows
# look like strings, and the brackets there like text. Nesting as deep as the parser takes.
_D = "[" * 900 + "]" * 900
_Q = '"\u2200"'
HIDDEN = (
    f'{{"protocol": 1, "mutations": [{{"id": "{uuid.uuid4()}", "type": "note.create", '
    f'"data": {{"text": {_Q}, "a": {_D}}}, "client_time": {_Q}}}], "x": {_Q}, '
    f'"login": {_D}, "away": {_D}, "cursor": {_D}, "timezone": {_D}}}'
)
JSON = "application/json"
# (what, body, content type)
BODIES: list[tuple[str, bytes, str | None]] = [
    ("deep", DEEP.encode(), JSON),
    ("deep as text", DEEP.encode(), "text/plain"),
    ("deep, no type", DEEP.encode(), None),
    ("deep, form type", DEEP.encode(), "application/x-www-form-urlencoded"),
    ("deep objects", ('{"a":' * 3000 + "1" + "}" * 3000).encode(), JSON),
    *((f"hidden in {e}", HIDDEN.encode(e), JSON) for e in ("utf-16-le", "utf-16-be", "utf-32")),
    ("hidden, no type", HIDDEN.encode("utf-16-le"), None),
    ("1 MiB + 1", b'{"a": "' + b"x" * MAX_PUSH_BYTES + b'"}', JSON),
    ("1 MiB of spaces", b" " * (MAX_PUSH_BYTES - 2) + b"{}", JSON),
    ("not UTF-8", b'{"login": "\xff\xfe\xfa", "protocol": 1}', JSON),
    ("Latin-1", '{"login": "Hélène", "protocol": 1}'.encode("latin-1"), JSON),
    ("lone surrogate", b'{"login": "\\ud800", "protocol": 1, "timezone": "\\udfff"}', JSON),
    ("NUL", b'{"login": "a\\u0000b", "protocol": 1, "timezone": "UTC\\u0000"}', JSON),
    ("truncated", b'{"protocol": 1, "mutations": [', JSON),
    ("a number", b"1e999999", JSON),
    ("a huge integer", b'{"protocol": ' + b"9" * 5000 + b"}", JSON),
    ("JSON as text", b'{"protocol": 1, "mutations": []}', "text/plain"),
    ("form", b"protocol=1&login=a", "application/x-www-form-urlencoded"),
    (
        "multipart",
        b'--b\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--b--\r\n',
        "multipart/form-data; boundary=b",
    ),
    ("XML", b"<protocol>1</protocol>", "application/xml"),
    ("charset", '{"protocol": 1}'.encode("utf-16"), "application/json; charset=utf-16"),
    ("empty", b"", JSON),
]
ODD_MOMENTS = [
    "9999-12-31T23:59:59-14:00",  # past year 9999 in UTC
    "0001-01-01T00:00:00+14:00",  # before year 1 in UTC
    "2026-03-29T02:30:00+01:00",
    "2026-01-01T00:00:00+24:00",
    "2026-01-01T00:00:00-23:59",
    "2026-01-01T00:00:00",
    "2026-02-30T00:00:00Z",
    "2026-01-01T24:00:00Z",
    "2026-01-01T23:59:60Z",
    "+02026-01-01T00:00:00Z",
    "2026-W01-1T00:00:00Z",
    "1e10",
]
ODD_ZONES = [
    "Europe", "America", "Etc", "Etc/", "Europe/Paris/", "/etc/passwd", "../../etc/localtime",
    "Europe/../UTC", "posixrules", "Factory", "localtime", "EST5EDT", "Etc/GMT+14",
    "Etc/GMT-15", "UTC\u0000", "", " ", "zoneinfo/UTC", "right/UTC", "x" * 64,
    "Europe\\Paris", "Europe/Paris\n", "\u00e9",
]  # fmt: skip
ODD_TIMES = ["24:00:00", "23:59:60", "07:30:00+14:00", "07:30:00-23:59", "7:3", "", "T07:30"]


def odd_bodies(target: Target, method: str, path: str) -> list[tuple[str, bytes, str | None]]:
    """Bodies valid in shape, with odd times and time zones where the route takes them."""
    world = target.worlds["rival"]
    out: list[dict[str, object]] = []
    if path.endswith("/push"):
        for moment in ODD_MOMENTS:
            note = note_data(world, "b1") | {"captured_at": moment}
            mu = mutation("note.create", note) | {"client_time": moment}
            retract = mutation("note.retract", {"note_id": str(uuid.uuid4())})
            out.append({"protocol": 1, "mutations": [mu, retract | {"client_time": moment}]})
    if path.endswith("/availability"):
        out += [{"away": True, "until": m} for m in ODD_MOMENTS]
    if path.endswith("/preferences"):
        out += [{"timezone": zone} for zone in ODD_ZONES]
        out += [{"quiet_start": t, "quiet_end": "07:00:00", "digest_time": t} for t in ODD_TIMES]
    return [(f"odd {b}", json.dumps(b).encode(), JSON) for b in out]


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[p for _, p in ROUTES])
def test_no_body_gives_a_500_nor_loses_the_connection(target: Target, method: str, path: str):
    url = urlsplit(target.base_url)
    connection = http.client.HTTPConnection(url.hostname or "", url.port, timeout=60)
    as_who = "admin" if "/admin/" in path else "couns_2"
    token = {} if path.endswith("logout") else target.headers("rival", as_who)
    # unknown ids: the body is read before the route looks them up, and nobody is disabled
    path = path.format(user_id=uuid.uuid4(), device_id=uuid.uuid4())
    connection.request("GET", "/api/v1/health")
    connection.getresponse().read()
    socket = connection.sock
    for what, body, content_type in [*BODIES, *odd_bodies(target, method, path)]:
        headers = token | ({"Content-Type": content_type} if content_type else {})
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        answer = response.read()
        assert response.status < 500, (what, response.status, answer[:200])
        if response.status >= 400:
            error = json.loads(answer)["error"]
            assert set(error) == {"code", "message"}, what
        connection.request("GET", "/api/v1/health")
        after = connection.getresponse()
        assert after.status == 200 and after.read(), what
        assert connection.sock is socket, f"{what}: the connection was closed"
    connection.close()


def test_the_routes_are_every_route_that_takes_a_body(target: Target):
    """A route added later joins the matrix above, or this fails."""
    spec = httpx.get(f"{target.base_url}/api/openapi.json", timeout=30).json()
    writing = {
        (method.upper(), path)
        for path, operations in spec["paths"].items()
        for method in operations
        if method in ("post", "put", "patch", "delete")
    }
    assert writing == set(ROUTES)
