"""Experiment results benchmark: the ``results`` query of one experiment (5 variants x 2 metrics = 10
variant-metric pairs) at N exposures, read from the per-variant aggregates; beside it, in the same run,
the same results computed in process (no HTTP, no GraphQL), a breakdown by device over HTTP, and an
anchor: the smallest authenticated query (the experiment's key) over HTTP. Each HTTP figure comes with the
API process's CPU per query (less moved by other work on the machine than the latencies). With
``--baseline DIR`` another checkout's API serves the same data beside this one, timed in the same rounds."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from bench.harness import conditions, cpu_seconds, percentile, print_section, running_stack

KEY = "bench-checkout"
VARIANTS = ("control", "v1", "v2", "v3", "v4")
START = datetime(2025, 1, 1, tzinfo=UTC)
DAYS = 30
DEFINE = """mutation {
  a: defineMetric(input: {key: "bench-purchased", kind: CONVERSION,
                          matcher: {event: "bench_purchase"}}) { key }
  b: defineMetric(input: {key: "bench-revenue", kind: SUM, property: "amount",
                          matcher: {event: "bench_purchase"}}) { key }
  defineExperiment(input: {key: "KEY", status: RUNNING, plannedStart: "2024-12-31T00:00:00Z",
    primaryMetric: "bench-purchased", secondaryMetrics: ["bench-revenue"], variants: [VARIANTS]}) { key }
}""".replace("KEY", KEY).replace(
    "VARIANTS", ", ".join(f'{{key: "{v}", control: {str(i == 0).lower()}}}'
                          for i, v in enumerate(VARIANTS)))
RESULTS = """query { tenant { experiment(key: "KEY") {
  results(range: {from: "2025-01-01", to: "2025-01-31"}) {
  exposures sampleRatioMismatch recommendation winner
  metrics { metric { key } variants { variant exposures conversions mean lift liftLow liftHigh pValue
    adjustedPValue probabilityToBeatControl } }
  series { day variant exposures conversionRate lift } } } } }""".replace("KEY", KEY)
BREAKDOWN = """query { tenant { experiment(key: "KEY") {
  results(range: {from: "2025-01-01", to: "2025-01-31"}) { breakdown(by: DEVICE, limit: 5) {
    value variants { variant exposures conversions relativeLift adjustedPValue } } } } } }"""
BREAKDOWN = BREAKDOWN.replace("KEY", KEY)
ANCHOR = """query { tenant { experiment(key: "KEY") { key } } }""".replace("KEY", KEY)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Load N exposures (and purchases by about 10 % of the exposed) as raw events with SQL, "
                    "build the experiment's aggregates with the backfill job's code, then time the results "
                    "query over HTTP. Prints figures; checks the answer.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--exposures", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200, help="Timed results queries (after 10 warm-ups).")
    parser.add_argument("--short", action="store_true", help="20,000 exposures and 20 queries (tests).")
    parser.add_argument("--profile", action="store_true",
                        help="Also print where the in-process results spend their time (cProfile, top 20).")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="Another checkout (e.g. /work/main) whose API is timed beside this one, on the "
                             "same database, in the same interleaved rounds.")
    return parser.parse_args()


async def load_events(dsn: str, tenant_id: int, exposures: int) -> float:
    """``exposures`` ExperimentExposure events over 30 days, the variant by user number g (g mod 5), and a
    purchase an hour later by one in 10 of each variant (g div 5 divisible by 10), one in 50 more in v1."""
    import asyncpg

    connection = await asyncpg.connect(dsn)
    try:
        month = START.replace(day=1)
        while month < START + timedelta(days=DAYS + 1):
            await connection.execute("SELECT analytics_ensure_event_partition($1)", month)
            month = (month + timedelta(days=32)).replace(day=1)
        started = time.perf_counter()
        await connection.execute(
            """
            INSERT INTO events (tenant_id, occurred_at, id, type, user_id, properties)
            SELECT $1, $2::timestamptz + (g * $4::float8 / $3) * interval '1 day', gen_random_uuid(),
                   'ExperimentExposure', 'bench-' || g,
                   jsonb_build_object('experiment', $5::text, 'variant', ($6::text[])[g % 5 + 1])
            FROM generate_series(0, $3 - 1) AS g
            """, tenant_id, START, exposures, DAYS, KEY, list(VARIANTS))
        await connection.execute(
            """
            INSERT INTO events (tenant_id, occurred_at, id, type, name, user_id, properties)
            SELECT $1, $2::timestamptz + (g * $4::float8 / $3) * interval '1 day' + interval '1 hour',
                   gen_random_uuid(), 'Custom', 'bench_purchase', 'bench-' || g,
                   jsonb_build_object('amount', 10 + g % 90)
            FROM generate_series(0, $3 - 1) AS g WHERE (g / 5) % 10 = 0 OR (g % 5 = 1 AND (g / 5) % 50 = 1)
            """, tenant_id, START, exposures, DAYS)
        await connection.execute("ANALYZE events")
        return time.perf_counter() - started
    finally:
        await connection.close()


async def build_aggregates(database_url: str, tenant_id: int) -> tuple[float, int]:
    from analytics.db import create_engine
    from analytics.experiments.backfill import backfill_experiment

    engine = create_engine(database_url, role=None, pool_size=1)
    try:
        started = time.perf_counter()
        rows = await backfill_experiment(engine, tenant_id, KEY)
        return time.perf_counter() - started, rows or 0
    finally:
        await engine.dispose()


@dataclass
class Timing:
    latencies_ms: list[float]
    answer: dict[str, Any]
    cpu_ms: float = 0.0  # the API process's CPU per query (warm-ups included)


async def time_in_process(database_url: str, tenant_id: int, queries: int) -> list[float]:
    """The results as the resolver computes them (one read transaction: the experiment, its metrics,
    the aggregates, the statistics), without HTTP and GraphQL."""
    from analytics.db import create_engine, tenant_transaction
    from analytics.experiments.definitions import load_experiment
    from analytics.experiments.results import experiment_results

    engine = create_engine(database_url, role=None, pool_size=1)
    latencies = []
    try:
        for i in range(queries + 10):
            started = time.perf_counter()
            async with tenant_transaction(engine, tenant_id) as conn:
                experiment = await load_experiment(conn, KEY)
                assert experiment is not None
                await experiment_results(conn, experiment, first=START.date(),
                                         last=(START + timedelta(days=DAYS)).date(), include_bots=False,
                                         now=datetime.now(UTC))
            if i >= 10:
                latencies.append((time.perf_counter() - started) * 1000)
    finally:
        await engine.dispose()
    return latencies


async def time_results(url: str, key: str, queries: int, query: str = RESULTS, api_pid: int | None = None
                       ) -> Timing:
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    latencies: list[float] = []
    answer: dict[str, Any] = {}
    cpu_before = cpu_seconds({"api": api_pid}).get("api", 0.0) if api_pid else 0.0
    async with httpx.AsyncClient(timeout=60) as client:
        while len(latencies) < queries + 10:
            started = time.perf_counter()
            response = await client.post(url, json={"query": query}, headers=headers)
            elapsed = (time.perf_counter() - started) * 1000
            answer = response.json()
            if answer.get("errors", [{}])[0].get("extensions", {}).get("code") == "RATE_LIMITED":
                await asyncio.sleep(1.0)  # the key's read budget: wait, do not count
                continue
            if "errors" in answer:
                raise RuntimeError(answer["errors"])
            latencies.append(elapsed)
    cpu_ms = ((cpu_seconds({"api": api_pid}).get("api", 0.0) - cpu_before) * 1000 / len(latencies)
              if api_pid else 0.0)
    found = answer["data"]["tenant"]["experiment"]
    return Timing(latencies[10:], found.get("results", found), cpu_ms)


def check(results: dict[str, Any], exposures: int) -> None:
    """Every exposure counted once, in the variant its user number gives; conversions as loaded."""
    assert results["exposures"] == exposures, results["exposures"]
    purchased = results["metrics"][0]["variants"]
    for i, variant in enumerate(purchased):
        assert variant["exposures"] == len(range(i, exposures, 5)), variant
        expected = sum(1 for g in range(i, exposures, 5)
                       if (g // 5) % 10 == 0 or (g % 5 == 1 and (g // 5) % 50 == 1))
        assert variant["conversions"] == expected, (variant, expected)


def main() -> None:
    args = parse_args()
    exposures, queries = (20_000, 20) if args.short else (args.exposures, args.queries)
    with running_stack(worker=False) as stack:
        answer = httpx.post(stack.graphql_url, json={"query": DEFINE}, headers=stack.auth(stack.secret_key),
                            timeout=30).json()
        if "errors" in answer:
            raise RuntimeError(answer["errors"])
        load_seconds = asyncio.run(load_events(stack.asyncpg_dsn, stack.tenant_id, exposures))
        build_seconds, rows = asyncio.run(build_aggregates(stack.database_url, stack.tenant_id))
        print_section("conditions", conditions(stack, exposures=f"{exposures:,}", variants=len(VARIANTS),
                                               metrics=2, variant_metric_pairs=2 * len(VARIANTS),
                                               days=DAYS, aggregate_rows=rows))
        print_section("loading", [("raw events by SQL", f"{load_seconds:.1f} s"),
                                  ("aggregates from raw (backfill job)", f"{build_seconds:.1f} s")])
        # Interleaved rounds, so that a change of machine load touches every figure alike.
        apis = [("", stack.graphql_url, stack.pids.get("api"))]
        baseline = None
        if args.baseline is not None:
            from bench.read import start_baseline

            baseline, url = start_baseline(stack, args.baseline)
            apis.append(("baseline ", f"{url}/graphql", baseline.pid))
        timings: dict[str, list[float]] = {}
        cpu: dict[str, list[float]] = {}
        verdict: dict[str, Any] = {}
        rounds = 4
        try:
            for _ in range(rounds):
                each = queries // rounds
                for prefix, url, pid in apis:
                    for name, query in (("anchor", ANCHOR), ("results", RESULTS), ("breakdown", BREAKDOWN)):
                        timing = asyncio.run(time_results(url, stack.secret_key, each, query, pid))
                        timings.setdefault(prefix + name, []).extend(timing.latencies_ms)
                        cpu.setdefault(prefix + name, []).append(timing.cpu_ms)
                        if name == "results":
                            check(timing.answer, exposures)
                            verdict = verdict or timing.answer
                timings.setdefault("in process", []).extend(
                    asyncio.run(time_in_process(stack.database_url, stack.tenant_id, each)))
        finally:
            if baseline is not None:
                baseline.terminate()
                baseline.wait(15)
        print_section(f"{queries} queries each after warm-ups, one connection, {rounds} interleaved rounds", [
            *((f"{name} p50 / p95 / max",
               f"{percentile(ms, 50):.1f} / {percentile(ms, 95):.1f} / {max(ms):.1f} ms"
               + (f", API CPU {sum(cpu[name]) / len(cpu[name]):.1f} ms a query" if cpu.get(name) else "")
               + (" (target p95 < 50 ms)" if name == "results" else ""))
              for name, ms in timings.items()),
            ("load average after", " ".join(f"{x:.2f}" for x in os.getloadavg())),
            ("answer", f"{verdict['recommendation']} {verdict['winner'] or ''} (checked)")])
        if args.profile:
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            profiler.runcall(asyncio.run, time_in_process(stack.database_url, stack.tenant_id, queries))
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(20)


if __name__ == "__main__":
    main()
