"""Dashboards at scale: load N raw events at COPY speed, let the worker roll them up, then time every
dashboard document the product serves (and each panel of the overview alone) over the last 30 days.

The events are the demo's (analytics.demo: tours, and site traffic with sessions, sources, content
capsules), validated and enriched by the product's own ingest code (``validate_batch``) for one
template day, then stamped out as many times as needed: each copy gets fresh event ids, its own
people (user, anonymous and visitor ids suffixed with the copy, identity visitor ids recomputed
exactly as ingest computes them) and a day among the last ``--days``. Rows and their outbox batches
(500 events each, as ``track`` writes them) go in with COPY, one transaction per chunk, so the worker
finds exactly what the API would have left it. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import orjson

from bench.harness import Stack, conditions, percentile, print_section, rss_mb, running_stack

OUTBOX_BATCH = 500  # events per outbox row, as a 500-event track request leaves them
UNTHROTTLED = "1000000000"
VARIABLES = {"range": {"preset": "LAST_30_DAYS"}, "compare": "PREVIOUS_PERIOD", "includeBots": False,
             "granularity": "DAY", "id": "onboarding-welcome"}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000_000, help="Raw events to load.")
    parser.add_argument("--days", type=int, default=30, help="Days the events are spread over (ending "
                                                             "yesterday).")
    parser.add_argument("--chunk", type=int, default=50_000, help="Events per COPY transaction.")
    parser.add_argument("--repeat", type=int, default=20, help="Timed requests per document.")
    parser.add_argument("--drain-timeout", type=float, default=3600,
                        help="Seconds to wait for the worker to roll everything up.")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="Another checkout (e.g. /work/main) whose API is started on the same database "
                             "and timed on the same documents, alternating with this tree's.")
    parser.add_argument("--short", action="store_true", help="Smoke run: 5,000 events over 2 days, 2 "
                                                             "requests per document.")
    args = parser.parse_args()
    if args.short:
        args.events, args.days, args.repeat = 5_000, 2, 2
    return args


# --- the generator -------------------------------------------------------------------------------


async def template_rows(stack: Stack, day_end: datetime) -> list[tuple[Any, ...]]:
    """One day of demo events (the day before ``day_end``) as ingest would store them, in time order."""
    from analytics.db import create_engine
    from analytics.demo import demo_events, demo_traffic
    from analytics.ingest.events import validate_batch
    from analytics.ingest.origin import Origin, load_salts

    tz = ZoneInfo("UTC")
    engine = create_engine(stack.database_url, role=None, pool_size=1)
    try:
        salts = await load_salts(engine, (day_end - timedelta(days=1)).date())
    finally:
        await engine.dispose()
    start = day_end - timedelta(days=1)
    now = day_end - timedelta(microseconds=1)

    def in_day(event: Any) -> bool:
        return start <= datetime.fromisoformat(event.timestamp) < day_end

    tours = [e for e in demo_events(days=1, tz=tz, now=now) if in_day(e)]
    traffic = [e for _, events in demo_traffic(days=1, tz=tz, now=now) for e in events if in_day(e)]
    origin = Origin(tenant_id=stack.tenant_id, ip="198.51.100.20", user_agent=None, store_ip=False,
                    salts=salts)
    rows: list[tuple[Any, ...]] = []
    for events, sender in ((tours, None), (traffic, origin)):
        batch = validate_batch(events, retention_days=3650, max_future_seconds=86_400, now=now,
                               origin=sender)
        if batch.errors:
            raise RuntimeError(f"a demo event was rejected: {batch.errors[0]}")
        rows += [v.row for v in batch.valid]
    from analytics.ingest.events import ROW_COLUMNS

    at = ROW_COLUMNS.index("occurred_at")
    return sorted(rows, key=lambda r: r[at])


class Stamper:
    """Copies of the template rows: fresh ids, the copy's own people, shifted by whole days."""

    def __init__(self, tenant_id: int, template: list[tuple[Any, ...]]) -> None:
        from analytics.ingest.events import ROW_COLUMNS

        self.tenant_id, self.template = tenant_id, template
        self.col = {name: i for i, name in enumerate(ROW_COLUMNS)}
        self._identity: dict[tuple[str | None, str | None], str] = {}
        self._next_id = uuid.uuid4().int & ~((1 << 40) - 1)  # unique low bits per row below

    def _visitor(self, user: str | None, anonymous: str | None) -> str:
        from analytics.ingest.origin import identity_visitor_id

        key = (user, anonymous)
        if key not in self._identity:
            self._identity[key] = identity_visitor_id(self.tenant_id, user, anonymous)
        return self._identity[key]

    def copy(self, copy_index: int, days_back: int) -> list[tuple[Any, ...]]:
        c, shift, suffix = self.col, timedelta(days=days_back), f"~{copy_index}"
        out = []
        for row in self.template:
            values = list(row)
            self._next_id += 1
            values[c["id"]] = uuid.UUID(int=self._next_id)
            values[c["occurred_at"]] = row[c["occurred_at"]] - shift
            for name in ("user_id", "anonymous_id", "session_id"):
                if values[c[name]] is not None:
                    values[c[name]] = values[c[name]] + suffix
            if row[c["user_id"]] is not None or row[c["anonymous_id"]] is not None:
                values[c["visitor_id"]] = self._visitor(values[c["user_id"]], values[c["anonymous_id"]])
            elif row[c["visitor_id"]] is not None:  # cookieless: a daily salt, so a new visitor each day
                for name in ("visitor_id", "visitor_prev"):
                    if row[c[name]] is not None:
                        values[c[name]] = hashlib.blake2b(
                            f"{row[c[name]]}{suffix}@{days_back}".encode(), digest_size=16).hexdigest()
            out.append(tuple(values))
        return out


