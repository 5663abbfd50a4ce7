"""Ingest benchmark: batched and single-event ``track`` over HTTP, raw COPY, and decode cost."""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analytics.embedded import free_port
from bench.ceiling import running_ceiling
from bench.harness import (
    RESERVED_PORTS,
    TRACK_MUTATION,
    Stack,
    conditions,
    cpu_seconds,
    cpu_share,
    make_events,
    percentile,
    print_section,
    rss_mb,
    running_stack,
    track_body,
)
from bench.loadgen import LoadProcess, LoadResult, LoadSpec
from bench.profiling import WORKER_PHASES, Sampler, py_spy, summarise

COPY_COLUMNS = ("tenant_id", "occurred_at", "id", "type", "user_id", "anonymous_id", "session_id",
                "tour_id", "step_index", "step_id", "content_id", "selector", "url", "properties")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Measure `track` ingest through HTTP against the real stack (PostgreSQL, "
                    "Redis, API and worker on this machine), the raw COPY rate of the same "
                    "PostgreSQL, and the in-process cost of decoding one batch. Prints figures; "
                    "asserts nothing.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20,
                        help="Measured seconds of each HTTP phase.")
    parser.add_argument("--warmup", type=float, default=2,
                        help="Seconds of load before each measured window (not counted).")
    parser.add_argument("--batch", type=int, default=500,
                        help="Events per request in the batched phase.")
    parser.add_argument("--concurrency", type=int, default=8,
                        help="Concurrent connections in the batched phase.")
    parser.add_argument("--single-concurrency", type=int, default=32,
                        help="Concurrent connections in the single-event phase.")
    parser.add_argument("--client", choices=("httpx", "raw"), default="httpx",
                        help="Load generator client: httpx.AsyncClient, or a minimal keep-alive "
                             "HTTP/1.1 client that costs the shared CPUs far less per request.")
    parser.add_argument("--max-rate", type=float, default=60_000,
                        help="Events/s the pre-generated batched bodies are sized for.")
    parser.add_argument("--single-max-rate", type=float, default=8_000,
                        help="Requests/s the pre-generated single-event bodies are sized for.")
    parser.add_argument("--no-worker", action="store_true", help="Do not run the worker.")
    parser.add_argument("--skip", action="append", default=[],
                        choices=("decode", "batched", "copy", "single", "ceiling"),
                        help="Skip a phase (repeatable).")
    parser.add_argument("--drain-timeout", type=float, default=300,
                        help="Seconds to wait for the worker to empty the outbox after a phase.")
    parser.add_argument("--api-workers", type=int, default=1,
                        help="API processes (analytics serve --workers N); CPU and profiles count them all.")
    parser.add_argument("--short", action="store_true",
                        help="A smoke run of every phase in seconds (CI): 1 s windows, small pools.")
    parser.add_argument("--profile", type=Path, default=None, metavar="DIR",
                        help="Sample the API and the worker with py-spy during each window; "
                             "write collapsed stacks to DIR and print where the time goes "
                             "(costs some CPU).")
    args = parser.parse_args()
    if args.short:
        args.seconds, args.warmup, args.max_rate, args.single_max_rate = 1.0, 0.5, 20_000, 2_000
        args.batch, args.drain_timeout = min(args.batch, 100), 60
    return args


# --- decode cost, in process ---------------------------------------------------------------------


