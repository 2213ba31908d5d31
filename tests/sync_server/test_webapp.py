"""The field app as a PWA, as the server builds and serves it: reproducible and versioned,
precompressed, revalidated, deep links answered with the app, a strict Content-Security-
Policy, a manifest Chromium can install, and nothing that points at another host."""

from __future__ import annotations

import io
import json
import tarfile

import pytest
from fastapi.testclient import TestClient

from sync_server.app import create_app
from sync_server.settings import Settings
from sync_server.webapp import build as builder
from sync_server.webapp.site import BASE, Site

pytestmark = pytest.mark.slow


CACHE = Settings().app_cache_dir or builder.default_cache_dir()  # as the servers look


@pytest.fixture(scope="module")
def site() -> Site:
    return builder.build(CACHE, say=lambda _text: None)


@pytest.fixture
def app_client(site: Site, db, settings) -> TestClient:
    with TestClient(create_app(settings, db, site)) as client:
        yield client


def test_the_build_is_versioned_by_its_content_and_reproducible(site: Site):
    """The version is a hash of the content; the one file the build makes rather than
    copies, the app's archive, comes out byte for byte the same from the same inputs."""
    files = json.loads((site.path / "site.json").read_text())
    assert files["version"] == site.version and len(site.version) == 12
    wheels = builder.download_wheels(CACHE, say=lambda _text: None)
    again = builder.app_archive(wheels, say=lambda _text: None)
    assert again == (site.path / "app.tar").read_bytes()


def test_the_archive_holds_the_app_and_the_browsers_packages(site: Site):
    with tarfile.open(fileobj=io.BytesIO((site.path / "app.tar").read_bytes())) as archive:
        names = set(archive.getnames())
        assert {m.mtime for m in archive.getmembers()} == {0}
    assert "field_app/pwa/boot.py" in names and "shared_models/wire.py" in names
    assert "field_app/i18n/fr.json" in names
    assert not any(name.startswith("sync_server") for name in names)  # the app never has it
    packages = {name.split("/")[1] for name in names if name.startswith("__pypackages__/")}
    assert {"flet", "pydantic", "pydantic_core", "httpx", "msgpack"} <= packages
    assert any(n.endswith("wasm32-emscripten.so") for n in names)  # Pyodide's ABI


def test_nothing_in_the_site_points_at_another_host(site: Site):
    """Our own files name no other host; Flutter's are told where their parts are here."""
    for name in ("index.html", "relais.js", "sw.js", "python.js", "relais.css"):
        text = (site.path / name).read_text()
        assert "http://" not in text and "https://" not in text, name
    page = (site.path / "relais.js").read_text()
    assert f'canvasKitBaseUrl: "{BASE}canvaskit/"' in page
    assert f'pyodideUrl: "{BASE}pyodide/pyodide.mjs"' in page
    assert "cdn.jsdelivr.net" not in (site.path / "main.dart.js").read_text()  # Rive's runtime
    assert (
        "serviceWorkerSettings"
        not in (site.path / "flutter_bootstrap.js").read_text().split("_flutter.loader.load(")[-1]
    )  # Flutter's own worker would unregister ours


def test_files_go_out_precompressed_and_are_revalidated(app_client: TestClient, site: Site):
    raw = (site.path / "main.dart.js").read_bytes()
    answer = app_client.get(f"{BASE}main.dart.js", headers={"Accept-Encoding": "br, gzip"})
    assert answer.status_code == 200
    assert answer.headers["content-encoding"] == "br"
    assert answer.headers["content-type"].startswith("text/javascript")
    assert answer.headers["cache-control"] == "no-cache"
    assert answer.content == raw  # decoded by the client, like a browser
    gz = app_client.get(f"{BASE}main.dart.js", headers={"Accept-Encoding": "gzip"})
    assert gz.headers["content-encoding"] == "gzip"
    plain = app_client.get(f"{BASE}main.dart.js", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.content == raw
    etag = plain.headers["etag"]
    again = app_client.get(
        f"{BASE}main.dart.js", headers={"Accept-Encoding": "identity", "If-None-Match": etag}
    )
    assert again.status_code == 304 and again.content == b""
    wasm = app_client.get(f"{BASE}pyodide/pyodide.asm.wasm", headers={"Accept-Encoding": "gzip"})
    assert wasm.headers["content-type"] == "application/wasm"
    assert wasm.content == (site.path / "pyodide/pyodide.asm.wasm").read_bytes()
    # The app's archive is a plain tar, compressed on the wire like the rest.
    archive = app_client.get(f"{BASE}app.tar", headers={"Accept-Encoding": "br, gzip"})
    assert archive.headers["content-encoding"] == "br"
    assert archive.content == (site.path / "app.tar").read_bytes()


def test_deep_links_get_the_app_and_missing_files_a_404(app_client: TestClient, site: Site):
    index = (site.path / "index.html").read_bytes()
    for path in ("", "notes/2b1d…", "workers/x/capture", "inbox"):
        answer = app_client.get(f"{BASE}{path}", headers={"Accept-Encoding": "identity"})
        assert answer.status_code == 200 and answer.content == index, path
    assert app_client.get(f"{BASE}nothing-here.js").status_code == 404
    assert app_client.get(f"{BASE}site.json").status_code == 404  # the build's own notes
    for path in ("/", "/app"):
        answer = app_client.get(path, follow_redirects=False)
        assert answer.status_code in (307, 308) and answer.headers["location"] == BASE


def test_the_app_pages_have_a_strict_policy(app_client: TestClient):
    answer = app_client.get(BASE)
    policy = dict(
        part.strip().split(" ", 1) for part in answer.headers["content-security-policy"].split(";")
    )
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self' 'wasm-unsafe-eval'"  # no eval, no inline script
    assert policy["connect-src"] == "'self'" and policy["frame-ancestors"] == "'none'"
    assert answer.headers["x-content-type-options"] == "nosniff"
    # JSON answers keep the locked-down policy
    api = app_client.get("/api/v1/health")
    assert "script-src" not in api.headers["content-security-policy"]
    worker = app_client.get(f"{BASE}sw.js")
    assert worker.headers["service-worker-allowed"] == BASE


def test_the_manifests_make_an_installable_app_in_each_language(app_client: TestClient):
    for language in ("fr", "en", "it", "nl"):
        manifest = app_client.get(f"{BASE}manifest.{language}.json").json()
        assert manifest["lang"] == language and manifest["name"] == "Relais"
        assert manifest["display"] == "standalone"
        assert manifest["start_url"] == BASE and manifest["scope"] == BASE
        sizes = {icon["sizes"] for icon in manifest["icons"] if icon["type"] == "image/png"}
        assert {"192x192", "512x512"} <= sizes
        for icon in manifest["icons"]:
            png = app_client.get(f"{BASE}{icon['src']}").content
            assert png.startswith(b"\x89PNG")


def test_the_service_worker_precaches_every_file_of_the_app(site: Site):
    worker = (site.path / "sw.js").read_text()
    listed = json.loads(worker.split("const PRECACHE = ", 1)[1].split(";\n", 1)[0])
    assert set(listed) == {"", *site.files} - {"index.html", "sw.js"}
    assert f'const VERSION = "{site.version}"' in worker
    page = (site.path / "relais.js").read_text()
    assert site.version in page and "__VERSION__" not in page


def test_serving_without_a_built_app_keeps_the_api(db, settings):
    with TestClient(create_app(settings, db)) as client:
        assert client.get("/api/v1/health").status_code == 200
        assert client.get(BASE).status_code == 404
