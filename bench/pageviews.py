"""Page-view benchmark: realistic page-view ingest over HTTP with the worker deriving sessions, the
worker's sessions per second on a backlog, and the cost of re-sessionizing a heavy visitor.

Phases (``--phases``, in this order):

- ``ingest``: batched (``--batch``, one phase per size) and single-event ``track`` of realistic page
  views (bench/pageview_traffic.py) with the API and one worker running: events/s, requests/s,
  latency, outbox depth and rollup lag (age of the oldest outbox row) during the window, how long
  the worker needed after the load stopped, and the sessions it derived.
- ``backlog``: with the worker stopped, load ``--backlog-visitors`` visitors through ``track``, then
  start ``analytics worker`` and time the drain (rollup, then tier-3 scoring): sessions/s and
  events/s. Then the same again drained *in this process* (``roll_up_once`` in a loop, as the worker
  job does, without ARQ) with timers around the session code, the user-agent parser and every SQL
  statement, and the parser caches' hit rates.
- ``heavy``: one visitor (one address, one agent, one anonymousId) sends ``--heavy-events`` events in
  batches of ``--heavy-batch``; after each batch one rollup runs in this process: how its time grows
  with the events the visitor already has, with the session upkeep that re-reads the ±24 h window
  on every claim (``whole``) and the one that re-reads only open sessions (``narrow``), same run.

Prints figures and conditions; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import functools
import os
import pstats
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import orjson

from bench.harness import (
    REPO_ROOT,
    Stack,
    conditions,
    cpu_seconds,
    cpu_share,
    percentile,
    print_section,
    rss_mb,
    running_stack,
    track_body,
)
from bench.ingest import settle, wait_drained
from bench.loadgen import LoadProcess
from bench.pageview_traffic import (
    HEAVY_SHAPES,
    Mix,
    Stats,
    TrafficResult,
    TrafficSpec,
    heavy_visitor_events,
    ip_address,
    traffic_child,
)
from bench.profiling import Sampler, py_spy, summarise

UPKEEPS = ("whole", "narrow", "fold")  # the heavy phase's session upkeeps (heavy_shape)
PHASE_GAP = timedelta(days=3)  # each phase's traffic lies in its own period, 3 days before the last
SPAN_LIMIT_HOURS = 20  # so periods never overlap (a visitor's sessions end within 40 h)

# py-spy phases of the worker with session upkeep (substrings of the shortened frames).
SESSION_WORKER_PHASES = (  # frames are "function (dir/file.py)", paths relative or shortened
    ("roll_up_tenant job (whole)", "roll_up_tenant ("),
    ("  roll_up_once: RawEvent rows of the batch", "roll_up_once.<locals>.<listcomp> ("),
    ("  keep_sessions (session upkeep)", "keep_sessions ("),
    ("    _load_window (window + stored sessions)", "_load_window ("),
    ("    session_facts", "session_facts ("),
    ("      describe_agent (ua-parser)", "describe_agent ("),
    ("      is_bot (crawlerdetect)", "is_bot ("),
    ("      is_scanner (per event)", "is_scanner ("),
    ("    link_visitors", "link_visitors ("),
    ("    split_sessions", "split_sessions ("),
    ("    dataclasses.astuple (session rows)", "astuple ("),
    ("    replace_content_facts", "replace_content_facts ("),
    ("  aggregate + write_counters", "write_counters ("),
    ("  asyncpg execute (all statements)", "_prepare_and_execute ("),
    ("  JSON decoding of jsonb columns", "JSONDecoder.decode ("),
    ("maintain_sessions job (tier 3)", "maintain_sessions ("),
    ("sweep_outbox", "sweep_outbox ("),
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--phases", nargs="+", choices=("ingest", "backlog", "heavy"),
                        default=["ingest", "backlog", "heavy"])
    group = parser.add_argument_group("traffic mix")
    group.add_argument("--agents", type=int, default=2000,
                       help="Distinct user agents in the pool (bench/user_agents.py's mix, ~5%% bots).")
    group.add_argument("--bot-share", type=float, default=0.05, help="Share of visitors that crawl.")
    group.add_argument("--scanner-share", type=float, default=0.003, help="Share of visitors that scan.")
    group.add_argument("--sessions-per-visitor", type=float, default=2.0, help="Mean, people only.")
    group.add_argument("--span-hours", type=float, default=8.0,
                       help=f"Visitors' first sessions start within this many hours (<= {SPAN_LIMIT_HOURS}).")
    group.add_argument("--seed", type=int, default=1)
    group = parser.add_argument_group("ingest phase")
    group.add_argument("--seconds", type=float, default=15, help="Measured seconds per ingest mode.")
    group.add_argument("--warmup", type=float, default=2)
    group.add_argument("--batch", type=int, nargs="+", default=[100, 500],
                       help="Events per request of the batched modes (one mode each; 0 skips them).")
    group.add_argument("--concurrency", type=int, default=8, help="Connections, batched modes.")
    group.add_argument("--visitors-per-ip", type=int, default=200,
                       help="Batched modes: visitors behind one client address (a relay).")
    group.add_argument("--single-concurrency", type=int, default=32,
                       help="Connections of the single-event mode (0 skips it); one visitor per address.")
    group.add_argument("--client", choices=("raw", "httpx"), default="raw")
    group.add_argument("--max-rate", type=float, default=20_000,
                       help="Events/s the batched modes' pre-generated traffic is sized for.")
    group.add_argument("--single-max-rate", type=float, default=2_500,
                       help="Requests/s the single-event mode's traffic is sized for.")
    group = parser.add_argument_group("backlog phase")
    group.add_argument("--backlog-visitors", type=int, default=20_000,
                       help="~10 events and ~2 sessions each: 20,000 is ~200k events, ~40k sessions.")
    group.add_argument("--backlog-batch", type=int, default=200, help="Events per track request.")
    group.add_argument("--drain", nargs="+", choices=("worker", "inprocess"), default=["worker", "inprocess"],
                       help="Drain the backlog with the worker process, in this process with timers, or "
                            "both (each on its own backlog).")
    group.add_argument("--inprocess-visitors", type=int, default=None,
                       help="Visitors of the in-process backlog (default: --backlog-visitors).")
    group.add_argument("--cprofile", type=Path, default=None, metavar="FILE",
                       help="Also run the in-process drain under cProfile (slower: compare shares, not "
                            "times), print the top functions and keep the stats in FILE.")
    group = parser.add_argument_group("heavy-visitor phase")
    group.add_argument("--heavy-events", type=int, default=10_000)
    group.add_argument("--heavy-background", type=int, default=5000, metavar="VISITORS",
                       help="Other visitors' traffic loaded into the heavy visitor's hours first (0: none).")
    group.add_argument("--heavy-batch", type=int, default=100)
    group.add_argument("--heavy-shapes", nargs="+", choices=tuple(HEAVY_SHAPES), default=list(HEAVY_SHAPES))
    group.add_argument("--heavy-upkeep", nargs="+", choices=UPKEEPS, default=list(UPKEEPS),
                       help="Session upkeep to measure, in this order: 'whole' re-reads the visitor's +-24 h "
                            "window on every claim (before issue 15), 'narrow' only its open sessions "
                            "(whole), 'fold' folds appended events into the open session's stored fold.")
    group.add_argument("--heavy-budget", type=float, default=90,
                       help="Stop a shape after this many seconds of rollups.")
    parser.add_argument("--drain-timeout", type=float, default=300)
    parser.add_argument("--profile", type=Path, default=None, metavar="DIR",
                        help="Sample the worker with py-spy during the ingest windows and the worker "
                             "drain; collapsed stacks go to DIR.")
    args = parser.parse_args()
    if not 0 < args.span_hours <= SPAN_LIMIT_HOURS:
        parser.error(f"--span-hours must be in (0, {SPAN_LIMIT_HOURS}]")
    return args


# --- the worker, started and stopped by this script ------------------------------------------------


class Worker:
    """``analytics worker`` as a subprocess, so phases can run with and without it."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.runs = 0

    def start(self) -> None:
        assert self.process is None
        env = {**os.environ, "DATABASE_URL": self.stack.database_url, "REDIS_URL": self.stack.redis_url,
               "ANALYTICS_DATA_DIR": str(self.stack.log_dir),
               "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
        self.runs += 1
        log = Path(self.stack.log_dir or ".") / f"worker-{self.runs}.log"
        with log.open("wb") as out:
            self.process = subprocess.Popen([sys.executable, "-m", "cli", "worker"], env=env,
                                            cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT)
        self.started_at = time.perf_counter()
        self.stack.pids["worker"] = self.process.pid
        self.stack.worker_running = True

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self.process = None
        self.stack.pids.pop("worker", None)
        self.stack.worker_running = False

    def ready(self) -> bool:
        """arq's health-check key exists: the worker has run its start-up and polls the queue (arq
        deletes the key when a worker stops, so an earlier run's key does not count)."""
        import redis
        from arq.constants import default_queue_name, health_check_key_suffix

        client = redis.Redis.from_url(self.stack.redis_url)
        try:
            return bool(client.exists(default_queue_name + health_check_key_suffix))
        finally:
            client.close()

    def memory(self) -> str:
        if self.process is None:
            return "n/a"
        now, peak = rss_mb(self.process.pid), rss_mb(self.process.pid, peak=True)
        return f"{now:.0f} MB resident, {peak:.0f} MB peak" if now and peak else "n/a"


# --- database and Redis probes ------------------------------------------------------------------------


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


async def _scoped(stack: Stack, sql: str, *args: Any) -> list[Any]:
    """Rows of ``sql`` as the app role scoped to the bench tenant (row-level security applies)."""
    import asyncpg

    conn = await asyncpg.connect(stack.asyncpg_dsn)
    try:
        async with conn.transaction():
            await conn.execute("SET LOCAL ROLE analytics_app")
            await conn.execute("SELECT set_config('analytics.tenant_id', $1, true)", str(stack.tenant_id))
            return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


def outbox_now(stack: Stack) -> tuple[int, int]:
    row = run(_scoped(stack, "SELECT count(*) AS n, coalesce(sum(cardinality(event_ids)), 0) AS e "
                             "FROM outbox"))[0]
    return int(row["n"]), int(row["e"])


def session_work(stack: Stack) -> int:
    """Sessions waiting for a tier-3 score plus days waiting for a correction."""
    row = run(_scoped(stack, "SELECT (SELECT count(*) FROM sessions WHERE scored_at IS NULL) "
                             "+ (SELECT count(*) FROM dirty_days) AS n"))[0]
    return int(row["n"])


def wait_scored(stack: Stack, timeout: float) -> tuple[float, int]:
    """Wait until the worker has scored every session; (seconds waited, work left)."""
    started = time.perf_counter()
    left = session_work(stack)
    while left and time.perf_counter() - started < timeout:
        time.sleep(0.25)
        left = session_work(stack)
    return time.perf_counter() - started, left


def job_stats(stack: Stack) -> JobStats:
    """(runs, seconds) per worker job so far, from the histograms the worker keeps in Redis."""
    import redis

    from workers.telemetry import JOB_DURATIONS

    client = redis.Redis.from_url(stack.redis_url)
    try:
        raw: dict[bytes, bytes] = client.hgetall(JOB_DURATIONS)  # type: ignore[assignment]
    finally:
        client.close()
    runs: Counter[str] = Counter()
    seconds: dict[str, float] = {}
    for key, value in raw.items():
        job, _, bucket = key.decode().rpartition(" ")
        if bucket == "sum":
            seconds[job] = float(value)
        else:
            runs[job] += int(value)
    return {job: (runs[job], seconds.get(job, 0.0)) for job in set(runs) | set(seconds)}


JobStats = dict[str, tuple[int, float]]


def job_delta(before: JobStats, after: JobStats, job: str) -> tuple[int, float]:
    b, a = before.get(job, (0, 0.0)), after.get(job, (0, 0.0))
    return a[0] - b[0], a[1] - b[1]


SUMMARY_SQL = """
SELECT count(*) AS sessions, count(DISTINCT visitor_id) AS visitors,
       count(*) FILTER (WHERE NOT excluded) AS human, count(*) FILTER (WHERE is_bot) AS bot,
       count(*) FILTER (WHERE is_scanner) AS scanner,
       count(*) FILTER (WHERE is_behavioural_bot) AS behavioural,
       coalesce(sum(page_views), 0) AS page_views, coalesce(sum(request_count), 0) AS requests,
       count(DISTINCT user_agent) AS agents, count(*) FILTER (WHERE page_views = 1) AS one_page,
       count(*) FILTER (WHERE scored_at IS NULL) AS unscored
FROM sessions WHERE started_at >= $1 AND started_at < $2
"""


def session_summary(stack: Stack, lo: datetime, hi: datetime) -> dict[str, Any]:
    row = dict(run(_scoped(stack, SUMMARY_SQL, lo, hi))[0])
    for column in ("referrer_source", "device_type"):
        rows = run(_scoped(stack, f"SELECT {column} AS k, count(*) AS n FROM sessions WHERE started_at >= $1 "
                                  f"AND started_at < $2 AND NOT excluded GROUP BY 1 ORDER BY 2 DESC", lo, hi))
        row[column] = ", ".join(f"{r['k']} {r['n']:,}" for r in rows)
    return row


Rows = list[tuple[str, object]]


def summary_rows(summary: dict[str, Any], stats: Stats, started_only: bool = False) -> Rows:
    """Derived sessions next to what was generated."""
    planned, made, got = stats.sessions, stats.visitors, summary
    label = "generated" + (" (groups started; the last in part)" if started_only else "")
    return [
        (label, f"{made['person']:,} people, {made['bot']:,} crawlers, {made['scanner']:,} scanners; "
                f"sessions planned: {planned['person']:,} + {planned['bot']:,} + {planned['scanner']:,}; "
                f"{sum(stats.events.values()):,} events ({stats.events['PageViewed']:,} page views), "
                f"{len(stats.agents):,} distinct agents"),
        ("derived sessions", f"{got['sessions']:,} from {got['visitors']:,} visitor ids: {got['human']:,} "
                             f"human, {got['bot']:,} tier-1 bot, {got['scanner']:,} scanner, "
                             f"{got['behavioural']:,} tier-3; {got['one_page']:,} one-page; "
                             f"{got['page_views']:,} page views, {got['requests']:,} events; "
                             f"{got['agents']:,} distinct agents; {got['unscored']:,} not yet scored"),
        ("human sessions by source", summary["referrer_source"]),
        ("human sessions by device", summary["device_type"]),
    ]


ACTIVITY_SQL = r"""
SELECT backend_type AS kind, coalesce(wait_event_type || ':' || wait_event, '') AS wait,
       left(regexp_replace(query, '\s+', ' ', 'g'), 70) AS q
FROM pg_stat_activity WHERE state = 'active' AND pid <> pg_backend_pid() AND backend_type <> 'walsender'
"""


def activity_rows(monitor: OutboxMonitor, start: float, end: float, top: int = 6) -> Rows:
    """What PostgreSQL's active backends were running at the samples (autovacuum included)."""
    seen = Counter(what for at, what in monitor.activity if start <= at <= end)
    samples = len(monitor.between(start, end))
    head: Rows = [("PostgreSQL active backends", f"{samples} samples; most seen:")]
    return head + [
        ("", f"{n:4} x  {what}") for what, n in seen.most_common(top)]


class OutboxMonitor(threading.Thread):
    """Samples the outbox depth and the age of its oldest row (rollup lag) every ``interval``."""

    def __init__(self, stack: Stack, interval: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.stack, self.interval = stack, interval
        self.samples: list[tuple[float, int, float]] = []  # (perf_counter, rows, oldest seconds)
        self.activity: list[tuple[float, str]] = []  # (perf_counter, what an active backend ran)
        self._halt = threading.Event()

    def run(self) -> None:
        asyncio.run(self._loop())

    async def _loop(self) -> None:
        import asyncpg

        conn = await asyncpg.connect(self.stack.asyncpg_dsn)
        try:
            while not self._halt.is_set():
                row = await conn.fetchrow("SELECT depth, oldest_seconds FROM analytics_outbox_stats()")
                assert row is not None
                now = time.perf_counter()
                self.samples.append((now, int(row["depth"]), float(row["oldest_seconds"])))
                for busy in await conn.fetch(ACTIVITY_SQL):
                    self.activity.append((now, f"{busy['kind']}: {busy['q']}" + (
                        f" [wait {busy['wait']}]" if busy["wait"] else "")))
                await asyncio.sleep(self.interval)
        finally:
            await conn.close()

    def stop(self) -> None:
        self._halt.set()
        self.join(10)

    def between(self, start: float, end: float) -> list[tuple[float, int, float]]:
        return [s for s in self.samples if start <= s[0] <= end]


# --- phase 1: ingest ---------------------------------------------------------------------------------


@dataclass
class Periods:
    """Each phase's traffic in its own time period, the first 3 days before now."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    used: int = 0
    ips: int = 0

    def next(self, span_hours: float) -> tuple[float, datetime, datetime, int]:
        """(period end as epoch, range start, range end covering its sessions, first address)."""
        self.used += 1
        end = self.now - PHASE_GAP * self.used
        base = self.ips
        self.ips += 1_000_000
        return end.timestamp(), end - timedelta(hours=span_hours + 1), end + timedelta(hours=50), base


def mix_for(args: argparse.Namespace, *, end: float, ip_base: int, per_ip: int) -> Mix:
    return Mix(agents=args.agents, bot_share=args.bot_share, scanner_share=args.scanner_share,
               sessions_per_visitor=args.sessions_per_visitor, visitors_per_ip=per_ip,
               span_hours=args.span_hours, start=end, seed=args.seed, ip_base=ip_base)


def ingest_mode(stack: Stack, args: argparse.Namespace, periods: Periods, *, label: str, batch: int,
                concurrency: int, per_ip: int, max_rate: float) -> tuple[str, Rows]:
    end, lo, hi, ip_base = periods.next(args.span_hours)
    spec = TrafficSpec(url=stack.graphql_url, key=stack.publishable_key, batch=batch, concurrency=concurrency,
                       seconds=args.seconds, warmup=args.warmup, max_rate=max_rate,
                       mix=mix_for(args, end=end, ip_base=ip_base, per_ip=per_ip), client=args.client)
    load = LoadProcess(spec, child=traffic_child)
    print(f"\n[{label}] generating traffic...", file=sys.stderr, flush=True)
    generated = load.prepare()
    print(f"[{label}] {generated:.1f} s to generate; {args.warmup:g} s warm-up, {args.seconds:g} s measured",
          file=sys.stderr, flush=True)
    pids = {**stack.pids, "bench": os.getpid()}
    if load.pid is not None:
        pids["loadgen"] = load.pid
    monitor = OutboxMonitor(stack)
    jobs_before = job_stats(stack)
    marks: dict[str, tuple[float, dict[str, float]]] = {}
    sampler = (Sampler(stack.pids["worker"], args.profile / f"worker-{label}.txt", args.seconds)
               if args.profile is not None and "worker" in stack.pids else None)

    def window_start() -> None:
        marks["start"] = (time.perf_counter(), cpu_seconds(pids))
        monitor.start()
        if sampler:
            sampler.start()

    def window_end() -> None:
        marks["end"] = (time.perf_counter(), cpu_seconds(pids))

    phase_cpu0 = cpu_seconds(pids)
    try:
        result: TrafficResult = load.run(window_start, window_end)
    finally:
        load.close()
    if sampler:
        sampler.wait()
    stack.check_alive()
    drained = wait_drained(stack, args.drain_timeout)
    scored_after, left = wait_scored(stack, args.drain_timeout)
    phase_cpu1 = cpu_seconds(pids)
    monitor.stop()
    jobs_after = job_stats(stack)
    worker_cpu = phase_cpu1.get("worker", 0.0) - phase_cpu0.get("worker", 0.0)
    (t0, cpu0), (t1, cpu1) = marks["start"], marks["end"]
    window = monitor.between(t0, t1)
    depths, lags = [s[1] for s in window], [s[2] for s in window]
    ms = [x * 1000 for x in result.latencies]
    stats = result.stats
    rollups, rollup_s = job_delta(jobs_before, jobs_after, "roll_up_tenant")
    scorings, scoring_s = job_delta(jobs_before, jobs_after, "maintain_sessions")
    summary = session_summary(stack, lo, hi)
    eps, rps = result.accepted / result.window, len(result.latencies) / result.window
    end_depth, end_lag = (depths[-1], lags[-1]) if depths else (0, 0.0)
    per_cpu = max(worker_cpu, 1e-9)
    rows: Rows = [
        ("events/s (accepted)", f"{eps:,.0f}"),
        ("requests/s", f"{rps:,.1f}"),
        ("latency p50 / p99 / max", f"{percentile(ms, 50):.1f} / {percentile(ms, 99):.1f} / "
                                    f"{max(ms, default=float('nan')):.1f} ms"),
        ("requests measured", f"{len(result.latencies):,} ({result.warmup_requests:,} in warm-up, "
                              f"{result.requests_total:,} sent in all)"),
        ("responses with accepted != batch",
         f"{result.bad}" + (f"  first: {result.first_bad}" if result.first_bad else "")),
        ("CPU in window", cpu_share(cpu0, cpu1, t1 - t0)),
        *activity_rows(monitor, t0, t1),
        ("outbox during the window",
         f"depth p50 {percentile(depths, 50):,.0f} / max {max(depths, default=0):,} rows; rollup lag "
         f"(oldest row) p50 {percentile(lags, 50):.1f} s / max {max(lags, default=0):.1f} s; at the "
         f"window's end {end_depth:,} rows, {end_lag:.1f} s"),
        *drained,
        ("tier-3 scoring caught up", f"{'done' if not left else f'NOT done ({left} left)'} "
                                     f"{scored_after:.1f} s after the outbox drained"),
        ("worker CPU, phase start -> caught up",
         f"{worker_cpu:.1f} s for {result.accepted_total:,} events and {summary['sessions']:,} sessions: "
         f"{result.accepted_total / per_cpu:,.0f} events, {summary['sessions'] / per_cpu:,.0f} sessions "
         "per worker CPU-second"),
        ("worker jobs in the phase",
         f"roll_up_tenant {rollups} runs, maintain_sessions {scorings} runs (summed durations "
         f"{rollup_s:.1f} s and {scoring_s:.1f} s: runs overlap and wait for the tenant lock)"),
        ("traffic", f"{result.pool.bodies:,} bodies pre-generated (avg "
                    f"{result.pool.body_bytes // max(1, result.pool.bodies):,} bytes), "
                    f"{result.accepted_total:,} events accepted in all from {stats.groups:,} client "
                    f"addresses x <= {per_ip} visitors"),
        *summary_rows(summary, stats, started_only=True),
    ]
    if result.pool_exhausted:
        rows.append(("WARNING", "ran out of pre-generated traffic: raise --max-rate / --single-max-rate"))
    if sampler:
        rows.extend(summarise(sampler.output, SESSION_WORKER_PHASES, "worker", top=10))
    line = (f"{eps:,.0f} events/s, {rps:,.1f} req/s, p50 {percentile(ms, 50):.0f} ms, p99 "
            f"{percentile(ms, 99):.0f} ms; end of window: outbox {end_depth:,} rows, lag {end_lag:.1f} s")
    return line, rows


# --- in-process instrumentation -------------------------------------------------------------------------


class Instrument:
    """Inclusive and exclusive seconds per timed function and per SQL statement, in this process
    (single task: the timed calls nest strictly)."""

    def __init__(self) -> None:
        self.inclusive: defaultdict[str, float] = defaultdict(float)
        self.exclusive: defaultdict[str, float] = defaultdict(float)
        self.calls: Counter[str] = Counter()
        self.counts: Counter[str] = Counter()
        self._stack: list[list[float]] = []  # [start, child seconds]
        self._undo: list[Callable[[], None]] = []
        self._labels: dict[int, str] = {}

    @contextlib.contextmanager
    def timing(self, name: str) -> Iterator[None]:
        frame = [time.perf_counter(), 0.0]
        self._stack.append(frame)
        try:
            yield
        finally:
            self._stack.pop()
            took = time.perf_counter() - frame[0]
            self.inclusive[name] += took
            self.exclusive[name] += took - frame[1]
            self.calls[name] += 1
            if self._stack:
                self._stack[-1][1] += took

    def snapshot(self) -> tuple[dict[str, float], Counter[str]]:
        """Exclusive seconds, and the counts with each timed name's calls (``calls <name>``)."""
        counts = Counter(self.counts)
        counts.update({f"calls {name}": n for name, n in self.calls.items()})
        return dict(self.exclusive), counts

    def wrap(self, module: Any, attr: str, name: str,
             after: Callable[[Any, tuple[Any, ...]], None] | None = None) -> None:
        original = getattr(module, attr)
        if asyncio.iscoroutinefunction(original):
            @functools.wraps(original)
            async def timed_async(*a: Any, **k: Any) -> Any:
                with self.timing(name):
                    value = await original(*a, **k)
                if after:
                    after(value, a)
                return value
            setattr(module, attr, timed_async)
        else:
            @functools.wraps(original)
            def timed(*a: Any, **k: Any) -> Any:
                with self.timing(name):
                    value = original(*a, **k)
                if after:
                    after(value, a)
                return value
            setattr(module, attr, timed)
        self._undo.append(lambda: setattr(module, attr, original))

    def install(self) -> None:
        """Time the rollup's parts: session upkeep, user-agent parsing, content facts, counters, SQL."""
        from sqlalchemy import TextClause
        from sqlalchemy.ext.asyncio import AsyncConnection

        import analytics.content.upkeep as content_upkeep
        import analytics.db as db
        import analytics.rollups.counters as counters
        import analytics.rollups.service as service
        import analytics.sessions.appends as appends
        import analytics.sessions.correction as correction
        import analytics.sessions.derive as derive
        import analytics.sessions.fold as fold
        import analytics.sessions.rows as rows
        import analytics.sessions.scoring as scoring
        import analytics.sessions.service as session_service
        import analytics.sessions.upkeep as upkeep

        for module in (service, upkeep, appends, rows, content_upkeep, counters, db, scoring, correction,
                       session_service):
            for attr, value in vars(module).items():
                short = module.__name__.rsplit(".", 2)[-2] + "." + module.__name__.rsplit(".", 1)[-1]
                values = value if isinstance(value, list | tuple) else [value]
                for i, item in enumerate(values):
                    if isinstance(item, TextClause):
                        self._labels[id(item)] = f"{short}.{attr}" + (f"[{i}]" if len(values) > 1 else "")
            if isinstance(getattr(module, "_INSERTS", None), dict):
                for table, item in module._INSERTS.items():
                    self._labels[id(item)] = f"{short}._INSERTS[{table}]"

        def count_upkeep(value: Any, _: tuple[Any, ...]) -> None:
            self.counts["sessions written"] += value.sessions_written
            self.counts["sessions removed"] += value.sessions_removed

        def count_window(_: Any, a: tuple[Any, ...]) -> None:
            self.counts["window events loaded"] += len(a[0])

        def count_rollup(value: Any, _: tuple[Any, ...]) -> None:
            self.counts["batch events"] += value.events

        self.wrap(service, "roll_up_once", "roll_up_once (transaction, commit, glue)", count_rollup)
        self.wrap(service, "keep_sessions", "keep_sessions (own Python)", count_upkeep)
        # The counters consumer (analytics.rollups.registry) folds and writes them.
        self.wrap(counters, "aggregate", "aggregate (counter fold)")
        self.wrap(counters, "write_counters", "write_counters (own Python)")
        self.wrap(upkeep, "link_visitors", "link_visitors", count_window)
        self.wrap(upkeep, "split_sessions", "split_sessions")
        if hasattr(upkeep, "_load_window"):
            self.wrap(upkeep, "_load_window", "_load_window (own Python: window rows)")
        self.wrap(upkeep, "folded_facts", "session_facts (own Python)")
        self.wrap(appends, "folded_facts", "session_facts (own Python, folded appends)")
        self.wrap(fold.SessionFold, "of", "SessionFold.of (fold a session's events)")
        self.wrap(upkeep, "replace_content_facts", "replace_content_facts (own Python)")
        self.wrap(content_upkeep, "content_facts", "content_facts")
        self.wrap(derive, "describe_agent", "UA: describe_agent (ua-parser)")
        self.wrap(derive, "is_bot", "UA: is_bot (crawlerdetect)")
        self.wrap(fold, "is_scanner", "is_scanner (paths, agents)")
        self.wrap(session_service, "maintain_sessions", "maintain_sessions (tier 3, own Python)")
        self.wrap(scoring, "score_session", "score_session (tier 3 signals)")

        original = AsyncConnection.execute
        labels = self._labels

        @functools.wraps(original)
        async def execute(conn: Any, statement: Any, *a: Any, **k: Any) -> Any:
            label = labels.get(id(statement)) or " ".join(str(statement).split())[:48]
            with self.timing(f"SQL {label}"):
                return await original(conn, statement, *a, **k)

        AsyncConnection.execute = execute  # type: ignore[method-assign,assignment]
        self._undo.append(lambda: setattr(AsyncConnection, "execute", original))

    def uninstall(self) -> None:
        while self._undo:
            self._undo.pop()()


def breakdown_rows(exclusive: dict[str, float], calls: Counter[str], total: float,
                   top: int = 18) -> Rows:
    ua = sum(v for k, v in exclusive.items() if k.startswith("UA:"))
    sql = sum(v for k, v in exclusive.items() if k.startswith("SQL "))
    rows: Rows = [
        ("user-agent parsing (describe_agent + is_bot)", f"{ua:.2f} s ({100 * ua / total:.1f} %)"),
        ("all SQL statements (round trips included)", f"{sql:.2f} s ({100 * sql / total:.1f} %)"),
        ("everything else (Python)", f"{total - ua - sql:.2f} s ({100 * (total - ua - sql) / total:.1f} %)"),
    ]
    for name, seconds in sorted(exclusive.items(), key=lambda item: -item[1])[:top]:
        share = 100 * seconds / total
        rows.append((f"  {name}", f"{seconds:7.2f} s  {share:5.1f} %  ({calls[name]:,} calls)"))
    return rows


# --- phase 2: backlog ---------------------------------------------------------------------------------


Period = tuple[float, datetime, datetime, int]


def load_backlog(stack: Stack, args: argparse.Namespace, periods: Periods, visitors: int, label: str,
                 period: Period | None = None) -> tuple[TrafficResult, datetime, datetime, float]:
    """Send ``visitors`` visitors' events through ``track`` from ``--concurrency`` connections as
    fast as they go (no worker), in the next period or in ``period``."""
    end, lo, hi, ip_base = period or periods.next(args.span_hours)
    spec = TrafficSpec(url=stack.graphql_url, key=stack.publishable_key, batch=args.backlog_batch,
                       concurrency=args.concurrency, seconds=600, warmup=0, max_rate=0,
                       mix=mix_for(args, end=end, ip_base=ip_base, per_ip=args.visitors_per_ip),
                       visitors=visitors, client=args.client)
    load = LoadProcess(spec, child=traffic_child)
    print(f"\n[{label}] generating {visitors:,} visitors...", file=sys.stderr, flush=True)
    generated = load.prepare()
    print(f"[{label}] {generated:.1f} s to generate; sending", file=sys.stderr, flush=True)
    try:
        result: TrafficResult = load.run(lambda: None, lambda: None)
    finally:
        load.close()
    stack.check_alive()
    return result, lo, hi, generated


def backlog_rows(result: TrafficResult) -> Rows:
    return [
        ("backlog loaded", f"{result.accepted_total:,} events in {result.requests_total:,} requests of "
                           f"{result.requests_total and result.accepted_total // result.requests_total} in "
                           f"{result.send_seconds:.1f} s "
                           f"({result.accepted_total / max(result.send_seconds, 1e-9):,.0f} events/s, no "
                           f"worker running); {result.bad} bad responses"
                           + (f", first: {result.first_bad}" if result.first_bad else "")),
    ]


async def first_claim_params(stack: Stack, claim_batches: int) -> dict[str, Any] | None:
    """What the first rollup's session upkeep will query: the claimed events' visitors and window."""
    from analytics.traffic.sessions import LENGTH_LIMIT

    rows = await _scoped(stack, """
        WITH claim AS (SELECT event_ids, occurred_ats FROM outbox ORDER BY id LIMIT $1),
        keys AS (SELECT unnest(event_ids) AS id, unnest(occurred_ats) AS at FROM claim)
        SELECT array_agg(DISTINCT v) FILTER (WHERE v IS NOT NULL) AS visitors, min(e.occurred_at) AS lo,
               max(e.occurred_at) AS hi, count(DISTINCT e.id) AS events
        FROM keys JOIN events e ON e.occurred_at = keys.at AND e.id = keys.id
        CROSS JOIN LATERAL (VALUES (e.visitor_id), (e.visitor_prev)) AS x(v)""", claim_batches)
    if not rows or rows[0]["visitors"] is None:
        return None
    row = rows[0]
    return {"tenant": stack.tenant_id, "visitors": sorted(row["visitors"]), "lo": row["lo"] - LENGTH_LIMIT,
            "hi": row["hi"] + LENGTH_LIMIT, "events": row["events"]}


async def explain_upkeep(stack: Stack, params: dict[str, Any], max_lines: int = 24) -> Rows:
    """EXPLAIN (ANALYZE, BUFFERS) of the session upkeep's two reads (``_WINDOW``, then ``_EXISTING``
    with the session keys the window holds) for the given visitors and time window."""
    from sqlalchemy import text

    import analytics.sessions.upkeep as upkeep
    from analytics.db import create_engine, tenant_transaction
    from analytics.settings import load_settings

    engine = create_engine(stack.database_url, role=load_settings().app_role, pool_size=1)
    rows: Rows = []
    base = {k: params[k] for k in ("tenant", "visitors", "lo", "hi")}
    try:
        async with tenant_transaction(engine, stack.tenant_id) as conn:
            window = (await conn.execute(upkeep._WINDOW, base)).all()
            keys = sorted({row.session_key for row in window if row.session_key is not None}, key=str)
            for name, statement in (("_WINDOW (the visitors' events, ±24 h)", upkeep._WINDOW),
                                    ("_EXISTING (their stored sessions)", upkeep._EXISTING)):
                values = {name: base.get(name, keys) for name in statement._bindparams}
                plan = [r[0] for r in await conn.execute(text("EXPLAIN (ANALYZE, BUFFERS) " + statement.text),
                                                         values)]
                rows.append((f"plan of {name}",
                             f"{len(params['visitors']):,} visitor ids, {len(window):,} events, "
                             f"{len(keys):,} session keys, {params['lo']:%Y-%m-%d %H:%M} .. "
                             f"{params['hi']:%Y-%m-%d %H:%M}"))
                shown = plan if len(plan) <= max_lines else [*plan[:max_lines - 2], "...", plan[-1]]
                rows.extend(("", line if len(line) <= 170 else line[:150] + " ... " + line[-15:])
                            for line in shown)
    finally:
        await engine.dispose()
    return rows


async def _owner(stack: Stack, sql: str) -> list[Any]:
    import asyncpg

    conn = await asyncpg.connect(stack.asyncpg_dsn)
    try:
        return list(await conn.fetch(sql))
    finally:
        await conn.close()


EVENTS_STATS_SQL = """
SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) AS bytes, coalesce(sum(s.n_tup_ins), 0) AS ins,
       coalesce(sum(s.n_tup_upd), 0) AS upd, coalesce(sum(s.n_tup_hot_upd), 0) AS hot,
       coalesce(sum(s.n_dead_tup), 0) AS dead, max(greatest(s.last_analyze, s.last_autoanalyze)) AS analyzed
FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_stat_user_tables s ON s.relid = c.oid
WHERE i.inhparent = 'events'::regclass
"""


def events_stats(stack: Stack) -> dict[str, Any]:
    """Size and row-change counters of the events partitions (all tenants: the bench has one)."""
    return dict(run(_owner(stack, EVENTS_STATS_SQL))[0])


def events_change(before: dict[str, Any], after: dict[str, Any]) -> str:
    updated, hot = after["upd"] - before["upd"], after["hot"] - before["hot"]
    return (f"{before['bytes'] / 2**20:,.0f} MB -> {after['bytes'] / 2**20:,.0f} MB with indexes; "
            f"{updated:,} rows updated (session_key), {hot:,} of them HOT "
            f"({100 * hot / max(1, updated):.0f} %); "
            f"{after['dead']:,} dead tuples now")


def prepare_backlog(stack: Stack, explain: bool) -> Rows:
    """Optionally EXPLAIN the first claim's session reads with the statistics as they are, then
    ANALYZE the events (autovacuum would, some time after a large load), and EXPLAIN again."""
    from analytics.settings import load_settings

    stats = events_stats(stack)
    rows: Rows = [("events statistics before the drain",
                   f"last analyzed {stats['analyzed'] or 'never'}; running ANALYZE events "
                   "(as autovacuum would after a large load)")]
    params = run(first_claim_params(stack, load_settings().rollup_claim_batches)) if explain else None
    if params:
        rows.append(("first claim's session reads",
                     f"{params['events']:,} events, {len(params['visitors']):,} visitor ids; "
                     "EXPLAIN (ANALYZE) before and after ANALYZE"))
        rows.extend((f"[no statistics] {name}" if name.startswith("plan") else name, value)
                    for name, value in run(explain_upkeep(stack, params, max_lines=12)))
    run(_owner(stack, "ANALYZE events"))
    if params:
        rows.extend((f"[analyzed] {name}" if name.startswith("plan") else name, value)
                    for name, value in run(explain_upkeep(stack, params, max_lines=16)))
    return rows


def drain_with_worker(stack: Stack, worker: Worker, args: argparse.Namespace, lo: datetime, hi: datetime,
                      stats: Stats) -> tuple[str, Rows]:
    rows_before, events_before = outbox_now(stack)
    jobs_before = job_stats(stack)
    table_before = events_stats(stack)
    pids = {**stack.pids, "bench": os.getpid()}
    monitor = OutboxMonitor(stack, interval=0.25)
    monitor.start()
    worker.start()
    pids["worker"] = stack.pids["worker"]
    cpu0, t0 = cpu_seconds(pids), time.perf_counter()
    sampler = (Sampler(stack.pids["worker"], args.profile / "worker-drain.txt", args.drain_timeout)
               if args.profile is not None else None)
    if sampler:
        sampler.start()
    empty_at = ready_at = None
    cpu_empty = cpu0
    while time.perf_counter() - t0 < args.drain_timeout:
        stack.check_alive()
        if ready_at is None and worker.ready():
            ready_at = time.perf_counter()
        if monitor.samples and monitor.samples[-1][0] > t0 and monitor.samples[-1][1] == 0:
            empty_at, cpu_empty = monitor.samples[-1][0], cpu_seconds(pids)
            break
        time.sleep(0.05)
    scored_after, left = wait_scored(stack, args.drain_timeout)
    cpu1, t1 = cpu_seconds(pids), time.perf_counter()
    monitor.stop()
    memory = worker.memory()
    worker.stop()  # py-spy writes its file when the process exits
    if sampler:
        sampler.wait()
    jobs_after = job_stats(stack)
    samples = monitor.between(t0, t1)
    first_progress = next((s[0] for s in samples if s[1] < rows_before), None)
    rollups, rollup_s = job_delta(jobs_before, jobs_after, "roll_up_tenant")
    scorings, scoring_s = job_delta(jobs_before, jobs_after, "maintain_sessions")
    summary = session_summary(stack, lo, hi)
    sessions = summary["sessions"]
    from analytics.settings import load_settings

    startup = (ready_at - t0) if ready_at else 0.0
    drain_s = (empty_at or t1) - t0 - startup  # from the worker's first health check
    worker_cpu = cpu_empty.get("worker", 0.0) - cpu0.get("worker", 0.0)
    rows: Rows = [
        ("outbox before", f"{rows_before:,} batches, {events_before:,} events "
                          f"(claims of {load_settings().rollup_claim_batches} batches a transaction)"),
        ("worker start-up", f"{startup:.1f} s (process start to arq's first health check; not counted "
                            "below)"),
        ("worker ready -> outbox empty",
         f"{drain_s:.1f} s" if empty_at else f"NOT empty after {drain_s:.0f} s"),
        ("  first transaction committed after",
         f"{first_progress - t0 - startup:.1f} s" if first_progress else "n/a"),
        ("  then tier-3 scoring done after",
         f"{scored_after:.1f} s more" + (f" ({left} left)" if left else "")),
        ("sessions/s (rollup)", f"{sessions / drain_s:,.0f} by the wall clock, "
                                f"{sessions / max(worker_cpu, 1e-9):,.0f} per worker CPU-second"),
        ("events/s (rollup)", f"{events_before / drain_s:,.0f} by the wall clock, "
                              f"{events_before / max(worker_cpu, 1e-9):,.0f} per worker CPU-second "
                              f"({worker_cpu:.1f} CPU-s)"),
        ("worker jobs", f"roll_up_tenant {rollups} runs ({rollup_s:.1f} s summed), maintain_sessions "
                        f"{scorings} runs ({scoring_s:.1f} s summed)"),
        ("CPU, start to scored", cpu_share(cpu0, cpu1, t1 - t0)),
        ("events table", events_change(table_before, events_stats(stack))),
        ("worker memory", memory),
        *summary_rows(summary, stats),
    ]
    if sampler:
        rows.extend(summarise(sampler.output, SESSION_WORKER_PHASES, "worker", top=12))
    line = (f"{sessions:,} sessions from {events_before:,} events in {drain_s:.1f} s: "
            f"{sessions / drain_s:,.0f} sessions/s, {events_before / drain_s:,.0f} events/s (wall, after "
            f"{startup:.1f} s start-up); scoring {scored_after:.1f} s more")
    return line, rows


async def drain_in_process(stack: Stack, claim_batches: int, instrument: Instrument,
                           profile: cProfile.Profile | None) -> dict[str, Any]:
    from analytics.db import create_engine
    from analytics.rollups.service import roll_up_once
    from analytics.sessions.service import maintain_sessions
    from analytics.settings import load_settings
    from analytics.traffic import agents

    engine = create_engine(stack.database_url, role=load_settings().app_role, pool_size=4)
    agents.clear_agent_caches()  # as in a freshly started worker
    steps: list[tuple[int, int, float]] = []
    try:
        started = time.perf_counter()
        if profile:
            profile.enable()
        while True:
            step_start = time.perf_counter()
            result = await roll_up_once(engine, stack.tenant_id, claim_batches=claim_batches)
            if result.batches == 0:
                break
            steps.append((result.batches, result.events, time.perf_counter() - step_start))
        rolled = time.perf_counter() - started
        scored = 0
        score_start = time.perf_counter()
        while True:
            done = await maintain_sessions(engine, stack.tenant_id)
            scored += done.scored
            if not done.scored and not done.corrected_days:
                break
        scoring = time.perf_counter() - score_start
        if profile:
            profile.disable()
    finally:
        await engine.dispose()
    return {"rollup_s": rolled, "scoring_s": scoring, "scored": scored, "steps": steps,
            "profile_cache": agents._profile.cache_info(),
            "verdict_cache": agents._library_verdict.cache_info(),
            "cache_size": agents.AGENT_CACHE_SIZE}


def in_process_rows(stack: Stack, args: argparse.Namespace, lo: datetime, hi: datetime,
                    stats: Stats) -> tuple[str, Rows]:
    from analytics.settings import load_settings

    claim = load_settings().rollup_claim_batches
    rows_before, events_before = outbox_now(stack)
    table_before = events_stats(stack)
    instrument = Instrument()
    profile = cProfile.Profile() if args.cprofile else None
    cpu0 = cpu_seconds({**stack.pids, "bench": os.getpid()})
    t0 = time.perf_counter()
    instrument.install()
    try:
        outcome = run(drain_in_process(stack, claim, instrument, profile))
    finally:
        instrument.uninstall()
    t1 = time.perf_counter()
    cpu1 = cpu_seconds({**stack.pids, "bench": os.getpid()})
    summary = session_summary(stack, lo, hi)
    sessions, rollup_s = summary["sessions"], outcome["rollup_s"]
    written = instrument.counts["sessions written"]
    steps = outcome["steps"]
    profile_cache, verdict_cache = outcome["profile_cache"], outcome["verdict_cache"]
    scoring_s = outcome["scoring_s"]
    parse_hits = 100 * profile_cache.hits / max(1, profile_cache.hits + profile_cache.misses)

    def hit_rate(info: Any) -> str:
        calls = info.hits + info.misses
        if not calls:
            return "no calls"
        return f"{info.hits:,} hits / {info.misses:,} misses ({100 * info.hits / calls:.1f} % hits)"

    rows: Rows = [
        ("outbox before", f"{rows_before:,} batches, {events_before:,} events; claims of {claim} batches: "
                          f"{len(steps)} rollup transactions"),
        ("rollup (all claims)", f"{rollup_s:.1f} s: {sessions / rollup_s:,.0f} sessions/s, "
                                f"{events_before / rollup_s:,.0f} events/s ({written:,} session rows "
                                f"written, {instrument.counts['window events loaded']:,} window events "
                                "re-read)"),
        ("  per transaction", ", ".join(f"{b} batches/{e:,} events {s:.1f} s" for b, e, s in steps[:6])
         + (" ..." if len(steps) > 6 else "")),
        ("tier-3 scoring", f"{scoring_s:.1f} s for {outcome['scored']:,} sessions"
                           + (f" ({outcome['scored'] / scoring_s:,.0f}/s)" if scoring_s else "")),
        ("CPU (this process = the 'worker')", cpu_share(cpu0, cpu1, t1 - t0)),
        ("UA parse cache (describe_agent)", f"{hit_rate(profile_cache)}; {profile_cache.currsize:,} of "
                                           f"{outcome['cache_size']:,} entries used"),
        ("UA verdict cache (is_bot)", hit_rate(verdict_cache)),
        ("where the rollup time goes", "exclusive seconds (timers; cProfile off)" if not args.cprofile
         else "exclusive seconds, inflated by cProfile"),
        *breakdown_rows(instrument.exclusive, instrument.calls, rollup_s + scoring_s),
        ("events table", events_change(table_before, events_stats(stack))),
        *summary_rows(summary, stats),
    ]
    if profile and args.cprofile:
        profile.dump_stats(args.cprofile)
        listing = pstats.Stats(profile)
        listing.sort_stats("tottime")
        entries = listing.stats.items()  # type: ignore[attr-defined]
        top = sorted(entries, key=lambda item: item[1][2], reverse=True)[:15]
        total = sum(v[2] for v in listing.stats.values())  # type: ignore[attr-defined]
        rows.append(("cProfile top (tottime)", f"stats in {args.cprofile}"))
        for (file, line, name), (_, calls, tottime, cumtime, _) in top:
            rows.append(("", f"{100 * tottime / total:5.1f} %  {tottime:6.2f} s self  {cumtime:6.2f} s cum  "
                             f"{calls:>9,} calls  {name} ({Path(file).name}:{line})"))
    ua = sum(v for k, v in instrument.exclusive.items() if k.startswith("UA:"))
    line = (f"{sessions:,} sessions from {events_before:,} events: rollup {rollup_s:.1f} s "
            f"({sessions / rollup_s:,.0f} sessions/s, {events_before / rollup_s:,.0f} events/s), scoring "
            f"{scoring_s:.1f} s; UA parsing {100 * ua / (rollup_s + scoring_s):.1f} % of the time, "
            f"parse-cache hits {parse_hits:.0f} %")
    return line, rows


# --- phase 3: heavy visitor -----------------------------------------------------------------------------


async def _roll_up_all(stack: Stack) -> int:
    """Roll up everything in the outbox in this process (untimed set-up); events folded."""
    from analytics.db import create_engine
    from analytics.rollups.service import roll_up
    from analytics.settings import load_settings

    settings = load_settings()
    engine = create_engine(stack.database_url, role=settings.app_role, pool_size=2)
    try:
        result = await roll_up(engine, stack.tenant_id, claim_batches=settings.rollup_claim_batches,
                               max_rounds=10_000)
    finally:
        await engine.dispose()
    return result.events


# The heavy-visitor table's columns: (name, prefixes of the Instrument names summed into it).
HEAVY_COLUMNS = (
    ("window + stored-session SQL (incl. row decoding)",
     ("SQL sessions.upkeep._WINDOW", "SQL sessions.upkeep._EXISTING", "SQL sessions.upkeep._LATEST",
      "SQL sessions.appends._RECENT", "SQL sessions.appends._LATER")),
    ("RawEvent rows", ("_load_window",)),
    ("session_facts own", ("session_facts", "SessionFold")),
    ("is_scanner", ("is_scanner",)),
    ("UA parsing", ("UA:",)),
    ("link+split", ("link_visitors", "split_sessions")),
    ("sessions upsert", ("SQL sessions.rows.UPSERT",)),
    ("content facts", ("replace_content_facts", "content_facts", "SQL content.upkeep")),
    ("set session_key", ("SQL sessions.rows.SET_KEYS",)),
    ("counters", ("write_counters", "aggregate", "SQL rollups.counters")),
)


def heavy_shape(stack: Stack, args: argparse.Namespace, periods: Periods, shape: str,
                upkeep: str = "narrow") -> tuple[str, Rows]:
    """``upkeep``: ``whole`` re-reads the visitor's +-24 h window on every claim (the code before issue
    15), ``narrow`` only its open sessions when a batch appends (analytics.sessions.upkeep), ``fold``
    folds appended events into the open session's stored fold (analytics.sessions.appends)."""
    import analytics.sessions.upkeep as session_upkeep
    from analytics.db import create_engine
    from analytics.settings import load_settings
    from analytics.traffic.sessions import LENGTH_LIMIT

    period = periods.next(args.span_hours)
    end, _, _, ip_base = period
    background: Rows = []
    if args.heavy_background:
        # Other visitors in the same hours: a window read may scan the tenant's events there.
        loaded, *_ = load_backlog(stack, args, periods, args.heavy_background,
                                  f"heavy-{shape}-{upkeep}-background",
                                  period=(end, period[1], period[2], ip_base + 1))
        started = time.perf_counter()
        rolled = run(_roll_up_all(stack))
        run(_owner(stack, "ANALYZE events"))
        background.append(("background", f"{loaded.accepted_total:,} events of {args.heavy_background:,} "
                                         f"other visitors in the same hours, rolled up ({rolled:,} events, "
                                         f"{time.perf_counter() - started:.1f} s) and ANALYZEd before the "
                                         "first batch"))
    # The visitor's events run forwards from here: they overlap the background's hours.
    gap, per_session, idle = HEAVY_SHAPES[shape]
    start = datetime.fromtimestamp(end, UTC) - timedelta(hours=args.span_hours)
    name = f"heavy-{shape}-{upkeep}"
    events = heavy_visitor_events(shape, args.heavy_events, start, args.seed, visitor=name)
    ip = ip_address(ip_base)
    headers = {**stack.auth(stack.publishable_key), "x-forwarded-for": ip}
    instrument = Instrument()
    steps: list[dict[str, Any]] = []
    budget_hit = False

    async def go() -> None:
        nonlocal budget_hit
        from analytics.rollups.service import roll_up_once  # after install(): the timed one

        engine = create_engine(stack.database_url, role=load_settings().app_role, pool_size=2)
        spent = 0.0
        try:
            async with httpx.AsyncClient(timeout=60) as client:
                for first in range(0, len(events), args.heavy_batch):
                    chunk = events[first:first + args.heavy_batch]
                    response = await client.post(stack.graphql_url, content=track_body(chunk),
                                                 headers=headers)
                    accepted = orjson.loads(response.content)["data"]["track"]["accepted"]
                    if accepted != len(chunk):
                        raise RuntimeError(f"track accepted {accepted} of {len(chunk)}: "
                                           f"{response.text[:300]}")
                    before, counts_before = instrument.snapshot()
                    started = time.perf_counter()
                    result = await roll_up_once(engine, stack.tenant_id, claim_batches=200)
                    took = time.perf_counter() - started
                    after, counts_after = instrument.snapshot()
                    spent += took
                    steps.append({"stored": first, "events": result.events, "seconds": took,
                                  "parts": {k: v - before.get(k, 0.0) for k, v in after.items()},
                                  "counts": counts_after - counts_before})
                    if spent > args.heavy_budget:
                        budget_hit = True
                        break
        finally:
            await engine.dispose()

    instrument.install()
    before = session_upkeep.NARROW_APPENDS, session_upkeep.FOLD_APPENDS
    session_upkeep.NARROW_APPENDS, session_upkeep.FOLD_APPENDS = upkeep != "whole", upkeep == "fold"
    try:
        run(go())
    finally:
        session_upkeep.NARROW_APPENDS, session_upkeep.FOLD_APPENDS = before
        instrument.uninstall()
    sent = steps[-1]["stored"] + steps[-1]["events"] if steps else 0
    last = events[sent - args.heavy_batch:sent] if sent else []
    visitor = run(_scoped(stack, "SELECT array_agg(DISTINCT v) AS ids FROM events CROSS JOIN LATERAL "
                                 "(VALUES (visitor_id), (visitor_prev)) x(v) WHERE anonymous_id = $1 "
                                 "AND v IS NOT NULL", name))[0]["ids"] or []
    sessions = run(_scoped(stack, "SELECT count(*) AS n, max(request_count) AS biggest FROM sessions "
                                  "WHERE anonymous_id = $1", name))[0]

    def part(step: dict[str, Any], *prefixes: str) -> float:
        return float(sum(v for k, v in step["parts"].items() if k.startswith(prefixes))) * 1000

    pacing = f", {per_session} pages a session, {idle:g} min idle between" if per_session else ", one session"
    table: Rows = [
        ("visitor", f"one address ({ip}), one agent, {len(visitor)} visitor ids; shape '{shape}': a page + "
                    f"an engagement every {gap:g} s{pacing}"),
        *background,
        ("sent", f"{sent:,} events in batches of {args.heavy_batch} (the batch holds only this visitor); "
                 f"one rollup after each; {sessions['n']} session rows at the end (largest "
                 f"{sessions['biggest']:,} events)" + ("; STOPPED at the time budget" if budget_hit else "")),
        ("columns", "events already stored -> rollup ms [events in the final window, window reads, "
                    "sessions written]: " + " / ".join(name for name, _ in HEAVY_COLUMNS) + " / rest (ms)"),
    ]
    marks = sorted({0, 1, 2, 4, 9, 19, 29, 39, 49, 59, 79, 99, len(steps) - 1} & set(range(len(steps))))
    for i in marks:
        step, counts = steps[i], steps[i]["counts"]
        parts = [part(step, *prefixes) for _, prefixes in HEAVY_COLUMNS]
        rest = step["seconds"] * 1000 - sum(parts)
        table.append((f"{step['stored']:>6,} stored",
                      f"{step['seconds'] * 1000:7.1f} ms  [{counts['window events loaded']:>6,}, "
                      f"{counts['calls SQL sessions.upkeep._WINDOW']}x, {counts['sessions written']:>3}]  "
                      + " / ".join(f"{ms:5.1f}" for ms in parts) + f" / {rest:5.1f}"))
    xs = [float(step["counts"]["window events loaded"]) for step in steps]
    ys = [step["seconds"] * 1000 for step in steps]
    fit = ""
    if len(steps) > 2 and max(xs) > min(xs):
        intercept, slope = least_squares(xs, ys)
        fit = f"{intercept:.0f} ms + {slope * 1000:.1f} ms per 1,000 window events"
        table.append(("least-squares fit", f"rollup ms = {fit} (over {len(steps)} batches)"))
    if len(steps) > 2:
        # Against the visitor's history, whatever the upkeep reads: flat means the claim does not grow.
        intercept, slope = least_squares([float(step["stored"]) for step in steps], ys)
        history = f"{intercept:.0f} ms + {slope * 1000:.1f} ms per 1,000 stored events"
        fit = f"{fit}; {history}" if fit else history
        table.append(("fit against history", f"rollup ms = {history} (over {len(steps)} batches)"))
    total = sum(ys) / 1000
    if steps:
        table.append(("rollup time for all batches",
                      f"{total:.1f} s for {sent:,} events ({sent / total:,.0f} events/s), against "
                      f"{len(steps) * ys[0] / 1000:.1f} s if every batch cost what the first did "
                      f"({ys[0]:.0f} ms)"))
    if last and visitor:
        times = [datetime.fromisoformat(e["timestamp"].replace("Z", "+00:00")) for e in last]
        params = {"tenant": stack.tenant_id, "visitors": sorted(visitor), "lo": min(times) - LENGTH_LIMIT,
                  "hi": max(times) + LENGTH_LIMIT}
        table.extend(run(explain_upkeep(stack, params, max_lines=14)))
    line = "no steps"
    if steps:
        line = (f"'{shape}' ({upkeep}): first batch {ys[0]:.0f} ms, at {steps[-1]['stored']:,} stored events "
                f"{ys[-1]:.0f} ms ({steps[-1]['counts']['window events loaded']:,} re-read); {fit}")
    return line, table


def least_squares(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """(intercept, slope) of the least-squares line through the points."""
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    covariance = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    slope = covariance / sum((x - mean_x) ** 2 for x in xs)
    return mean_y - slope * mean_x, slope


# --- main -----------------------------------------------------------------------------------------------


def code_state() -> str:
    """The commit and the product files changed on top of it (read-only git commands)."""
    try:
        def git(*argv: str) -> str:
            return subprocess.run(["git", *argv], cwd=REPO_ROOT, capture_output=True, text=True,
                                  check=True).stdout

        head = git("rev-parse", "--short", "HEAD").strip()
        changed = git("status", "--porcelain", "--", "analytics", "workers", "api").splitlines()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (no git)"
    files = sorted(line[3:] for line in changed)
    return head + (f" + uncommitted changes in {len(files)} files ({', '.join(files[:6])}"
                   f"{' ...' if len(files) > 6 else ''})" if files else " (clean)")


def condition_rows(stack: Stack, args: argparse.Namespace) -> Rows:
    from analytics.settings import load_settings

    settings = load_settings()
    pg = {r["name"]: r["setting"] + (r["unit"] or "") for r in run(_owner(
        stack, "SELECT name, setting, unit FROM pg_settings WHERE name IN ('shared_buffers', "
               "'autovacuum', 'synchronous_commit', 'max_wal_size')"))}
    batched = (f"batched {', '.join(map(str, args.batch))} events/request, {args.concurrency} connections, "
               f"{args.visitors_per_ip} visitors per client address; " if any(args.batch) else "")
    single = (f"single events, {args.single_concurrency} connections, one visitor per address; "
              if args.single_concurrency else "")
    return [row for row in conditions(stack) if row[0] != "worker running"] + [
        ("code", code_state()),
        ("PostgreSQL settings", ", ".join(f"{k} {v}" for k, v in sorted(pg.items()))),
        ("worker", "1 `analytics worker` process started by this script for the ingest phase and the "
                   "worker drain; stopped for loading backlogs; in-process drains and heavy-visitor "
                   "rollups run in this process"),
        ("rollup claim", f"{settings.rollup_claim_batches} outbox batches per rollup transaction"),
        ("phases", " ".join(args.phases)),
        ("UA mix", f"{args.agents:,} distinct agents from bench/user_agents.py (Zipf weights for "
                   f"people), {args.bot_share:.1%} crawler visitors, {args.scanner_share:.1%} scanners"),
        ("visitors", f"mean {args.sessions_per_visitor:g} sessions per person; first sessions within "
                     f"{args.span_hours:g} h; each phase's traffic in its own period, "
                     f"{PHASE_GAP.days} days apart, starting {PHASE_GAP.days} days ago"),
        ("ingest modes", f"{batched}{single}{args.seconds:g} s measured after {args.warmup:g} s, "
                         f"{args.client} client"),
        ("backlog", f"{args.backlog_visitors:,} visitors in {args.backlog_batch}-event requests; drains: "
                    f"{', '.join(args.drain)}"),
        ("heavy visitor", f"{args.heavy_events:,} events in batches of {args.heavy_batch}, shapes "
                          f"{', '.join(args.heavy_shapes)}, {args.heavy_background:,} background visitors"),
    ]


def main() -> None:
    args = parse_args()
    if args.profile is not None and py_spy() is None:
        sys.exit("--profile needs py-spy (pip install py-spy)")
    print("page-view benchmark: ingest with session derivation, worker sessions/s, heavy visitor "
          "(figures only; nothing is asserted)")
    summary: Rows = []
    with running_stack(worker=False) as stack:
        worker = Worker(stack)
        periods = Periods()
        try:
            print_section("conditions", condition_rows(stack, args))

            if "ingest" in args.phases:
                worker.start()
                time.sleep(2)  # let it import and connect before the first window
                modes = [(f"batched-{b}", b, args.concurrency, args.visitors_per_ip, args.max_rate)
                         for b in args.batch if b > 0]
                if args.single_concurrency:
                    modes.append(("single", 1, args.single_concurrency, 1, args.single_max_rate))
                for label, batch, concurrency, per_ip, max_rate in modes:
                    line, rows = ingest_mode(stack, args, periods, label=label, batch=batch,
                                             concurrency=concurrency, per_ip=per_ip, max_rate=max_rate)
                    print_section(f"ingest {label}: {batch} events a request, {concurrency} connections, "
                                  "worker running", rows)
                    summary.append((f"ingest {label}", line))
                    settle(stack)
                worker.stop()

            if "backlog" in args.phases:
                if "worker" in args.drain:
                    result, lo, hi, _ = load_backlog(stack, args, periods, args.backlog_visitors, "backlog")
                    prepared = prepare_backlog(stack, explain=True)
                    settle(stack)
                    line, rows = drain_with_worker(stack, worker, args, lo, hi, result.stats)
                    print_section(f"backlog drained by the worker ({args.backlog_visitors:,} visitors)",
                                  backlog_rows(result) + prepared + rows)
                    summary.append(("backlog, worker drain", line))
                if "inprocess" in args.drain:
                    visitors = args.inprocess_visitors or args.backlog_visitors
                    result, lo, hi, _ = load_backlog(stack, args, periods, visitors, "backlog-inprocess")
                    prepared = prepare_backlog(stack, explain="worker" not in args.drain)
                    settle(stack)
                    line, rows = in_process_rows(stack, args, lo, hi, result.stats)
                    print_section(f"backlog drained in this process, with timers ({visitors:,} visitors)",
                                  backlog_rows(result) + prepared + rows)
                    summary.append(("backlog, in-process drain", line))

            if "heavy" in args.phases:
                for shape in args.heavy_shapes:
                    for upkeep in args.heavy_upkeep:
                        line, rows = heavy_shape(stack, args, periods, shape, upkeep)
                        print_section(f"heavy visitor '{shape}', upkeep '{upkeep}': rollup time per "
                                      f"{args.heavy_batch}-event batch as the visitor's events grow (worker "
                                      "stopped, rollups in this process)", rows)
                        summary.append((f"heavy visitor {shape} ({upkeep})", line))
        finally:
            worker.stop()
        print_section("summary (same run)", summary)


if __name__ == "__main__":
    main()