def _time_per_call(fn: Callable[[], object], min_seconds: float = 1.0) -> float:
    """Median seconds per call over repeated rounds of at least ``min_seconds`` in total."""
    fn()
    samples: list[float] = []
    deadline = time.perf_counter() + min_seconds
    while time.perf_counter() < deadline or len(samples) < 5:
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def decode_benchmark(batch: int, min_seconds: float = 1.0) -> list[tuple[str, object]]:
    """ms per ``batch``-event body: msgspec fast path versus graphql-core coercion + Strawberry."""
    from graphql import FieldNode, OperationDefinitionNode, parse
    from graphql.execution.values import get_argument_values, get_variable_values
    from strawberry.types.arguments import convert_arguments

    from analytics.ingest.events import validate_batch
    from api.ingest.fast_path import ENVELOPE_DECODER, decode_variables
    from api.schema import schema

    body = track_body(make_events(batch))
    graphql_schema = schema._schema  # the graphql-core schema Strawberry executes
    document = parse(TRACK_MUTATION)  # the endpoint takes it from its document cache
    operation = document.definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    field_node = operation.selection_set.selections[0]
    assert isinstance(field_node, FieldNode) and graphql_schema.mutation_type is not None
    field_def = graphql_schema.mutation_type.fields["track"]
    mutation = schema.get_type_by_name("Mutation")
    strawberry_field = next(f for f in mutation.fields if f.name == "track")  # type: ignore[union-attr]
    registry, config = schema.schema_converter.scalar_registry, schema.config

    def fast() -> Any:
        envelope = ENVELOPE_DECODER.decode(body)
        return decode_variables(envelope, document)[1]

    def plain_variables() -> dict[str, Any]:
        envelope = ENVELOPE_DECODER.decode(body)  # what the view does with the fast path off
        variables, _ = decode_variables(envelope, None)
        assert variables is not None
        return variables

    variables = plain_variables()

    def coerce() -> Any:
        values = get_variable_values(graphql_schema, operation.variable_definitions or (),
                                     variables)
        assert not isinstance(values, list), values
        return get_argument_values(field_def, field_node, values)

    arguments = coerce()

    def convert() -> list[Any]:
        converted = convert_arguments(arguments, strawberry_field.arguments, registry, config)
        return [event.to_event() for event in converted["events"]]

    def generic() -> list[Any]:
        nonlocal variables, arguments
        variables = plain_variables()
        arguments = coerce()
        return convert()

    assert fast() == generic(), "the two paths disagree"
    decoded = fast()
    fast_s = _time_per_call(fast, min_seconds)
    generic_s = _time_per_call(generic, min_seconds)
    json_s, coerce_s, convert_s = (_time_per_call(plain_variables, min_seconds),
                                   _time_per_call(coerce, min_seconds), _time_per_call(convert, min_seconds))
    validate_s = _time_per_call(lambda: validate_batch(decoded, retention_days=90,
                                                       max_future_seconds=86_400), min_seconds)
    per = 1000.0
    return [
        ("body", f"{batch} events, {len(body) / 1024:.0f} KiB"),
        ("fast path (msgspec envelope + events)", f"{fast_s * per:.3f} ms/batch"),
        ("generic path, total",
         f"{generic_s * per:.3f} ms/batch  ({generic_s / fast_s:.0f}x the fast path)"),
        ("  JSON decode (msgspec, plain dicts)", f"{json_s * per:.3f} ms"),
        ("  graphql-core variable coercion", f"{coerce_s * per:.3f} ms"),
        ("  Strawberry conversion + to_event", f"{convert_s * per:.3f} ms"),
        ("validate_batch (both paths)", f"{validate_s * per:.3f} ms/batch"),
    ]


# --- HTTP phases ---------------------------------------------------------------------------------


