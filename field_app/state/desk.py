"""What the app asks the server directly, outside sync: administration (accounts, devices,
the roster) and the coordinator's downloads (meeting brief, subject-access export).

These need the server now: offline, the screens say so, and nothing is queued. Failures
come back as ActionFailed with a catalogue key the screen shows.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date
from typing import TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from field_app.sync.client import Refused, SyncClient
from field_app.sync.errors import RetryLater, SignedOut
from shared_models import admin as wire

Model = TypeVar("Model", bound=BaseModel)

# Refusal codes the screens explain; any other refusal is "the server refused it".
EXPLAINED = {
    "login_taken": "admin.error.login_taken",
    "own_account": "admin.error.own_account",
    "invalid_body": "admin.error.invalid",
    "not_found": "admin.error.gone",
    "forbidden": "desk.error.forbidden",
}


class ActionFailed(Exception):
    """An action that needs the server at once (availability, administration, a download)
    did not go through; `message_key` says why, in the catalogue."""

    def __init__(self, message_key: str) -> None:
        super().__init__(message_key)
        self.message_key = message_key


@dataclass(frozen=True)
class Download:
    filename: str
    content: bytes


class Desk:
    """The direct requests of one signed-in session, over its SyncClient."""

    def __init__(self, client: SyncClient | None) -> None:
        self.client = client

    async def _fetch(
        self, method: str, path: str, body: bytes | None = None, content_type: str = ""
    ) -> httpx.Response:
        if self.client is None:
            raise ActionFailed("desk.error.offline")
        try:
            return await self.client.fetch(
                method, path, body=body, content_type=content_type or "application/json"
            )
        except Refused as refusal:
            raise ActionFailed(EXPLAINED.get(refusal.code, "desk.error.refused")) from None
        except (RetryLater, SignedOut):
            raise ActionFailed("desk.error.offline") from None

    async def _get(self, path: str, model: type[Model]) -> Model:
        return _parse(model, (await self._fetch("GET", path)).content)

    async def _post(self, path: str, model: type[Model], body: BaseModel | None = None) -> Model:
        content = body.model_dump_json().encode() if body is not None else None
        return _parse(model, (await self._fetch("POST", path, content)).content)

    # Administration --------------------------------------------------------------------

    async def overview(self) -> wire.AdminOverview:
        return await self._get("/admin/overview", wire.AdminOverview)

    async def users(self) -> list[wire.AdminUser]:
        return (await self._get("/admin/users", wire.AdminUsers)).users

    async def add_user(self, user: wire.NewUser) -> wire.AdminUser:
        return await self._post("/admin/users", wire.AdminUser, user)

    async def account(self, user_id: uuid.UUID, action: str) -> wire.AccountOutcome:
        """`disable`, `enable` or `unlock` an account."""
        return await self._post(f"/admin/users/{user_id}/{action}", wire.AccountOutcome)

    async def reset_password(self, user_id: uuid.UUID, password: str) -> wire.AccountOutcome:
        body = wire.NewPassword(password=password)
        return await self._post(f"/admin/users/{user_id}/password", wire.AccountOutcome, body)

    async def devices(self) -> list[wire.AdminDevice]:
        return (await self._get("/admin/devices", wire.AdminDevices)).devices

    async def revoke(self, device_id: uuid.UUID) -> None:
        await self._fetch("POST", f"/admin/devices/{device_id}/revoke")

    async def import_roster(self, data: bytes) -> wire.RosterImport:
        response = await self._fetch("POST", "/admin/roster", data, "text/csv")
        return _parse(wire.RosterImport, response.content)

    # The coordinator's downloads -------------------------------------------------------

    async def brief(
        self,
        start: date,
        end: date,
        *,
        team_id: str | None = None,
        worker_id: str | None = None,
        include_sensitive: bool = False,
    ) -> Download:
        query = f"from={start.isoformat()}&to={end.isoformat()}"
        query += f"&team_id={team_id}" if team_id else f"&worker_id={worker_id}"
        if include_sensitive:
            query += "&include_sensitive=true"
        return await self._download(f"/briefs?{query}", "relais-brief.pdf")

    async def subject_access(self, worker_id: str, fmt: str) -> Download:
        return await self._download(
            f"/workers/{worker_id}/export?format={fmt}", f"relais-worker.{fmt}"
        )

    async def _download(self, path: str, fallback: str) -> Download:
        response = await self._fetch("GET", path)
        found = re.search(r'filename="([^"]+)"', response.headers.get("content-disposition", ""))
        return Download(found.group(1) if found else fallback, response.content)


def _parse(model: type[Model], content: bytes) -> Model:
    try:
        return model.model_validate_json(content)
    except ValidationError:
        raise ActionFailed("desk.error.offline") from None
