"""The load benchmark's small preset, briefly, as a smoke test of the whole system.

No timing assertion (speed is measured in benchmarks/): a real `relais serve` process,
141 phones signing in, syncing, holding streams, pushing and acknowledging; the run must
end with no error and every pushed note on its counsellor's phone.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PG_URL, REQUIRE_POSTGRES, require_or_skip

REPO = Path(__file__).resolve().parent.parent


def _postgres_reachable() -> bool:
    from sqlalchemy import create_engine, text

    try:
        engine = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception:
        return False
    return True


@pytest.mark.slow
@pytest.mark.parametrize(
    ("backend", "processes"),
    [("sqlite", 1), pytest.param("postgres", 2, marks=pytest.mark.postgres)],
)
def test_small_preset_delivers_every_note_without_errors(
    backend: str, processes: int, tmp_path: Path
) -> None:
    if backend == "postgres":
        require_or_skip(
            _postgres_reachable(), f"PostgreSQL not reachable at {PG_URL}", REQUIRE_POSTGRES
        )
    figures = tmp_path / "load.json"
    command = [
        sys.executable,
        str(REPO / "benchmarks" / "load.py"),
        "--preset=small",
        "--duration=15",
        f"--backend={backend}",
        f"--processes={processes}",
        f"--postgres-url={PG_URL}",
        "--drain=120",
        f"--json={figures}",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=REPO)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(figures.read_text())
    assert result["phones_ready"] == result["phones"] == 141
    assert result["errors"] == 0, result["error_samples"]
    assert result["health_errors"] == 0
    assert result["notes_pushed"] > 0
    assert result["missing"] == []
    assert result["notes_delivered"] == result["notes_pushed"]
    # Every kind of work happened: notes, acknowledgements, pulls, history browsing.
    for endpoint in ("push (note)", "push (ack)", "pull", "pull (history)"):
        assert result["endpoints"][endpoint]["n"] > 0, endpoint
