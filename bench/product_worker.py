"""Product-layer cost in the worker: events/s on the demo product and experiment events with the
product layer active (every consumer registered; the demo's definitions: three funnels of reference
001 and the capsule funnel, the four built-in segments with the demo thresholds and its rule
segment, reference 001's five features, the two demo experiments; and the segments job that
assigns the users the rollup marked) against the same events folded without it (``--baseline
consumers``, the default: only the consumers that are not the product layer, no definitions;
``--baseline definitions``: every consumer, no definitions).

In process, the same ``roll_up`` the worker's job calls (claim, session upkeep, the consumers of
analytics.rollups.registry, commit) and, with the product layer, the segments job's
``assign_marked``, over events already ingested through ``ingest_batch`` (not timed), each run on a
fresh tenant; runs alternate between the two modes. Each product run is checked: the outbox is
empty, every event was folded and ``verify_rollups`` finds no difference. Prints figures; asserts
only those answers.

    python bench/product_worker.py [--days 28] [--repeats 5] [--signups 48] [--baseline consumers]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from analytics.db import create_engine, tenant_transaction
from analytics.demo_product import demo_product_events
from analytics.experiments.demo import define_demo_experiments
from analytics.features.demo import define_demo_features
from analytics.funnels.demo import define_demo_funnels
from analytics.ingest.events import EventIn
from analytics.ingest.service import PartitionCache, ingest_batch
from analytics.rollups import service as rollup_service
from analytics.rollups.recompute import verify_rollups
from analytics.rollups.registry import CONSUMERS
from analytics.rollups.service import roll_up
from analytics.segments.assign import assign_marked
from analytics.segments.demo import define_demo_segments
from analytics.settings import Settings, load_settings
from analytics.tenants import service as tenants
from bench.harness import timed_consumer

Define = Callable[[AsyncConnection, int], Awaitable[object]]


async def _experiments(engine: AsyncEngine, tenant_id: int) -> list[EventIn]:
    """The demo experiments and metrics, defined in both modes (their exposures and conversions are
    made from the definitions, so both modes send the same events); the baseline leaves their
    consumer out."""
    return await define_demo_experiments(engine, tenant_id, tz=ZoneInfo("UTC"), now=NOW)


# What "the product layer active" means (besides every consumer registered and the segments job).
DEFINITIONS: list[tuple[str, Define]] = [
    ("five features (reference 001)", define_demo_features),
    ("four funnels (reference 001's three, the capsule funnel)", define_demo_funnels),
    ("four built-in segments with the demo thresholds, one rule segment", define_demo_segments),
]
AFTER: list[tuple[str, Callable[[AsyncEngine, int], Awaitable[list[EventIn]]]]] = [
    ("two experiments, three metrics", _experiments)]  # they open their own transaction
PRODUCT_CONSUMERS = ("custom_events", "segment_inputs", "features", "funnels", "experiments")
NOW = datetime.now(UTC).replace(microsecond=0)


@dataclass(frozen=True)
class Run:
    product: bool
    events: int
    seconds: float
    consumer_seconds: dict[str, float]  # time inside each consumer's consume (same run, same machine)

    @property
    def rate(self) -> float:
        return self.events / self.seconds


@dataclass(frozen=True)
class Result:
    events: int
    without: list[Run]
    with_product: list[Run]

    @property
    def costs(self) -> list[float]:
        """Share of the worker's throughput the product layer costs, per pair of neighbouring runs (the
        machine's speed drifts between pairs more than within one)."""
        return [1 - w.rate / wo.rate for wo, w in zip(self.without, self.with_product, strict=True)]

    @property
    def cost(self) -> float:
        """The median of the pairs' costs."""
        return statistics.median(self.costs)


_spent: dict[str, float] = {}


async def _tenant(owner: AsyncEngine, settings: Settings) -> int:
    async with owner.begin() as conn:
        tenant = await tenants.create_tenant(conn, name=f"bench-product-{secrets.token_hex(4)}",
                                             timezone="UTC",
                                             raw_retention_days=settings.rollup_retention_days)
    return tenant.id