async def load(stack: Stack, events: int, days: int, chunk: int) -> tuple[int, float, float]:
    """COPY ``events`` stamped rows and their outbox batches; returns (rows, seconds, generator seconds)."""
    import asyncpg

    from analytics.ingest.events import ROW_COLUMNS

    day_end = datetime.combine(datetime.now(UTC).date(), datetime.min.time(), UTC)
    template = await template_rows(stack, day_end)
    stamper = Stamper(stack.tenant_id, template)
    copies_per_day = max(1, round(events / (days * len(template))))
    columns = ("tenant_id", *ROW_COLUMNS)
    conn = await asyncpg.connect(stack.asyncpg_dsn)
    generating = 0.0
    written = 0
    started = time.perf_counter()
    try:
        for back in range(days):  # month partitions the rows need (the owner connection, as migrations)
            await conn.execute("SELECT analytics_ensure_event_partition($1)",
                               day_end - timedelta(days=back + 1))
        pending: list[tuple[Any, ...]] = []

        async def flush() -> None:
            nonlocal written
            if not pending:
                return
            id_at = (ROW_COLUMNS.index("id"), ROW_COLUMNS.index("occurred_at"))
            outbox = [(stack.tenant_id, [r[id_at[0]] for r in pending[i:i + OUTBOX_BATCH]],
                       [r[id_at[1]] for r in pending[i:i + OUTBOX_BATCH]])
                      for i in range(0, len(pending), OUTBOX_BATCH)]
            async with conn.transaction():
                await conn.copy_records_to_table("events", records=[(stack.tenant_id, *r) for r in pending],
                                                 columns=columns)
                await conn.copy_records_to_table("outbox", records=outbox,
                                                 columns=("tenant_id", "event_ids", "occurred_ats"))
            written += len(pending)
            pending.clear()

        for back in range(days, 0, -1):  # oldest day first, as time passes
            for copy_index in range(copies_per_day):
                t0 = time.perf_counter()
                pending += stamper.copy(copy_index, back - 1)
                generating += time.perf_counter() - t0
                if len(pending) >= chunk:
                    await flush()
        await flush()
    finally:
        await conn.close()
    return written, time.perf_counter() - started, generating


def wait_rolled_up(stack: Stack, timeout: float) -> tuple[float, bool]:
    from bench.ingest import _pending

    started = time.perf_counter()
    while asyncio.run(_pending(stack))[0]:
        if time.perf_counter() - started > timeout:
            return time.perf_counter() - started, False
        time.sleep(1)
    return time.perf_counter() - started, True


