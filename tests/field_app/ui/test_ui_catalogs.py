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

APP = Path(__file__).resolve().parents[3] / "field_app"
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
    assert all(keys[language] == keys["fr"] for language in LANGUAGES)
    fields = string.Formatter()
    for key in keys["fr"]:
        wanted = {f for _, f, _, _ in fields.parse(catalog("fr")[key]) if f}
        for language in LANGUAGES:
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
    missing = sorted(
        k for k in asked if k not in catalog("fr") and f"{k}.other" not in catalog("fr")
    )
    assert missing == []
    assert len(asked) > 150


def test_plural_forms_come_in_pairs():
    for language in LANGUAGES:
        keys = set(catalog(language))
        ones = {k.removesuffix(".one") for k in keys if k.endswith(".one")}
        assert ones and all(f"{k}.other" in keys for k in ones), language


def test_numbers_dates_and_plurals_follow_the_language():
    fr, en, it = Translator("fr"), Translator("en"), Translator("it")
    assert fr.duration(2.1 * 3600) == "2,1 h" and en.duration(2.1 * 3600) == "2.1 h"
    assert it.duration(3 * 86400) == "3 giorni"
    assert fr.number(12345) == "12\u202f345" and en.number(12345) == "12,345"
    assert it.number(12345) == "12.345"
    # French counts 0 and 1 in the singular, English only 1
    assert fr("sync.queued.long", n=1).startswith("Synchronisation : 1 modification en")
    assert fr("sync.queued.long", n=0).startswith("Synchronisation : 0 modification en")
    assert fr("sync.queued.long", n=2).startswith("Synchronisation : 2 modifications en")
    assert en("sync.queued.long", n=0).startswith("Sync: 0 changes")
    assert en("sync.queued.long", n=1).startswith("Sync: 1 change waiting")
    assert not any("(s)" in fr("sync.queued.long", n=n) for n in (0, 1, 2))
    assert fr("sync.queued.long", n=1200).startswith("Synchronisation : 1\u202f200 modifications")


def test_french_elides_before_a_vowel_and_a_name_ends_one_sentence_once():
    fr, en = Translator("fr"), Translator("en")
    assert fr("headsup.to", worker="Aurélie P.") == "Aux encadrants de l'équipe d'Aurélie P."
    assert fr("headsup.to", worker="Hélène") == "Aux encadrants de l'équipe d'Hélène."
    assert fr("headsup.to", worker="Léa M.") == "Aux encadrants de l'équipe de Léa M."
    assert fr("capture.for_worker", counsellor="Aurélie P.") == "Transmise à Aurélie P."
    assert en("capture.for_worker", counsellor="Ann B.") == "Goes to Ann B."
    assert fr("text.cut", limit="500", n=1, start="x") == (
        "Trop long : 500 caractères au plus. Le dernier a été retiré : « x »."
    )
    ellipsis = fr("text.cut", limit="500", n=3, start="abc…")
    assert ellipsis.endswith("« abc… ».")
