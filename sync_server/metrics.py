"""Prometheus metrics: what ops watch (latency per route, mutations, deliveries, streams,
sweeps, failed logins, the database pool), exposed at /metrics to loopback or a token.

Several server processes (`relais serve --workers N`) share one Prometheus multiprocess
folder (PROMETHEUS_MULTIPROC_DIR, set by `serve` before the workers start), so any process
answers a scrape with the sum of all. Delivery gauges are counted in the database at scrape
time, once, whichever process answers.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Iterable, Iterator, MutableMapping
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import event, func, select
from sqlalchemy.exc import SQLAlchemyError

from shared_models.mutations import MUTATION_TYPES
from shared_models.vocabulary import NoteStatus
from shared_models.wire import MutationResult
from sync_server.database import Database, utcnow
from sync_server.errors import Forbidden, Unauthenticated

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Phones on a worksite network: from a few ms on loopback to the 30 s a client waits.
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

REQUEST_SECONDS = Histogram(
    "relais_http_request_duration_seconds",
    "Time from a request's arrival to its response headers, per route template.",
    ["method", "route", "status"],
    buckets=_LATENCY_BUCKETS,
)
MUTATIONS = Counter(
    "relais_mutations",
    "Pushed mutations by type and outcome (applied, rejected, duplicate).",
    ["type", "status"],
)
LOGIN_FAILURES = Counter(
    "relais_login_failures",
    "Refused logins: wrong credentials, or throttled after too many failures.",
    ["reason"],
)
STREAM_LISTENERS = Gauge(
    "relais_stream_listeners",
    "Open live streams (GET /sync/stream).",
    multiprocess_mode="livesum",
)
SWEEP_SECONDS = Histogram(
    "relais_sweep_duration_seconds",
    "Duration of one background sweep (absences, escalations, e-mails, retention).",
    buckets=(0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0),
)
ESCALATIONS = Counter("relais_escalations", "Deliveries escalated to coordinators by sweeps.")
DB_CONNECTIONS_IN_USE = Gauge(
    "relais_db_connections_in_use",
    "Database connections checked out of the pool.",
    multiprocess_mode="livesum",
)
DB_POOL_CAPACITY = Gauge(
    "relais_db_pool_capacity",
    "Connections the pool may hold (pool size + overflow), summed over server processes.",
    multiprocess_mode="livesum",
)

_UNMATCHED = "unmatched"
_KNOWN_LOGIN_FAILURES = {401: "invalid_credentials", 429: "throttled"}
_LOGIN_ROUTE = "/api/v1/auth/login"


def route_template(scope: MutableMapping[str, Any]) -> str:
    """`/api/v1/sync/pull`, never a raw path: ids in paths would make endless series."""
    # FastAPI keeps included routers apart: the effective route has the whole template.
    fastapi_state = scope.get("fastapi")
    effective = (
        fastapi_state.get("effective_route_context") if isinstance(fastapi_state, dict) else None
    )
    for candidate in (effective, scope.get("route")):
        path = getattr(candidate, "path_format", None) or getattr(candidate, "path", None)
        if isinstance(path, str) and path:
            return path
    return _UNMATCHED


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    REQUEST_SECONDS.labels(method, route, str(status)).observe(seconds)
    if route == _LOGIN_ROUTE and status in _KNOWN_LOGIN_FAILURES:
        LOGIN_FAILURES.labels(_KNOWN_LOGIN_FAILURES[status]).inc()


def count_mutations(types: Iterable[object], results: Iterable[MutationResult]) -> None:
    """Count a push's outcomes; `types` are the pushed mutations' types, in order."""
    for kind, result in zip(types, results, strict=False):
        label = kind if isinstance(kind, str) and kind in MUTATION_TYPES else "unknown"
        MUTATIONS.labels(label, result.status).inc()


def watch_pool(db: Database) -> None:
    """Keep the in-use gauge in step with this engine's pool."""
    pool = db.engine.pool
    size = getattr(pool, "size", None)
    overflow = getattr(pool, "_max_overflow", 0)
    if callable(size):
        DB_POOL_CAPACITY.inc(size() + max(overflow, 0))
    event.listen(pool, "checkout", lambda *_: DB_CONNECTIONS_IN_USE.inc())
    event.listen(pool, "checkin", lambda *_: DB_CONNECTIONS_IN_USE.dec())


