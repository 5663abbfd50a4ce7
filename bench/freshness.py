"""Freshness benchmark: time from a ``track`` acknowledgement until the counters show the events.

The probes' events come as a server SDK relays people's events (bench.harness.make_events: each user its
own browser agent and address in ``context``), so they count as people, not as the relay's bot traffic;
a probe that never shows exactly what it sent fails the run."""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import orjson

from bench.harness import (
    Stack,
    conditions,
    cpu_seconds,
    cpu_share,
    make_events,
    percentile,
    print_section,
    running_stack,
    track_body,
)
from bench.loadgen import LoadProcess, LoadResult, LoadSpec

# LAST_7_DAYS rather than TODAY: a run that crosses midnight (tenant time zone, UTC) still counts.
STARTS_QUERY = ("query Fresh($tour: String!) { tenant { tour(id: $tour) "
                "{ stats(range: {preset: LAST_7_DAYS}) { starts } } } }")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Send a batch of TourStarted events for a fresh tour, then poll the tour's "
                    "`starts` counter with a secret key until it equals the number sent; repeat "
                    "for the duration and print the acknowledgement-to-visible latencies.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20, help="How long to keep probing.")
    parser.add_argument("--events", type=int, default=20, help="Events per probe (one request).")
    parser.add_argument("--poll-interval", type=float, default=0.02,
                        help="Seconds between polls of the counter.")
    parser.add_argument("--timeout", type=float, default=30,
                        help="Give up on one probe after this many seconds.")
    parser.add_argument("--background-concurrency", type=int, default=0,
                        help="Also run the ingest load (--background-batch events a request, this "
                             "many connections) during the probes, to see freshness under load.")
    parser.add_argument("--background-batch", type=int, default=500,
                        help="Events a background request carries (1: single-event track, as browsers "
                             "send; the worker then paces its claims, see ANALYTICS_ROLLUP_PACE_MS).")
    parser.add_argument("--background-rate", type=float, default=None, metavar="EVENTS_PER_S",
                        help="Offer the background load at this many events a second at most (a fixed "
                             "schedule: the sustained-rate search of issue 13); default: as fast as "
                             "the API answers.")
    parser.add_argument("--no-worker", action="store_true",
                        help="Do not run the worker (counters then never move: a sanity check).")
    return parser.parse_args()


def _post(client: httpx.Client, stack: Stack, key: str, body: bytes) -> dict[str, Any]:
    response = client.post(stack.graphql_url, content=body, headers=stack.auth(key))
    response.raise_for_status()
    payload: dict[str, Any] = orjson.loads(response.content)
    if payload.get("errors"):
        raise RuntimeError(f"GraphQL errors: {payload['errors']}")
    return payload


def probe(client: httpx.Client, stack: Stack, count: int, interval: float,
          timeout: float) -> tuple[float | None, float, list[float]]:
    """One probe: (ack -> visible seconds or None on timeout, track latency, poll latencies)."""
    tour_id = f"fresh-{secrets.token_hex(6)}"
    body = track_body(make_events(count, tour_id=tour_id, kinds=("TourStarted",)))
    sent = time.perf_counter()
    track = _post(client, stack, stack.publishable_key, body)["data"]["track"]
    acked = time.perf_counter()
    if track["accepted"] != count:
        raise RuntimeError(f"track accepted {track['accepted']} of {count}: {track}")
    query = orjson.dumps({"query": STARTS_QUERY, "variables": {"tour": tour_id}})
    polls: list[float] = []
    while True:
        started = time.perf_counter()
        tour = _post(client, stack, stack.secret_key, query)["data"]["tenant"]["tour"]
        now = time.perf_counter()
        polls.append(now - started)
        starts = tour["stats"]["starts"] if tour else 0
        if starts == count:
            return now - acked, acked - sent, polls
        if starts > count:
            raise RuntimeError(f"tour {tour_id} shows {starts} starts; {count} were sent")
        if now - acked > timeout:
            return None, acked - sent, polls
        time.sleep(max(0.0, interval - (time.perf_counter() - now)))


