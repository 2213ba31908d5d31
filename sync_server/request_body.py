"""Every request body passes here before anything reads it: at most a size, and at most a
depth of JSON nesting, so that no body can exhaust memory or Python's recursion limit further
on.

Every body is scanned, whatever its declared content type: which bodies a parser reads as
JSON is the framework's decision, and it may change. The scan reads the body as the parser
does (`json.loads` on bytes): UTF-8, or UTF-16/UTF-32 recognised by RFC 8259/4627 rules, so
that no encoding hides brackets from it.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sync_server.errors import error_body

# A JSON string, escapes included; possessive, so an unterminated one ends at the end of the
# body and the scan stays linear whatever the input.
_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"?', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_AS_SQUARE = bytes.maketrans(b"{}", b"[]")
# Above this size, the scan runs in a worker thread: the event loop keeps serving.
_SCAN_IN_THREAD = 64 * 1024


@lru_cache
def _nesting_at_most(limit: int) -> re.Pattern[bytes]:
    """Brackets nesting at most `limit` deep (a closing one too many is ignored, an opening
    one left open at the end counts): a regular language, so one linear match in C."""
    inner = b""
    for _ in range(limit - 1):
        inner = rb"(?:\[" + inner + rb"(?:\]|\Z))*+"
    return re.compile(rb"(?:\[" + inner + rb"(?:\]|\Z)|\])*+")


def as_parsed(body: bytes) -> bytes:
    """`body` as UTF-8, decoded as `json.loads` decodes bytes (a BOM, or the pattern of zero
    bytes in the first four); a body it cannot decode is refused by it, and left as it is."""
    encoding = json.detect_encoding(body)
    if encoding in ("utf-8", "utf-8-sig"):  # the BOM holds neither brackets nor quotes
        return body
    try:
        return body.decode(encoding, "surrogatepass").encode("utf-8", "surrogatepass")
    except UnicodeError:
        return body


def json_deeper_than(body: bytes, limit: int) -> bool:
    """Whether arrays and objects nest more than `limit` levels anywhere in `body`, read as
    the JSON parser reads it (UTF-8, UTF-16 or UTF-32).

    Exact for valid JSON; for anything else the answer does not matter (it is refused when
    parsed), only that it comes quickly.
    """
    brackets = _STRING.sub(b"", as_parsed(body)).translate(_AS_SQUARE, _NOT_BRACKETS)
    if brackets.count(b"[") <= limit:
        return False
    return _nesting_at_most(limit).fullmatch(brackets) is None


class BodyLimits:
    """Read the whole body first (it is at most `max_bytes`): 413 past that size, 422 for any
    body whose JSON would nest deeper than `max_depth`, whatever its content type; otherwise
    the application gets it as sent."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        max_depth: int,
        raw_paths: frozenset[str] = frozenset(),
    ) -> None:
        """`raw_paths`: routes that read their body as bytes of another format (a CSV
        roster), which no JSON parser ever sees: their size is limited, not their brackets."""
        self.app = app
        self.max_bytes = max_bytes
        self.max_depth = max_depth
        self.raw_paths = raw_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _refuse(send, 413, "payload_too_large", self._too_large)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left before sending its whole body: nobody to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await _refuse(send, 413, "payload_too_large", self._too_large)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body and scope["path"] not in self.raw_paths and await self._too_deep(body):
            limit = f"JSON may nest at most {self.max_depth} levels of arrays and objects"
            await _refuse(send, 422, "invalid_body", limit)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()  # after the body: the disconnect a stream waits for
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _too_deep(self, body: bytes) -> bool:
        if len(body) > _SCAN_IN_THREAD:
            return await run_in_threadpool(json_deeper_than, body, self.max_depth)
        return json_deeper_than(body, self.max_depth)

    @property
    def _too_large(self) -> str:
        return f"request bodies are limited to {self.max_bytes} bytes"


async def _refuse(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps(error_body(code, message)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
