"""Talking to a real server over HTTP in tests: sign in, push, hold a stream, scrape."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx

from relais_testing.factories import PASSWORD, mutation


def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def sign_in(base_url: str, login: str, password: str = PASSWORD, **kw: object) -> httpx.Response:
    return httpx.post(
        f"{base_url}/api/v1/auth/login",
        json={"login": login, "password": password, "device_name": "multi-process test"},
        timeout=60,
        **kw,  # type: ignore[arg-type]
    )


def bearer(base_url: str, login: str, **kw: object) -> dict[str, str]:
    response = sign_in(base_url, login, **kw)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def push_notes(base_url: str, headers: dict[str, str], *notes: dict[str, object]) -> None:
    response = httpx.post(
        f"{base_url}/api/v1/sync/push",
        json={"protocol": 1, "mutations": [mutation("note.create", n) for n in notes]},
        headers=headers,
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert {r["status"] for r in response.json()["results"]} == {"applied"}


@contextmanager
def held_stream(
    base_url: str, headers: dict[str, str], **client_options: object
) -> Iterator[list[dict[str, str]]]:
    """A live stream in a thread; yields the pokes received so far (parsed data)."""
    pokes: list[dict[str, str]] = []
    stop = threading.Event()

    def hold() -> None:
        timeout = httpx.Timeout(15, read=30)
        with (
            httpx.Client(timeout=timeout, **client_options) as client,  # type: ignore[arg-type]
            client.stream("GET", f"{base_url}/api/v1/sync/stream", headers=headers) as response,
        ):
            for line in response.iter_lines():
                if stop.is_set():
                    return
                if line.startswith("data:"):
                    pokes.append(json.loads(line[5:]))

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    wait_until(lambda: len(pokes) >= 1)  # the stream opens with the current position
    try:
        yield pokes
    finally:
        stop.set()
        thread.join(35)


def scrape(base_url: str, name: str, **labels: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{base_url}/metrics", timeout=60).text
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                total += sample.value
    return total
