"""Headless simulated device: sign in, optionally queue fictional notes, sync once or keep syncing.

Used by tests and load tests as a subprocess. Prints JSON lines of counts, never note text.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from field_app.store import LocalStore, StoreBelongsToAnotherUser
from field_app.sync.client import SyncClient, normalise_server
from field_app.sync.errors import LoginRefused, RetryLater, SignedOut, UpdateRequired
from field_app.sync.loop import SyncLoop, SyncStatus

# 1 is left to crashes, 2 is argparse's own usage error.
EXIT_OK = 0
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_SIGNED_OUT = 4
EXIT_UPDATE_REQUIRED = 5

# Invented observations, so that a simulated device never carries anything real.
FICTIONAL_TEXTS = (
    "Simulated note {n}: finished the hedge on time and helped a colleague.",
    "Simulated note {n}: arrived late, said the bus did not come.",
    "Simulated note {n}: asked twice about the tool safety briefing.",
)


class UsageError(Exception):
    pass


def server_address(text: str) -> str:
    try:
        return normalise_server(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m field_app.sync",
        description="A headless Relais device: signs in, queues fictional notes, syncs.",
    )
    parser.add_argument(
        "--server",
        required=True,
        type=server_address,
        help="server address, e.g. http://127.0.0.1:8040",
    )
    parser.add_argument("--login", required=True)
    parser.add_argument(
        "--password",
        default=os.environ.get("RELAIS_PASSWORD"),
        help="password (default: $RELAIS_PASSWORD; only needed when not signed in yet)",
    )
    parser.add_argument("--db", required=True, help="local store file of this simulated device")
    parser.add_argument("--device-name", default="headless device")
    parser.add_argument("--create-notes", type=int, default=0, metavar="N")
    parser.add_argument("--worker-ref", help="worker the notes are about (default: the first one)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_true", help="sync until nothing is queued (default)")
    mode.add_argument("--watch", action="store_true", help="keep syncing, with the live stream")
    parser.add_argument("--timeout", type=float, default=60.0, help="--once: give up after S s")
    parser.add_argument("--duration", type=float, help="--watch: stop after S seconds")
    parser.add_argument("--interval", type=float, default=30.0, help="--watch: timer in seconds")
    parser.add_argument("--verbose", action="store_true")
    return parser.parse_args(argv)


def counts(store: LocalStore, event: str, **extra: Any) -> dict[str, Any]:
    outbox = store.counts()
    return {
        "event": event,
        "queued": outbox.queued,
        "rejected": outbox.rejected,
        "notes": store.count_entities("note"),
        "workers": store.count_entities("worker"),
        **extra,
    }


def emit(line: dict[str, Any]) -> None:
    print(json.dumps(line, sort_keys=True), flush=True)


def fictional_note(worker: dict[str, Any], n: int) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "worker_id": worker["id"],
        "team_id": worker["team_id"],
        "kind": "observation",
        "category": "teamwork",
        "severity": "info",
        "text": FICTIONAL_TEXTS[n % len(FICTIONAL_TEXTS)].format(n=n + 1),
        "captured_at": datetime.now(UTC).isoformat(),
    }


def pick_worker(store: LocalStore, ref: str | None) -> dict[str, Any]:
    workers = sorted(store.list_entities("worker", active=True), key=lambda w: w["ref"])
    if ref is not None:
        workers = [w for w in workers if w["ref"] == ref]
    if not workers:
        raise UsageError(
            f"no worker with ref {ref!r} in this user's roster"
            if ref
            else "this user sees no active worker"
        )
    return workers[0]


async def sign_in_if_needed(client: SyncClient, args: argparse.Namespace) -> None:
    credentials = client.store.credentials()
    if credentials is not None and credentials.server == args.server:
        return
    if not args.password:
        raise UsageError("not signed in: give --password or set RELAIS_PASSWORD")
    await client.login(args.server, args.login, args.password, args.device_name)
    emit(counts(client.store, "signed_in"))


async def sync(client: SyncClient, args: argparse.Namespace, deadline: float) -> None:
    """sync_with_retry, signing in again once if the server ended our session."""
    try:
        await client.sync_with_retry(deadline=deadline)
    except SignedOut:
        if not args.password:
            raise
        await sign_in_if_needed(client, args)
        await client.sync_with_retry(deadline=deadline)


async def watch(client: SyncClient, args: argparse.Namespace) -> SyncStatus:
    last_printed: list[datetime | None] = [None]

    def show(status: SyncStatus) -> None:
        if status.last_success != last_printed[0] and status.state == "idle":
            last_printed[0] = status.last_success
            emit(counts(client.store, "synced", live=status.live))
        elif status.state in ("offline", "signed_out", "update_required"):
            emit(counts(client.store, status.state, error=status.last_error))

    loop = SyncLoop(client, interval=args.interval, on_status=show)
    runner = asyncio.create_task(loop.run())
    event_loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not on Windows
            event_loop.add_signal_handler(sig, loop.stop)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(runner), timeout=args.duration)
    loop.stop()
    return await runner


async def run(args: argparse.Namespace) -> int:
    deadline = time.monotonic() + args.timeout
    with LocalStore(args.db) as store:
        async with SyncClient(store) as client:
            await sign_in_if_needed(client, args)
            if args.create_notes > 0:
                if not store.count_entities("worker"):
                    await sync(client, args, deadline)
                worker = pick_worker(store, args.worker_ref)
                for n in range(args.create_notes):
                    store.queue("note.create", fictional_note(worker, n))
                emit(counts(store, "queued_notes", created=args.create_notes))
            if args.watch:
                status = await watch(client, args)
                if status.state == "signed_out":
                    return EXIT_SIGNED_OUT
                if status.state == "update_required":
                    return EXIT_UPDATE_REQUIRED
                return EXIT_OK
            await sync(client, args, deadline)
            emit(counts(store, "synced"))
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return asyncio.run(run(args))
    except (UsageError, StoreBelongsToAnotherUser) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except LoginRefused as exc:
        print(f"error: sign-in refused ({exc.code})", file=sys.stderr)
        return EXIT_SIGNED_OUT
    except SignedOut as exc:
        print(f"error: signed out ({exc.code})", file=sys.stderr)
        return EXIT_SIGNED_OUT
    except UpdateRequired as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_UPDATE_REQUIRED
    except RetryLater as exc:
        print(f"error: could not sync in time ({exc.reason}); changes stay queued", file=sys.stderr)
        return EXIT_UNREACHABLE


if __name__ == "__main__":
    sys.exit(main())
