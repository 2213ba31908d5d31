"""Headers on every answer, whatever produced it (a route, an error handler, a middleware's
refusal, a crash): no cache keeps personal data, nothing is sniffed or framed, HSTS over
TLS; and the API documentation, off by default, loads nothing from a CDN."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from relais_testing.factories import build_world, login, mutation, note_data
from relais_testing.serving import server_thread
from shared_models.wire import MAX_JSON_DEPTH, MAX_PUSH_BYTES
from sync_server import api_docs
from sync_server.app import create_app
from sync_server.security_headers import SecurityHeaders, content_security_policy
from sync_server.settings import Settings

HEALTH = "/api/v1/health"


def _crashing_app(settings: Settings, db: Any) -> Any:
    app = create_app(settings, db)

    @app.get("/api/v1/test-crash")
    def crash() -> None:
        raise RuntimeError("a bug")

    return app


def _answers(http: Any, world: Any) -> list[tuple[str, Any]]:
    """One answer of every kind the server gives, with a label."""
    sup = login(http, "sup_a")
    couns = login(http, "couns_1")
    push = {"protocol": 1, "mutations": [mutation("note.create", note_data(world, "a1"))]}
    deep = "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1)
    wrong = {"login": "sup_a", "password": "wrong", "device_name": "d"}
    good = {"login": "sup_a", "password": "correct-horse-battery", "device_name": "d"}
    return [
        ("health", http.get(HEALTH)),
        ("login", http.post("/api/v1/auth/login", json=good)),
        ("failed login", http.post("/api/v1/auth/login", json=wrong)),
        ("push", http.post("/api/v1/sync/push", json=push, headers=sup)),
        ("pull", http.post("/api/v1/sync/pull", json={"protocol": 1}, headers=couns)),
        ("preferences", http.get("/api/v1/me/preferences", headers=couns)),
        ("no token", http.post("/api/v1/sync/pull", json={"protocol": 1})),
        ("invalid body", http.put("/api/v1/me/preferences", json={"timezone": 5}, headers=couns)),
        ("too deep", http.post("/api/v1/sync/pull", content=deep, headers=couns)),
        ("too large", http.post("/api/v1/sync/pull", content=b" " * (MAX_PUSH_BYTES + 1))),
        ("unknown API path", http.get("/api/v1/nope", headers=couns)),
        ("wrong method", http.delete("/api/v1/me/preferences", headers=couns)),
        ("crash", http.get("/api/v1/test-crash", headers=couns)),
        ("unknown path", http.get("/")),
        ("schema", http.get("/api/openapi.json")),
    ]


@pytest.fixture
def answers(db, settings) -> Iterator[list[tuple[str, Any]]]:
    world = build_world(db)
    app = _crashing_app(settings, db)
    with TestClient(app, raise_server_exceptions=False) as http:
        yield _answers(http, world)


def test_every_answer_carries_the_hardening_headers(answers):
    assert {label: r.status_code for label, r in answers}["crash"] == 500
    wrong = []
    for label, response in answers:
        headers = response.headers
        private = response.url.path.startswith("/api/v1/") and response.url.path != HEALTH
        if headers.get("x-content-type-options") != "nosniff":
            wrong.append(f"{label}: X-Content-Type-Options {headers.get('x-content-type-options')}")
        csp = headers.get("content-security-policy", "")
        if "frame-ancestors 'none'" not in csp or "default-src 'none'" not in csp:
            wrong.append(f"{label}: Content-Security-Policy {csp!r}")
        if private and headers.get("cache-control") != "no-store":
            wrong.append(f"{label}: Cache-Control {headers.get('cache-control')}")
        if "strict-transport-security" in headers:
            wrong.append(f"{label}: HSTS over plain HTTP")
    assert not wrong, "\n".join(wrong)


def test_hsts_only_when_the_request_came_over_tls(db, settings):
    """Over HTTPS, or through a trusted proxy that says so (RELAIS_TRUSTED_PROXY_COUNT);
    never over plain HTTP, where a browser would ignore it anyway, nor because any client
    claims it came over TLS."""
    world = build_world(db)
    app = _crashing_app(settings, db)
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as https:
        missing = [
            label
            for label, r in _answers(https, world)
            if "max-age=" not in r.headers.get("strict-transport-security", "")
        ]
    assert not missing
    with (
        server_thread(db, settings) as base_url,
        httpx.Client(base_url=base_url, timeout=60) as http,
    ):
        claimed = http.get(HEALTH, headers={"X-Forwarded-Proto": "https"})
        assert "strict-transport-security" not in claimed.headers  # no proxy is trusted
    behind = settings.model_copy(update={"trusted_proxy_count": 1})
    with server_thread(db, behind) as base_url, httpx.Client(base_url=base_url, timeout=60) as http:
        assert "strict-transport-security" not in http.get(HEALTH).headers
        proxied = http.get(HEALTH, headers={"X-Forwarded-Proto": "https"})
        assert proxied.headers["strict-transport-security"].startswith("max-age=")
        login_answer = http.post(
            "/api/v1/auth/login",
            json={"login": "sup_a", "password": "correct-horse-battery", "device_name": "d"},
            headers={"X-Forwarded-Proto": "https"},
        )
        assert login_answer.status_code == 200
        assert login_answer.headers["cache-control"] == "no-store"
        assert "strict-transport-security" in login_answer.headers


def test_content_security_policy_is_chosen_per_path_prefix():
    """A page served under a new prefix says what it needs; everything else loads nothing."""
    web_app = content_security_policy(
        script_src="'self' 'wasm-unsafe-eval'", worker_src="'self' blob:", connect_src="'self'"
    )
    headers = SecurityHeaders(
        app=None,  # type: ignore[arg-type]
        policies={"/": content_security_policy(), "/app/": web_app, api_docs.PATH: api_docs.POLICY},
    )
    assert headers.policy_for("/api/v1/sync/pull") == content_security_policy()
    assert headers.policy_for("/app/index.html") == web_app
    assert headers.policy_for("/api/docs") == api_docs.POLICY
    assert "worker-src 'self' blob:" in web_app and "frame-ancestors 'none'" in web_app
    assert "script-src 'self' 'wasm-unsafe-eval'" in web_app
    assert "default-src 'none'" in web_app  # what is not loosened stays shut


def test_api_docs_are_off_by_default(db, settings):
    with TestClient(create_app(settings, db)) as http:
        assert http.get("/api/docs").status_code == 404
        assert http.get("/api/docs/assets/swagger-ui-bundle.js").status_code == 404
        assert http.get("/api/openapi.json").status_code == 200  # the schema itself stays


def test_api_docs_when_on_load_nothing_from_elsewhere(db, tmp_path):
    settings = Settings(data_dir=tmp_path, escalation_interval=0, api_docs=True)
    with TestClient(create_app(settings, db)) as http:
        page = http.get("/api/docs")
        assert page.status_code == 200, page.text
        assert page.headers["content-security-policy"] == api_docs.POLICY
        assert "http:" not in page.text and "https:" not in page.text and "//" not in page.text
        assert "<script>" not in page.text  # no inline script: script-src 'self' holds
        references = re.findall(r'(?:src|href|data-openapi)="([^"]+)"', page.text)
        assert len(references) == 5, references
        for reference in references:
            assert reference.startswith("/"), reference
            assert http.get(reference).status_code == 200, reference
    assert "'unsafe-inline'" not in api_docs.POLICY.split("script-src")[1].split(";")[0]
    assert "frame-ancestors 'none'" in api_docs.POLICY