async def _one_run(owner: AsyncEngine, app: AsyncEngine, settings: Settings, *, product: bool,
                   days: int, signups: int, baseline: str, steady_days: int = 0) -> Run:
    tenant_id = await _tenant(owner, settings)
    everything = tuple(timed_consumer(c, _spent) for c in CONSUMERS)
    without = everything if baseline == "definitions" else tuple(
        c for c in everything if c.name not in PRODUCT_CONSUMERS)
    setattr(rollup_service, "CONSUMERS", everything if product else without)  # noqa: B010 (this process)
    if product:
        async with tenant_transaction(app, tenant_id) as conn:
            for _, define in DEFINITIONS:
                await define(conn, tenant_id)
    events = list(demo_product_events(days=days, tz=ZoneInfo("UTC"), daily_signups=signups, now=NOW))
    for _, define_with in AFTER:
        events += await define_with(app, tenant_id)
    partitions = PartitionCache()

    async def ingest(batch: list[EventIn]) -> None:
        for start in range(0, len(batch), settings.max_batch_events):
            outcome = await ingest_batch(app, partitions, tenant_id=tenant_id,
                                         events=batch[start:start + settings.max_batch_events],
                                         retention_days=settings.rollup_retention_days,
                                         max_future_seconds=settings.max_future_seconds)
            assert not outcome.errors, outcome.errors[0]

    async def fold() -> int:
        folded = 0
        while True:
            done = await roll_up(app, tenant_id, claim_batches=settings.rollup_claim_batches,
                                 claim_events=settings.rollup_claim_events)
            if not done.batches:
                return folded
            folded += done.events

    # --steady-days: the history before the timed days is folded (and assigned) first, untimed, so the
    # timed claims meet people with history, as a worker does once a tenant is live.
    cut = NOW - timedelta(days=steady_days) if steady_days else None
    history = [e for e in events if cut is not None and datetime.fromisoformat(e.timestamp) < cut]
    timed = [e for e in events if cut is None or datetime.fromisoformat(e.timestamp) >= cut]
    if history:
        await ingest(history)
        await fold()
        if product:
            await assign_marked(app, tenant_id)
    await ingest(timed)
    _spent.clear()
    started = time.perf_counter()
    folded = await fold()
    if product:  # the segments job the rollup queues: it assigns the users the rollup marked
        assigning = time.perf_counter()
        await assign_marked(app, tenant_id)
        _spent["segments job (assign)"] = time.perf_counter() - assigning
    seconds = time.perf_counter() - started
    events = timed
    assert folded == len(events), (folded, len(events))
    if product:
        async with owner.connect() as conn:
            left = (await conn.execute(text("SELECT count(*) FROM outbox WHERE tenant_id = :t"),
                                       {"t": tenant_id})).scalar_one()
            assert left == 0, left
            differences = await verify_rollups(conn, tenant_id)
            assert differences == [], differences
    return Run(product, folded, seconds, dict(_spent))


async def measure(database_url: str, *, days: int, repeats: int, signups: int = 12,
                  baseline: str = "consumers", steady_days: int = 0) -> Result:
    settings = load_settings()
    owner = create_engine(database_url, role=None, pool_size=2)
    app = create_engine(database_url, role=settings.app_role, pool_size=2)
    registered = getattr(rollup_service, "CONSUMERS")  # noqa: B009 (restored below)
    try:
        runs = [await _one_run(owner, app, settings, product=product, days=days, signups=signups,
                               baseline=baseline, steady_days=steady_days)
                for _ in range(repeats) for product in (False, True)]
    finally:
        setattr(rollup_service, "CONSUMERS", registered)  # noqa: B010 (the test suite's process goes on)
        await owner.dispose()
        await app.dispose()
    return Result(runs[0].events, [r for r in runs if not r.product], [r for r in runs if r.product])


def _shares(result: Result, name: str) -> str:
    """Median share of the rollup's time spent in one consumer, without and with definitions."""
    def share(runs: list[Run]) -> float:
        return statistics.median(r.consumer_seconds.get(name, 0.0) / r.seconds for r in runs)

    return (f"{share(result.without):.1%} of the run without the product layer, "
            f"{share(result.with_product):.1%} with")


def report(result: Result) -> None:
    from bench.harness import print_section

    def rates(runs: list[Run]) -> str:
        values = [r.rate for r in runs]
        return f"best {max(values):,.0f}, median {statistics.median(values):,.0f} ({len(values)} runs)"

    print_section("product layer in the worker", [
        ("consumers registered", ", ".join(c.name for c in CONSUMERS)),
        ("definitions when active", "; ".join(name for name, _ in (*DEFINITIONS, *AFTER))),
        ("events a run (demo product and experiment events)", f"{result.events:,}"),
        ("events/s without the product layer", rates(result.without)),
        ("events/s with the product layer", rates(result.with_product)),
        *((f"time in {name}", _shares(result, name))
          for name in (*(c.name for c in CONSUMERS), "segments job (assign)")),
        ("cost per pair of runs", ", ".join(f"{c:.1%}" for c in result.costs)),
        ("cost of the product layer", f"{result.cost:.1%} of throughput, median of the pairs "
                                      "(target: at most 30 %)"),
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=28, help="Days of demo product events a run folds.")
    parser.add_argument("--repeats", type=int, default=5, help="Runs per mode (alternating).")
    parser.add_argument("--signups", type=int, default=48,
                        help="People signing up a day (the demo has 12; more makes each run longer).")
    parser.add_argument("--baseline", choices=("consumers", "definitions"), default="consumers",
                        help="Without the product layer: its consumers unregistered too, or only no "
                             "definitions.")
    parser.add_argument("--steady-days", type=int, default=0,
                        help="Time only the last N days' events, the days before folded first (0: fold "
                             "everything from empty, timed).")
    args = parser.parse_args()
    from bench.harness import conditions, print_section, running_stack

    with running_stack(worker=False) as stack:
        print_section("conditions", conditions(
            stack, days=args.days, repeats=args.repeats, signups=args.signups, steady_days=args.steady_days,
            measured="roll_up in this process (the worker's job body)"))
        report(asyncio.run(measure(stack.database_url, days=args.days, repeats=args.repeats,
                                   signups=args.signups, baseline=args.baseline,
                                   steady_days=args.steady_days)))


if __name__ == "__main__":
    main()
