"""Bodies of the admin API (/api/v1/admin/...): accounts, devices, the roster, the overview.

An admin configures the organisation and never reads note content: nothing here carries any.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

from shared_models.fields import OptionalText, Text
from shared_models.vocabulary import Language, Role

MIN_PASSWORD = 8
MAX_PASSWORD = 1000


class AdminUser(BaseModel):
    id: UUID
    login: str
    display_name: str
    roles: list[str]
    email: str | None = None
    language: str
    disabled: bool
    # Too many failed logins within the throttling window: sign-in is refused until unlocked.
    locked: bool
    active_devices: int


class AdminUsers(BaseModel):
    users: list[AdminUser]


class NewUser(BaseModel):
    login: Text = Field(min_length=1, max_length=200)
    display_name: Text = Field(min_length=1, max_length=200)
    roles: list[Role] = Field(min_length=1, max_length=4)
    password: Text = Field(min_length=MIN_PASSWORD, max_length=MAX_PASSWORD)
    language: Language = Language.FR
    email: OptionalText = Field(default=None, max_length=320)


class NewPassword(BaseModel):
    password: Text = Field(min_length=MIN_PASSWORD, max_length=MAX_PASSWORD)


class AccountOutcome(BaseModel):
    """What an action on an account did."""

    user: AdminUser
    devices_signed_out: int = 0
    attempts_forgotten: int = 0


DeviceState = Literal["active", "revoked", "password changed", "expired"]


class AdminDevice(BaseModel):
    id: UUID
    user_id: UUID
    login: str
    display_name: str
    name: str
    created_at: datetime
    last_seen_at: datetime | None = None
    state: DeviceState


class AdminDevices(BaseModel):
    devices: list[AdminDevice]


class RosterProblemItem(BaseModel):
    """One problem of a roster file. `code` (stable, docs/protocol.md §16) and `params`
    (`value`, `max`, `first_line`, `byte`, `missing`, `unknown`, `expected`) let the app say
    it in the admin's language; `message` is the English the command line prints."""

    line: int
    column: str | None = None
    code: str
    params: dict[str, str] = {}
    message: str
    header: bool = False


class StaffingWarning(BaseModel):
    """A team over the French ACI ratio (at most 12 active workers per supervisor)."""

    team_id: UUID
    team: str
    workers: int
    supervisors: int


class RosterImport(BaseModel):
    """The outcome of a roster upload: with problems, nothing was written."""

    imported: bool
    encoding: str | None = None  # "UTF-8", "Windows-1252 (cp1252)"; None: not decodable
    delimiter: str | None = None  # ",", ";" or a tab
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    warnings: list[str] = []  # in English, as the command line says them
    staffing: list[StaffingWarning] = []  # the same warnings, as data
    taken_over: list[str] = []
    problems: list[RosterProblemItem] = []


class QuarantineCount(BaseModel):
    code: str
    count: int


class AdminOverview(BaseModel):
    users: int
    disabled_users: int
    locked_logins: int
    active_devices: int
    active_workers: int
    quarantined: int  # mutations the server refused, kept for inspection
    quarantine: list[QuarantineCount]
    staffing: list[StaffingWarning]