def run_http_phase(stack: Stack, spec: LoadSpec, label: str, profile_dir: Path | None,
                   extra_pids: dict[str, int] | None = None) -> tuple[LoadResult, list[tuple[str, object]]]:
    """Run one load phase in a separate process and return its result and printable figures
    (``extra_pids``: more processes whose CPU is shown, such as the ceiling server)."""
    load = LoadProcess(spec)
    print(f"\n[{label}] generating {spec.body_count} request bodies...", file=sys.stderr,
          flush=True)
    generated = load.prepare()
    print(f"[{label}] {generated:.1f} s to generate; {spec.warmup:.0f} s warm-up, "
          f"{spec.seconds:.0f} s measured", file=sys.stderr, flush=True)
    pids = {**stack.pids, **(extra_pids or {})}
    if load.pid is not None:
        pids["loadgen"] = load.pid
    marks: dict[str, tuple[float, dict[str, float]]] = {}
    samplers = {role: Sampler(pids[role], profile_dir / f"{role}-{label}.txt", spec.seconds)
                for role in ("api", "worker") if profile_dir is not None and role in pids}

    db: dict[str, dict[str, int]] = {}

    def window_start() -> None:
        db["start"] = asyncio.run(_database_counters(stack))
        marks["start"] = (time.perf_counter(), cpu_seconds(pids))
        for sampler in samplers.values():
            sampler.start()

    def window_end() -> None:
        marks["end"] = (time.perf_counter(), cpu_seconds(pids))
        db["end"] = asyncio.run(_database_counters(stack))

    try:
        result = load.run(window_start, window_end)
    finally:
        load.close()
    for sampler in samplers.values():
        sampler.wait()
    stack.check_alive()
    (t0, cpu0), (t1, cpu1) = marks["start"], marks["end"]
    elapsed = t1 - t0
    requests = len(result.latencies)
    ms = [x * 1000 for x in result.latencies]
    rows: list[tuple[str, object]] = []
    if spec.batch > 1:
        rows.append(("events/s (accepted)", f"{result.accepted / result.window:,.0f}"))
    rows += [
        ("requests/s", f"{requests / result.window:,.1f}"),
        ("latency p50 / p99 / max", f"{percentile(ms, 50):.1f} / {percentile(ms, 99):.1f} / "
                                    f"{max(ms, default=float('nan')):.1f} ms"),
        ("requests measured", f"{requests:,} ({result.warmup_requests:,} in warm-up, "
                              f"{result.total_requests:,} sent in all)"),
        ("responses with accepted != batch", f"{result.bad}"
         + (f"  first: {result.first_bad}" if result.first_bad else "")),
        ("CPU in window", cpu_share(cpu0, cpu1, elapsed)),
        ("CPU per request", ", ".join(f"{role} {(cpu1[role] - cpu0[role]) / requests * 1000:.2f} ms"
                                      for role in ("api", "ceiling", "postgres", "redis")
                                      if role in cpu0 and role in cpu1 and requests)),
        ("PostgreSQL in window (approx.)", ", ".join(  # less the probe's own session/commit
            f"{name} {db['end'][name] - db['start'][name] - 1:,}" for name in db["start"])),
        ("body size", f"{result.body_bytes:,} bytes"),
    ]
    if result.pool_exhausted:
        rows.append(("WARNING",
                     "ran out of pre-generated bodies: raise --max-rate / --single-max-rate"))
    if "api" in samplers:
        rows.extend(summarise(samplers["api"].output))
    if "worker" in samplers:
        rows.extend(summarise(samplers["worker"].output, WORKER_PHASES, "worker", top=8))
    return result, rows


async def _database_counters(stack: Stack) -> dict[str, int]:
    """Cumulative sessions opened and transactions committed in the database (pg_stat_database)."""
    import asyncpg

    conn = await asyncpg.connect(stack.asyncpg_dsn)
    try:
        row = await conn.fetchrow("SELECT sessions, xact_commit FROM pg_stat_database "
                                  "WHERE datname = current_database()")
    finally:
        await conn.close()
    assert row is not None
    return {"sessions opened": int(row["sessions"]), "commits": int(row["xact_commit"])}


async def _pending(stack: Stack) -> tuple[int, int]:
    """Outbox rows and events still to be rolled up for the bench tenant."""
    import asyncpg

    conn = await asyncpg.connect(stack.asyncpg_dsn)
    try:
        async with conn.transaction():
            await conn.execute("SET LOCAL ROLE analytics_app")
            await conn.execute("SELECT set_config('analytics.tenant_id', $1, true)",
                               str(stack.tenant_id))
            row = await conn.fetchrow("SELECT count(*) AS n, "
                                      "coalesce(sum(cardinality(event_ids)), 0) AS events "
                                      "FROM outbox")
    finally:
        await conn.close()
    assert row is not None
    return int(row["n"]), int(row["events"])


def wait_drained(stack: Stack, timeout: float) -> list[tuple[str, object]]:
    """Wait for the worker to empty the outbox; say how long it took."""
    start = time.perf_counter()
    rows, events = asyncio.run(_pending(stack))
    if not stack.worker_running:
        return [("outbox after the phase", f"{rows} batches, {events:,} events (no worker)")]
    left = (rows, events)
    while left[0] and time.perf_counter() - start < timeout:
        time.sleep(0.2)
        left = asyncio.run(_pending(stack))
    took = time.perf_counter() - start
    state = "drained" if not left[0] else f"NOT drained ({left[0]} batches left)"
    return [("outbox at the end of the phase", f"{rows} batches, {events:,} events"),
            ("worker caught up", f"{state} {took:.1f} s after the load stopped")]


