"""The app's layers hold: screens and components read through the read layer (state/reads.py)
and never reach the store or SQLite themselves."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[2] / "field_app"
UI_SOURCES = sorted([*(APP / "screens").glob("*.py"), *(APP / "components").glob("*.py")])


def imported_modules(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", UI_SOURCES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_screens_and_components_never_touch_the_store(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    forbidden = {
        m for m in imported_modules(tree) if m.startswith("field_app.store") or m == "sqlite3"
    }
    reaches = sorted(
        f"line {node.lineno}: .{node.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr in ("store", "require_store")
    )
    assert (forbidden, reaches) == (set(), [])


def test_screens_open_one_another_by_path_never_by_class():
    import importlib

    from field_app.screens.context import Screen

    offending = []
    for path in sorted((APP / "screens").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.ImportFrom) and node.module):
                continue
            if not node.module.startswith("field_app.screens"):
                continue
            source = importlib.import_module(node.module)
            for alias in node.names:
                found = getattr(source, alias.name, None)
                if isinstance(found, type) and issubclass(found, Screen) and found is not Screen:
                    offending.append(f"{path.name}: {node.module}.{alias.name}")
    assert offending == []


def test_the_app_has_no_import_circle():
    """Imports anywhere in a module count, those inside functions too (they hid a circle).
    The graph is tests/test_imports.py's, over the three packages."""
    from tests.test_imports import circles, import_graph

    in_the_app = {c for c in circles(import_graph()) if any(m.startswith("field_app.") for m in c)}
    assert in_the_app == set()