def wait_sketched(stack: Stack, timeout: float) -> tuple[float, bool]:
    """Wait until the worker has sketched every past day (analytics.rollups.sketches)."""
    from analytics.db import create_engine
    from analytics.rollups.sketches import pending_sketch_work

    async def pending() -> bool:
        engine = create_engine(stack.database_url, role=None, pool_size=1)
        try:
            return stack.tenant_id in await pending_sketch_work(engine)
        finally:
            await engine.dispose()

    started = time.perf_counter()
    while asyncio.run(pending()):
        if time.perf_counter() - started > timeout:
            return time.perf_counter() - started, False
        time.sleep(1)
    return time.perf_counter() - started, True


async def define(stack: Stack) -> None:
    """The demo's tours, segments, features and funnels, so their panels have definitions."""
    from analytics.db import create_engine, tenant_transaction
    from analytics.demo_definitions import define_demo

    engine = create_engine(stack.database_url, role="analytics_app", pool_size=1)
    try:
        async with tenant_transaction(engine, stack.tenant_id) as conn:
            await define_demo(conn, stack.tenant_id)
    finally:
        await engine.dispose()


# --- the reads -----------------------------------------------------------------------------------


def documents() -> dict[str, str]:
    """Every dashboard document whose variables we can give, by operation name."""
    from api.dashboard import documents as dashboard_documents

    found = {}
    for text in dashboard_documents().values():
        name = text.split("(", 1)[0].split("{", 1)[0].replace("query", "").strip()
        found[name] = text
    return found


def panels(text: str) -> dict[str, str]:
    """One document per panel: each field under ``tenant`` (each field of ``overview`` alone)."""
    import re

    from graphql import FieldNode, OperationDefinitionNode, parse, print_ast

    operation = parse(text).definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    tenant = operation.selection_set.selections[0]
    assert isinstance(tenant, FieldNode) and tenant.selection_set is not None
    definitions = {v.variable.name.value: print_ast(v) for v in operation.variable_definitions or ()}

    def document(name: str, body: str) -> str:
        used = [definitions[v] for v in dict.fromkeys(re.findall(r"\$(\w+)", body))]
        return f"query {name}" + (f"({', '.join(used)})" if used else "") + " { tenant { " + body + " } }"

    out: dict[str, str] = {}
    for field in tenant.selection_set.selections:
        if not isinstance(field, FieldNode) or field.selection_set is None:
            continue
        name = field.name.value
        if name == "overview":
            head = print_ast(field).split(" {", 1)[0]  # overview(range: ..., ...): no braces in them
            for sub in field.selection_set.selections:
                if isinstance(sub, FieldNode) and sub.name.value != "period":
                    out[f"overview.{sub.name.value}"] = document(
                        "Panel", f"{head} {{ {print_ast(sub)} }}")
        else:
            out[name] = document("Panel", print_ast(field))
    return out


def timed(client: httpx.Client, key: str, text: str, repeat: int) -> tuple[list[float], str | None, Any]:
    """The times of ``repeat`` requests, the problem that stopped them (or None), and the last answer."""
    from graphql import OperationDefinitionNode, parse

    operation = parse(text).definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    wanted = {v.variable.name.value for v in operation.variable_definitions or ()}
    if missing := sorted(wanted - set(VARIABLES)):
        return [], "skipped: needs " + ", ".join(f"${name}" for name in missing), None
    body = orjson.dumps({"query": text, "variables": {k: v for k, v in VARIABLES.items() if k in wanted}})
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    times: list[float] = []
    answer: Any = None
    for i in range(repeat + 1):  # the first one warms the document cache; not counted
        t0 = time.perf_counter()
        response = client.post("/graphql", content=body, headers=headers)
        took = (time.perf_counter() - t0) * 1000
        answer = orjson.loads(response.content)
        if response.status_code != 200 or answer.get("errors"):
            return times, f"HTTP {response.status_code}: {response.text[:200]}", None
        if i:
            times.append(took)
    return times, None, answer


def differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Where two answers differ (JSON paths with both values), in document order."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in dict.fromkeys([*a, *b]) for d in differences(a.get(k), b.get(k), f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        pairs = enumerate(zip(a, b, strict=True))
        return [d for i, (x, y) in pairs for d in differences(x, y, f"{path}[{i}]")]
    return [] if a == b else [f"{path}: {a!r} against {b!r}"]


