"""`python -m field_app [--web] [--host H] [--port P] [--server URL]`: the field app as a
desktop window where a display exists, otherwise (or with --web) served to browsers."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any


def has_display() -> bool:
    if not sys.platform.startswith("linux"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m field_app", description="Relais field app")
    parser.add_argument("--web", action="store_true", help="serve the web app (default headless)")
    parser.add_argument("--host", default=os.environ.get("RELAIS_APP_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("RELAIS_APP_PORT", "8550")))
    parser.add_argument(
        "--server",
        default=os.environ.get("RELAIS_SERVER_URL", ""),
        help="sync server address prefilled on the sign-in screen",
    )
    return parser.parse_args(argv)


class DropFramesToGoneBrowsers:
    """ASGI wrapper: a frame sent to a browser that has just gone (a phone out of coverage) is
    dropped. Flet's send loop would raise instead, log a traceback and never end the session
    (which then lingers in memory); its receive loop sees the disconnect and ends it cleanly."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return

        async def send_or_drop(message: Any) -> None:
            try:
                await send(message)
            except OSError:  # uvicorn's ClientDisconnected is one
                if message["type"] != "websocket.send":
                    raise

        await self.app(scope, receive, send_or_drop)


def serve_web(main: object, host: str, port: int) -> None:
    """One process serves every browser session; uvicorn stops cleanly on SIGTERM."""
    import flet as ft
    import uvicorn

    asgi = ft.run(main, export_asgi_app=True, no_cdn=True)  # type: ignore[arg-type]
    uvicorn.run(DropFramesToGoneBrowsers(asgi), host=host, port=port, log_level="warning")


def run(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    import flet as ft

    from field_app.app import config_from_environment, create_main

    main = create_main(config_from_environment(args.server))
    if args.web or not has_display():
        serve_web(main, args.host, args.port)
    else:
        ft.run(main)


if __name__ == "__main__":
    run()
