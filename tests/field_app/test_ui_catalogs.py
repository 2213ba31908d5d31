"""Every word on screen comes from the catalogs: fr, en and it have the same keys, every key
the code asks for exists, every vocabulary value has its label, and no screen or component
passes a raw literal to a Flet control."""

from __future__ import annotations

import ast
import json
import string
from pathlib import Path

import pytest

from field_app.i18n import LANGUAGES, Translator, catalog
from shared_models.vocabulary import (
    CATEGORIES,
    DeliveryReason,
    FollowUpAction,
    NoteKind,
    NoteStatus,
    Role,
    Severity,
)

APP = Path(__file__).resolve().parents[2] / "field_app"
UI_SOURCES = sorted(
    [*(APP / "screens").glob("*.py"), *(APP / "components").glob("*.py"), APP / "app.py"]
)
# Keyword arguments of Flet controls that people read (or hear, through a screen reader).
USER_FACING = {
    "label", "hint_text", "helper", "helper_text", "tooltip", "semantics_label", "text",
    "title", "value", "error_text", "content", "counter_text", "help_text", "cancel_text",
    "confirm_text", "bar_hint_text", "subtitle", "prefix_text", "suffix_text",
}  # fmt: skip


def test_the_three_catalogs_have_the_same_keys_and_placeholders():
    keys = {language: set(catalog(language)) for language in LANGUAGES}
    assert keys["fr"] == keys["en"] == keys["it"]
    fields = string.Formatter()
    for key in keys["fr"]:
        wanted = {f for _, f, _, _ in fields.parse(catalog("fr")[key]) if f}
        for language in ("en", "it"):
            got = {f for _, f, _, _ in fields.parse(catalog(language)[key]) if f}
            assert got == wanted, (language, key)
        assert all(catalog(language)[key].strip() for language in LANGUAGES), key


def test_catalog_files_are_valid_utf8_json_objects():
    for language in LANGUAGES:
        data = json.loads((APP / "i18n" / f"{language}.json").read_text(encoding="utf-8"))
        assert isinstance(data, dict) and all(isinstance(v, str) for v in data.values())


def test_every_vocabulary_value_has_a_label():
    t = Translator("fr")
    wanted = [f"kind.{k.value}" for k in NoteKind]
    wanted += [f"kind.{k.value}.help" for k in NoteKind]
    wanted += [f"category.{c}" for cs in CATEGORIES.values() for c in cs]
    wanted += [f"severity.{s.value}" for s in Severity]
    wanted += [f"status.{s.value}" for s in NoteStatus]
    wanted += [f"status.{s}" for s in ("queued", "sent", "seen", "rejected")]
    wanted += [f"action.{a.value}" for a in FollowUpAction]
    wanted += [f"reason.{r.value}" for r in DeliveryReason]
    wanted += [f"role.{r.value}" for r in Role]
    missing = [key for key in wanted if key not in catalog("fr")]
    assert missing == []
    assert t.category("housing") == "Logement" and Translator("en").category("housing") == "Housing"


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node


def _is_flet(call: ast.Call) -> bool:
    func = call.func
    return (
        isinstance(func, ast.Attribute)
        and isinstance(func.value, ast.Name)
        and func.value.id in ("ft", "fch")
    )


def _is_words(node: ast.AST) -> bool:
    """A literal a person would read: letters in a constant or in an f-string's text."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return any(c.isalpha() for c in node.value)
    if isinstance(node, ast.JoinedStr):
        return any(_is_words(v) for v in node.values if isinstance(v, ast.Constant))
    return False


@pytest.mark.parametrize("path", UI_SOURCES, ids=lambda p: p.name)
def test_no_screen_passes_a_raw_literal_to_a_control(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    offending = []
    for call in _calls(tree):
        if not _is_flet(call):
            continue
        candidates = list(call.args) + [k.value for k in call.keywords if k.arg in USER_FACING]
        offending += [ast.unparse(c) for c in candidates if _is_words(c)]
    # The app's name is a brand, the same in every language (and the page title).
    assert [o for o in offending if o not in ("'monospace'",)] == []


def test_every_key_the_code_asks_for_exists():
    asked = set()
    for path in APP.rglob("*.py"):
        for call in _calls(ast.parse(path.read_text(encoding="utf-8"))):
            name = getattr(call.func, "id", None) or getattr(call.func, "attr", None)
            if name in ("t", "_fail") and call.args and isinstance(call.args[0], ast.Constant):
                asked.add(call.args[0].value)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Assign) and any(
                getattr(t, "id", "") == "title_key" for t in node.targets
            ):
                asked.add(node.value.value)  # type: ignore[attr-defined]
    missing = sorted(k for k in asked if k not in catalog("fr"))
    assert missing == []
    assert len(asked) > 150
