"""The API's operations surface: request ids and timing (middleware), /metrics, migration status.

Metrics kept in this process: ``analytics_http_requests_total{route,operation,status}``,
``analytics_http_request_duration_seconds{route,operation}`` and
``analytics_ingest_events_total{outcome}``. Read at scrape time: ``analytics_outbox_depth`` and
``analytics_rollup_lag_seconds`` (PostgreSQL, through ``analytics_outbox_stats()``), and the
workers' ``analytics_job_duration_seconds{job}`` / ``analytics_job_failures_total{job}`` (Redis,
see ``workers.telemetry``), and reference 001's business gauges per tenant that turned them on
(``analytics_active_users{tenant}``, ``analytics_feature_adoption_rate{tenant,feature_name}``...:
``workers.business_metrics``). Those scrape-time figures are cluster-wide: with several API
processes, aggregate them with ``max``, not ``sum``.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from alembic.script import ScriptDirectory
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from analytics.db import MIGRATIONS_DIR
from analytics.observability import install_log_context, request_id, tenant_id
from api.context import Resources
from workers.business_metrics import business_metric_families
from workers.telemetry import job_metric_families

log = logging.getLogger("analytics.api")
access_log = logging.getLogger("analytics.access")

HTTP_REQUESTS = Counter("analytics_http_requests", "HTTP requests by route, GraphQL operation and status",
                        ["route", "operation", "status"])
HTTP_SECONDS = Histogram("analytics_http_request_duration_seconds", "Time to answer an HTTP request",
                         ["route", "operation"],
                         buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
INGEST_EVENTS = Counter("analytics_ingest_events", "Events sent to track, by outcome", ["outcome"])

_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:/+=@-]{1,64}")
_OPERATION_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,63}")
_MAX_OPERATIONS = 200  # distinct operation labels kept; clients choose names, so the set is capped
_QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})  # probes: access-logged at DEBUG
SCRAPE_TIMEOUT = 2.0


def count_ingest(*, accepted: int, duplicates: int, rejected: int) -> None:
    """Count one ``track`` batch's outcome."""
    INGEST_EVENTS.labels("accepted").inc(accepted)
    INGEST_EVENTS.labels("duplicate").inc(duplicates)
    INGEST_EVENTS.labels("rejected").inc(rejected)


_operations: set[str] = set()


def _operation_label(name: object) -> str:
    if not isinstance(name, str) or not _OPERATION_NAME.fullmatch(name):
        return "-"
    if name not in _operations:
        if len(_operations) >= _MAX_OPERATIONS:
            return "_other"
        _operations.add(name)
    return name


def _request_id(scope: Scope) -> str:
    for key, value in scope["headers"]:
        if key == b"x-request-id":
            candidate: str = value.decode("latin-1")
            if _SAFE_REQUEST_ID.fullmatch(candidate):
                return candidate
            break
    return uuid.uuid4().hex


class RequestTelemetry:
    """Pure ASGI middleware: X-Request-ID in and out, the request's timing, metrics and access log.

    The GraphQL endpoint puts ``graphql_operation`` and ``tenant_id`` into ``scope["state"]``.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        install_log_context()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _request_id(scope)
        state = scope.setdefault("state", {})
        rid_token, tenant_token = request_id.set(rid), tenant_id.set(None)
        status, started = 500, time.perf_counter()
        header = (b"x-request-id", rid.encode("latin-1"))

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self._record(scope, state, status, time.perf_counter() - started)
            tenant_id.reset(tenant_token)
            request_id.reset(rid_token)

    @staticmethod
    def _record(scope: Scope, state: dict[str, Any], status: int, seconds: float) -> None:
        route = getattr(scope.get("route"), "path", None) or "unmatched"
        operation = _operation_label(state.get("graphql_operation"))
        HTTP_REQUESTS.labels(route, operation, str(status)).inc()
        HTTP_SECONDS.labels(route, operation).observe(seconds)
        if tenant_id.get() is None and isinstance(state.get("tenant_id"), int):
            tenant_id.set(state["tenant_id"])
        path = scope["path"]
        level = logging.DEBUG if path in _QUIET_PATHS and status < 500 else logging.INFO
        access_log.log(level, "%s %s %s %.1fms %s", scope["method"], path, status, seconds * 1000,
                       operation, extra={"method": scope["method"], "path": path, "status": status,
                                         "duration_ms": round(seconds * 1000, 2), "operation": operation})


async def outbox_stats(engine: AsyncEngine) -> tuple[int, float]:
    """Outbox rows waiting across all tenants, and the age of the oldest in seconds."""
    async with engine.connect() as conn:
        row = (await conn.execute(text("SELECT depth, oldest_seconds FROM analytics_outbox_stats()"))).one()
    return int(row.depth), float(row.oldest_seconds)


class _Scrape:
    """This process's registry plus the figures read for this one scrape."""

    def __init__(self, extra: Iterable[Metric]) -> None:
        self.extra = extra

    def collect(self) -> Iterable[Metric]:
        yield from REGISTRY.collect()
        yield from self.extra


