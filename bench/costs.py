"""Costs benchmark: the worker's rollup rate on AIRequest events (pricing, usage, requests, sketches,
spend per user and conversation in one transaction), then the costs summary and breakdown p95 over
HTTP on what it rolled up. Checks its answers (the rollups equal the recomputation; the requests
counted equal those sent) and prints figures with their conditions; asserts no speed.

    python bench/costs.py --requests 1000000      # the full run (see bench/README.md)
    python bench/costs.py --short                 # a few thousand, as tests/bench runs it
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import sys
import time
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.ai import ranking, stats
from analytics.db import create_engine, tenant_transaction
from analytics.ingest.details import AIDetails
from analytics.ingest.events import EventIn
from analytics.ingest.service import PartitionCache, ingest_batch
from analytics.periods import Preset, RangeSpec, resolve
from analytics.rollups import service as rollup_service
from analytics.rollups.recompute import verify_rollups
from analytics.rollups.service import roll_up
from analytics.tenants import service as tenants
from bench.harness import conditions, percentile, print_section, running_stack, timed_consumer

MODELS = (
    ("anthropic", "claude-sonnet-4-5-20250929"),
    ("anthropic", "claude-haiku-4-5"),
    ("openai", "gpt-4o"),
    ("openai", "gpt-4o-mini"),
    ("google", "gemini-2.5-flash"),
    ("selfhosted", "internal-llm-v2"),
)
AGENTS = ("support-assistant", "code-reviewer", "sales-copilot", "")
TOOLS = ("", "", "search_docs", "fetch_diff", "create_ticket")
SUMMARY = """{ tenant { costs(range: {preset: LAST_30_DAYS}) { summary { total requests unpricedTokens
  projectedMonth byUsageType { usageType tokens cost } unpriced { model usageType tokens } } } } }"""
BREAKDOWN = """query($by: CostDimension!) { tenant { costs(range: {preset: LAST_30_DAYS}) {
  breakdown(by: $by, limit: 10) { key cost tokens requests share } } } }"""
TRENDS = """{ tenant { costs(range: {preset: LAST_30_DAYS}) { trends(granularity: DAY) {
  points { start cost tokens requests errors toolCalls } } } } }"""


def requests(count: int, seed: int = 5) -> Iterator[EventIn]:
    """``count`` AIRequest events over the last 30 days: 6 models (one unpriced), 4 agents, tools,
    about 4 requests per conversation and 5,000 users; made one at a time (10 million do not fit in
    memory as objects)."""
    rng = random.Random(seed)
    now = datetime.now(UTC) - timedelta(minutes=5)
    for i in range(count):
        provider, model = MODELS[rng.randrange(len(MODELS))]
        ai = AIDetails(
            provider=provider,
            model=model,
            agent=AGENTS[rng.randrange(len(AGENTS))] or None,
            tool=TOOLS[rng.randrange(len(TOOLS))] or None,
            conversation_id=f"c{i // 4}",
            input_tokens=rng.randrange(100, 5000),
            output_tokens=rng.randrange(10, 1000),
            cache_read_tokens=rng.randrange(0, 4000),
            latency_ms=rng.randrange(80, 20_000),
            time_to_first_token_ms=rng.randrange(50, 2000),
            status="error" if rng.random() < 0.02 else "ok",
        )
        at = now - timedelta(seconds=rng.uniform(0, 29 * 86400))
        yield EventIn(
            id=str(uuid.uuid4()),
            type="AIRequest",
            timestamp=at.isoformat(),
            user_id=f"user-{rng.randrange(5000)}",
            ai=ai,
        )


PROGRESS_EVERY = 500_000  # events between progress lines on stderr
_spent: dict[str, float] = {}  # seconds per consumer


async def _ingest(engine: AsyncEngine, tenant_id: int, events: Iterable[EventIn]) -> float:
    """Stores ``events`` in batches of 1,000; the seconds spent in ``ingest_batch`` (not making them)."""
    partitions = PartitionCache()
    spent = 0.0
    stored = 0
    stream = iter(events)
    while batch := list(itertools.islice(stream, 1000)):
        started = time.perf_counter()
        outcome = await ingest_batch(
            engine,
            partitions,
            tenant_id=tenant_id,
            events=batch,
            retention_days=90,
            max_future_seconds=3600,
        )
        spent += time.perf_counter() - started
        assert outcome.accepted == len(batch), outcome.errors[:3]
        stored += len(batch)
        if stored % PROGRESS_EVERY == 0:
            print(f"[ingest] {stored:,} stored", file=sys.stderr, flush=True)
    return spent


async def _roll_up_all(engine: AsyncEngine, tenant_id: int) -> int:
    rolled = 0
    while True:  # roll_up drains at most 50 claims a call
        step = await roll_up(engine, tenant_id, claim_batches=20, max_rounds=50)
        if (rolled + step.events) // PROGRESS_EVERY > rolled // PROGRESS_EVERY:
            print(f"[rollup] {rolled + step.events:,} rolled up", file=sys.stderr, flush=True)
        rolled += step.events
        if step.batches == 0:
            return rolled


async def without_costs(engine: AsyncEngine, count: int) -> float:
    """The anchor: events/s of the same rollup without the costs consumer, on a tenant of its own."""
    async with engine.begin() as conn:
        tenant = await tenants.create_tenant(
            conn, name=f"bench-costs-anchor-{uuid.uuid4().hex[:8]}", timezone="UTC", raw_retention_days=90
        )
    await _ingest(engine, tenant.id, requests(count, seed=6))
    registered = rollup_service.CONSUMERS
    rollup_service.CONSUMERS = tuple(c for c in registered if c.name != "costs")
    try:
        started = time.perf_counter()
        rolled = await _roll_up_all(engine, tenant.id)
        return rolled / (time.perf_counter() - started)
    finally:
        rollup_service.CONSUMERS = registered


async def load_and_roll_up(
    database_url: str, tenant_id: int, count: int, verify: bool, anchor: int
) -> dict[str, Any]:
    engine = create_engine(database_url, role=None, pool_size=2)  # the owner: ANALYZE before verify
    try:
        started = time.perf_counter()
        ingest_s = await _ingest(engine, tenant_id, requests(count))
        ingested = time.perf_counter()
        registered = rollup_service.CONSUMERS
        rollup_service.CONSUMERS = tuple(
            timed_consumer(c, _spent) if c.name == "costs" else c for c in registered)
        try:
            rolled = await _roll_up_all(engine, tenant_id)
        finally:
            rollup_service.CONSUMERS = registered
        done = time.perf_counter()
        anchor_rate = await without_costs(engine, anchor) if anchor else None
        async with tenant_transaction(engine, tenant_id) as conn:
            counted = (
                await conn.execute(
                    text("SELECT sum(requests) FROM ai_requests_hourly WHERE tenant_id = :t"),
                    {"t": tenant_id},
                )
            ).scalar_one()
            rows = {
                t: (
                    await conn.execute(
                        text(f"SELECT count(*) FROM {t} WHERE tenant_id = :t"), {"t": tenant_id}
                    )
                ).scalar_one()
                for t in (
                    "ai_usage_hourly",
                    "ai_usage_daily",
                    "ai_requests_hourly",
                    "ai_requests_daily",
                    "ai_sketches_daily",
                    "ai_spend_daily",
                    "ai_spend_keys",
                    "ai_spend_weeks",
                )
            }
            differences = await verify_rollups(conn, tenant_id) if verify else []
        assert rolled == count and int(counted) == count, (rolled, counted, count)
        assert differences == [], differences
        ranked = await ranking_in_process(engine, tenant_id)
        return {
            "anchor_rate": anchor_rate,
            "costs_share": _spent.get("costs", 0.0) / (done - ingested),
            "ranked": ranked,
            "generate_s": ingested - started - ingest_s,
            "ingest_s": ingest_s,
            "rollup_s": done - ingested,
            "rows": rows,
            "verified": verify,
        }
    finally:
        await engine.dispose()


async def ranking_in_process(
    engine: AsyncEngine, tenant_id: int, rounds: int = 7
) -> dict[str, tuple[float, float, float]]:
    """USER / CONVERSATION breakdowns (limit 10) in process: the full scan (ranking off), the walk of
    the whole-life bounds only (fortnights off: before ai_spend_weeks) and the walk as it is (the
    fortnight's bounds for a range within two ISO weeks), alternating, median ms of each; all must
    give the same rows."""
    found: dict[str, tuple[float, float, float]] = {}
    modes = {"scan": (0, True), "life": (ranking.ROUNDS, False), "fortnight": (ranking.ROUNDS, True)}
    for preset in (Preset.LAST_30_DAYS, Preset.LAST_7_DAYS):
        period = resolve(RangeSpec(preset=preset), ZoneInfo("UTC"))
        for by in ("user", "conversation"):
            times: dict[str, list[float]] = {mode: [] for mode in modes}
            answers: dict[str, list[stats.CostItem]] = {}
            kept = ranking.ROUNDS, ranking.FORTNIGHTS
            try:
                for _ in range(rounds):
                    for mode, (walk_rounds, fortnights) in modes.items():
                        ranking.ROUNDS, ranking.FORTNIGHTS = walk_rounds, fortnights  # ROUNDS 0: the scan
                        async with tenant_transaction(engine, tenant_id) as conn:
                            began = time.perf_counter()
                            answers[mode] = await stats.breakdown(conn, period, by, 10, include_bots=False)
                            times[mode].append((time.perf_counter() - began) * 1000)
            finally:
                ranking.ROUNDS, ranking.FORTNIGHTS = kept
            assert answers["scan"] == answers["life"] == answers["fortnight"], (by, preset)
            found[f"{by.upper()} {preset.value}"] = (
                percentile(times["scan"], 50),
                percentile(times["life"], 50),
                percentile(times["fortnight"], 50),
            )
    return found


def measure_reads(api: str, key: str, rounds: int, count: int) -> dict[str, list[float]]:
    bodies = {
        "summary": {"query": SUMMARY},
        "summary since 36h (edge hours)": {"query": SUMMARY.replace("preset: LAST_30_DAYS", 'since: "36h"')},
        "breakdown MODEL": {"query": BREAKDOWN, "variables": {"by": "MODEL"}},
        "breakdown AGENT": {"query": BREAKDOWN, "variables": {"by": "AGENT"}},
        "breakdown USER": {"query": BREAKDOWN, "variables": {"by": "USER"}},
        "breakdown CONVERSATION": {"query": BREAKDOWN, "variables": {"by": "CONVERSATION"}},
        "breakdown CONVERSATION, 7 days": {
            "query": BREAKDOWN.replace("LAST_30_DAYS", "LAST_7_DAYS"),
            "variables": {"by": "CONVERSATION"},
        },
        "breakdown USER, 7 days": {
            "query": BREAKDOWN.replace("LAST_30_DAYS", "LAST_7_DAYS"),
            "variables": {"by": "USER"},
        },
        "trends DAY": {"query": TRENDS},
    }
    timings: dict[str, list[float]] = {name: [] for name in bodies}
    with httpx.Client(timeout=60, headers={"authorization": f"Bearer {key}"}) as client:
        for _ in range(rounds + 2):
            for name, body in bodies.items():
                started = time.perf_counter()
                response = client.post(f"{api}/graphql", json=body)
                elapsed = time.perf_counter() - started
                assert response.status_code == 200 and "errors" not in response.json(), response.text[:500]
                if name == "summary":  # every request sent lies in the last 30 days
                    counted = response.json()["data"]["tenant"]["costs"]["summary"]["requests"]
                    assert counted == count, (counted, count)
                timings[name].append(elapsed * 1000)
    return {name: values[2:] for name, values in timings.items()}  # the first two warm caches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200_000, help="AIRequest events to load (200,000)")
    parser.add_argument("--rounds", type=int, default=50, help="reads of each query measured (50)")
    parser.add_argument("--short", action="store_true", help="3,000 requests and 5 rounds (tests/bench)")
    parser.add_argument("--no-verify", action="store_true", help="skip the recomputation check")
    parser.add_argument(
        "--anchor",
        type=int,
        default=None,
        help="requests rolled up without the costs consumer (default: --requests)",
    )
    args = parser.parse_args()
    count, rounds = (3000, 5) if args.short else (args.requests, args.rounds)
    with running_stack(worker=False, quiet=args.short) as stack:
        anchor = count if args.anchor is None else args.anchor
        loaded = asyncio.run(
            load_and_roll_up(stack.database_url, stack.tenant_id, count, not args.no_verify, anchor)
        )
        reads = measure_reads(stack.api_url, stack.secret_key, rounds, count)
        load_after_reads = " ".join(f"{x:.2f}" for x in os.getloadavg())
        print_section(
            "conditions",
            conditions(
                stack,
                ai_requests=f"{count:,}",
                read_rounds=rounds,
                rollup_rows=loaded["rows"],
                load_average_after_reads=load_after_reads,
            ),
        )
        print_section(
            "worker (rollup of AIRequest events, in process, claims of 20 batches of 1,000)",
            [
                ("events/s", f"{count / loaded['rollup_s']:,.0f}"),
                ("costs consumer's share of the rollup time", f"{loaded['costs_share']:.1%}"),
                (
                    f"anchor: events/s without the costs consumer ({anchor:,} requests)",
                    "not run" if loaded["anchor_rate"] is None else f"{loaded['anchor_rate']:,.0f}",
                ),
                ("rollup seconds", f"{loaded['rollup_s']:.1f}"),
                ("ingest events/s (ingest_batch, no HTTP)", f"{count / loaded['ingest_s']:,.0f}"),
                ("rollups equal the recomputation", "yes" if loaded["verified"] else "not checked"),
            ],
        )
        print_section(
            "USER / CONVERSATION breakdown in process, median ms: full scan / whole-life bound walk / "
            "walk with fortnights (same rows)",
            [
                (name, f"{scan:.1f} / {life:.1f} / {fortnight:.1f}")
                for name, (scan, life, fortnight) in loaded["ranked"].items()
            ],
        )
        print_section(
            "costs reads over HTTP, LAST_30_DAYS unless named (ms)",
            [
                (f"{name} p50 / p95", f"{percentile(v, 50):.1f} / {percentile(v, 95):.1f}")
                for name, v in reads.items()
            ],
        )


if __name__ == "__main__":
    main()
