"""Read benchmark: one tour report (stats + series) as a POST, an APQ GET by hash, and a 304 GET;
``{ __typename }`` with a key; and with ``--peer`` the same report and ``{ __typename }`` from
PostGraphile 5 on the same tables (bench/postgraphile.py), with the ratio of the two.

The events go through ``track`` the way a server SDK relays people's events: each demo user is its
own visitor with a browser's ``context.userAgent`` and address (``context.ip``), so none of it is
filed as a bot. The report read back is checked against what was sent before timing, and every
timed 200 answer must equal that checked answer. ``--baseline DIR`` also starts the API from
another checkout (e.g. the main branch) on the same database, and the windows alternate between
the two so that both see the same machine load; ``--peer`` does the same with PostGraphile.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import msgspec
import orjson

from bench.harness import (
    Stack,
    conditions,
    cpu_seconds,
    cpu_share,
    percentile,
    print_section,
    rss_mb,
    running_stack,
)
from bench.loadgen import ClientKind, LoadProcess, closed_loop, run_loop
from bench.user_agents import real_looking_agents

REPORT_QUERY = """query TourReport($tour: String!) {
  tenant {
    tour(id: $tour) {
      stats(range: {preset: LAST_30_DAYS}) {
        starts completions dismissals restarts stepViews stepCompletions targetFailures
        completionRate dismissalRate
      }
      series(range: {preset: LAST_30_DAYS}) {
        granularity
        points { date starts completions dismissals stepViews completionRate }
      }
    }
  }
}"""
OPERATION = "TourReport"
TYPENAME_QUERY = "{ __typename }"
MODES = ("post", "apq", "304", "typename")
PEER_MODES = ("post", "typename")  # what PostGraphile is timed on beside the API
# High enough that the read bucket never refuses during the benchmark (set before the API starts).
UNTHROTTLED = "1000000000"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Load demo tour events through `track`, let the worker roll them up, then "
                    "measure one tour's 30-day report (stats + series) read three ways: POST with "
                    "the query text, Apollo APQ GET by hash, and that GET with If-None-Match (304). "
                    "Prints figures; asserts nothing.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20, help="Measured seconds per mode.")
    parser.add_argument("--warmup", type=float, default=2,
                        help="Seconds of load before each measured window (not counted).")
    parser.add_argument("--concurrency", type=int, default=8, help="Concurrent connections.")
    parser.add_argument("--days", type=int, default=7,
                        help="Days of demo events (analytics.demo) to load; 7 is about 6,700.")
    parser.add_argument("--tour", default="onboarding-welcome", help="Demo tour the report reads.")
    parser.add_argument("--client", choices=("httpx", "raw"), default="raw",
                        help="Load generator client: a minimal keep-alive HTTP/1.1 client (cheap, so "
                             "the API gets the CPU) or httpx.AsyncClient (about 2 ms CPU a request).")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--drain-timeout", type=float, default=300,
                        help="Seconds to wait for the worker to empty the outbox after loading.")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="Another checkout (e.g. /work/main) whose API is started as well, on the "
                             "same database; windows alternate between it and this tree's API.")
    parser.add_argument("--peer", action="store_true",
                        help="Also time PostGraphile 5 (npm, bench/peer) on the same rollup table: the "
                             "report (its rows per day and metric, checked equal to ours) and "
                             "{ __typename } with a key; prints our rate over its rate. Skipped with a "
                             "message when node or npm is missing.")
    parser.add_argument("--rounds", type=int, default=1,
                        help="Windows per mode (and per API with --baseline), alternating.")
    parser.add_argument("--profile", type=Path, default=None,
                        help="Sample this tree's API with py-spy during its windows (collapsed stacks "
                             "in DIR) and print the share per request phase; compare rates without it.")
    parser.add_argument("--short", action="store_true",
                        help="A few-second smoke run (tests/bench): 1 s windows, 2 days of events.")
    args = parser.parse_args()
    if args.short:
        args.seconds, args.warmup, args.days = 1.0, 0.5, 2
    return args


# --- load generator (its own process) ----------------------------------------------------------


@dataclass(frozen=True)
class Request:
    method: str
    target: str  # path and query string
    headers: tuple[tuple[str, str], ...]
    body: bytes = b""
    expect: int = 200  # status every response must have
    answer: Any = None  # the checked report every 200 must carry (decoded JSON)
    shape: str = "report"  # report (ours: data.tenant.tour), peer (data.tourDays), typename


@dataclass(frozen=True)
class ReadSpec:
    url: str  # http://host:port
    request: Request
    concurrency: int
    seconds: float
    warmup: float
    client: ClientKind


@dataclass
class ReadResult:
    window: float
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)  # every response, warm-up included
    bad: int = 0
    first_bad: str | None = None
    warmup_requests: int = 0
    total_requests: int = 0
    response_bytes: int = 0


def _problem(request: Request, status: int, payload: bytes) -> str | None:
    if status != request.expect:
        return f"HTTP {status} (expected {request.expect}): {payload[:300]!r}"
    if status == 200:
        try:
            document = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return f"unexpected body: {payload[:300]!r}"
        data = document.get("data") or {}
        got = {"report": lambda: (data.get("tenant") or {}).get("tour"),
               "peer": lambda: (data.get("tourDays") or {}).get("nodes"),
               "typename": lambda: data.get("__typename")}[request.shape]()
        if document.get("errors") or not got:
            return f"unexpected body: {payload[:300]!r}"
        if request.answer is not None and got != request.answer:
            return f"answer differs from the checked report: {payload[:300]!r}"
    return None


async def _drive(spec: ReadSpec, on_mark: Callable[[str], None]) -> ReadResult:
    request = spec.request
    result = ReadResult(window=spec.seconds)
    records, window = await closed_loop(
        url=spec.url, method=request.method, target=request.target, headers=dict(request.headers),
        client=spec.client, concurrency=spec.concurrency, warmup=spec.warmup, seconds=spec.seconds,
        next_body=lambda: request.body, check=lambda status, payload: (0, _problem(request, status, payload)),
        on_mark=on_mark)
    for record in records:
        result.statuses[record.status] += 1
        if record.problem is not None:
            result.bad += 1
            result.first_bad = result.first_bad or record.problem
        if record.end < window.measure_from:
            result.warmup_requests += 1
        elif window.measured(record):
            result.latencies.append(record.end - record.start)
            result.response_bytes = record.size
    result.total_requests = len(records)
    return result


def _child(spec: ReadSpec, conn: Connection) -> None:
    conn.send(("ready", 0.0))
    conn.recv()
    conn.send(("done", run_loop(_drive(spec, lambda label: conn.send((label, None))))))
    conn.close()


# --- setup: events, roll-up, the requests --------------------------------------------------------


# What each demo event type adds to the report (stats field, series field or None).
COUNTED = {"TourStarted": ("starts", "starts"), "TourCompleted": ("completions", "completions"),
           "TourDismissed": ("dismissals", "dismissals"), "TourRestarted": ("restarts", None),
           "StepViewed": ("stepViews", "stepViews"), "StepCompleted": ("stepCompletions", None)}


@dataclass
class Expected:
    """The report's counters computed from the events sent (UTC tenant, last 30 days)."""

    stats: Counter[str] = field(default_factory=Counter)
    days: dict[str, Counter[str]] = field(default_factory=dict)  # ISO date -> series counters

    def problems(self, report: dict[str, Any]) -> list[str]:
        found = [f"stats.{name} {report['stats'][name]} (sent {self.stats[name]})"
                 for name, _ in COUNTED.values() if report["stats"][name] != self.stats[name]]
        for point in report["series"]["points"]:
            sent = self.days.get(point["date"], Counter())
            found += [f"series {point['date']} {name} {point[name]} (sent {sent[name]})"
                      for _, name in COUNTED.values() if name and point[name] != sent[name]]
        return found


