"""Serving the built PWA at /app/ on the API's own origin: one address for staff, no CORS.

Files go out precompressed (brotli, else gzip) and are revalidated by ETag; the service
worker keeps them for offline starts. A path with no file (a deep link such as
/app/notes/<id>) gets the app's page, which opens that screen.
"""

from __future__ import annotations

import json
import mimetypes
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from sync_server.security_headers import content_security_policy

BASE = "/app/"


@dataclass(frozen=True)
class Site:
    """A built PWA: its folder and its version (a hash of its content)."""

    path: Path
    version: str

    @cached_property
    def files(self) -> dict[str, int]:
        """Each file's name and size."""
        return dict(json.loads((self.path / "site.json").read_text())["files"])


# The app: scripts and WebAssembly from this origin only (CanvasKit and Pyodide compile
# WebAssembly), the API on the same origin, never framed by another site.
APP_POLICY = content_security_policy(
    script_src="'self' 'wasm-unsafe-eval'",
    worker_src="'self'",
    connect_src="'self'",
    img_src="'self' data: blob:",
    style_src="'self' 'unsafe-inline'",  # Flutter sets inline styles on its elements
    font_src="'self' data:",
    manifest_src="'self'",
    base_uri="'self'",
)
TYPES = {
    ".mjs": "text/javascript",
    ".js": "text/javascript",
    ".wasm": "application/wasm",
    ".json": "application/json",
    ".gz": "application/gzip",
    ".woff2": "font/woff2",
    ".otf": "font/otf",
}
ENCODINGS = (("br", ".br"), ("gzip", ".gz"))


def _media_type(name: str) -> str:
    suffix = Path(name).suffix
    return TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"


def site_router(site: Site) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    root = site.path.resolve()
    names = set(site.files)

    @router.get("/")
    def home() -> Response:
        return RedirectResponse(BASE)

    @router.get(BASE.rstrip("/"))
    def app_without_slash() -> Response:
        return RedirectResponse(BASE)

    @router.api_route(BASE + "{name:path}", methods=["GET", "HEAD"])
    def app_file(name: str, request: Request) -> Response:
        if name not in names or name == "site.json":
            if Path(name).suffix:  # a missing file, not a screen of the app
                return Response(status_code=404, headers={"Cache-Control": "no-store"})
            name = "index.html"
        if name == "":
            name = "index.html"
        path = root / name
        headers = {
            "Cache-Control": "no-cache",  # always revalidated: the service worker caches
            "Vary": "Accept-Encoding",
        }
        if name == "sw.js":
            headers["Service-Worker-Allowed"] = BASE
        accepted = request.headers.get("accept-encoding", "")
        for encoding, suffix in ENCODINGS:
            compressed = Path(f"{path}{suffix}")
            if encoding in accepted and compressed.exists():
                headers["Content-Encoding"] = encoding
                path = compressed
                break
        response = FileResponse(
            path, media_type=_media_type(name), headers=headers, stat_result=path.stat()
        )
        etag = response.headers.get("etag")
        if etag and etag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers={"ETag": etag, **headers})
        return response

    return router
