"""The operations surface over HTTP: probes, /metrics (exact deltas), request ids and log context."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import httpx
import pytest
from alembic.script import ScriptDirectory
from arq import func
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.db import MIGRATIONS_DIR
from analytics.observability import JsonFormatter, install_log_context, request_id, tenant_id
from analytics.settings import Settings
from tests.conftest import GraphQLClient, TenantKeys, _serve, event
from workers.queue import connect
from workers.telemetry import instrument_jobs

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(http: httpx.AsyncClient, base_url: str, **headers: str) -> Samples:
    response = await http.get(f"{base_url}/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


def recent(minutes: int) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).isoformat()


async def test_healthz(http: httpx.AsyncClient, base_url: str) -> None:
    response = await http.get(f"{base_url}/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_readyz_reports_the_migration_head(http: httpx.AsyncClient, base_url: str,
                                                 owner_engine: AsyncEngine) -> None:
    head = ",".join(sorted(ScriptDirectory(str(MIGRATIONS_DIR)).get_heads()))
    response = await http.get(f"{base_url}/readyz")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ready", "problems": [],
                               "migrations": {"current": True, "database": head, "code": head}}

    async with owner_engine.begin() as conn:
        await conn.execute(text("UPDATE alembic_version SET version_num = '0001_spine'"))
    try:
        behind = await http.get(f"{base_url}/readyz")
    finally:
        async with owner_engine.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = :head"), {"head": head})
    assert behind.status_code == 503
    assert behind.json() == {
        "status": "unavailable",
        "problems": [f"migrations: the database is at 0001_spine, this build needs {head}; "
                     "run `analytics migrate`"],
        "migrations": {"current": False, "database": "0001_spine", "code": head}}
    assert (await http.get(f"{base_url}/readyz")).status_code == 200


async def test_metrics_count_ingest_outcomes_outbox_and_jobs(
        http: httpx.AsyncClient, base_url: str, gql: GraphQLClient, make_tenant: Any,
        run_worker: Any) -> None:
    tenant: TenantKeys = await make_tenant()
    before = await scrape(http, base_url)
    first = [event("TourStarted", recent(30), f"u{i}", tourId="t1") for i in range(3)]
    nobody = event("TourStarted", recent(30), None, tourId="t1")
    one = await gql.track(tenant.publishable, [*first, nobody])
    two = await gql.track(tenant.publishable, [first[0], first[1], event("TourCompleted", recent(20), "u0",
                                                                         tourId="t1")])
    assert [(r["accepted"], r["duplicates"], r["rejected"]) for r in (one, two)] == [(3, 0, 1), (1, 2, 0)]

    after = await scrape(http, base_url)
    deltas = {outcome: value(after, "analytics_ingest_events_total", outcome=outcome)
              - value(before, "analytics_ingest_events_total", outcome=outcome)
              for outcome in ("accepted", "duplicate", "rejected")}
    assert deltas == {"accepted": 4, "duplicate": 2, "rejected": 1}
    graphql_200 = {"route": "/graphql", "status": "200"}
    assert (value(after, "analytics_http_requests_total", **graphql_200)
            - value(before, "analytics_http_requests_total", **graphql_200)) == 2
    assert (value(after, "analytics_http_requests_total", **graphql_200, operation="Track")
            - value(before, "analytics_http_requests_total", **graphql_200, operation="Track")) == 2
    assert (value(after, "analytics_http_request_duration_seconds_count", route="/graphql")
            - value(before, "analytics_http_request_duration_seconds_count", route="/graphql")) == 2
    assert value(after, "analytics_http_requests_total", route="/metrics", status="200") >= 1
    assert value(after, "analytics_outbox_depth") >= 2  # this tenant's two batches at least
    assert value(after, "analytics_rollup_lag_seconds") > 0
    assert value(after, "analytics_scrape_source_up", source="database") == 1
    assert value(after, "analytics_scrape_source_up", source="redis") == 1

    runs: list[str] = []

    async def count_run(ctx: dict[str, Any]) -> None:
        runs.append(ctx["job_id"])

    await run_worker(after_job_end=count_run)
    drained = await scrape(http, base_url)
    assert value(drained, "analytics_outbox_depth") == 0
    assert value(drained, "analytics_rollup_lag_seconds") == 0
    job_runs = (value(drained, "analytics_job_duration_seconds_count")
                - value(after, "analytics_job_duration_seconds_count"))
    assert runs and job_runs == len(runs)
    assert (value(drained, "analytics_job_duration_seconds_count", job="roll_up_tenant")
            - value(after, "analytics_job_duration_seconds_count", job="roll_up_tenant")) >= 1
    assert value(drained, "analytics_job_duration_seconds_sum", job="roll_up_tenant") > 0
    assert value(drained, "analytics_job_duration_seconds_bucket", job="roll_up_tenant", le="+Inf") == \
        value(drained, "analytics_job_duration_seconds_count", job="roll_up_tenant")
    assert value(drained, "analytics_job_failures_total", job="roll_up_tenant") == \
        value(after, "analytics_job_failures_total", job="roll_up_tenant")


async def test_job_failures_reach_the_api_metrics(http: httpx.AsyncClient, base_url: str,
                                                  settings: Settings) -> None:
    async def telemetry_probe(ctx: dict[str, Any], fail: bool) -> None:
        if fail:
            raise RuntimeError("boom")

    options = instrument_jobs({"functions": [func(telemetry_probe, name="telemetry_probe")]})
    probe = options["functions"][0].coroutine
    redis = await connect(settings.redis_url or "")
    try:
        before = await scrape(http, base_url)
        await probe({"redis": redis}, False)
        with pytest.raises(RuntimeError):
            await probe({"redis": redis}, True)
    finally:
        await redis.aclose()
    after = await scrape(http, base_url)
    label = {"job": "telemetry_probe"}
    assert (value(after, "analytics_job_failures_total", **label)
            - value(before, "analytics_job_failures_total", **label)) == 1
    assert (value(after, "analytics_job_duration_seconds_count", **label)
            - value(before, "analytics_job_duration_seconds_count", **label)) == 2


async def test_request_id_is_echoed_or_generated(http: httpx.AsyncClient, base_url: str) -> None:
    given = await http.get(f"{base_url}/healthz", headers={"X-Request-ID": "client-7f3a:retry.1"})
    assert given.headers["x-request-id"] == "client-7f3a:retry.1"
    made = await http.get(f"{base_url}/healthz")
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"])
    for unsafe in ("x" * 65, "has space", "quote\"d"):
        replaced = await http.get(f"{base_url}/healthz", headers={"X-Request-ID": unsafe})
        assert re.fullmatch(r"[0-9a-f]{32}", replaced.headers["x-request-id"]), unsafe
    assert made.headers["x-request-id"] != replaced.headers["x-request-id"]


async def test_log_records_made_during_a_request_carry_its_id(
        gql: GraphQLClient, make_tenant: Any, caplog: pytest.LogCaptureFixture) -> None:
    tenant: TenantKeys = await make_tenant()
    caplog.set_level(logging.INFO, logger="analytics.access")
    response = await gql.post(tenant.publishable, "mutation Track($events: [TrackEvent!]!) { track(events: "
                              "$events) { accepted } }", {"events": [event("TourStarted", recent(5))]},
                              **{"X-Request-ID": "log-check-1"})
    assert response.status_code == 200 and response.headers["x-request-id"] == "log-check-1"
    records = [r for r in caplog.records if getattr(r, "request_id", None) == "log-check-1"]
    assert [(r.name, r.levelname) for r in records] == [("analytics.access", "INFO")]
    line = json.loads(JsonFormatter().format(records[0]))
    assert {k: line[k] for k in ("level", "logger", "request_id", "tenant_id", "method", "path", "status",
                                 "operation")} == {
        "level": "INFO", "logger": "analytics.access", "request_id": "log-check-1", "tenant_id": tenant.id,
        "method": "POST", "path": "/graphql", "status": 200, "operation": "Track"}
    assert set(line) >= {"ts", "message", "duration_ms"}


def test_json_lines_carry_the_context_and_the_exception() -> None:
    install_log_context()
    rid, tid = request_id.set("r-1"), tenant_id.set(42)
    try:
        try:
            raise ValueError("bad")
        except ValueError:
            record = logging.getLogger("analytics.test").makeRecord(
                "analytics.test", logging.ERROR, __file__, 1, "failed %s", ("x",), sys.exc_info())
    finally:
        tenant_id.reset(tid)
        request_id.reset(rid)
    line = json.loads(JsonFormatter().format(record))
    assert {k: line[k] for k in ("level", "logger", "message", "request_id", "tenant_id")} == {
        "level": "ERROR", "logger": "analytics.test", "message": "failed x", "request_id": "r-1",
        "tenant_id": 42}
    assert "ValueError: bad" in line["exc_info"]
    assert datetime.fromisoformat(line["ts"]).tzinfo is not None


async def test_metrics_token_is_required_when_set(http: httpx.AsyncClient, settings: Settings) -> None:
    from api.app import create_app

    app = create_app(replace(settings, metrics_token="s3cret"))
    async with aclosing(cast(AsyncGenerator[str, None], _serve(app))) as serving:
        url = await anext(serving)
        assert (await http.get(f"{url}/metrics")).status_code == 401
        wrong = await http.get(f"{url}/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
        samples = await scrape(http, url, Authorization="Bearer s3cret")
        assert value(samples, "analytics_scrape_source_up", source="database") == 1