def human_agents(count: int) -> list[str]:
    """Browser agents (the crawler and library templates of bench/user_agents.py left out)."""
    markers = ("bot", "curl", "python", "ahrefs")
    return [a for a in real_looking_agents(count * 2) if not any(m in a.lower() for m in markers)][:count]


def load_demo_events(stack: Stack, days: int, tour: str) -> tuple[int, Expected, int, float]:
    """Send ``days`` of analytics.demo events through ``track`` (publishable key, 500 a request) as a
    server SDK relays them: each user its own browser agent and address in the event's context.
    Returns (events accepted, the report they should give for ``tour``, visitors, seconds)."""
    from datetime import UTC, datetime, timedelta
    from zoneinfo import ZoneInfo

    from analytics.demo import demo_events

    now = datetime.now(UTC)
    agents = human_agents(2000)
    visitors: dict[str, dict[str, str]] = {}
    events = []
    for demo in demo_events(days=days, tz=ZoneInfo("UTC"), now=now):
        event = {k: v for k, v in msgspec.to_builtins(demo).items() if v is not None}
        user = event["userId"]
        if user not in visitors:
            n = len(visitors)
            visitors[user] = {"userAgent": agents[n % len(agents)],
                              "ip": f"203.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"}
        event["context"] = {**event.get("context", {}), **visitors[user]}
        events.append(event)
    since = datetime.combine(now.date() - timedelta(days=29), datetime.min.time(), UTC)
    expected = Expected()
    for e in events:
        at = datetime.fromisoformat(e["timestamp"])
        if e["tourId"] != tour or e["type"] not in COUNTED or at < since:
            continue
        stat, point = COUNTED[e["type"]]
        expected.stats[stat] += 1
        if point:
            expected.days.setdefault(at.astimezone(UTC).date().isoformat(), Counter())[point] += 1
    from bench.harness import TRACK_MUTATION

    accepted = 0
    started = time.perf_counter()
    with httpx.Client(timeout=60, headers=stack.auth(stack.publishable_key)) as client:
        for i in range(0, len(events), 500):
            chunk = events[i:i + 500]
            response = client.post(stack.graphql_url, content=orjson.dumps(
                {"query": TRACK_MUTATION, "variables": {"events": chunk}}))
            response.raise_for_status()
            track = orjson.loads(response.content)["data"]["track"]
            if track["accepted"] + track["duplicates"] != len(chunk):
                raise RuntimeError(f"track refused events: {track}")
            accepted += track["accepted"]
    return accepted, expected, len(visitors), time.perf_counter() - started