# --- raw COPY ------------------------------------------------------------------------------------


def _copy_records(tenant_id: int, count: int) -> list[tuple[Any, ...]]:
    now = datetime.now(UTC)
    records = []
    for event in make_events(count):
        records.append((tenant_id, now, uuid.UUID(event["id"]), event["type"], event["userId"],
                        None, None, event["tourId"], event.get("stepIndex"), None, None, None,
                        None, None))
    return records


async def copy_benchmark(stack: Stack, count: int, batch: int,
                         concurrency: int) -> dict[str, float]:
    """rows/s of COPY (asyncpg, as the owner) into a scratch table shaped like ``events``."""
    import asyncpg

    records = _copy_records(stack.tenant_id, count)
    chunks = [records[i:i + batch] for i in range(0, len(records), batch)]
    pool = await asyncpg.create_pool(stack.asyncpg_dsn, min_size=concurrency, max_size=concurrency)
    assert pool is not None

    async def per_batch() -> float:
        todo = iter(chunks)

        async def lane() -> None:
            async with pool.acquire() as conn:
                for chunk in todo:
                    await conn.copy_records_to_table("bench_copy", records=chunk,
                                                     columns=COPY_COLUMNS)

        start = time.perf_counter()
        await asyncio.gather(*(lane() for _ in range(concurrency)))
        return time.perf_counter() - start

    try:
        async with pool.acquire() as conn:
            await conn.execute("DROP TABLE IF EXISTS bench_copy")
            await conn.execute("CREATE TABLE bench_copy (LIKE events INCLUDING DEFAULTS)")
            plain = await per_batch()
            await conn.execute("TRUNCATE bench_copy")
            start = time.perf_counter()
            await conn.copy_records_to_table("bench_copy", records=records, columns=COPY_COLUMNS)
            single = time.perf_counter() - start
            await conn.execute("TRUNCATE bench_copy")
            await conn.execute(
                "ALTER TABLE bench_copy ADD PRIMARY KEY (tenant_id, occurred_at, id)")
            keyed = await per_batch()
    finally:
        async with pool.acquire() as conn:
            await conn.execute("DROP TABLE IF EXISTS bench_copy")
        await pool.close()
    return {"per_batch": count / plain, "per_batch_keyed": count / keyed,
            "single": count / single}


def copy_rows(rates: dict[str, float], count: int, batch: int,
              concurrency: int) -> list[tuple[str, object]]:
    lanes = f"{batch}-row COPYs, {concurrency} connections"
    return [
        ("rows copied", f"{count:,} (as many as the measured batched phase accepted)"),
        (f"{lanes}, no index", f"{rates['per_batch']:,.0f} rows/s"),
        (f"{lanes}, + primary key", f"{rates['per_batch_keyed']:,.0f} rows/s  (events has it)"),
        ("one COPY of all rows, no index", f"{rates['single']:,.0f} rows/s"),
    ]


def settle(stack: Stack) -> None:
    """Flush the previous phase's WAL (CHECKPOINT, as the owner) so it is not billed to the next."""
    import asyncpg

    async def checkpoint() -> None:
        conn = await asyncpg.connect(stack.asyncpg_dsn)
        try:
            await conn.execute("CHECKPOINT")
        except asyncpg.InsufficientPrivilegeError:
            pass  # an external server where we are not superuser: skip
        finally:
            await conn.close()

    asyncio.run(checkpoint())
    time.sleep(1)


def latency_text(result: LoadResult) -> str:
    ms = [x * 1000 for x in result.latencies]
    return f"p50 {percentile(ms, 50):.0f} ms, p99 {percentile(ms, 99):.0f} ms"


def memory_rows(stack: Stack) -> list[tuple[str, object]]:
    rows: list[tuple[str, object]] = []
    for role in ("api", "worker"):
        pid = stack.pids.get(role)
        now, peak = (rss_mb(pid), rss_mb(pid, peak=True)) if pid else (None, None)
        if now is not None and peak is not None:
            rows.append((role, f"{now:.0f} MB resident at the end, {peak:.0f} MB peak"))
    return rows


# --- main ----------------------------------------------------------------------------------------


