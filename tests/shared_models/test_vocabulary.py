"""The v1 vocabulary is exactly what docs/protocol.md §12 lists, and its helpers agree with it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared_models.vocabulary import (
    CATEGORIES,
    DEFAULT_DEADLINES,
    DEFAULT_SEVERITY,
    MAX_WORKERS_PER_SUPERVISOR_FR,
    SENSITIVE_CATEGORIES,
    SEVERITY_RANK,
    DeliveryReason,
    EntityType,
    FollowUpAction,
    Language,
    MutationType,
    NoteKind,
    NoteStatus,
    Role,
    Severity,
    alerts_someone,
    categories_for,
    default_severity,
    is_sensitive,
)

# Copied from the protocol's vocabulary (docs/protocol.md §12), in the documented order.
PROTOCOL_CATEGORIES = {
    "signal": [
        "health",
        "fatigue",
        "addiction",
        "housing",
        "money",
        "mobility",
        "childcare",
        "family",
        "administrative",
        "justice",
        "digital",
        "language",
        "punctuality",
        "absence",
        "conflict",
        "behaviour",
        "motivation",
        "other",
    ],
    "safety": [
        "ppe",
        "near_miss",
        "injury",
        "equipment",
        "ergonomics",
        "hygiene",
        "unsafe_practice",
        "other",
    ],
    "observation": [
        "skill_progress",
        "autonomy",
        "teamwork",
        "quality",
        "initiative",
        "difficulty",
        "other",
    ],
}
ALL_CATEGORIES = sorted({c for cats in PROTOCOL_CATEGORIES.values() for c in cats})

# Bounded, reproducible, and no example database written into the repository.
BOUNDED = settings(max_examples=50, deadline=None, database=None)


@pytest.mark.parametrize(
    ("enum", "values"),
    [
        (Role, ["supervisor", "counsellor", "coordinator", "admin"]),
        (NoteKind, ["observation", "safety", "signal"]),
        (Severity, ["info", "attention", "urgent"]),
        (NoteStatus, ["open", "acknowledged", "closed", "retracted"]),
        (
            FollowUpAction,
            [
                "interview_planned",
                "referred_to_partner",
                "work_adapted",
                "no_action_needed",
                "other",
            ],
        ),
        (DeliveryReason, ["referent", "stand_in", "urgent", "unassigned", "escalation"]),
        (Language, ["fr", "en", "it", "nl"]),
        (
            EntityType,
            ["organization", "team", "worker", "colleague", "note", "follow_up", "heads_up"],
        ),
        (
            MutationType,
            [
                "note.create",
                "note.retract",
                "note.acknowledge",
                "note.follow_up",
                "heads_up.create",
                "heads_up.end",
                "delivery.seen",
            ],
        ),
    ],
)
def test_enums_hold_exactly_the_protocol_values(enum, values):
    assert sorted(member.value for member in enum) == sorted(values)
    for value in values:
        assert enum(value) == value  # StrEnum: compares equal to its wire value


def test_every_entity_and_mutation_type_has_its_schema():
    from shared_models.entities import ENTITY_MODELS
    from shared_models.mutations import MUTATION_TYPES

    assert set(ENTITY_MODELS) == set(EntityType)
    assert set(MUTATION_TYPES) == set(MutationType)
    assert ENTITY_MODELS["note"] is ENTITY_MODELS[EntityType.NOTE]  # plain strings still look up
    assert MUTATION_TYPES["note.create"] is MUTATION_TYPES[MutationType.NOTE_CREATE]


def test_categories_per_kind_are_the_protocol_lists():
    assert {kind.value: list(cats) for kind, cats in CATEGORIES.items()} == PROTOCOL_CATEGORIES
    for kind, cats in CATEGORIES.items():
        assert len(set(cats)) == len(cats), f"duplicate category in {kind}"
        assert categories_for(kind) == cats
        assert categories_for(kind.value) == cats


def test_categories_for_an_unknown_kind_raises():
    with pytest.raises(ValueError):
        categories_for("rumour")


def test_sensitive_categories_are_the_four_documented_signal_categories():
    assert frozenset({"health", "addiction", "justice", "family"}) == SENSITIVE_CATEGORIES
    assert set(CATEGORIES[NoteKind.SIGNAL]) >= SENSITIVE_CATEGORIES


@pytest.mark.parametrize("category", ALL_CATEGORIES)
def test_is_sensitive_for_every_category(category):
    assert is_sensitive(category) is (category in {"health", "addiction", "justice", "family"})


@given(st.text(max_size=30))
@BOUNDED
def test_is_sensitive_only_for_the_four(category):
    assert is_sensitive(category) == (category in SENSITIVE_CATEGORIES)


def test_default_severity_table_uses_real_categories():
    for (kind, category), severity in DEFAULT_SEVERITY.items():
        assert category in CATEGORIES[kind], (kind, category)
        assert isinstance(severity, Severity)


@pytest.mark.parametrize(
    ("kind", "category", "expected"),
    [
        ("safety", "injury", "urgent"),
        ("safety", "near_miss", "attention"),
        ("safety", "unsafe_practice", "attention"),
        ("safety", "equipment", "attention"),
        ("safety", "ppe", "info"),
        ("signal", "health", "attention"),
        ("signal", "addiction", "attention"),
        ("signal", "housing", "attention"),
        ("signal", "money", "attention"),
        ("signal", "conflict", "attention"),
        ("signal", "justice", "attention"),
        ("signal", "absence", "attention"),
        ("signal", "fatigue", "info"),
        ("signal", "family", "info"),
        ("observation", "skill_progress", "info"),
        ("observation", "other", "info"),
    ],
)
def test_default_severity(kind, category, expected):
    assert default_severity(kind, category) == expected
    assert default_severity(NoteKind(kind), category) == expected


def test_default_severity_is_info_for_any_pair_not_in_the_table():
    for kind, cats in CATEGORIES.items():
        for category in cats:
            expected = DEFAULT_SEVERITY.get((kind, category), Severity.INFO)
            assert default_severity(kind, category) is expected
    # A category of another kind is not special: injury only counts for safety.
    assert default_severity("signal", "injury") is Severity.INFO


def test_default_severity_rejects_an_unknown_kind():
    with pytest.raises(ValueError):
        default_severity("rumour", "health")


def test_deadlines_and_ranks():
    assert DEFAULT_DEADLINES == {
        Severity.URGENT: 2 * 3600,
        Severity.ATTENTION: 24 * 3600,
        Severity.INFO: 72 * 3600,
    }
    ordered = sorted(Severity, key=SEVERITY_RANK.__getitem__)
    assert ordered == [Severity.URGENT, Severity.ATTENTION, Severity.INFO]
    assert MAX_WORKERS_PER_SUPERVISOR_FR == 12


def test_every_note_alerts_someone_but_an_observation_that_is_not_urgent():
    """Routing, the brief's open signals and the app's meeting list share this rule."""
    quiet = {(k, s) for k in NoteKind for s in Severity if not alerts_someone(k, s)}
    assert quiet == {
        (NoteKind.OBSERVATION, Severity.INFO),
        (NoteKind.OBSERVATION, Severity.ATTENTION),
    }
    assert alerts_someone("observation", "urgent") and not alerts_someone("observation", "info")
