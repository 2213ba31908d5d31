"""SyncClient: sign-in, push, pull and the live stream of one device, over httpx (asyncio).

Network calls stay apart from store operations: a kill between any two leaves both safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random as _random
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NoReturn

import httpx
from pydantic import ValidationError

from field_app.store import (
    Credentials,
    LocalStore,
    PushOutcome,
    QueuedMutation,
    StoreBelongsToAnotherUser,
)
from field_app.sync.backoff import Backoff
from field_app.sync.errors import (
    LoginRefused,
    Offline,
    RetryLater,
    ServerTrouble,
    SignedOut,
    SyncError,
    UpdateRequired,
)
from field_app.sync.stream import EventParser, poke_cursor
from shared_models.wire import (
    MAX_MUTATIONS_PER_PUSH,
    MAX_PUSH_BYTES,
    PROTOCOL_VERSION,
    PULL_LIMIT_DEFAULT,
    Availability,
    AvailabilityRequest,
    LoginRequest,
    LoginResponse,
    MutationResult,
    Preferences,
    PullResponse,
    UserInfo,
)

log = logging.getLogger(__name__)

API = "/api/v1"
# 401 codes that mean "this token is finished": anything else may be a proxy or a glitch.
SIGNED_OUT_CODES = frozenset({"token_revoked", "user_disabled", "invalid_token"})
# A reset must be followed by pages from null; more resets in a row means something is wrong.
MAX_RESETS_PER_PULL = 2
DEFAULT_TIMEOUT = httpx.Timeout(15.0, connect=10.0)
# A full batch of 500 mutations takes the server far longer than a pull (about a second on
# a small host, more when it is busy). A timeout is harmless (the retry gets
# `duplicate`), but it wastes the upload.
PUSH_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
# The server sends a comment at least every 20 s: two missed heartbeats mean a dead stream.
STREAM_READ_TIMEOUT = 45.0

Sleep = Callable[[float], Awaitable[Any]]


class PreferencesRefused(SyncError):
    """The server refused notification preferences (an unknown time zone, say)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class AvailabilityRefused(SyncError):
    """The server refused an availability change (not a counsellor, bad stand-in or date)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class Refused(SyncError):
    """The server refused a direct request (403, 404, 409, 422) with the protocol's error."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class UnsentChanges(SyncError):
    """Signing out now would strand queued notes on this phone until the next sign-in."""


@dataclass(frozen=True)
class PullReport:
    pages: int = 0
    changes: int = 0
    resets: int = 0


@dataclass(frozen=True)
class SyncReport:
    pushed: PushOutcome = field(default_factory=PushOutcome)
    pulled: PullReport = field(default_factory=PullReport)


def normalise_server(url: str) -> str:
    """`https://relais.example.org/` -> `https://relais.example.org`; refuses non-HTTP."""
    text = url.strip().rstrip("/")
    parsed = httpx.URL(text)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(f"not an http(s) server address: {url!r}")
    return text


def _error(response: httpx.Response) -> tuple[str | None, str]:
    """The protocol's error code and message, if the body has that shape."""
    try:
        body = response.json()
        detail = body["error"]
        return str(detail["code"]), str(detail.get("message", ""))
    except (ValueError, KeyError, TypeError):
        return None, ""


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    return float(value) if value.isdigit() else None


