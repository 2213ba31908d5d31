"""Run every benchmark, one after the other, and print their figures.

    python benchmarks/run_all.py [--quick] [--backends sqlite,postgres] [--only NAME,...]
                                 [--log FILE]

Runs sync_backlog.py, delivery_latency.py, routing.py, roster_import.py, the app benchmarks,
brief.py, login_flood.py, peer.py (skipped with a message when npm is missing) and load.py
(small preset, on the first backend), each in its own process, with the same --quick and
--backends (roster_import.py has its own options: with --quick it runs its smallest size
only, and it always tries PostgreSQL). `--log FILE` also writes everything printed to FILE.
Exits non-zero if a benchmark failed to run; a figure that misses its target is printed,
never a failure.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import common  # noqa: E402

BENCHMARKS = (
    "sync_backlog",
    "delivery_latency",
    "routing",
    "pull_scale",
    "ingest_growth",
    "roster_import",
    "app_start",
    "app_save_to_inbox",
    "pwa_start",
    "brief",
    "login_flood",
    "peer",
    "load",
)


def command(name: str, args: argparse.Namespace) -> list[str]:
    cmd = [sys.executable, "-u", str(HERE / f"{name}.py")]
    if name == "roster_import":
        if args.quick:
            cmd += ["--sizes", "1000"]
        return cmd
    if name == "load":  # one backend per run: the first asked for, small preset
        backend = args.backends.split(",")[0].strip()
        return [
            *cmd,
            "--preset",
            "small",
            "--backend",
            backend,
            *(["--duration", "20"] if args.quick else []),
        ]
    if args.quick:
        cmd.append("--quick")
    return [*cmd, "--backends", args.backends]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--only", help=f"comma-separated subset of {', '.join(BENCHMARKS)}")
    parser.add_argument("--log", type=Path, help="also write the output to this file")
    args = parser.parse_args()
    chosen = [b.strip() for b in args.only.split(",")] if args.only else list(BENCHMARKS)
    unknown = set(chosen) - set(BENCHMARKS)
    if unknown:
        parser.error(f"--only: unknown {sorted(unknown)}")
    log = args.log.open("w", encoding="utf-8") if args.log else None

    def say(text: str) -> None:
        print(text, flush=True)
        if log:
            log.write(text + "\n")
            log.flush()

    say(common.machine_line())
    failed = []
    started_all = time.monotonic()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    for name in chosen:
        cmd = command(name, args)
        shown = " ".join(["python", str(Path(cmd[2]).relative_to(HERE.parent)), *cmd[3:]])
        say(f"\n##### {name}: {shown}")
        started = time.monotonic()
        process = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            cwd=HERE.parent,
        )
        assert process.stdout is not None
        for line in process.stdout:
            say(line.rstrip("\n"))
        code = process.wait()
        say(
            f"##### {name}: {'ok' if code == 0 else f'FAILED (exit {code})'},"
            f" {time.monotonic() - started:.0f} s"
        )
        if code != 0:
            failed.append(name)
    say(
        f"\nall done in {(time.monotonic() - started_all) / 60:.1f} min;"
        f" {'failed: ' + ', '.join(failed) if failed else 'every benchmark ran'}"
    )
    say(common.machine_line())
    if log:
        log.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
