#!/usr/bin/env python3
"""Set up and run Relais on a fresh machine that has only Python 3.11+.

    python3 run.py demo    # the whole product on a fictional organisation (`relais demo`)
    python3 run.py test    # lint, type checks and the whole test suite (on every core)

Both create `.venv/` beside this file on first use and install the project into it.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")


def ensure_environment(extras: str) -> None:
    """Create the virtualenv and install the project, again only when pyproject.toml changed."""
    if sys.version_info < (3, 11):  # noqa: UP036 (run by whatever python3 is on the machine)
        sys.exit(f"Relais needs Python 3.11 or newer (this is {sys.version.split()[0]}).")
    if not PYTHON.exists():
        print("creating .venv ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    stamp = VENV / f".installed-{extras or 'base'}"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return
    print(f"installing Relais{f' [{extras}]' if extras else ''} into .venv ...", flush=True)
    target = f".[{extras}]" if extras else "."
    for args in (["--upgrade", "pip"], ["-e", target]):
        # Quiet unless it fails: build back-ends chatter on stderr even when all is well.
        done = subprocess.run(
            [PYTHON, "-m", "pip", "install", "--quiet", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        if done.returncode:
            sys.exit(f"installing failed:\n{done.stdout}{done.stderr}")
    stamp.write_text(digest)


def run(*args: str | Path) -> None:
    code = subprocess.run([str(a) for a in args], cwd=ROOT).returncode
    if code:
        sys.exit(code)


def main() -> None:
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    rest = sys.argv[2:]
    if command == "demo":
        ensure_environment("")
        os.execv(BIN / "relais", [str(BIN / "relais"), "demo", *rest])
    elif command == "test":
        ensure_environment("test")
        run(PYTHON, "-m", "ruff", "check", ".")
        run(PYTHON, "-m", "ruff", "format", "--check", ".")
        run(PYTHON, "-m", "mypy")
        if rest:
            run(PYTHON, "-m", "pytest", *rest)
        else:
            # The browser tests one at a time (each drives Chromium, a server and the app's
            # Python), then the rest on every core (each file on one worker).
            run(PYTHON, "-m", "pytest", "-m", "browser")
            run(PYTHON, "-m", "pytest", "-m", "not browser", "-n", "auto", "--dist", "loadfile")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
