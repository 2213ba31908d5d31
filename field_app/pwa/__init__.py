"""The field app as an installable web app whose Python runs in the browser (Pyodide).

These modules adapt the app to the browser: HTTP through fetch, the local store on
IndexedDB, one writing tab, the network's comings and goings. They import `js` only inside
functions, so that CPython can import them (and test what does not need a browser).
"""

from __future__ import annotations

import sys


def in_browser() -> bool:
    """True under Pyodide (the PWA), where there are no threads and no sockets."""
    return sys.platform == "emscripten"
