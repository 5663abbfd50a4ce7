"""Funnel query p95 over progress rows built by the real backfill from raw events.

```
python bench/funnels.py [--actors 100000] [--events-per-actor 10] [--runs 30] [--batch 500]
```

Loads ``--actors`` people with about ``--events-per-actor`` Custom events each straight into
``events`` (COPY, as the owner: a 4-step funnel walked with drop-offs, plus other events), fills
``user_days`` from them in SQL (what the rollup would have written: the backfill walks persons from
it), defines a 4-step funnel and runs the real backfill (analytics.funnels.backfill, the same
re-derivation the rollup's consumer runs), then times the funnel query (analytics.funnels.result, the
SQL the graph's ``result`` field runs) for the last 30 days: plain, broken down by a property of the
first step, and the previous period (compare). Every answer is checked against the counts the
generator knows. Prints the figures and the conditions.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.db import lock_tenant, scope_to_tenant, tenant_transaction
from analytics.funnels.backfill import run_backfill
from analytics.funnels.definition import parse_definition
from analytics.funnels.progress import rederive
from analytics.funnels.result import Dimension, funnel_figures
from analytics.funnels.store import define_funnel, get_funnel
from analytics.periods import Period

STEPS = ("signed_up", "profile_done", "first_deploy", "upgraded")
NOISE = ("page_opened", "search", "settings_viewed")
PLANS = ("free", "pro", "team")
REACH = (1.0, 0.6, 0.5, 0.4)  # chance of taking each step after the previous one
WINDOW = timedelta(days=14)
COLUMNS = ("tenant_id", "occurred_at", "id", "type", "user_id", "name", "properties")


@dataclass
class Expected:
    """What the generator knows: per period and plan, each actor's steps and whether the window is open."""

    steps: dict[str, list[int]] = field(default_factory=dict)  # key -> actors per step
    open_at: dict[str, list[int]] = field(default_factory=dict)  # key -> actors stopped at k still open

    def add(self, key: str, reached: int, still_open: bool) -> None:
        steps = self.steps.setdefault(key, [0] * len(STEPS))
        opened = self.open_at.setdefault(key, [0] * len(STEPS))
        for k in range(reached):
            steps[k] += 1
        if reached < len(STEPS) and still_open:
            opened[reached - 1] += 1


def journeys(
    tenant_id: int, actors: int, per_actor: int, now: datetime, seed: int = 7
) -> tuple[list[tuple[Any, ...]], Expected]:
    """The rows to COPY and the expected figures. Journeys start 1 to 59 days ago (the last 30 days and
    the 30 before); steps follow within an hour of each other; noise events come before the first step."""
    rng = random.Random(seed)
    rows: list[tuple[Any, ...]] = []
    expected = Expected()
    for n in range(actors):
        user = f"bench-{n:07d}"
        # clear of the two periods' edges: no attempt straddles the previous period's end
        start = now - timedelta(days=rng.choice((rng.uniform(1, 29.5), rng.uniform(30.5, 59))))
        plan = PLANS[n % len(PLANS)]
        reached, at = 0, start
        for k, name in enumerate(STEPS):
            if rng.random() > REACH[k]:
                break
            props = {"plan": plan} if k == 0 else {}
            rows.append((tenant_id, at, uuid.uuid4(), "Custom", user, name, json.dumps(props)))
            reached += 1
            at += timedelta(seconds=rng.uniform(30, 3600))
        for i in range(max(0, per_actor - reached)):
            rows.append(
                (
                    tenant_id,
                    start - timedelta(minutes=i + 1),
                    uuid.uuid4(),
                    "Custom",
                    user,
                    NOISE[i % len(NOISE)],
                    "{}",
                )
            )
        period = "now" if start >= now - timedelta(days=30) else "before"
        still_open = start + WINDOW >= (now if period == "now" else now - timedelta(days=30))  # at its end
        expected.add(period, reached, still_open)
        if period == "now":
            expected.add(f"now:{plan}", reached, still_open)
    return rows, expected


