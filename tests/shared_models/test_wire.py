"""Request and response envelopes of protocol v1 (docs/protocol.md) and the entity payloads."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from shared_models import PROTOCOL_VERSION
from shared_models import wire as w
from shared_models.entities import ENTITY_MODELS

NOW = "2025-03-04T10:40:00+01:00"

# Bounded, reproducible, and no example database written into the repository.
BOUNDED = settings(max_examples=50, deadline=None, database=None)


def mutation(**changes: Any) -> dict[str, Any]:
    data = {"id": str(uuid.uuid4()), "type": "note.acknowledge", "data": {}, "client_time": NOW}
    data.update(changes)
    return data


def test_protocol_constants():
    assert PROTOCOL_VERSION == 1
    assert w.MAX_MUTATIONS_PER_PUSH == 500
    assert w.MAX_PUSH_BYTES == 1024 * 1024
    assert (w.PULL_LIMIT_DEFAULT, w.PULL_LIMIT_MAX) == (500, 1000)


# --- push -------------------------------------------------------------------------------


@pytest.mark.parametrize(("count", "ok"), [(0, True), (1, True), (500, True), (501, False)])
def test_push_request_holds_at_most_500_mutations(count, ok):
    body = {"protocol": 1, "mutations": [mutation() for _ in range(count)]}
    if ok:
        assert len(w.PushRequest.model_validate(body).mutations) == count
    else:
        with pytest.raises(ValidationError, match="at most 500"):
            w.PushRequest.model_validate(body)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"protocol": 1},
        {"mutations": []},
        {"protocol": "one", "mutations": []},
        {"protocol": 1.5, "mutations": []},
        {"protocol": None, "mutations": []},
        {"protocol": 1, "mutations": {}},
        {"protocol": 1, "mutations": "[]"},
        {"protocol": 1, "mutations": [None]},
        {"protocol": 1, "mutations": [[]]},
    ],
)
def test_push_request_envelope_errors(body):
    with pytest.raises(ValidationError):
        w.PushRequest.model_validate(body)


def test_mutation_needs_a_uuid_id():
    parsed = w.Mutation.model_validate(mutation())
    assert isinstance(parsed.id, uuid.UUID)
    body = mutation()
    del body["id"]
    with pytest.raises(ValidationError):
        w.Mutation.model_validate(body)
    for bad in ["", "42", "not-a-uuid", 42, None, str(uuid.uuid4()) + "x"]:
        with pytest.raises(ValidationError):
            w.Mutation.model_validate(mutation(id=bad))


@pytest.mark.parametrize("bad", [None, [], [1, 2], "data", 3, True])
def test_mutation_data_must_be_an_object(bad):
    with pytest.raises(ValidationError):
        w.Mutation.model_validate(mutation(data=bad))


@pytest.mark.parametrize("client_time", ["2025-03-04T10:40:00", "2025-03-04", "now", None])
def test_mutation_client_time_must_be_aware(client_time):
    with pytest.raises(ValidationError):
        w.Mutation.model_validate(mutation(client_time=client_time))


def test_mutation_type_is_a_bounded_string():
    assert w.Mutation.model_validate(mutation(type="t" * 100)).type == "t" * 100
    for bad in ["t" * 101, None, 5, ["note.create"]]:
        with pytest.raises(ValidationError):
            w.Mutation.model_validate(mutation(type=bad))


def test_mutation_result_shape():
    ok = w.MutationResult(id=uuid.uuid4(), status="applied")
    assert ok.model_dump(exclude_none=True).keys() == {"id", "status"}
    for status in ("applied", "duplicate", "rejected"):
        w.MutationResult(id=uuid.uuid4(), status=status)
    with pytest.raises(ValidationError):
        w.MutationResult(id=uuid.uuid4(), status="ignored")
    rejected = w.MutationResult(
        id=uuid.uuid4(),
        status="rejected",
        error=w.ErrorDetail(code="forbidden", message="no"),
    )
    assert rejected.model_dump()["error"] == {"code": "forbidden", "message": "no"}


# --- pull -------------------------------------------------------------------------------


def test_pull_request_defaults():
    body = w.PullRequest.model_validate({"protocol": 1})
    assert body.cursor is None and body.limit == 500


@pytest.mark.parametrize(("limit", "ok"), [(1, True), (1000, True), (0, False), (1001, False)])
def test_pull_limit_bounds(limit, ok):
    if ok:
        assert w.PullRequest.model_validate({"protocol": 1, "limit": limit}).limit == limit
    else:
        with pytest.raises(ValidationError):
            w.PullRequest.model_validate({"protocol": 1, "limit": limit})


@given(st.integers(min_value=-(10**6), max_value=10**6))
@BOUNDED
def test_pull_limit_accepted_iff_1_to_1000(limit):
    try:
        w.PullRequest.model_validate({"protocol": 1, "limit": limit})
    except ValidationError:
        accepted = False
    else:
        accepted = True
    assert accepted is (1 <= limit <= 1000)


@pytest.mark.parametrize(
    "bad",
    [
        {"protocol": 1, "cursor": 7},
        {"protocol": 1, "cursor": "c" * 201},
        {"cursor": None},
        {"protocol": 1, "limit": "many"},
        {"protocol": 1, "limit": 2.5},
    ],
)
def test_pull_request_errors(bad):
    with pytest.raises(ValidationError):
        w.PullRequest.model_validate(bad)


def test_change_and_pull_response_shape():
    change = w.Change(entity="note", op="remove", id=uuid.uuid4())
    assert change.model_dump(mode="json")["data"] is None
    with pytest.raises(ValidationError):
        w.Change(entity="note", op="delete", id=uuid.uuid4())
    response = w.PullResponse(changes=[change], cursor="c", has_more=False, reset=False)
    assert set(response.model_dump()) == {"changes", "cursor", "has_more", "reset"}


# --- auth and the rest ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("login", ""),
        ("login", "l" * 201),
        ("password", ""),
        ("password", "p" * 1001),
        ("device_name", ""),
        ("device_name", "d" * 201),
        ("login", None),
        ("password", 1234),
    ],
)
def test_login_request_bounds(field, bad):
    body = {"login": "sup_a", "password": "secret", "device_name": "phone"}
    assert w.LoginRequest.model_validate(body).login == "sup_a"
    with pytest.raises(ValidationError):
        w.LoginRequest.model_validate({**body, field: bad})


def test_login_response_shape_matches_the_protocol():
    body = {
        "token": "t",
        "device_id": str(uuid.uuid4()),
        "user": {
            "id": str(uuid.uuid4()),
            "display_name": "Sophie (test)",
            "roles": ["counsellor"],
            "org_id": str(uuid.uuid4()),
            "language": "fr",
        },
    }
    parsed = w.LoginResponse.model_validate(body)
    assert parsed.model_dump(mode="json") == body
    for field in ("token", "device_id", "user"):
        with pytest.raises(ValidationError):
            w.LoginResponse.model_validate({k: v for k, v in body.items() if k != field})
    with pytest.raises(ValidationError):
        w.LoginResponse.model_validate({**body, "user": {**body["user"], "org_id": "acme"}})


def test_availability_until_must_be_aware():
    ok = w.AvailabilityRequest.model_validate(
        {"away": True, "stand_in_id": None, "until": "2025-03-10T18:00:00+01:00"}
    )
    assert ok.until is not None and ok.until.tzinfo is not None
    with pytest.raises(ValidationError):
        w.AvailabilityRequest.model_validate({"away": True, "until": "2025-03-10T18:00:00"})
    with pytest.raises(ValidationError):
        w.AvailabilityRequest.model_validate({"away": True, "stand_in_id": "sophie"})
    with pytest.raises(ValidationError):
        w.AvailabilityRequest.model_validate({"stand_in_id": None})


def test_error_response_shape():
    body = w.ErrorResponse(error=w.ErrorDetail(code="invalid_body", message="bad")).model_dump()
    assert body == {"error": {"code": "invalid_body", "message": "bad"}}
    assert w.Health().model_dump() == {"status": "ok"}


# The v1 core entity fields and the routing fields (docs/protocol.md §5.4).
CORE_ENTITY_FIELDS = {
    "team": {"id", "name", "site"},
    "worker": {
        "id",
        "ref",
        "display_name",
        "team_id",
        "counsellor_id",
        "counsellor_name",
        "active",
    },
    "note": {
        "id",
        "author_id",
        "worker_id",
        "team_id",
        "kind",
        "category",
        "severity",
        "text",
        "captured_at",
        "received_at",
        "status",
        "deliveries",
    },
    "follow_up": {"id", "note_id", "action", "text", "close", "author_id", "created_at"},
    "heads_up": {"id", "worker_id", "text", "valid_until", "author_id", "created_at"},
}


@pytest.mark.parametrize("entity", sorted(CORE_ENTITY_FIELDS))
def test_entity_models_carry_the_core_fields(entity):
    assert CORE_ENTITY_FIELDS[entity] <= set(ENTITY_MODELS[entity].model_fields)


def test_delivery_carries_the_routing_fields():
    from shared_models.entities import DeliveryData

    assert {
        "recipient_id",
        "recipient_name",
        "reason",
        "delivered_at",
        "seen_at",
        "acknowledged_at",
    } <= set(DeliveryData.model_fields)
