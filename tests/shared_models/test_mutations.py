"""Mutation `data` validation (docs/protocol.md §4.3): what the phone and server accept."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from shared_models import mutations as m
from shared_models.vocabulary import CATEGORIES, FollowUpAction, NoteKind

CAPTURED = "2025-03-04T10:40:00+01:00"

# Bounded, reproducible, and no example database written into the repository.
BOUNDED = settings(max_examples=50, deadline=None, database=None)


def uid() -> str:
    return str(uuid.uuid4())


def valid(type_: str) -> dict[str, Any]:
    """A minimal valid `data` for each mutation type."""
    return {
        "note.create": {
            "id": uid(),
            "worker_id": uid(),
            "team_id": uid(),
            "kind": "signal",
            "category": "fatigue",
            "severity": "attention",
            "text": "Sat down three times during the morning shift.",
            "captured_at": CAPTURED,
        },
        "note.retract": {"note_id": uid(), "reason": "wrong worker"},
        "note.acknowledge": {"note_id": uid()},
        "note.follow_up": {
            "id": uid(),
            "note_id": uid(),
            "action": "interview_planned",
            "text": "Interview on Thursday.",
            "close": False,
        },
        "heads_up.create": {
            "id": uid(),
            "worker_id": uid(),
            "text": "Adapt expectations this week; I'm on it.",
            "valid_until": "2025-03-10",
        },
        "heads_up.end": {"heads_up_id": uid()},
        "delivery.seen": {"note_id": uid()},
    }[type_]


def note(**changes: Any) -> dict[str, Any]:
    data = valid("note.create")
    data.update(changes)
    return {k: v for k, v in data.items() if v is not _DROP}


_DROP = object()


def accepts(type_: str, data: dict[str, Any]) -> bool:
    try:
        m.parse_mutation_data(type_, data)
    except ValidationError:
        return False
    return True


ALL_TYPES = sorted(m.MUTATION_TYPES)
REQUIRED = [
    (type_, name)
    for type_, model in sorted(m.MUTATION_TYPES.items())
    for name, field in model.model_fields.items()
    if field.is_required()
]
UUID_FIELDS = [
    (type_, name)
    for type_, model in sorted(m.MUTATION_TYPES.items())
    for name in model.model_fields
    if name == "id" or name.endswith("_id")
]


def test_every_core_type_is_known():
    assert set(m.MUTATION_TYPES) >= {
        "note.create",
        "note.retract",
        "note.acknowledge",
        "note.follow_up",
        "heads_up.create",
    }


@pytest.mark.parametrize("type_", ALL_TYPES)
def test_valid_data_parses_into_its_model(type_):
    data = valid(type_)
    parsed = m.parse_mutation_data(type_, data)
    assert isinstance(parsed, m.MUTATION_TYPES[type_])
    dumped = parsed.model_dump(mode="json")
    for key, value in data.items():
        if key == "captured_at":
            assert datetime.fromisoformat(dumped[key]) == datetime.fromisoformat(value)
        else:
            assert dumped[key] == value


@pytest.mark.parametrize("type_", ALL_TYPES)
def test_extra_fields_are_rejected(type_):
    with pytest.raises(ValidationError, match="extra"):
        m.parse_mutation_data(type_, {**valid(type_), "author_id": uid()})


@pytest.mark.parametrize(("type_", "name"), REQUIRED)
def test_each_required_field_is_required(type_, name):
    data = valid(type_)
    del data[name]
    with pytest.raises(ValidationError) as info:
        m.parse_mutation_data(type_, data)
    assert name in m.describe_validation_error(info.value)


@pytest.mark.parametrize(("type_", "name"), UUID_FIELDS)
@pytest.mark.parametrize("bad", ["not-a-uuid", "", 42, "1234", ["a"]])
def test_ids_must_be_uuids(type_, name, bad):
    assert not accepts(type_, {**valid(type_), name: bad})


@pytest.mark.parametrize("type_", ALL_TYPES)
@pytest.mark.parametrize("bad", [None, [], "data", 1])
def test_data_that_is_not_an_object_is_rejected(type_, bad):
    with pytest.raises(ValidationError):
        m.parse_mutation_data(type_, bad)


@pytest.mark.parametrize("type_", ["note.teleport", "", "NOTE.CREATE", "note.create "])
def test_unknown_type_raises_unknown_mutation_type(type_):
    with pytest.raises(m.UnknownMutationType) as info:
        m.parse_mutation_data(type_, valid("note.create"))
    assert isinstance(info.value, ValueError)


def test_parsed_data_is_immutable():
    parsed = m.parse_mutation_data("note.acknowledge", valid("note.acknowledge"))
    with pytest.raises(ValidationError):
        parsed.note_id = uuid.uuid4()  # type: ignore[misc]


# --- note.create ------------------------------------------------------------------------


@pytest.mark.parametrize(("length", "ok"), [(0, True), (1, True), (2000, True), (2001, False)])
def test_note_text_length_bounds(length, ok):
    assert accepts("note.create", note(text="x" * length)) is ok


def test_note_text_counts_characters_not_bytes():
    assert accepts("note.create", note(text="é" * 2000))
    assert accepts("note.create", note(text="😀" * 2000))
    assert not accepts("note.create", note(text="é" * 2001))


def test_note_text_defaults_to_empty():
    parsed = m.parse_mutation_data("note.create", note(text=_DROP))
    assert parsed.text == ""


@given(st.integers(min_value=0, max_value=2600))
@BOUNDED
def test_note_text_accepted_iff_at_most_2000(length):
    assert accepts("note.create", note(text="a" * length)) is (length <= 2000)


@pytest.mark.parametrize(
    ("kind", "category"),
    [(kind.value, category) for kind, cats in CATEGORIES.items() for category in cats],
)
def test_every_category_is_allowed_for_its_kind(kind, category):
    parsed = m.parse_mutation_data("note.create", note(kind=kind, category=category))
    assert parsed.kind == kind and parsed.category == category


@pytest.mark.parametrize(
    ("kind", "category"),
    [
        (kind.value, category)
        for kind in NoteKind
        for other, cats in CATEGORIES.items()
        if other is not kind
        for category in cats
        if category not in CATEGORIES[kind]
    ],
)
def test_a_category_of_another_kind_is_rejected(kind, category):
    with pytest.raises(ValidationError, match="category_of_other_kind"):
        m.parse_mutation_data("note.create", note(kind=kind, category=category))


@pytest.mark.parametrize("category", ["", "Health", "health ", "gossip", "sick"])
def test_unknown_categories_are_rejected(category):
    for kind in NoteKind:
        assert not accepts("note.create", note(kind=kind.value, category=category))


_ALL_CATEGORIES = sorted({c for cats in CATEGORIES.values() for c in cats} | {"gossip"})


@given(st.sampled_from(list(NoteKind)), st.sampled_from(_ALL_CATEGORIES))
@BOUNDED
def test_category_accepted_iff_listed_for_the_kind(kind, category):
    expected = category in CATEGORIES[kind]
    assert accepts("note.create", note(kind=kind.value, category=category)) is expected


@pytest.mark.parametrize("bad", ["rumour", "SIGNAL", "", None])
def test_unknown_kind_is_rejected(bad):
    assert not accepts("note.create", note(kind=bad))


@pytest.mark.parametrize("bad", ["critical", "Urgent", "", None, 3])
def test_unknown_severity_is_rejected(bad):
    assert not accepts("note.create", note(severity=bad))


@pytest.mark.parametrize("severity", ["info", "attention", "urgent"])
def test_every_severity_is_accepted(severity):
    assert accepts("note.create", note(severity=severity))


@pytest.mark.parametrize("category", CATEGORIES[NoteKind.SAFETY])
def test_team_level_safety_note_needs_no_worker(category):
    parsed = m.parse_mutation_data(
        "note.create", note(kind="safety", category=category, worker_id=_DROP)
    )
    assert parsed.worker_id is None
    assert accepts("note.create", note(kind="safety", category=category, worker_id=None))


@pytest.mark.parametrize(("kind", "category"), [("signal", "fatigue"), ("observation", "teamwork")])
@pytest.mark.parametrize("worker_id", [_DROP, None])
def test_worker_id_is_required_except_for_safety(kind, category, worker_id):
    with pytest.raises(ValidationError, match="worker_id is required"):
        m.parse_mutation_data(
            "note.create", note(kind=kind, category=category, worker_id=worker_id)
        )


@pytest.mark.parametrize(
    "captured_at",
    ["2025-03-04T10:40:00", "2025-03-04 10:40:00", datetime(2025, 3, 4, 10, 40)],
)
def test_naive_captured_at_is_rejected(captured_at):
    with pytest.raises(ValidationError, match="timezone"):
        m.parse_mutation_data("note.create", note(captured_at=captured_at))


@pytest.mark.parametrize("bad", ["yesterday", "", "2025-13-01T00:00:00Z", 1.5e300])
def test_unparseable_captured_at_is_rejected(bad):
    assert not accepts("note.create", note(captured_at=bad))


@pytest.mark.parametrize(
    "captured_at",
    [
        "2025-03-04T10:40:00Z",
        "2025-03-04T10:40:00+00:00",
        "2025-03-04T10:40:00.123456-05:30",
        datetime(2025, 3, 4, 9, 40, tzinfo=UTC),
    ],
)
def test_aware_captured_at_is_accepted(captured_at):
    parsed = m.parse_mutation_data("note.create", note(captured_at=captured_at))
    assert parsed.captured_at.tzinfo is not None


# RFC 3339 offsets are whole minutes, less than a day either way.
_offsets = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)


@given(
    st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2100, 1, 1)),
    st.one_of(st.none(), _offsets),
)
@BOUNDED
def test_captured_at_accepted_iff_aware(moment, tz):
    value = moment.replace(tzinfo=tz).isoformat()
    assert accepts("note.create", note(captured_at=value)) is (tz is not None)


# --- note.retract, note.follow_up, heads_up.create ---------------------------------------


@pytest.mark.parametrize(
    ("reason", "ok"), [(None, True), ("", True), ("r" * 500, True), ("r" * 501, False)]
)
def test_retract_reason_length(reason, ok):
    assert accepts("note.retract", {"note_id": uid(), "reason": reason}) is ok


def test_retract_reason_is_optional():
    parsed = m.parse_mutation_data("note.retract", {"note_id": uid()})
    assert parsed.reason is None


@pytest.mark.parametrize("action", [a.value for a in FollowUpAction])
def test_every_follow_up_action_is_accepted(action):
    assert accepts("note.follow_up", {**valid("note.follow_up"), "action": action})


@pytest.mark.parametrize("action", ["called_the_police", "", None, "Other"])
def test_unknown_follow_up_action_is_rejected(action):
    assert not accepts("note.follow_up", {**valid("note.follow_up"), "action": action})


@pytest.mark.parametrize(("length", "ok"), [(2000, True), (2001, False)])
def test_follow_up_text_length(length, ok):
    assert accepts("note.follow_up", {**valid("note.follow_up"), "text": "t" * length}) is ok


def test_follow_up_text_and_close_are_optional():
    data = valid("note.follow_up")
    del data["text"], data["close"]
    parsed = m.parse_mutation_data("note.follow_up", data)
    assert parsed.text is None and parsed.close is False


@pytest.mark.parametrize("close", ["sometimes", [], {}])
def test_follow_up_close_must_be_a_bool(close):
    assert not accepts("note.follow_up", {**valid("note.follow_up"), "close": close})


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("x", True),
        ("h" * 500, True),
        (" " * 499 + "x", True),
        ("", False),
        (" ", False),
        ("\t\n  \r", False),
        ("h" * 501, False),
    ],
)
def test_heads_up_text_bounds(text, ok):
    assert accepts("heads_up.create", {**valid("heads_up.create"), "text": text}) is ok


@given(st.text(max_size=600))
@BOUNDED
def test_heads_up_text_accepted_iff_1_to_500_and_not_blank(text):
    expected = 1 <= len(text) <= 500 and text.strip() != "" and "\x00" not in text
    assert accepts("heads_up.create", {**valid("heads_up.create"), "text": text}) is expected


def test_heads_up_valid_until_is_an_optional_date():
    data = valid("heads_up.create")
    del data["valid_until"]
    assert m.parse_mutation_data("heads_up.create", data).valid_until is None
    assert not accepts("heads_up.create", {**data, "valid_until": "next week"})


@pytest.mark.parametrize(
    ("type_", "name"),
    [
        ("note.create", "text"),
        ("note.retract", "reason"),
        ("note.follow_up", "text"),
        ("heads_up.create", "text"),
    ],
)
def test_typed_text_refuses_nul_characters(type_, name):
    """No database column can hold NUL: it is refused at validation, on the phone already."""
    assert accepts(type_, {**valid(type_), name: "before\x00after"}) is False
    assert accepts(type_, {**valid(type_), name: "é — 😀 ok"}) is True


# --- error descriptions -----------------------------------------------------------------


def test_describe_validation_error_names_every_bad_field():
    with pytest.raises(ValidationError) as info:
        m.parse_mutation_data(
            "note.create", note(id="nope", captured_at="2025-03-04T10:40:00", severity="loud")
        )
    message = m.describe_validation_error(info.value)
    for name in ("id", "captured_at", "severity"):
        assert f"{name}:" in message
    assert message.count(";") == 2


def test_describe_validation_error_for_a_model_rule_says_data():
    data = note(kind="signal")
    del data["worker_id"]
    with pytest.raises(ValidationError) as info:
        m.parse_mutation_data("note.create", data)
    assert m.describe_validation_error(info.value) == "data: worker_id_required"


SECRET = "Fictional words of a note"


@pytest.mark.parametrize("type_", ALL_TYPES)
@BOUNDED
@given(field=st.integers(min_value=0), value=st.sampled_from([SECRET, "health", 7, [SECRET]]))
def test_descriptions_name_field_and_rule_never_the_value(type_, field, value):
    """Whatever is sent in whichever field, or under a key of its own, the description says
    where and which rule: it may be shown to an administrator."""
    data = valid(type_)
    key = sorted(data)[field % len(data)]
    for bad in ({**data, key: value}, {**data, SECRET: value}, {**data, "kind": "safety"}):
        try:
            m.parse_mutation_data(type_, bad)
        except ValidationError as exc:
            described = m.describe_validation_error(exc)
            assert SECRET not in described and "health" not in described, described
            assert m.fields_and_rules(described) == described


def test_fields_and_rules_keep_no_value_of_an_older_reason():
    older = (
        "category: Value error, category 'health' is not a category of kind 'safety'; "
        f"text: String should have at most 2000 characters; {SECRET}: x; "
        "worker_id: Input should be a valid UUID, found `F`; captured_at: timezone_aware"
    )
    assert m.fields_and_rules(older) == "category; text; worker_id; captured_at: timezone_aware"
    assert m.fields_and_rules(f"unknown mutation type '{SECRET}'") == ""
