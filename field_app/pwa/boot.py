"""The PWA's entry point, run by Flet's Python worker in the browser (Pyodide).

The app talks only to the server that served it, keeps its store in the browser's storage
and tells the page (the loading screen) when it is up, with how long each part took.
"""

from __future__ import annotations

import js

STARTED = float(js.performance.timeOrigin + js.performance.now())  # before the big imports

import logging  # noqa: E402

import flet as ft  # noqa: E402

from field_app.app import create_main  # noqa: E402
from field_app.pwa.platform import BrowserPlatform  # noqa: E402
from field_app.state.session import AppConfig  # noqa: E402


def run() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    platform = BrowserPlatform(started=STARTED)
    ft.run(create_main(AppConfig(server_url=platform.server_url or "", platform=platform)))


if __name__ == "__main__":
    run()
