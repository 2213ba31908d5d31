"""Files at rest (issue 8, security item 9): the data folder is 0700, the database and its
-wal/-shm files, logs and exports 0600, whatever the umask, for new files and for files
left too open by an earlier version.
"""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from relais_testing.serving import free_port, wait_for_health
from sync_server.database import Database
from sync_server.files import PrivateFileHandler, open_private, write_private_file

UMASKS = [0o022, 0o002, 0o000]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def modes(folder: Path) -> dict[str, int]:
    """Mode of the folder ('.') and of every file in it, by name."""
    found = {".": mode(folder)}
    found.update({p.name: mode(p) for p in folder.iterdir()})
    return found


def relais_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAIS_")}
    # No field app: building it on a cold cache is not what these tests are about.
    return {
        **env,
        "RELAIS_DATA_DIR": str(data_dir),
        "RELAIS_ESCALATION_INTERVAL": "0",
        "RELAIS_SERVE_APP": "0",
        **extra,
    }


@contextmanager
def umask(mask: int) -> Iterator[None]:
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.mark.slow
@pytest.mark.parametrize("mask", UMASKS, ids=oct)
def test_db_upgrade_on_a_fresh_data_folder_makes_it_private(tmp_path, mask):
    data = tmp_path / "relais-data"
    result = subprocess.run(
        [sys.executable, "-m", "sync_server", "db", "upgrade"],
        cwd=tmp_path,
        env=relais_env(data),
        umask=mask,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    found = modes(data)
    assert found["."] == 0o700 and "relais.db" in found, {k: oct(v) for k, v in found.items()}
    assert {name: m for name, m in found.items() if name != "."} == dict.fromkeys(
        [name for name in found if name != "."], 0o600
    ), {k: oct(v) for k, v in found.items()}


@pytest.mark.slow
def test_the_server_narrows_files_left_open_and_keeps_new_ones_private(tmp_path):
    """A data folder from an earlier version (0755, database and companions 0644, a log
    file 0644): `relais serve` makes them private at start, and the -wal/-shm files SQLite
    creates while serving and the log it writes are private too."""
    data = tmp_path / "relais-data"
    setup = subprocess.run(
        [sys.executable, "-m", "sync_server", "db", "upgrade"],
        cwd=tmp_path,
        env=relais_env(data),
        capture_output=True,
        timeout=180,
    )
    assert setup.returncode == 0, setup.stderr
    log = tmp_path / "logs" / "relais.log"
    log.parent.mkdir()
    log.write_text("an earlier line\n")
    for path in (data / "relais.db", data / "relais.db-wal", data / "relais.db-shm", log):
        path.touch()
        os.chmod(path, 0o644)
    os.chmod(data, 0o755)

    port = free_port()
    env = relais_env(data, RELAIS_LOG_FILE=str(log), RELAIS_LOG_LEVEL="info")
    process = subprocess.Popen(
        [sys.executable, "-m", "sync_server", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        umask=0o022,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base_url = f"http://127.0.0.1:{port}"
        wait_for_health(base_url, process=process)
        # A write, so that SQLite has its WAL files open.
        login = {"login": "nobody", "password": "a-guess", "device_name": "x"}
        assert (
            httpx.post(f"{base_url}/api/v1/auth/login", json=login, timeout=60).status_code == 401
        )
        found = modes(data)
        assert {"relais.db", "relais.db-wal", "relais.db-shm"} <= found.keys()
        assert found == {".": 0o700, **dict.fromkeys(found.keys() - {"."}, 0o600)}, {
            k: oct(v) for k, v in found.items()
        }
        assert mode(log) == 0o600
    finally:
        process.terminate()
        process.wait(30)
    text = log.read_text()
    assert text.startswith("an earlier line\n")  # appended to, not replaced
    assert "Application startup complete" in text
    assert mode(log) == 0o600


@pytest.mark.parametrize("mask", UMASKS, ids=oct)
def test_a_new_sqlite_database_is_private_before_sqlite_opens_it(tmp_path, mask):
    path = tmp_path / "elsewhere.db"
    with umask(mask):
        db = Database(f"sqlite:///{path}")
        try:
            with db.unit_of_work() as session:
                session.connection().exec_driver_sql("CREATE TABLE t (x INTEGER)")
            assert {p.name: mode(p) for p in tmp_path.iterdir()} == {
                "elsewhere.db": 0o600,
                "elsewhere.db-wal": 0o600,
                "elsewhere.db-shm": 0o600,
            }
        finally:
            db.dispose()


@pytest.mark.parametrize("mask", UMASKS, ids=oct)
def test_write_private_file_whatever_the_umask(tmp_path, mask):
    export = tmp_path / "export.csv"
    with umask(mask):
        write_private_file(export, "ref,name\nW01,Elio R.\n")
        assert mode(export) == 0o600
        assert export.read_text() == "ref,name\nW01,Elio R.\n"
        # Replacing an existing, too open file: the new content is private too.
        os.chmod(export, 0o644)
        write_private_file(export, b"replaced\n")
        assert mode(export) == 0o600 and export.read_bytes() == b"replaced\n"
        assert [p.name for p in tmp_path.iterdir()] == ["export.csv"]  # nothing left aside

        streamed = tmp_path / "streamed.csv"
        streamed.write_text("old\n")
        os.chmod(streamed, 0o666)
        with open_private(streamed, "w", encoding="utf-8") as handle:
            handle.write("new\n")
        assert mode(streamed) == 0o600 and streamed.read_text() == "new\n"


def test_a_failed_export_leaves_the_previous_file_and_nothing_else(tmp_path):
    export = tmp_path / "export.csv"
    write_private_file(export, "complete\n")
    with pytest.raises(TypeError):
        write_private_file(export, 12345)  # type: ignore[arg-type]
    assert export.read_text() == "complete\n"
    assert [p.name for p in tmp_path.iterdir()] == ["export.csv"]


@pytest.mark.parametrize("mask", UMASKS, ids=oct)
def test_log_files_are_private(tmp_path, mask):
    path = tmp_path / "server.log"
    with umask(mask):
        handler = PrivateFileHandler(path, encoding="utf-8")
    logger = logging.getLogger("tests.private_log")
    logger.addHandler(handler)
    try:
        logger.warning("a line")
    finally:
        logger.removeHandler(handler)
        handler.close()
    assert mode(path) == 0o600
    assert path.read_text() == "a line\n"


@pytest.mark.slow
def test_a_log_file_in_a_missing_folder_is_refused_cleanly(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "sync_server", "serve", "--port", str(free_port())],
        cwd=tmp_path,
        env=relais_env(tmp_path / "data", RELAIS_LOG_FILE=str(tmp_path / "nowhere" / "x.log")),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "RELAIS_LOG_FILE: no folder" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