async def load(owner: AsyncEngine, tenant_id: int, rows: Sequence[tuple[Any, ...]]) -> None:
    """COPY the events and fill user_days from them (the rollup's table the backfill walks)."""
    async with owner.connect() as conn:
        raw = await conn.get_raw_connection()
        driver: Any = raw.driver_connection
        for start in range(0, len(rows), 100_000):
            await driver.copy_records_to_table(
                "events", records=rows[start : start + 100_000], columns=COLUMNS
            )
        await conn.execute(
            text(
                "INSERT INTO user_days (tenant_id, day, bot, user_key, events, first_at, last_at) "
                "SELECT tenant_id, (occurred_at AT TIME ZONE 'UTC')::date, false, 'u:' || user_id, count(*), "
                "min(occurred_at), max(occurred_at) FROM events WHERE tenant_id = :t GROUP BY 1, 2, 4"
            ),
            {"t": tenant_id},
        )
        await conn.execute(text("ANALYZE events"))
        await conn.execute(text("ANALYZE user_days"))
        await conn.commit()


async def build(app: AsyncEngine, owner: AsyncEngine, tenant_id: int, batch: int) -> tuple[int, float]:
    """Define the funnel and run its backfill; (funnel id, seconds)."""
    definition = parse_definition({"name": "bench", "steps": [{"matcher": {"event": s}} for s in STEPS]})
    async with tenant_transaction(app, tenant_id) as conn:
        funnel = await define_funnel(conn, tenant_id, funnel_id=None, definition=definition)
    started = time.perf_counter()
    await run_backfill(app, tenant_id, funnel.id, batch=batch)
    seconds = time.perf_counter() - started
    async with owner.connect() as conn:
        await conn.execute(text("ANALYZE funnel_attempts"))
        await conn.commit()
    return funnel.id, seconds


def _check(found: Any, steps: list[int], opened: list[int], what: str) -> None:
    got = [s.actors for s in found.steps]
    assert got == steps, f"{what}: actors per step {got}, expected {steps}"
    in_progress = [s.in_progress for s in found.steps[1:]]
    assert in_progress == opened[:-1], f"{what}: in progress {in_progress}, expected {opened[:-1]}"


async def measure(
    app: AsyncEngine, tenant_id: int, funnel_id: int, expected: Expected, now: datetime, runs: int
) -> dict[str, list[float]]:
    """Time each query ``runs`` times (ms) and check every answer. The whole funnel is summed from
    days (analytics.funnels.days); ``scan`` is the same answer read from every attempt of the range
    (the query before the day sums), timed alternately in the same run and checked equal."""
    period = Period(now - timedelta(days=30), now, UTC, None)
    before = Period(now - timedelta(days=60), now - timedelta(days=30), UTC, None)
    times: dict[str, list[float]] = {
        "plain": [],
        "plain, scan": [],
        "breakdown by property": [],
        "compare (previous period)": [],
        "compare, scan": [],
    }
    async with tenant_transaction(app, tenant_id) as conn:
        funnel = await get_funnel(conn, tenant_id, funnel_id)
    assert funnel is not None
    for _ in range(runs):
        async with tenant_transaction(app, tenant_id) as conn:
            started = time.perf_counter()
            whole = await funnel_figures(conn, tenant_id, funnel, period, now=now)
            times["plain"].append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            split = await funnel_figures(
                conn, tenant_id, funnel, period, dimension=Dimension.PROPERTY, prop="plan", now=now
            )
            times["breakdown by property"].append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            then = await funnel_figures(conn, tenant_id, funnel, before, now=now)
            times["compare (previous period)"].append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            whole_scan = await funnel_figures(conn, tenant_id, funnel, period, now=now, scan=True)
            times["plain, scan"].append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            then_scan = await funnel_figures(conn, tenant_id, funnel, before, now=now, scan=True)
            times["compare, scan"].append((time.perf_counter() - started) * 1000)
        assert whole == whole_scan and then == then_scan, "the day sums and the scan differ"
        _check(whole[0], expected.steps["now"], expected.open_at["now"], "plain")
        for row in split:
            key = f"now:{row.value}"
            _check(row, expected.steps[key], expected.open_at[key], f"plan {row.value}")
        _check(then[0], expected.steps["before"], expected.open_at["before"], "previous period")
    return times


