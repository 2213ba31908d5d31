"""Field app start: from starting the app to a capture screen a supervisor can tap, and memory.

    python benchmarks/app_start.py [--quick] [--runs N] [--cold-runs M]

What is measured (the app runs in process on the test harness of tests/field_app, which
plays the Flutter client over flet.messaging.session; no browser, no Flutter):

- The device is a phone (page.web false) whose store was filled by one earlier sign-in and
  sync (a fictional organisation, relais_testing/factories.py), so the app opens straight on the last
  user's roster. The sync server is then STOPPED: nothing needs the network, as on a
  worksite without signal (the app's first sync attempt fails fast, "offline").
- "home": from creating the session and calling main(page) to the roster being on the page
  (the worker rows exist); "capture": one tap further, the capture screen for a worker, kind
  chips ready. Both in ms.
- warm: N starts in one process, modules already imported: what each new browser tab costs
  the web app process (one session each).
- cold: M fresh Python processes, each importing the app and starting it once: a phone or
  desktop launch (the Flutter client's own start-up is not included; on a phone it comes on
  top). Wall time from spawning the process to "capture ready", and the process's peak RSS
  (ru_maxrss) at that point.
- memory: peak Python allocations of one session start (tracemalloc, separate runs, since
  tracing slows the code down), and the peak RSS of the cold processes.
- same-run references: a bare `python -c pass`, and `import flet` alone (wall time of a
  fresh process, and its peak RSS).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
# relais_testing/factories.py imports FastAPI's TestClient, which warns about httpx: not ours to fix.
warnings.filterwarnings("ignore", message=".*starlette.testclient.*")
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

PASS = "correct-horse-battery"  # relais_testing.factories.PASSWORD (a fictional test password)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def line(label: str, values: list[float], unit: str = "ms") -> str:
    return (
        f"{label:<50} median {statistics.median(values):8.1f} {unit}   "
        f"p95 {percentile(values, 95):8.1f} {unit}   min {min(values):8.1f}   "
        f"max {max(values):8.1f}   (n={len(values)})"
    )


# --- one start, in process ------------------------------------------------------------------


async def start_once(server_url: str, data_dir: Path) -> tuple[float, float]:
    """(ms to the roster, ms to the capture screen) for one new session."""
    from relais_testing.ui_harness import FletHarness, app_main

    started = time.perf_counter()
    h = FletHarness(app_main(server_url, data_dir), page_props={"web": False})
    await h.start()
    await h.wait_until(lambda: h.exists("worker-a1"), timeout=30, step=0.001)
    home = time.perf_counter()
    await h.click("worker-a1")
    await h.wait_until(lambda: h.exists("kind-signal"), timeout=30, step=0.001)
    capture = time.perf_counter()
    await h.close()
    app = h.page.data
    await h.wait_until(lambda: app.session.store is None, timeout=30)
    h.conn.executor.shutdown(wait=False)
    return (home - started) * 1000, (capture - started) * 1000


async def traced_peak(server_url: str, data_dir: Path) -> float:
    """Peak Python allocations (MiB) while one session starts and opens the capture screen."""
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        await start_once(server_url, data_dir)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / 2**20


MORE_SESSIONS = 10


def current_rss_mib() -> float:
    try:
        for row in Path("/proc/self/status").read_text().splitlines():
            if row.startswith("VmRSS:"):
                return int(row.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def rss_mib() -> float:
    """This process's peak resident memory, in MiB.

    VmHWM (Linux) rather than ru_maxrss: ru_maxrss survives exec, so a child spawned from a
    big parent reports at least the parent's size."""
    try:
        for row in Path("/proc/self/status").read_text().splitlines():
            if row.startswith("VmHWM:"):
                return int(row.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# --- the fictional device ----------------------------------------------------------------


def prepare_device(folder: Path) -> str:
    """Sign sup_a in once on a phone folder and sync, with the server up; then stop it.
    Returns the (now dead) server address the store remembers."""
    from relais_testing.factories import build_world
    from relais_testing.serving import server_thread
    from relais_testing.ui_harness import FletHarness, app_main, session_of, sign_in, synced
    from sync_server.database import Database
    from sync_server.migrations import upgrade
    from sync_server.settings import Settings

    db = Database(f"sqlite:///{folder / 'relais.db'}")
    upgrade(db)
    build_world(db)
    settings = Settings(data_dir=folder / "server", escalation_interval=0, stream_heartbeat=1.0)

    async def first_sign_in(url: str) -> None:
        h = FletHarness(app_main(url, folder / "device"), page_props={"web": False})
        await h.start()
        await sign_in(h, "sup_a", PASS)
        await synced(h)
        assert session_of(h).require_store().counts().queued == 0
        await h.close()

    with server_thread(db, settings) as url:
        asyncio.run(first_sign_in(url))
    db.dispose()
    return url


# --- fresh processes ---------------------------------------------------------------------


def child(server_url: str, data_dir: str) -> None:
    """Run inside a fresh process: import, start once, print timings and peak RSS."""
    t0 = time.perf_counter()
    import flet  # noqa: F401

    t_flet = time.perf_counter()
    import field_app.app  # noqa: F401
    import relais_testing.ui_harness  # noqa: F401

    t_app = time.perf_counter()
    home, capture = asyncio.run(start_once(server_url, Path(data_dir)))
    print("READY", flush=True)  # the parent's clock stops here
    rss_first = rss_mib()
    for _ in range(MORE_SESSIONS):  # opened and closed: does the process keep growing?
        asyncio.run(start_once(server_url, Path(data_dir)))
    gc.collect()
    print(
        "RESULT "
        + json.dumps(
            {
                "import_flet_ms": (t_flet - t0) * 1000,
                "import_app_ms": (t_app - t0) * 1000,
                "home_ms": home,
                "capture_ms": capture,
                "rss_mib": rss_first,
                "rss_now_mib": current_rss_mib(),
                "rss_peak_after_more_mib": rss_mib(),
            }
        ),
        flush=True,
    )


def spawn(args: list[str], env: dict[str, str]) -> tuple[float, str]:
    """(ms from spawning a fresh interpreter to its first READY or RESULT line, or to its
    exit if it prints none; its RESULT line)."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )
    assert process.stdout is not None
    result, wall = "", 0.0
    for row in process.stdout:
        if row.startswith(("READY", "RESULT ")) and not wall:
            wall = (time.perf_counter() - started) * 1000
        if row.startswith("RESULT "):
            result = row.removeprefix("RESULT ").strip()
    _, errors = process.communicate(timeout=300)
    if process.returncode != 0:
        raise SystemExit(f"child failed:\n{errors[-3000:]}")
    return wall or (time.perf_counter() - started) * 1000, result


IMPORT_FLET = (
    "import time; t = time.perf_counter(); import flet; ms = (time.perf_counter() - t) * 1000; "
    "hwm = [r for r in open('/proc/self/status') if r.startswith('VmHWM:')][0].split()[1]; "
    "print('RESULT', ms, int(hwm) / 1024)"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs")
    parser.add_argument("--runs", type=int, help="warm starts in this process (default 30)")
    parser.add_argument("--cold-runs", type=int, help="fresh processes (default 10)")
    parser.add_argument(
        "--backends", default="", help="accepted for run_all.py; unused (no server database)"
    )
    parser.add_argument("--child", nargs=2, metavar=("SERVER", "DATA_DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    runs = args.runs or (8 if args.quick else 30)
    cold_runs = args.cold_runs or (3 if args.quick else 10)
    traced_runs = 3 if args.quick else 5

    sys.path.insert(0, str(REPO / "benchmarks"))
    import common

    print("app_start: field app start to an interactive capture screen, and memory")
    print(common.machine_line())
    print(
        "setup: phone mode (page.web false), store pre-filled by one sign-in and sync of a"
        " fictional organisation; the sync server is then stopped (no network needed);"
        " in-process Flet session on the tests/field_app harness (no Flutter client)"
    )
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    )
    with tempfile.TemporaryDirectory(prefix="relais-app-start-") as tmp:
        folder = Path(tmp)
        server_url = prepare_device(folder)
        device = folder / "device"

        # same-run references first (a quiet process)
        bare = [spawn(["-c", "pass"], env)[0] for _ in range(cold_runs)]
        flet_wall, flet_in, flet_rss = [], [], []
        for _ in range(cold_runs):
            wall, out = spawn(["-c", IMPORT_FLET], env)
            ms, rss = out.split()
            flet_wall.append(wall)
            flet_in.append(float(ms))
            flet_rss.append(float(rss))

        cold: list[dict[str, Any]] = []
        cold_wall: list[float] = []
        for _ in range(cold_runs):
            wall, out = spawn([__file__, "--child", server_url, str(device)], env)
            cold.append(json.loads(out))
            cold_wall.append(wall)

        # warm: this process, modules imported, one new session after another
        asyncio.run(start_once(server_url, device))  # imports and caches, not counted
        home, capture = [], []
        for _ in range(runs):
            h_ms, c_ms = asyncio.run(start_once(server_url, device))
            home.append(h_ms)
            capture.append(c_ms)
        traced = [asyncio.run(traced_peak(server_url, device)) for _ in range(traced_runs)]

    print()
    print("warm (a new session in a running process: a new browser tab in web mode)")
    print(line("  start -> roster shown", home))
    print(line("  start -> capture screen (1 tap)", capture))
    print(line("  peak Python allocations per session (MiB)", traced, "MiB"))
    print()
    print("cold (a fresh process: import, start, capture screen; no Flutter client)")
    print(line("  process spawn -> capture screen (wall)", cold_wall))
    print(line("  in process: imports (flet + app)", [c["import_app_ms"] for c in cold]))
    print(line("  in process: start -> capture screen", [c["capture_ms"] for c in cold]))
    print(line("  peak RSS at the capture screen (MiB)", [c["rss_mib"] for c in cold], "MiB"))
    print(
        line(
            f"  RSS after {MORE_SESSIONS} more sessions, closed (MiB)",
            [c["rss_now_mib"] for c in cold],
            "MiB",
        )
    )
    print()
    print("same-run references")
    print(line("  python -c pass (wall, to exit)", bare))
    print(line("  python -c 'import flet' (wall, to import done)", flet_wall))
    print(line("  import flet alone (in process)", flet_in))
    print(line("  peak RSS after import flet (MiB)", flet_rss, "MiB"))


if __name__ == "__main__":
    main()
