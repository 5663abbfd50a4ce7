"""Export benchmark: stream N raw events through ``GET /export/events.{csv,ndjson,json}``."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from bench.harness import (
    Stack,
    conditions,
    cpu_seconds,
    cpu_share,
    print_section,
    rss_mb,
    running_stack,
)

FORMATS = ("csv", "ndjson", "json")
START = datetime(2025, 1, 1, tzinfo=UTC)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Load N raw events into one tenant with SQL, then download them through the "
                    "export endpoint of the API process in each format: rows/s, MB/s, time to first "
                    "byte, the API's memory and CPU per process. Prints figures; asserts nothing.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="Raw events to load and export.")
    parser.add_argument("--formats", nargs="+", choices=FORMATS, default=list(FORMATS))
    parser.add_argument("--repeat", type=int, default=1, help="Downloads per format (the best counts).")
    return parser.parse_args()


async def load_events(stack: Stack, rows: int) -> tuple[float, str, str]:
    """``rows`` events one second apart from 2025-01-01 (UTC), a realistic mix of columns; returns the
    seconds it took and the export range (whole days)."""
    import asyncpg

    end = START + timedelta(seconds=rows)
    connection = await asyncpg.connect(stack.asyncpg_dsn)
    try:
        month = START
        while month < end:  # the partitions the rows need, through the product's own function
            await connection.execute("SELECT analytics_ensure_event_partition($1)", month)
            month = (month + timedelta(days=32)).replace(day=1)
        started = time.perf_counter()
        await connection.execute(
            """
            INSERT INTO events (tenant_id, occurred_at, id, type, user_id, anonymous_id, session_id,
                                tour_id, step_index, selector, url, properties)
            SELECT $1, $2::timestamptz + g * interval '1 second', gen_random_uuid(),
                   (ARRAY['TourStarted', 'StepViewed', 'StepViewed', 'StepCompleted', 'TourCompleted',
                          'target_not_found'])[g % 6 + 1],
                   CASE WHEN g % 10 <> 0 THEN 'user-' || (g % 50000) END,
                   CASE WHEN g % 10 = 0 THEN 'anon-' || (g % 7919) END,
                   's-' || (g / 20), 'tour_' || (g % 40), CASE WHEN g % 6 IN (1, 2, 3) THEN g % 8 END,
                   CASE WHEN g % 6 = 5 THEN '#step-' || (g % 8) || ', .cta[data-x="1"]' END,
                   'https://app.example.com/page/' || (g % 500) || '?ref=bench',
                   CASE WHEN g % 4 = 0 THEN jsonb_build_object('plan', 'pro', 'seats', g % 90) END
            FROM generate_series(0, $3 - 1) AS g
            """, stack.tenant_id, START, rows)
        seconds = time.perf_counter() - started
        await connection.execute("ANALYZE events")
    finally:
        await connection.close()
    last_day = (end - timedelta(microseconds=1)).date()
    return seconds, START.date().isoformat(), last_day.isoformat()


@dataclass
class Download:
    rows: int
    size: int
    seconds: float
    first_byte: float
    api_rss_start: float
    api_rss_peak: float
    cpu: str


async def download(stack: Stack, fmt: str, first: str, last: str) -> Download:
    api = stack.pids["api"]
    rss_start = peak = rss_mb(api) or 0.0
    lines = size = 0
    first_byte = 0.0
    before = cpu_seconds(stack.pids)
    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=600) as client, client.stream(
            "GET", f"{stack.api_url}/export/events.{fmt}", params={"from": first, "to": last},
            headers={"Authorization": f"Bearer {stack.secret_key}"}) as response:
        response.raise_for_status()
        async for chunk in response.aiter_raw(1 << 20):
            if not first_byte:
                first_byte = time.perf_counter() - started
            lines += chunk.count(b"\n")
            size += len(chunk)
            peak = max(peak, rss_mb(api) or 0.0)
    seconds = time.perf_counter() - started
    rows = {"csv": lines - 1, "ndjson": lines, "json": lines - 2}[fmt]
    return Download(rows, size, seconds, first_byte, rss_start, peak,
                    cpu_share(before, cpu_seconds(stack.pids), seconds))


def main() -> None:
    args = parse_args()
    print("export benchmark: raw events through GET /export/events.{format} (figures only; nothing "
          "is asserted)")
    with running_stack(worker=False) as stack:
        load_seconds, first, last = asyncio.run(load_events(stack, args.rows))
        print_section("conditions", conditions(
            stack,
            rows=f"{args.rows:,} raw events of one tenant, one second apart from {first} (UTC), loaded "
                 f"by INSERT ... SELECT in {load_seconds:.1f} s ({args.rows / load_seconds:,.0f} rows/s)",
            client="httpx in this process, reading 1 MB at a time and counting lines",
            range=f"from={first}&to={last}",
            repeat=f"{args.repeat} download(s) per format, the fastest shown"))
        for fmt in args.formats:
            runs = [asyncio.run(download(stack, fmt, first, last)) for _ in range(args.repeat)]
            best = min(runs, key=lambda run: run.seconds)
            print_section(f"events.{fmt}", [
                ("rows", f"{best.rows:,}" + ("" if best.rows == args.rows else "  (MISMATCH)")),
                ("bytes", f"{best.size / 1e6:,.1f} MB ({best.size / max(best.rows, 1):.0f} bytes a row)"),
                ("time", f"{best.seconds:.2f} s (first byte after {best.first_byte * 1000:.0f} ms)"),
                ("rows/s", f"{best.rows / best.seconds:,.0f}"),
                ("MB/s", f"{best.size / 1e6 / best.seconds:,.1f}"),
                ("API RSS", f"{best.api_rss_start:.0f} MB at start, peak {best.api_rss_peak:.0f} MB "
                            f"(+{best.api_rss_peak - best.api_rss_start:.0f} MB)"),
                ("CPU", best.cpu),
            ])
        api_peak = rss_mb(stack.pids["api"], peak=True)
        print_section("API process", [("resident memory high-water mark (VmHWM)",
                                       f"{api_peak:.0f} MB" if api_peak else "n/a")])


if __name__ == "__main__":
    main()
