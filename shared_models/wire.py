"""Request and response bodies of protocol v1 (docs/protocol.md), shared by server and clients."""

from __future__ import annotations

from datetime import time
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field, StrictBool, WithJsonSchema

from shared_models.fields import Moment, OptionalText, Text, TimeOfDay, WholeNumber

PROTOCOL_VERSION = 1
MAX_MUTATIONS_PER_PUSH = 500
MAX_PUSH_BYTES = 1024 * 1024  # any request body
MAX_JSON_DEPTH = 32  # arrays and objects nested in any request body
PULL_LIMIT_DEFAULT = 500
PULL_LIMIT_MAX = 1000

# The version a request speaks. Only this one is valid (others get 422
# `unsupported_protocol`), and the schema says so.
Protocol = Annotated[WholeNumber, WithJsonSchema({"type": "integer", "const": PROTOCOL_VERSION})]


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorDetail


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class LoginRequest(BaseModel):
    login: Text = Field(min_length=1, max_length=200)
    password: Text = Field(min_length=1, max_length=1000)
    device_name: Text = Field(min_length=1, max_length=200)


class UserInfo(BaseModel):
    id: UUID
    display_name: str
    roles: list[str]  # strings, not Role: a role added later must not break older apps
    org_id: UUID
    language: str


class LoginResponse(BaseModel):
    token: str
    device_id: UUID
    user: UserInfo


class Mutation(BaseModel):
    """The envelope of one queued change; its `data` is checked per type (see mutations.py)."""

    id: UUID
    type: str = Field(max_length=100)
    data: dict[str, Any]
    client_time: Moment


class PushRequest(BaseModel):
    protocol: Protocol
    mutations: list[Mutation] = Field(max_length=MAX_MUTATIONS_PER_PUSH)


MutationStatus = Literal["applied", "duplicate", "rejected"]


class MutationResult(BaseModel):
    id: UUID
    status: MutationStatus
    error: ErrorDetail | None = None


class PushResponse(BaseModel):
    results: list[MutationResult]


class PullRequest(BaseModel):
    protocol: Protocol
    cursor: OptionalText = Field(default=None, max_length=200)
    limit: WholeNumber = Field(default=PULL_LIMIT_DEFAULT, ge=1, le=PULL_LIMIT_MAX)


class Change(BaseModel):
    entity: str
    op: Literal["upsert", "remove"]
    id: UUID
    data: dict[str, Any] | None = None


class PullResponse(BaseModel):
    changes: list[Change]
    cursor: str
    has_more: bool
    reset: bool


class Poke(BaseModel):
    cursor: str


class AvailabilityRequest(BaseModel):
    away: StrictBool
    stand_in_id: UUID | None = None
    until: Moment | None = None


class Availability(AvailabilityRequest):
    pass


class Preferences(BaseModel):
    """How a user wants to be told outside the app (`GET`/`PUT /api/v1/me/preferences`)."""

    email_urgent: StrictBool = True  # urgent signals and escalations, at once
    email_digest: StrictBool = True  # a daily summary of the rest (counts, never contents)
    quiet_start: TimeOfDay | None = None  # no e-mail between these local times
    quiet_end: TimeOfDay | None = None
    digest_time: TimeOfDay = time(7, 30)
    timezone: Text = Field(default="Europe/Paris", max_length=64)
