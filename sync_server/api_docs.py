"""The interactive API documentation at /api/docs, off unless `RELAIS_API_DOCS` turns it on.

Swagger UI's files come with the server (the `fastapi-offline` package): a browser that
opens the page loads nothing from anywhere else, and the page runs no inline script.
"""

from __future__ import annotations

import html
import importlib.resources

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from sync_server.security_headers import content_security_policy

PATH = "/api/docs"
POLICY = content_security_policy(
    script_src="'self'",
    style_src="'self' 'unsafe-inline'",  # Swagger UI sets style attributes
    img_src="'self' data:",
    font_src="'self' data:",
    connect_src="'self'",  # the schema, and "Try it out"
)

_START = """\
window.ui = SwaggerUIBundle({
  url: document.currentScript.dataset.openapi,
  dom_id: "#docs",
  validatorUrl: null,
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
});
"""


def install(app: FastAPI) -> None:
    """Serve the page, its start script and Swagger UI's files under PATH."""
    assets = importlib.resources.files("fastapi_offline") / "static"
    app.mount(f"{PATH}/assets", StaticFiles(directory=str(assets)), name="api-docs-assets")

    @app.get(PATH, include_in_schema=False)
    def docs_page(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        schema = html.escape(f"{root}{app.openapi_url}")
        return HTMLResponse(
            "<!doctype html>\n"
            '<html lang="en"><head><meta charset="utf-8">'
            f"<title>{html.escape(app.title)}: API</title>"
            f'<link rel="icon" href="{root}{PATH}/assets/favicon.png">'
            f'<link rel="stylesheet" href="{root}{PATH}/assets/swagger-ui.css">'
            '</head><body><div id="docs"></div>'
            f'<script src="{root}{PATH}/assets/swagger-ui-bundle.js"></script>'
            f'<script src="{root}{PATH}/start.js" data-openapi="{schema}"></script>'
            "</body></html>\n"
        )

    @app.get(f"{PATH}/start.js", include_in_schema=False)
    def docs_start() -> Response:
        return Response(_START, media_type="text/javascript")