async def _scrape_time_families(resources: Resources) -> list[Metric]:
    up = GaugeMetricFamily("analytics_scrape_source_up", "1 when the source answered this scrape",
                           labels=["source"])
    families: list[Metric] = []
    try:
        async with asyncio.timeout(SCRAPE_TIMEOUT):
            depth, oldest = await outbox_stats(resources.engine)
        families.append(GaugeMetricFamily("analytics_outbox_depth",
                                          "Outbox rows (ingest batches) the rollup job has not folded in",
                                          value=depth))
        families.append(GaugeMetricFamily("analytics_rollup_lag_seconds",
                                          "Age of the oldest outbox row (0 when empty)", value=oldest))
        up.add_metric(["database"], 1)
    except (TimeoutError, SQLAlchemyError, OSError) as exc:
        log.warning("metrics: could not read the outbox: %s", exc)
        up.add_metric(["database"], 0)
    try:
        async with asyncio.timeout(SCRAPE_TIMEOUT):
            families.extend(await job_metric_families(resources.redis))
            families.extend(await business_metric_families(resources.redis))
        up.add_metric(["redis"], 1)
    except (TimeoutError, RedisError, OSError) as exc:
        log.warning("metrics: could not read the job metrics: %s", exc)
        up.add_metric(["redis"], 0)
    return [*families, up]


def metrics_route(resources: Callable[[], Resources]) -> Route:
    """GET /metrics in the Prometheus text format; ANALYTICS_METRICS_TOKEN, when set, is required."""

    async def metrics(request: Request) -> Response:
        current = resources()
        token = current.settings.metrics_token
        if token:
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                return PlainTextResponse("metrics need Authorization: Bearer <ANALYTICS_METRICS_TOKEN>\n",
                                         status_code=401, headers={"WWW-Authenticate": "Bearer"})
        body = generate_latest(_Scrape(await _scrape_time_families(current)))
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return Route("/metrics", metrics, methods=["GET"])


@dataclass(frozen=True)
class MigrationStatus:
    database: tuple[str, ...]
    code: tuple[str, ...]
    problem: str | None = None

    @property
    def current(self) -> bool:
        return set(self.database) == set(self.code)

    def report(self) -> dict[str, Any]:
        return {"current": self.current, "database": ",".join(self.database) or None,
                "code": ",".join(self.code)}


@functools.cache
def _script() -> tuple[tuple[str, ...], frozenset[str]]:
    script = ScriptDirectory(str(MIGRATIONS_DIR))
    return tuple(sorted(script.get_heads())), frozenset(r.revision for r in script.walk_revisions())


async def migration_status(engine: AsyncEngine) -> MigrationStatus:
    """The applied Alembic revision against this build's head; a problem when the database is behind."""
    heads, known = _script()
    run = "run `analytics migrate`"
    try:
        async with engine.connect() as conn:
            applied = tuple(sorted((await conn.execute(text("SELECT version_num FROM alembic_version")))
                                   .scalars()))
    except (SQLAlchemyError, OSError) as exc:
        sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None)
        if sqlstate == "42P01":  # undefined_table: never migrated
            return MigrationStatus((), heads, f"migrations: none applied, this build needs {heads[0]}; {run}")
        if sqlstate == "42501":  # the grant 0002 adds is missing
            return MigrationStatus((), heads, f"migrations: the database is older than 0002_outbox_stats, "
                                              f"this build needs {','.join(heads)}; {run}")
        return MigrationStatus((), heads, f"migrations: cannot read alembic_version ({type(exc).__name__})")
    status = MigrationStatus(applied, heads)
    if status.current or not set(applied) <= known:
        return status  # current, or newer than this build (a rolling deploy): still ready
    return MigrationStatus(applied, heads, f"migrations: the database is at {','.join(applied) or 'none'}, "
                                           f"this build needs {','.join(heads)}; {run}")
