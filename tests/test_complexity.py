"""No function is too tangled to change safely: radon rates none E or F (more than 30 paths).

The same check by hand: `radon cc -s -n E shared_models sync_server field_app`.
"""

from __future__ import annotations

from pathlib import Path

from radon.complexity import cc_rank, cc_visit

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("shared_models", "sync_server", "field_app")
# Functions rated E or F that are known and being split; none today. Remove an entry once
# its function is simpler: the test says when.
KNOWN: set[str] = set()


def tangled() -> dict[str, str]:
    """'path:function' -> its rank and complexity, for every function ranked E or F."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations/versions" in path.as_posix():
                continue
            for block in cc_visit(path.read_text(encoding="utf-8")):
                if cc_rank(block.complexity) in ("E", "F"):
                    name = f"{path.relative_to(ROOT).as_posix()}:{block.fullname}"
                    found[name] = f"{cc_rank(block.complexity)} ({block.complexity})"
    return found


def test_no_function_is_rated_e_or_f():
    found = tangled()
    assert {name: rank for name, rank in found.items() if name not in KNOWN} == {}
    assert not KNOWN - found.keys(), f"simpler now, remove from KNOWN: {KNOWN - found.keys()}"