async def _send(http: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> httpx.Response:
    try:
        return await http.request(method, url, **kwargs)
    except httpx.RequestError as exc:  # connect, read, timeouts, dropped connections
        raise Offline(type(exc).__name__) from exc


async def request_token(
    http: httpx.AsyncClient, server: str, login: str, password: str, device_name: str
) -> LoginResponse:
    """POST /auth/login; for a UI that opens the user's own store only after sign-in."""
    try:
        body = LoginRequest(login=login, password=password, device_name=device_name)
    except ValidationError:
        raise LoginRefused("invalid_body", "login, password and device name are required") from None
    response = await _send(
        http, "POST", f"{normalise_server(server)}{API}/auth/login", json=body.model_dump()
    )
    if response.status_code == 200:
        try:
            return LoginResponse.model_validate_json(response.content)
        except ValidationError:
            raise ServerTrouble(200, "invalid_response") from None
    code, message = _error(response)
    if response.status_code in (401, 422, 429) and code is not None:
        raise LoginRefused(code, message)
    raise ServerTrouble(response.status_code, code, _retry_after(response))


def _push_results(response: httpx.Response) -> list[MutationResult]:
    """The results of a 200 push, ignoring fields added by a newer server.

    MutationResult forbids unknown fields; read strictly, one added field would make every
    answer unreadable and block the outbox for good.
    """
    try:
        return [
            MutationResult.model_validate(
                {key: item[key] for key in ("id", "status", "error") if key in item}
            )
            for item in response.json()["results"]
        ]
    except (ValueError, KeyError, TypeError, ValidationError):
        raise ServerTrouble(200, "invalid_response") from None


def _push_body(batch: Sequence[QueuedMutation]) -> bytes:
    return json.dumps(
        {"protocol": PROTOCOL_VERSION, "mutations": [m.wire() for m in batch]},
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()


def _fit_in_one_request(
    queued: Sequence[QueuedMutation],
) -> tuple[list[QueuedMutation], list[QueuedMutation]]:
    """The longest prefix under the 1 MiB limit, and any mutation too large to ever send."""
    overhead = len(_push_body([]))
    batch: list[QueuedMutation] = []
    too_large: list[QueuedMutation] = []
    size = overhead
    for mutation in queued:
        item = len(_push_body([mutation])) - overhead + 1  # +1 for the comma
        if overhead + item > MAX_PUSH_BYTES:
            too_large.append(mutation)
            continue
        if size + item > MAX_PUSH_BYTES:
            break
        batch.append(mutation)
        size += item
    return batch, too_large


class SyncClient:
    """One device's conversation with the server, over a LocalStore.

    `transport` replaces httpx's network transport (tests inject faults through it);
    `random` and `sleep` drive the backoff. Use one client per event loop.
    """

    def __init__(
        self,
        store: LocalStore,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        push_timeout: httpx.Timeout = PUSH_TIMEOUT,
        stream_read_timeout: float = STREAM_READ_TIMEOUT,
        random: Callable[[], float] = _random.random,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.store = store
        self._http = httpx.AsyncClient(transport=transport, timeout=timeout)
        self._timeout = timeout
        self._push_timeout = push_timeout
        self._stream_read_timeout = stream_read_timeout
        self._random = random
        self._sleep = sleep
        self.backoff = Backoff(random=random)
        self._push_lock = asyncio.Lock()
        self._pull_lock = asyncio.Lock()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> SyncClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    # Sign-in ---------------------------------------------------------------------------

    async def login(self, server: str, login: str, password: str, device_name: str) -> UserInfo:
        """Open a device on the server and keep its token in the store."""
        server = normalise_server(server)
        previous = self.store.credentials()
        session = await request_token(self._http, server, login, password, device_name)
        try:
            self.store.sign_in(server, session)
        except StoreBelongsToAnotherUser:
            with contextlib.suppress(SyncError):  # don't leave an unused device open
                await self._call("POST", "/auth/logout", self._as(server, session))
            raise
        if previous is not None and previous.server == server:  # the old token is now unused
            with contextlib.suppress(SyncError):
                await self._call("POST", "/auth/logout", previous)
        return session.user

    async def logout(self, *, force: bool = False) -> None:
        """Revoke this device's token; refuses while notes are queued unless `force`."""
        if not force and self.store.counts().queued:
            raise UnsentChanges("some changes are not sent yet")
        credentials = self.store.credentials()
        if credentials is not None:
            with contextlib.suppress(SyncError):  # offline: the token dies with the store copy
                await self._call("POST", "/auth/logout", credentials)
        self.store.sign_out("logged_out")

    @staticmethod
    def _as(server: str, session: LoginResponse) -> Credentials:
        return Credentials(server, session.token, session.device_id, session.user)

    def _credentials(self) -> Credentials:
        credentials = self.store.credentials()
        if credentials is None:
            raise SignedOut(self.store.signed_out_reason() or "not_signed_in")
        return credentials

    # HTTP ------------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        credentials: Credentials,
        body: bytes | None = None,
        timeout: httpx.Timeout | None = None,
        content_type: str = "application/json",
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {credentials.token}"}
        if body is not None:
            headers["Content-Type"] = content_type
        return await _send(
            self._http,
            method,
            f"{credentials.server}{API}{path}",
            content=body,
            headers=headers,
            timeout=timeout or self._timeout,
        )

    def _raise_for(self, credentials: Credentials, response: httpx.Response) -> NoReturn:
        code, _message = _error(response)
        if response.status_code == 401 and code in SIGNED_OUT_CODES:
            # Only if the store still holds that token: a late answer must not sign out a
            # session opened since.
            self.store.sign_out(code, token=credentials.token)
            log.warning("signed out by the server (%s)", code)
            raise SignedOut(code or "signed_out")
        if response.status_code == 422 and code == "unsupported_protocol":
            raise UpdateRequired(f"the server does not speak protocol {PROTOCOL_VERSION}")
        raise ServerTrouble(response.status_code, code, _retry_after(response))

    # Push ------------------------------------------------------------------------------

    async def push_once(self) -> PushOutcome:
        """Send the oldest queued mutations (at most 500 and 1 MiB) and settle the answers."""
        async with self._push_lock:
            credentials = self._credentials()
            queued = self.store.pending(MAX_MUTATIONS_PER_PUSH)
            batch, too_large = _fit_in_one_request(queued)
            outcome = PushOutcome()
            for mutation in too_large:
                self.store.reject_locally(
                    mutation.id, "too_large", f"larger than the {MAX_PUSH_BYTES}-byte limit"
                )
                outcome += PushOutcome(rejected=1)
            if batch:
                outcome += await self._push_batch(credentials, batch)
            return outcome

    async def _push_batch(
        self, credentials: Credentials, batch: Sequence[QueuedMutation]
    ) -> PushOutcome:
        self.store.note_attempt(m.id for m in batch)
        body = _push_body(batch)
        response = await self._call("POST", "/sync/push", credentials, body, self._push_timeout)
        status = response.status_code
        if status == 200:
            results = _push_results(response)
            sent = {m.id for m in batch}
            outcome = self.store.apply_push_results(r for r in results if r.id in sent)
            log.info(
                "push: %d applied, %d duplicate, %d rejected",
                outcome.applied,
                outcome.duplicate,
                outcome.rejected,
            )
            return outcome
        code, message = _error(response)
        if status in (413, 422) and code != "unsupported_protocol":
            # The server could not read the request as a whole: find the mutation it chokes
            # on by halves, so that one bad entry never blocks the others.
            if len(batch) == 1:
                local_code = "invalid_envelope" if status == 422 else "too_large"
                self.store.reject_locally(batch[0].id, local_code, message or f"HTTP {status}")
                log.warning("push: one mutation refused as a whole request (%s)", local_code)
                return PushOutcome(rejected=1)
            half = len(batch) // 2
            first = await self._push_batch(credentials, batch[:half])
            return first + await self._push_batch(credentials, batch[half:])
        self._raise_for(credentials, response)

    async def push_all(self) -> PushOutcome:
        """push_once until the outbox is empty or a round settles nothing."""
        total = PushOutcome()
        budget = self.store.counts().queued + MAX_MUTATIONS_PER_PUSH
        while budget > 0:
            outcome = await self.push_once()
            total += outcome
            budget -= max(outcome.settled, 1)
            if outcome.settled == 0 or self.store.counts().queued == 0:
                break
        return total

    # Pull ------------------------------------------------------------------------------

    async def pull_until_done(self, limit: int = PULL_LIMIT_DEFAULT) -> PullReport:
        """Pull pages until has_more is false; each page and its cursor in one transaction."""
        async with self._pull_lock:
            credentials = self._credentials()
            watermark = self.store.sent_watermark()
            pages = changes = resets = stale = 0
            while True:
                since = self.store.cursor()
                page = await self._pull_page(credentials, since, limit)
                if page.reset:
                    resets += 1
                    if resets > MAX_RESETS_PER_PULL:
                        raise ServerTrouble(200, "repeated_reset")
                    log.info("pull: the server reset our cursor; starting over")
                    if not self.store.apply_pull([], None, reset=True, token=credentials.token):
                        raise SignedOut(self.store.signed_out_reason() or "signed_out")
                    continue
                applied = self.store.apply_pull(
                    page.changes, page.cursor, since=since, token=credentials.token
                )
                if not applied:
                    if self.store.credentials() != credentials:
                        raise SignedOut(self.store.signed_out_reason() or "signed_out")
                    stale += 1  # another pull moved the cursor: carry on from there
                    if stale > 3:
                        raise RetryLater("the cursor keeps moving under this pull")
                    continue
                pages += 1
                changes += len(page.changes)
                if not page.has_more:
                    break
                if page.cursor == since and not page.changes:
                    raise ServerTrouble(200, "no_progress")
            self.store.forget_sent(watermark)
            log.info("pull: %d changes in %d pages", changes, pages)
            return PullReport(pages=pages, changes=changes, resets=resets)

    async def _pull_page(
        self, credentials: Credentials, cursor: str | None, limit: int
    ) -> PullResponse:
        body = json.dumps({"protocol": PROTOCOL_VERSION, "cursor": cursor, "limit": limit})
        response = await self._call("POST", "/sync/pull", credentials, body.encode())
        if response.status_code != 200:
            self._raise_for(credentials, response)
        try:
            return PullResponse.model_validate_json(response.content)
        except ValidationError:
            raise ServerTrouble(200, "invalid_response") from None

    # Both ------------------------------------------------------------------------------

    async def sync_once(self) -> SyncReport:
        """Push, then pull: what we just sent comes back with the server's routing."""
        pushed = await self.push_all()
        pulled = await self.pull_until_done()
        return SyncReport(pushed=pushed, pulled=pulled)

    async def sync_with_retry(
        self, *, attempts: int | None = None, deadline: float | None = None
    ) -> SyncReport:
        """sync_once, retried with backoff after RetryLater; `deadline` is time.monotonic()."""
        tried = 0
        while True:
            tried += 1
            try:
                report = await self.sync_once()
            except RetryLater as exc:
                delay = self.backoff.next_delay(exc.retry_after)
                out_of_tries = attempts is not None and tried >= attempts
                out_of_time = deadline is not None and time.monotonic() + delay > deadline
                if out_of_tries or out_of_time:
                    raise
                log.info("sync failed (%s); retrying in %.1f s", exc.reason, delay)
                await self._sleep(delay)
                continue
            self.backoff.reset()
            return report

    # Availability ----------------------------------------------------------------------

    async def set_availability(
        self, away: bool, stand_in_id: uuid.UUID | None = None, until: datetime | None = None
    ) -> Availability:
        """PUT /me/availability (counsellors): not queued, it needs the server at once.

        Raises Offline or ServerTrouble (RetryLater), SignedOut, or AvailabilityRefused.
        """
        credentials = self._credentials()
        body = AvailabilityRequest(away=away, stand_in_id=stand_in_id, until=until)
        response = await self._call(
            "PUT", "/me/availability", credentials, body.model_dump_json().encode()
        )
        if response.status_code == 200:
            try:
                return Availability.model_validate_json(response.content)
            except ValidationError:
                raise ServerTrouble(200, "invalid_response") from None
        code, message = _error(response)
        if response.status_code in (403, 422) and code is not None:
            raise AvailabilityRefused(code, message)
        self._raise_for(credentials, response)

    # Direct requests -------------------------------------------------------------------

    async def fetch(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        content_type: str = "application/json",
    ) -> httpx.Response:
        """A call outside sync (administration, downloads), with this device's token: the
        answer when it is a success, Refused when the server refused the request itself;
        otherwise Offline, ServerTrouble or SignedOut, as for sync."""
        credentials = self._credentials()
        response = await self._call(
            method, path, credentials, body, timeout=PUSH_TIMEOUT, content_type=content_type
        )
        if 200 <= response.status_code < 300:
            return response
        code, message = _error(response)
        if response.status_code in (403, 404, 409, 422) and code is not None:
            raise Refused(response.status_code, code, message)
        self._raise_for(credentials, response)

    # Notification preferences ----------------------------------------------------------

    async def preferences(self) -> Preferences:
        """GET /me/preferences: how the user is told outside the app."""
        credentials = self._credentials()
        response = await self._call("GET", "/me/preferences", credentials)
        if response.status_code == 200:
            try:
                return Preferences.model_validate_json(response.content)
            except ValidationError:
                raise ServerTrouble(200, "invalid_response") from None
        self._raise_for(credentials, response)

    async def set_preferences(self, preferences: Preferences) -> Preferences:
        """PUT /me/preferences. Raises PreferencesRefused for a value the server refuses."""
        credentials = self._credentials()
        body = preferences.model_dump_json().encode()
        response = await self._call("PUT", "/me/preferences", credentials, body)
        if response.status_code == 200:
            try:
                return Preferences.model_validate_json(response.content)
            except ValidationError:
                raise ServerTrouble(200, "invalid_response") from None
        code, message = _error(response)
        if response.status_code == 422 and code is not None:
            raise PreferencesRefused(code, message)
        self._raise_for(credentials, response)

    # Live stream -----------------------------------------------------------------------

    async def listen(
        self,
        on_poke: Callable[[str | None], None],
        on_live: Callable[[bool], None] | None = None,
    ) -> None:
        """Follow GET /sync/stream and call `on_poke(cursor)` per poke, until cancelled.

        Reconnects with backoff after any failure or end of stream; raises SignedOut or
        UpdateRequired when reconnecting cannot help.
        """
        backoff = Backoff(random=self._random)
        while True:
            credentials = self._credentials()
            try:
                if await self._follow_stream(credentials, on_poke, on_live):
                    backoff.reset()
                delay = backoff.next_delay()
            except RetryLater as exc:
                delay = backoff.next_delay(exc.retry_after)
                log.info("stream lost (%s); reconnecting in %.1f s", exc.reason, delay)
            finally:
                if on_live is not None:
                    on_live(False)
            await self._sleep(delay)

    async def _follow_stream(
        self,
        credentials: Credentials,
        on_poke: Callable[[str | None], None],
        on_live: Callable[[bool], None] | None,
    ) -> bool:
        """One connection; True if it brought at least one poke."""
        headers = {
            "Authorization": f"Bearer {credentials.token}",
            "Accept": "text/event-stream",
            "Cache-Control": "no-cache",
        }
        timeout = httpx.Timeout(DEFAULT_TIMEOUT.connect, read=self._stream_read_timeout)
        url = f"{credentials.server}{API}/sync/stream"
        poked = False
        try:
            async with self._http.stream("GET", url, headers=headers, timeout=timeout) as response:
                if response.status_code != 200:
                    await response.aread()
                    self._raise_for(credentials, response)
                if on_live is not None:
                    on_live(True)
                parser = EventParser()
                async for line in response.aiter_lines():
                    event = parser.feed(line)
                    if event is not None and event.name == "poke":
                        poked = True
                        on_poke(poke_cursor(event.data))
        except httpx.RequestError as exc:
            raise Offline(type(exc).__name__) from exc
        return poked