_DB_UP_HELP = "1 when the scrape could count deliveries in the database, else 0."


class DeliveryCollector(Collector):
    """Open and overdue deliveries, counted at scrape time on the sweep's partial index."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from sync_server.notes.models import Note
        from sync_server.routing.models import Delivery

        # The same predicate as the partial index ix_delivery_due_open.
        waiting = (
            Delivery.acknowledged_at.is_(None),
            Delivery.escalated_at.is_(None),
            Delivery.due_at.is_not(None),
        )
        try:
            with self.db.reading() as session:
                open_count = session.scalar(select(func.count()).where(*waiting)) or 0
                overdue = (
                    session.scalar(
                        select(func.count())
                        .select_from(Delivery)
                        .join(Note, Note.id == Delivery.note_id)
                        .where(*waiting, Delivery.due_at <= utcnow())
                        .where(Note.status == NoteStatus.OPEN.value)
                    )
                    or 0
                )
        except SQLAlchemyError:
            # The rest of the scrape still answers; this says why these gauges are missing.
            yield GaugeMetricFamily("relais_database_up", _DB_UP_HELP, value=0)
            return
        yield GaugeMetricFamily("relais_database_up", _DB_UP_HELP, value=1)
        yield GaugeMetricFamily(
            "relais_deliveries_open",
            "Deliveries with a deadline, neither acknowledged nor escalated yet.",
            value=open_count,
        )
        yield GaugeMetricFamily(
            "relais_deliveries_overdue",
            "Open deliveries of open notes past their deadline: the next sweep escalates them.",
            value=overdue,
        )


def multiprocess_dir() -> Path | None:
    value = os.environ.get(MULTIPROC_ENV)
    return Path(value) if value else None


def prepare_multiprocess_dir(folder: Path) -> None:
    """An empty folder for the workers' metric files (stale ones would add up)."""
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink()
    os.environ[MULTIPROC_ENV] = str(folder)


def _process_registry() -> CollectorRegistry:
    if multiprocess_dir() is None:
        return REGISTRY
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


def _forget_this_process_at_exit() -> None:
    """Live gauges (streams, pool) of a stopped worker must not count any more."""
    if multiprocess_dir() is None:
        return
    import atexit

    from prometheus_client import multiprocess

    atexit.register(multiprocess.mark_process_dead, os.getpid())


def _is_loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_scraper(request: Request, token: str | None) -> None:
    """With a token: that bearer token from anywhere. Without: loopback only, and not
    through a proxy (a reverse proxy on the same machine connects from loopback too)."""
    if token:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(
            given.strip().encode(), token.encode()
        ):
            raise Unauthenticated("/metrics needs its bearer token", code="invalid_token")
        return
    proxied = "x-forwarded-for" in request.headers or "forwarded" in request.headers
    if proxied or not _is_loopback(request.client.host if request.client else None):
        raise Forbidden("/metrics answers on loopback only (or set RELAIS_METRICS_TOKEN)")


def install(app: Any, db: Database) -> None:
    """GET /metrics on `app`, and the pool gauges of `db`."""
    watch_pool(db)
    _forget_this_process_at_exit()
    deliveries = CollectorRegistry(auto_describe=False)  # no query at registration
    deliveries.register(DeliveryCollector(db))
    router = APIRouter(tags=["operations"])

    @router.get("/metrics", include_in_schema=False)
    def metrics(request: Request) -> Response:
        check_scraper(request, request.app.state.settings.metrics_token)
        body = generate_latest(_process_registry()) + generate_latest(deliveries)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    app.include_router(router)