def build_requests(stack: Stack, tour: str) -> tuple[dict[str, Request], dict[str, Any]]:
    """The three requests; registers the APQ hash and reads the ETag on the way."""
    from analytics.persisted import sha256_hex

    variables = {"tour": tour}
    digest = sha256_hex(REPORT_QUERY)
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": digest}}
    auth = ("authorization", f"Bearer {stack.secret_key}")
    json_type = ("content-type", "application/json")
    accept = ("accept", "application/json")
    post = Request("POST", "/graphql", (auth, json_type, accept), orjson.dumps(
        {"query": REPORT_QUERY, "operationName": OPERATION, "variables": variables}))
    target = "/graphql?" + urlencode({
        "operationName": OPERATION,
        "variables": orjson.dumps(variables).decode(),
        "extensions": orjson.dumps(extensions).decode()})
    info: dict[str, Any] = {"sha256": digest}
    with httpx.Client(base_url=stack.api_url, timeout=30) as client:
        # Apollo's link: GET by hash first (PersistedQueryNotFound), then POST query + extensions.
        miss = client.get(target, headers=dict([auth, accept]))
        info["first GET by hash"] = f"HTTP {miss.status_code}, " + (
            ",".join(e.get("extensions", {}).get("code", "?") for e in miss.json().get("errors", []))
            or "no errors")
        register = client.post("/graphql", headers=dict([auth, json_type, accept]), content=orjson.dumps(
            {"query": REPORT_QUERY, "operationName": OPERATION, "variables": variables,
             "extensions": extensions}))
        register.raise_for_status()
        if register.json().get("errors"):
            raise RuntimeError(f"registering the APQ hash failed: {register.text[:500]}")
        hit = client.get(target, headers=dict([auth, accept]))
        hit.raise_for_status()
        if hit.json().get("errors"):
            raise RuntimeError(f"the APQ GET failed: {hit.text[:500]}")
        etag = hit.headers.get("etag")
        if not etag:
            raise RuntimeError("the APQ GET carried no ETag")
        again = client.get(target, headers=dict([auth, accept, ("if-none-match", etag)]))
        if again.status_code != 304:
            raise RuntimeError(f"If-None-Match got HTTP {again.status_code}, not 304")
        report = hit.json()["data"]["tenant"]["tour"]
    info.update(etag=etag, cache_control=hit.headers.get("cache-control"), report=report,
                get_length=len(target))
    requests = {
        "post": Request(post.method, post.target, post.headers, post.body, answer=report),
        "apq": Request("GET", target, (auth, accept), answer=report),
        "304": Request("GET", target, (auth, accept, ("if-none-match", etag)), expect=304),
        "typename": typename_request(stack.secret_key),
    }
    return requests, info


