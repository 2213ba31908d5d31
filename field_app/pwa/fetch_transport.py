"""An httpx transport over the browser's fetch: Pyodide has no sockets.

The sync client stays one code base: it only gets this transport in the PWA. Bodies stream
(the live poke stream is a long response); httpx's timeouts become fetch aborts.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx

# Headers a browser sets itself and refuses from scripts; fetch fails on some of them.
FORBIDDEN_REQUEST_HEADERS = frozenset(
    {"host", "content-length", "connection", "accept-encoding", "user-agent", "keep-alive"}
)
# The browser has already decoded the body: these would make httpx decode it again.
DROPPED_RESPONSE_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})


def _seconds(request: httpx.Request, phase: str) -> float | None:
    timeout = request.extensions.get("timeout") or {}
    value = timeout.get(phase)
    return float(value) if value is not None else None


class _FetchStream(httpx.AsyncByteStream):
    """The response body, read chunk by chunk from the fetch ReadableStream."""

    def __init__(self, reader: Any, controller: Any, read_timeout: float | None) -> None:
        self._reader = reader
        self._controller = controller
        self._read_timeout = read_timeout

    async def __aiter__(self) -> AsyncIterator[bytes]:
        from pyodide.ffi import JsException

        while True:
            try:
                chunk = await asyncio.wait_for(_awaited(self._reader.read()), self._read_timeout)
            except TimeoutError:
                self._controller.abort()
                raise httpx.ReadTimeout("no data from the server in time") from None
            except JsException as exc:
                raise httpx.ReadError(f"reading the response failed: {exc.name}") from None
            if chunk.done:
                return
            yield bytes(chunk.value.to_py())

    async def aclose(self) -> None:
        self._controller.abort()


async def _awaited(promise: Any) -> Any:
    return await promise


class FetchTransport(httpx.AsyncBaseTransport):
    """Sends each request with `fetch`, same origin: no CORS, cookies never used."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        import js
        from pyodide.ffi import JsException, to_js

        controller = js.AbortController.new()
        headers = [
            [name, value]
            for name, value in request.headers.items()
            if name.lower() not in FORBIDDEN_REQUEST_HEADERS
        ]
        options: dict[str, Any] = {
            "method": request.method,
            "headers": to_js(headers),
            "signal": controller.signal,
            "cache": "no-store",
            "credentials": "omit",
        }
        body = await request.aread()
        if body:
            options["body"] = to_js(body)
        connect = _seconds(request, "connect")
        wait = None if connect is None else connect + (_seconds(request, "read") or 0.0)
        try:
            response = await asyncio.wait_for(
                _awaited(
                    js.fetch(str(request.url), to_js(options, dict_converter=js.Object.fromEntries))
                ),
                wait,
            )
        except TimeoutError:
            controller.abort()
            raise httpx.ConnectTimeout("the server did not answer in time") from None
        except JsException as exc:  # offline, refused, aborted: fetch says only "TypeError"
            raise httpx.ConnectError(f"fetch failed: {exc.name}") from None
        kept = [
            (str(name), str(value))
            for name, value in response.headers  # a Headers object iterates [name, value]
            if str(name).lower() not in DROPPED_RESPONSE_HEADERS
        ]
        if response.body is None:  # 204, or a body-less answer
            return httpx.Response(response.status, headers=kept, request=request)
        stream = _FetchStream(response.body.getReader(), controller, _seconds(request, "read"))
        return httpx.Response(response.status, headers=kept, stream=stream, request=request)
