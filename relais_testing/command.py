"""The `relais` command for tests: as a real subprocess (`Relais.spawn`, which proves the
entry point), or in process (`Relais.__call__`: the same `main()`, without a new interpreter
and its imports per case, several seconds each on a loaded machine)."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
import traceback
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

from sync_server import cli, terminal
from sync_server.database import Database
from sync_server.migrations import upgrade
from sync_server.settings import get_settings

WIDTH = 250


class Relais:
    """Runs the `relais` command with its data folder and database in tmp_path."""

    def __init__(self, tmp_path: Path) -> None:
        self.cwd = tmp_path
        self.url = f"sqlite:///{tmp_path / 'relais.db'}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("RELAIS_")}
        env.update(
            RELAIS_DATA_DIR=str(tmp_path / "data"),
            RELAIS_DATABASE_URL=self.url,
            COLUMNS=str(WIDTH),  # wide enough for rich tables not to wrap
            NO_COLOR="1",
        )
        self.env = env

    def spawn(
        self, *args: str, input: str | None = None, **env: str
    ) -> subprocess.CompletedProcess[str]:
        """The real `python -m sync_server ...`, in a new process."""
        return subprocess.run(
            [sys.executable, "-m", "sync_server", *args],
            cwd=self.cwd,
            env={**self.env, **env},
            input=input,
            capture_output=True,
            text=True,
            timeout=180,
        )

    def __call__(self, *args: str, input: str = "", **env: str) -> subprocess.CompletedProcess[str]:
        """The same `main()` in this process, with the environment, folder, arguments and
        output streams a subprocess would have; an uncaught exception ends it as Python
        would (a traceback on stderr, exit code 1)."""
        stdout, stderr = io.StringIO(), io.StringIO()
        saved_environ, saved_argv, saved_stdin = dict(os.environ), sys.argv, sys.stdin
        saved_cwd = Path.cwd()
        consoles = [(c, c._width, c._color_system) for c in (terminal.out, terminal.err)]
        root = logging.getLogger()
        saved_handlers = root.handlers
        os.environ.clear()
        os.environ.update({**self.env, **env})
        sys.argv = ["relais", *args]
        sys.stdin = io.StringIO(input)
        os.chdir(self.cwd)
        get_settings.cache_clear()
        root.handlers = []  # warnings reach stderr through logging's last resort, as there
        for console, _, _ in consoles:
            console.width = WIDTH  # rich reads COLUMNS once, on import
            console._color_system = None  # as on a pipe
        try:
            with redirect_stdout(stdout), redirect_stderr(stderr):
                try:
                    cli.main()
                    code = 0
                except SystemExit as exc:
                    code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
                    if isinstance(exc.code, str):
                        print(exc.code, file=sys.stderr)
                except BaseException:  # what an uncaught exception does to a process
                    traceback.print_exc()
                    code = 1
        finally:
            os.environ.clear()
            os.environ.update(saved_environ)
            sys.argv, sys.stdin = saved_argv, saved_stdin
            os.chdir(saved_cwd)
            get_settings.cache_clear()
            root.handlers = saved_handlers
            for console, width, color_system in consoles:
                console._width, console._color_system = width, color_system
        return subprocess.CompletedProcess(
            ["relais", *args], code, stdout.getvalue(), stderr.getvalue()
        )

    def database(self) -> Database:
        db = Database(self.url)
        upgrade(db)
        return db


def output(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


def assert_clean_failure(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode != 0, output(result)
    assert "Traceback" not in output(result)


def assert_ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, output(result)
    assert "Traceback" not in output(result)


def table_rows(stdout: str) -> list[list[str]]:
    """The body rows of a rich table, as lists of stripped cells."""
    rows = []
    for line in stdout.splitlines():
        if line.startswith("│"):
            rows.append([cell.strip() for cell in line.strip("│").split("│")])
    return rows