def figures(times: list[float]) -> str:
    return (f"p50 {percentile(times, 50):7.1f}  p95 {percentile(times, 95):7.1f}  "
            f"p99 {percentile(times, 99):7.1f}  mean {statistics.fmean(times):7.1f} ms")


def main() -> None:
    args = parse_args()
    for name in ("ANALYTICS_RATE_READ_PER_SECOND", "ANALYTICS_RATE_READ_BURST"):
        os.environ.setdefault(name, UNTHROTTLED)
    print(f"scale benchmark: {args.events:,} raw events over {args.days} days, then every dashboard "
          "document over LAST_30_DAYS (figures only; nothing is asserted)")
    with running_stack() as stack:
        asyncio.run(define(stack))
        loaded, load_seconds, generating = asyncio.run(load(stack, args.events, args.days, args.chunk))
        print(f"[scale] {loaded:,} events copied in {load_seconds:.1f} s; rolling up", file=sys.stderr,
              flush=True)
        roll_seconds, drained = wait_rolled_up(stack, args.drain_timeout)
        sketch_seconds, sketched = wait_sketched(stack, args.drain_timeout) if drained else (0.0, False)
        print_section("conditions", conditions(
            stack,
            data=f"{loaded:,} events (analytics.demo tours + site traffic, one template day validated by "
                 f"validate_batch, stamped out per copy and day) over the {args.days} days before today",
            load=f"COPY (events + outbox, {args.chunk:,} events a transaction): {load_seconds:.1f} s, "
                 f"{loaded / load_seconds:,.0f} events/s ({generating:.1f} s of it generating rows)",
            rollup=(f"the worker rolled everything up in {roll_seconds:.1f} s "
                    f"({loaded / roll_seconds:,.0f} events/s)") if drained else
                   f"NOT rolled up after {roll_seconds:.0f} s: the figures below read partial rollups",
            sketches=(f"the past days' visitor sketches built {sketch_seconds:.1f} s after the rollup"
                      if sketched else "NOT all built: distinct visitors read more exact rows"),
            reads=f"each document POSTed {args.repeat} times in a row after one untimed request, one "
                  "connection, secret key, LAST_30_DAYS, compare PREVIOUS_PERIOD, bots excluded"))
        targets = [("", stack.api_url)]
        baseline = None
        if args.baseline is not None:
            from bench.read import start_baseline

            baseline, url = start_baseline(stack, args.baseline)
            targets.append(("baseline ", url))
        rows: list[tuple[str, object]] = []
        panel_rows: list[tuple[str, object]] = []
        differing: list[tuple[str, list[str]]] = []
        work = [(name, text, rows) for name, text in sorted(documents().items())]
        overview = documents()["DashboardOverview"]
        work += [(panel, text, panel_rows) for panel, text in panels(overview).items()]
        try:
            for name, text, into in work:
                answers = []
                for label, url in targets:  # the same document on each API in turn
                    with httpx.Client(base_url=url, timeout=120) as client:
                        times, problem, answer = timed(client, stack.secret_key, text, args.repeat)
                    into.append((f"{label}{name}", problem or figures(times)))
                    answers.append(answer)
                if len(answers) > 1 and answers[0] != answers[1]:
                    differing.append((name, differences(answers[0], answers[1])))
        finally:
            if baseline is not None:
                baseline.terminate()
                baseline.wait(15)
        print_section("dashboard documents (whole; targets: overview p95 < 300 ms)", rows)
        print_section("overview panels alone (target: p95 < 50 ms each)", panel_rows)
        if baseline is not None:  # the same database: any difference is a read path's
            print_section("answers, this tree against the baseline", [
                ("documents and panels", f"{len(work)}, of them different: "
                                         f"{', '.join(name for name, _ in differing) or 'none'}"),
                *((name, "; ".join(paths[:3]) + (f" (and {len(paths) - 3} more)" if len(paths) > 3 else ""))
                  for name, paths in differing)])
        if (api_pid := stack.pids.get("api")) and (rss := rss_mb(api_pid, peak=True)) is not None:
            print_section("memory", [("API peak", f"{rss:.0f} MB")])


if __name__ == "__main__":
    main()