def main() -> None:
    args = parse_args()
    skip = set(args.skip)
    if args.profile is not None and py_spy() is None:
        sys.exit("--profile needs py-spy (pip install py-spy)")
    print("track ingest benchmark (figures only; nothing is asserted)")
    if "decode" not in skip:
        print_section(f"decode cost of one {args.batch}-event body, in process (median)",
                      decode_benchmark(args.batch, 0.05 if args.short else 1.0))

    with running_stack(worker=not args.no_worker, api_workers=args.api_workers) as stack:
        print_section("conditions", conditions(
            stack, batch_size=args.batch, batched_concurrency=args.concurrency,
            single_concurrency=args.single_concurrency,
            duration=f"{args.seconds:g} s measured after {args.warmup:g} s warm-up, per phase",
            load_generator=f"1 separate process, {args.client} client, closed loop "
                           "(bodies pre-serialised with orjson)",
            API=f"python -m cli serve --workers {args.api_workers}",
            between_phases="outbox drained, then CHECKPOINT; COPY runs last"))
        url = stack.graphql_url
        summary: list[tuple[str, object]] = []
        batched_accepted, single_rate = 0, 0.0
        if "batched" not in skip:
            spec = LoadSpec(url=url, key=stack.publishable_key, batch=args.batch,
                            concurrency=args.concurrency, seconds=args.seconds, warmup=args.warmup,
                            max_rate=args.max_rate, client=args.client)
            result, rows = run_http_phase(stack, spec, "batched", args.profile)
            batched_accepted = result.accepted
            print_section(f"batched track: {args.batch} events a request, "
                          f"{args.concurrency} connections",
                          rows + wait_drained(stack, args.drain_timeout))
            summary.append((f"batched track over HTTP ({args.batch}/request)",
                            f"{result.accepted / result.window:,.0f} events/s, "
                            f"{latency_text(result)}"))
            settle(stack)
        if "single" not in skip:
            spec = LoadSpec(url=url, key=stack.publishable_key, batch=1,
                            concurrency=args.single_concurrency, seconds=args.seconds,
                            warmup=args.warmup, max_rate=args.single_max_rate, client=args.client)
            result, rows = run_http_phase(stack, spec, "single", args.profile)
            print_section(f"single-event track: 1 event a request, {args.single_concurrency} "
                          "connections", rows + wait_drained(stack, args.drain_timeout))
            single_rate = len(result.latencies) / result.window
            summary.append(("single-event track over HTTP",
                            f"{single_rate:,.0f} requests/s, {latency_text(result)}"))
            settle(stack)
        if "ceiling" not in skip:
            while (port := free_port()) in RESERVED_PORTS:
                pass
            with running_ceiling(port) as ceiling:
                spec = LoadSpec(url=f"http://127.0.0.1:{port}/graphql", key=stack.publishable_key, batch=1,
                                concurrency=args.single_concurrency, seconds=args.seconds,
                                warmup=args.warmup, max_rate=args.single_max_rate * 4, client=args.client)
                result, rows = run_http_phase(stack, spec, "ceiling", None, {"ceiling": ceiling.pid})
            print_section("the HTTP stack's ceiling: a plain Starlette JSON endpoint (bench/ceiling.py), "
                          f"the same single-event bodies, {args.single_concurrency} connections", rows)
            rate = len(result.latencies) / result.window
            share = (f"  (single-event track is {single_rate / rate:.2f} of it)"
                     if single_rate and rate else "")
            summary.append(("plain Starlette JSON endpoint (ceiling)",
                            f"{rate:,.0f} requests/s, {latency_text(result)}{share}"))
        if "copy" not in skip:
            count = max(batched_accepted, args.batch * args.concurrency)
            rates = asyncio.run(copy_benchmark(stack, count, args.batch, args.concurrency))
            print_section("raw COPY into the same PostgreSQL (asyncpg, scratch table LIKE events, "
                          "not partitioned)", copy_rows(rates, count, args.batch, args.concurrency))
            summary.append((f"raw COPY, {args.batch}-row statements, {args.concurrency} "
                            "connections", f"{rates['per_batch']:,.0f} rows/s (no index), "
                                           f"{rates['per_batch_keyed']:,.0f} (+ primary key)"))
        print_section("memory (API and worker)", memory_rows(stack))
        print_section("summary (same run)", summary)


if __name__ == "__main__":
    main()