async def consumer(app: AsyncEngine, tenant_id: int, funnel_id: int, now: datetime, persons: int,
                   runs: int) -> dict[str, Any]:
    """What the rollup's funnel consumer costs for a claim that brings each of ``persons`` people one
    new event now: re-deriving each person whole (the consumer before, and still the backfill) against
    re-deriving from the person's last attempt before the new event (the consumer now). Both write the
    same rows (checked); each run is rolled back. Milliseconds per claim, alternating."""
    async with tenant_transaction(app, tenant_id) as conn:
        funnel = await get_funnel(conn, tenant_id, funnel_id)
        people = list((await conn.execute(text(
            "SELECT DISTINCT person FROM funnel_attempts WHERE tenant_id = :t AND funnel_id = :f "
            "ORDER BY person LIMIT :n"), {"t": tenant_id, "f": funnel_id, "n": persons})).scalars())
    assert funnel is not None
    since = {(funnel_id, p): now for p in people}
    times: dict[str, list[float]] = {"whole history": [], "from the last attempt": []}
    rows: dict[str, Any] = {}
    for _ in range(runs):
        for name, window in (("whole history", None), ("from the last attempt", since)):
            async with app.connect() as conn:
                await scope_to_tenant(conn, tenant_id)
                await lock_tenant(conn, tenant_id)
                started = time.perf_counter()
                await rederive(conn, tenant_id, {funnel_id: (funnel, people)}, window)
                times[name].append((time.perf_counter() - started) * 1000)
                rows[name] = (await conn.execute(text(
                    "SELECT md5(string_agg(a::text, ',' ORDER BY person, first_event)) "
                    "FROM funnel_attempts a WHERE tenant_id = :t AND funnel_id = :f AND person = ANY(:p)"),
                    {"t": tenant_id, "f": funnel_id, "p": people})).scalar_one()
                await conn.rollback()
    assert rows["whole history"] == rows["from the last attempt"], "the two paths wrote different rows"
    return {"persons a claim": len(people),
            **{name: {"p50_ms": round(percentile(v, 50), 1), "p95_ms": round(percentile(v, 95), 1)}
               for name, v in times.items()}}


def percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def run(
    app: AsyncEngine,
    owner: AsyncEngine,
    tenant_id: int,
    *,
    actors: int,
    per_actor: int,
    runs: int,
    batch: int,
    claim_persons: int = 1000,
    quiet: bool = False,
) -> dict[str, Any]:
    now = datetime.now(UTC).replace(microsecond=0)
    started = time.perf_counter()
    rows, expected = journeys(tenant_id, actors, per_actor, now)
    await load(owner, tenant_id, rows)
    loaded = time.perf_counter() - started
    funnel_id, backfill_seconds = await build(app, owner, tenant_id, batch)
    times = await measure(app, tenant_id, funnel_id, expected, now, runs)
    claim = await consumer(app, tenant_id, funnel_id, now, claim_persons, max(3, runs // 3))
    figures = {
        "actors": actors,
        "events": len(rows),
        "load_seconds": round(loaded, 1),
        "backfill_seconds": round(backfill_seconds, 1),
        "backfill_events_per_second": round(len(rows) / backfill_seconds),
        "queries": {
            name: {"p50_ms": round(percentile(v, 50), 1), "p95_ms": round(percentile(v, 95), 1)}
            for name, v in times.items()
        },
        "consumer claim (re-derive)": claim,
    }
    if not quiet:
        print(json.dumps(figures, indent=2))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--actors", type=int, default=100_000)
    parser.add_argument("--events-per-actor", type=int, default=10)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--claim-persons", type=int, default=1000,
                        help="People a timed consumer claim brings a new event for.")
    args = parser.parse_args()
    from analytics.db import create_engine
    from bench.harness import conditions, print_section, running_stack

    with running_stack(worker=False, quiet=True) as stack:
        print_section(
            "conditions", conditions(stack, actors=args.actors, events_per_actor=args.events_per_actor)
        )

        async def go() -> None:
            owner = create_engine(stack.database_url, role=None, pool_size=2)
            from analytics.settings import load_settings

            app = create_engine(stack.database_url, role=load_settings().app_role, pool_size=2)
            try:
                await run(
                    app,
                    owner,
                    stack.tenant_id,
                    actors=args.actors,
                    per_actor=args.events_per_actor,
                    runs=args.runs,
                    batch=args.batch,
                    claim_persons=args.claim_persons,
                )
            finally:
                await app.dispose()
                await owner.dispose()

        asyncio.run(go())


if __name__ == "__main__":
    main()
