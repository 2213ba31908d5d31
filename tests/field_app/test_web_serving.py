"""The web app's ASGI wrapper: a browser that vanished mid-update costs no traceback."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from uvicorn.protocols.utils import ClientDisconnected

from field_app.__main__ import DropFramesToGoneBrowsers


class GoneBrowser:
    """The server side of a socket whose browser has gone: every send fails as uvicorn's does."""

    def __init__(self) -> None:
        self.attempts: list[str] = []

    async def send(self, message: dict[str, Any]) -> None:
        self.attempts.append(message["type"])
        raise ClientDisconnected()

    async def receive(self) -> dict[str, Any]:
        return {"type": "websocket.disconnect", "code": 1006}


def test_frames_to_a_gone_browser_are_dropped_and_the_app_goes_on_to_end_its_session():
    ended: list[bool] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "websocket.send", "bytes": b"update"})
        await send({"type": "websocket.send", "bytes": b"another"})
        assert (await receive())["type"] == "websocket.disconnect"
        ended.append(True)

    browser = GoneBrowser()
    asyncio.run(DropFramesToGoneBrowsers(app)({"type": "websocket"}, browser.receive, browser.send))
    assert browser.attempts == ["websocket.send", "websocket.send"]
    assert ended == [True]


def test_other_failures_still_surface():
    async def closes(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "websocket.close", "code": 1000})

    async def plain_http(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200})

    browser = GoneBrowser()
    with pytest.raises(ClientDisconnected):
        asyncio.run(
            DropFramesToGoneBrowsers(closes)({"type": "websocket"}, browser.receive, browser.send)
        )
    with pytest.raises(ClientDisconnected):
        asyncio.run(
            DropFramesToGoneBrowsers(plain_http)({"type": "http"}, browser.receive, browser.send)
        )