def start_background(stack: Stack, concurrency: int, seconds: float, batch: int = 500,
                     rate: float | None = None) -> tuple[threading.Thread, list[LoadResult]]:
    """Run the load generator in a thread (the load itself is a separate process); single events
    go through the raw client (httpx would take the API's CPU). ``rate``: events/s offered at most."""
    most = 60_000 if batch >= 100 else 4_000 * batch
    spec = LoadSpec(url=stack.graphql_url, key=stack.publishable_key, batch=batch,
                    concurrency=concurrency, seconds=seconds, warmup=1.0,
                    max_rate=min(most, rate * 1.05) if rate else most,
                    client="raw" if batch < 100 else "httpx", offered_rate=rate)
    load = LoadProcess(spec)
    print(f"[background] generating {spec.body_count} request bodies...", file=sys.stderr,
          flush=True)
    load.prepare()
    results: list[LoadResult] = []

    def run() -> None:
        try:
            results.append(load.run(lambda: None, lambda: None))
        finally:
            load.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    time.sleep(spec.warmup + 0.5)  # let the load reach its stride before probing
    return thread, results


def main() -> None:
    args = parse_args()
    print("freshness benchmark: track acknowledged -> visible in the tour's counters "
          "(figures only; nothing is asserted)")
    with running_stack(worker=not args.no_worker) as stack:
        print_section("conditions", conditions(
            stack,
            events_per_probe=f"{args.events} TourStarted events, one request, a fresh tour each",
            poll=f"every {args.poll_interval * 1000:.0f} ms with a secret key "
                 "(stats(range: {preset: LAST_7_DAYS}) { starts })",
            duration=f"{args.seconds:g} s of back-to-back probes",
            background_load=(f"track, {args.background_batch} event(s) a request, "
                             f"{args.background_concurrency} connections, separate process, "
                             + (f"offered at {args.background_rate:,.0f} events/s"
                                if args.background_rate else "as fast as answered")
                             if args.background_concurrency else "none"),
            tenant_time_zone="UTC"))
        thread: threading.Thread | None = None
        outcome: list[LoadResult] = []
        if args.background_concurrency:
            thread, outcome = start_background(stack, args.background_concurrency, args.seconds + 3,
                                               args.background_batch, args.background_rate)
        latencies: list[float] = []
        acks: list[float] = []
        polls: list[float] = []
        timeouts = 0
        pids = {**stack.pids, "prober (this process)": os.getpid()}
        cpu0, t0 = cpu_seconds(pids), time.perf_counter()
        try:
            with httpx.Client(timeout=args.timeout) as client:
                deadline = time.perf_counter() + args.seconds
                while time.perf_counter() < deadline:
                    visible, ack, poll_times = probe(client, stack, args.events,
                                                     args.poll_interval, args.timeout)
                    acks.append(ack)
                    polls.extend(poll_times)
                    if visible is None:
                        timeouts += 1
                    else:
                        latencies.append(visible)
        finally:
            cpu1, t1 = cpu_seconds(pids), time.perf_counter()
            if thread is not None:
                thread.join(args.seconds + 130)
        stack.check_alive()
        ms = [x * 1000 for x in latencies]
        rows: list[tuple[str, object]] = [
            ("probes", f"{len(latencies) + timeouts} "
                       f"({timeouts} timed out after {args.timeout:g} s)"),
            ("ack -> visible p50", f"{percentile(ms, 50):.0f} ms"),
            ("ack -> visible p95", f"{percentile(ms, 95):.0f} ms"),
            ("ack -> visible p99", f"{percentile(ms, 99):.0f} ms"),
            ("ack -> visible max", f"{max(ms, default=float('nan')):.0f} ms"),
            ("track request p50 / max", f"{percentile(acks, 50) * 1000:.1f} / "
                                        f"{max(acks, default=float('nan')) * 1000:.1f} ms"),
            ("poll query p50 / p99", f"{percentile(polls, 50) * 1000:.1f} / "
                                     f"{percentile(polls, 99) * 1000:.1f} ms "
                                     f"({len(polls)} polls; resolution ~ one poll interval)"),
            ("CPU during the probes", cpu_share(cpu0, cpu1, t1 - t0)),
        ]
        if outcome:
            load = outcome[0]
            rows.append(("background load", f"{load.accepted / load.window:,.0f} events/s "
                                            f"accepted, {load.bad} bad responses"))
        rows.append(("check", "every probe showed exactly the events it sent" if latencies and not timeouts
                      else "FAILED: a probe never showed its events"))
        print_section("ack -> visible in counters", rows)
        if timeouts or not latencies:
            raise SystemExit(f"{timeouts} probe(s) never became visible")


if __name__ == "__main__":
    main()