def typename_request(key: str) -> Request:
    """``{ __typename }`` POSTed with a key: the framework's floor (no resolver, no database)."""
    headers = (("authorization", f"Bearer {key}"), ("content-type", "application/json"),
               ("accept", "application/json"))
    return Request("POST", "/graphql", headers, orjson.dumps({"query": TYPENAME_QUERY}), answer="Query",
                   shape="typename")


# The report's camelCase fields and the rollups' metric names (bench/postgraphile.py answers in the latter).
METRIC_OF = {"starts": "starts", "completions": "completions", "dismissals": "dismissals",
             "restarts": "restarts", "stepViews": "step_views", "stepCompletions": "step_completions",
             "targetFailures": "target_failures"}


def peer_problems(report: dict[str, Any], nodes: list[dict[str, Any]]) -> list[str]:
    """Where our report and PostGraphile's rows per day and metric disagree (empty: the same numbers)."""
    from bench.postgraphile import report_from_days

    totals, days = report_from_days(nodes)
    found = [f"stats.{name} {report['stats'][name]} (peer {totals[metric]})"
             for name, metric in METRIC_OF.items() if report["stats"][name] != totals[metric]]
    dated = {point["date"] for point in report["series"]["points"]}
    found += [f"peer day {day} outside our series" for day in days if day not in dated]
    for point in report["series"]["points"]:
        peer = days.get(point["date"], Counter())
        found += [f"series {point['date']} {name} {point[name]} (peer {peer[metric]})"
                  for name, metric in METRIC_OF.items() if name in point and point[name] != peer[metric]]
    return found


def peer_requests(stack: Stack, tour: str, report: dict[str, Any]) -> tuple[Any, dict[str, Request], str]:
    """Start PostGraphile, check its rows give our report, and build its two timed requests."""
    from datetime import date

    from bench import postgraphile

    installed = postgraphile.install()
    peer = postgraphile.start(stack)
    try:
        days = [date.fromisoformat(p["date"][:10]) for p in report["series"]["points"]]
        nodes = postgraphile.fetch(peer, stack.secret_key, tour, days[0], days[-1])
        problems = peer_problems(report, nodes)
        if problems:
            raise SystemExit("PostGraphile's rows do not give our report: " + "; ".join(problems[:10]))
        body = orjson.dumps({"query": postgraphile.PEER_QUERY,
                             "variables": postgraphile.variables(tour, days[0], days[-1])})
        headers = (("authorization", f"Bearer {stack.secret_key}"), ("content-type", "application/json"),
                   ("accept", "application/json"))
        requests = {"post": Request("POST", "/graphql", headers, body, answer=nodes, shape="peer"),
                    "typename": typename_request(stack.secret_key)}
    except BaseException:
        peer.stop()
        raise
    return peer, requests, (f"{installed}; its rows ({len(nodes)} day x metric sums, one statement) give "
                            f"our report exactly (every stats counter, every day of the series)")


def query_cost(tour: str) -> int:
    from zoneinfo import ZoneInfo

    from graphql import OperationDefinitionNode, parse

    from api.cost import operation_cost
    from api.schema import schema

    document = parse(REPORT_QUERY)
    operation = document.definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    return operation_cost(schema._schema, document, operation, {"tour": tour}, ZoneInfo("UTC"))


# Where a read's time goes in the API: (label, a substring of the shortened frame).
READ_PHASES = (
    ("uvicorn + middleware + endpoint (whole request)", "run_asgi ("),
    ("  GraphQL endpoint", "GraphQLEndpoint.handle ("),
    ("    API-key lookup", "authenticate (api/auth.py)"),
    ("    persisted-query resolution", "PersistedQueries.resolve ("),
    ("    cost", "operation_cost (api/cost.py)"),
    ("    rate limit (Redis)", "RateLimiter.spend ("),
    ("    execution (Strawberry + graphql-core + resolvers)", "Schema.execute ("),
    ("      tenant transaction (checkout, BEGIN, scope)", "tenant_transaction (analytics/db.py)"),
    ("      asyncpg statements", "AsyncAdapt_asyncpg_cursor._prepare_and_execute ("),
    ("      tour_series (counter rows to buckets)", "tour_series (tours/stats.py)"),
    ("        bucket_starts", "bucket_starts (analytics/periods.py)"),
    ("        local_midnight", "local_midnight (analytics/periods.py)"),
    ("      series points (GraphQL objects)", "series_of (tours/types.py)"),
    ("      read transaction commit", "Context.close ("),
    ("    ETag + encode (GET)", "GraphQLEndpoint.cacheable ("),
    ("  telemetry middleware", "RequestTelemetry.__call__ ("),
)

LABELS = {
    "post": "(a) POST, query text + variables",
    "apq": "(b) APQ GET by sha256 hash",
    "304": "(c) APQ GET + If-None-Match (304)",
    "typename": "(d) POST { __typename } with a key",
}


async def _commits(stack: Stack) -> int:
    """Transactions committed in the database so far (pg_stat_database; flushed by each backend at
    most once a second, so a window's figure is approximate at its edges)."""
    import asyncpg

    conn = await asyncpg.connect(stack.asyncpg_dsn)
    try:
        value = await conn.fetchval(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
    finally:
        await conn.close()
    return int(value)


@dataclass
class Window:
    """One measured window's figures (for the summary table)."""

    api: str
    mode: str
    rate: float
    p50: float
    p95: float
    p99: float
    cpu_ms: float  # API CPU per request
    transactions: float  # commits per request (approx.)
    bad: int


def measure(stack: Stack, mode: str, request: Request, args: argparse.Namespace, *,
            api: str = "api", url: str | None = None) -> tuple[list[tuple[str, object]], Window]:
    spec = ReadSpec(url=url or stack.api_url, request=request, concurrency=args.concurrency,
                    seconds=args.seconds, warmup=args.warmup, client=args.client)
    marks: dict[str, tuple[float, dict[str, float], int]] = {}
    pids = dict(stack.pids)

    sampler = None
    if args.profile is not None and api == "api":
        from bench.profiling import Sampler

        taken = len(list(args.profile.glob("*"))) if args.profile.exists() else 0
        sampler = Sampler(stack.pids["api"], args.profile / f"api-{mode}-{taken}.txt", args.seconds)

    def window_start() -> None:
        marks["start"] = (time.perf_counter(), cpu_seconds(pids), asyncio.run(_commits(stack)))
        if sampler is not None:
            sampler.start()

    def window_end() -> None:
        marks["end"] = (time.perf_counter(), cpu_seconds(pids), asyncio.run(_commits(stack)))

    print(f"[{api} {mode}] {args.warmup:g} s warm-up, {args.seconds:g} s measured", file=sys.stderr,
          flush=True)
    load = LoadProcess(spec, child=_child)
    try:
        load.prepare()
        if load.pid is not None:
            pids["loadgen"] = load.pid
        result: ReadResult = load.run(window_start, window_end)
    finally:
        load.close()
        if sampler is not None:
            sampler.wait()
    stack.check_alive()
    (t0, cpu0, commits0), (t1, cpu1, commits1) = marks["start"], marks["end"]
    ms = [x * 1000 for x in result.latencies]
    rate = len(ms) / result.window
    # Requests that ended inside the CPU/commit marks (the marks bracket the measured window).
    served = max(1, len(ms))
    cpu_ms = (cpu1.get(api, 0.0) - cpu0.get(api, 0.0)) * 1000 / served
    transactions = (commits1 - commits0 - 2) / served  # less the two probes' own commits
    window = Window(api, mode, rate, percentile(ms, 50), percentile(ms, 95), percentile(ms, 99), cpu_ms,
                    transactions, result.bad)
    rows: list[tuple[str, object]] = [
        ("requests/s", f"{rate:,.1f}"),
        ("latency p50 / p95 / p99 / max", f"{window.p50:.1f} / {window.p95:.1f} / {window.p99:.1f} / "
                                          f"{max(ms, default=float('nan')):.1f} ms"),
        ("requests measured", f"{len(ms):,} ({result.warmup_requests:,} in warm-up, "
                              f"{result.total_requests:,} sent in all)"),
        ("statuses (all requests)", ", ".join(f"{s}: {n:,}" for s, n in sorted(result.statuses.items()))),
        ("unexpected responses", f"{result.bad}" + (f"  first: {result.first_bad}"
                                                    if result.first_bad else "")),
        ("response body", f"{result.response_bytes:,} bytes"),
        ("CPU in window", cpu_share(cpu0, cpu1, t1 - t0)),
        ("API CPU per request", f"{cpu_ms:.2f} ms"),
        ("transactions per request", f"{transactions:.2f} (pg_stat_database commits, approx.)"),
    ]
    if sampler is not None:
        from bench.profiling import summarise

        rows += summarise(sampler.output, READ_PHASES, top=15)
    return rows, window


def start_baseline(stack: Stack, tree: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``python -m cli serve`` from another checkout, on the same database and Redis."""
    from bench.harness import _api_port, _wait_healthy

    port = _api_port()
    assert stack.log_dir is not None
    log = stack.log_dir / "baseline-api.log"
    env = {**os.environ, "DATABASE_URL": stack.database_url, "REDIS_URL": stack.redis_url,
           "ANALYTICS_DATA_DIR": str(stack.log_dir), "PYTHONPATH": str(tree.resolve())}
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "cli", "serve", "--port", str(port)], env=env,
                                   cwd=tree, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    _wait_healthy(f"{url}/healthz", process, log)
    return process, url


def summary_table(windows: list[Window]) -> list[tuple[str, object]]:
    """Per API and mode: the median window and the spread over the rounds."""
    import statistics

    rows: list[tuple[str, object]] = []
    for api in dict.fromkeys(w.api for w in windows):
        for mode in dict.fromkeys(w.mode for w in windows):
            got = [w for w in windows if w.api == api and w.mode == mode]
            if not got:
                continue
            rates = [w.rate for w in got]

            def med(name: str, got: list[Window] = got) -> float:
                return float(statistics.median(getattr(w, name) for w in got))

            rows.append((f"{api} {mode}", (
                f"{med('rate'):,.0f} req/s (windows {min(rates):,.0f}-{max(rates):,.0f}), "
                f"p50 {med('p50'):.1f} p95 {med('p95'):.1f} p99 {med('p99'):.1f} ms, "
                f"API CPU {med('cpu_ms'):.2f} ms/req, {med('transactions'):.2f} transactions/req"
                + (f", {sum(w.bad for w in got)} unexpected" if any(w.bad for w in got) else ""))))
    return rows


def peer_ratios(windows: list[Window]) -> list[tuple[str, object]]:
    import statistics

    rows: list[tuple[str, object]] = []
    for mode in PEER_MODES:
        ours = [w.rate for w in windows if w.api == "api" and w.mode == mode]
        theirs = [w.rate for w in windows if w.api == "peer" and w.mode == mode]
        if ours and theirs:
            a, b = statistics.median(ours), statistics.median(theirs)
            rows.append((f"{mode} ({LABELS[mode][4:]})",
                         f"{a / b:.2f}x  ({a:,.0f} against {b:,.0f} req/s)"))
    return rows


def main() -> None:
    args = parse_args()
    raised = {}
    for name in ("ANALYTICS_RATE_READ_PER_SECOND", "ANALYTICS_RATE_READ_BURST"):
        if not os.environ.get(name):
            os.environ[name] = UNTHROTTLED  # inherited by the API the harness starts
            raised[name] = UNTHROTTLED
    print("read benchmark: one tour's 30-day stats + series over HTTP (figures only; nothing is "
          "asserted)")
    from bench.ingest import wait_drained

    with running_stack() as stack:
        accepted, expected, visitors, load_seconds = load_demo_events(stack, args.days, args.tour)
        drained = wait_drained(stack, args.drain_timeout)
        requests, info = build_requests(stack, args.tour)
        report = info["report"]
        problems = expected.problems(report)
        print_section("conditions", conditions(
            stack,
            data=f"{accepted:,} analytics.demo events ({args.days + 1} days, 4 tours, {visitors:,} "
                 f"visitors, each with a browser's context.userAgent and its own context.ip) sent "
                 f"through track in 500-event requests in {load_seconds:.1f} s, then the outbox emptied: "
                 + "; ".join(f"{name} {value}" for name, value in drained),
            query=f"tenant.tour(id: {args.tour!r}) stats + series (LAST_30_DAYS, "
                  f"{report['series']['granularity']}, {len(report['series']['points'])} points), "
                  f"cost {query_cost(args.tour)}, secret key",
            check=(f"the report equals what was sent (stats.starts {report['stats']['starts']}, "
                   f"{len(expected.days)} days with events); every timed 200 must equal it"
                   if not problems else "MISMATCH: " + "; ".join(problems[:5])),
            rate_limit="read bucket raised so it never refuses: ANALYTICS_RATE_READ_PER_SECOND="
                       f"{os.environ['ANALYTICS_RATE_READ_PER_SECOND']}, ANALYTICS_RATE_READ_BURST="
                       f"{os.environ['ANALYTICS_RATE_READ_BURST']}"
                       + (" (set by this script)" if raised else " (from the environment)"),
            log_level=os.environ.get("ANALYTICS_LOG_LEVEL") or "INFO (default: one access line a request)",
            APQ=f"sha256 {info['sha256'][:16]}..., registered by one POST with query + extensions; "
                f"{info['first GET by hash']} before; GET URL {info['get_length']} characters",
            ETag=f"{info['etag']}, Cache-Control: {info['cache_control']}",
            concurrency=f"{args.concurrency} connections, closed loop, the same request repeated",
            duration=f"{args.seconds:g} s measured after {args.warmup:g} s warm-up, per window; "
                     f"{args.rounds} round(s)",
            load_generator=f"1 separate process, {args.client} client",
            API="python -m cli serve (1 uvicorn process)" + (
                f"; baseline: the same from {args.baseline} on the same database, windows alternate"
                if args.baseline else "")))
        if problems:
            raise SystemExit("the report does not equal what was sent: " + "; ".join(problems[:10]))
        targets = [("api", stack.api_url)]
        per_target = {"api": requests}
        baseline = peer = None
        if args.baseline is not None:
            baseline, url = start_baseline(stack, args.baseline)
            stack.pids["baseline"] = baseline.pid
            targets.insert(0, ("baseline", url))
            per_target["baseline"] = requests
        if args.peer:
            from bench.postgraphile import unavailable

            if (missing := unavailable()) is not None:
                print_section("peer", [("PostGraphile", f"skipped: {missing} (it installs from npm and "
                                                        "runs on node)")])
            else:
                peer, per_target["peer"], checked = peer_requests(stack, args.tour, report)
                stack.pids["peer"] = peer.process.pid
                targets.append(("peer", peer.url))
                print_section("peer", [
                    ("PostGraphile", checked),
                    ("its query", "tourDays(tour, firstDay, lastDay) { nodes { day metric value } }: "
                                  "sum(value) GROUP BY day, metric over counters_daily, the same rows "
                                  "and role as ours, analytics.tenant_id set per request from the key"),
                    ("its process", "node server.mjs (grafserv on node:http, 1 process, pool of 8)")])
        windows: list[Window] = []
        try:
            for round_ in range(args.rounds):
                for mode in args.modes:
                    for api, url in targets if round_ % 2 == 0 else targets[::-1]:
                        if mode not in per_target[api]:
                            continue
                        rows, window = measure(stack, mode, per_target[api][mode], args, api=api, url=url)
                        print_section(f"{LABELS[mode]}, {api}, round {round_ + 1}", rows)
                        windows.append(window)
        finally:
            if baseline is not None:
                baseline.terminate()
                baseline.wait(15)
            if peer is not None:
                peer.stop()
        memory = []
        if (api_pid := stack.pids.get("api")) and (now := rss_mb(api_pid)) is not None:
            memory.append(("API", f"{now:.0f} MB resident at the end, "
                                  f"{rss_mb(api_pid, peak=True):.0f} MB peak"))
        print_section("memory", memory)
        print_section("summary (same run; median window, range of req/s over the rounds)",
                      summary_table(windows))
        if peer is not None:
            print_section("against PostGraphile (same run, same tables; our median req/s over its median)",
                          peer_ratios(windows))
        if any(w.bad for w in windows):
            raise SystemExit("some timed answers were not the checked report")

if __name__ == "__main__":
    main()
