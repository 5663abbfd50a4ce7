"""The read bench's peer: PostGraphile 5 (installed from npm into bench/peer) serving the same rollup
table, on the same database, as the same row-level-security-bound role, scoped per request the way
the product scopes its reads (``analytics.tenant_id`` set in the request's transaction).

PostGraphile compiles each GraphQL query into one SQL statement. It sees only the schema
``bench_peer``, whose one function sums ``counters_daily`` per day and metric for a tour: the
report's stats are the sums over the days, its series the days themselves, so the bench checks that
both servers give the same numbers before it times either.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx

from bench.harness import Stack, _api_port, _stop_process

PEER_DIR = Path(__file__).resolve().parent / "peer"
PEER_SCHEMA = "bench_peer"
VERSION_PIN = "postgraphile 5.0.0-rc.3 (bench/peer/package.json)"

# One statement per report; SQL-language and STABLE, so PostgreSQL inlines it into PostGraphile's query.
PEER_SQL = f"""
CREATE SCHEMA IF NOT EXISTS {PEER_SCHEMA};
CREATE OR REPLACE FUNCTION {PEER_SCHEMA}.tour_days(tour text, first_day date, last_day date)
RETURNS TABLE (day date, metric text, value bigint) LANGUAGE sql STABLE AS $$
    SELECT c.day, c.metric, sum(c.value)::bigint FROM public.counters_daily c
    WHERE c.tenant_id = CAST(NULLIF(current_setting('analytics.tenant_id', true), '') AS bigint)
      AND c.entity_type = 'tour' AND c.entity_id = tour AND c.step_index = -1 AND NOT c.bot
      AND c.day BETWEEN first_day AND last_day
    GROUP BY c.day, c.metric ORDER BY c.day, c.metric
$$;
GRANT USAGE ON SCHEMA {PEER_SCHEMA} TO {{role}};
GRANT EXECUTE ON FUNCTION {PEER_SCHEMA}.tour_days(text, date, date) TO {{role}};
"""

PEER_QUERY = """query TourDays($tour: String!, $first: Date!, $last: Date!) {
  tourDays(tour: $tour, firstDay: $first, lastDay: $last) { nodes { day metric value } }
}"""


def unavailable() -> str | None:
    """Why the peer cannot run here (no node or npm), or None."""
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    return f"{' and '.join(missing)} not found on PATH" if missing else None


def install() -> str:
    """``npm ci`` into bench/peer when its node_modules is missing (the first run downloads ~90
    packages from the npm registry); returns what was done, for the conditions."""
    if (PEER_DIR / "node_modules" / "postgraphile").exists():
        return f"{VERSION_PIN}, already installed"
    command = ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"]
    subprocess.run(command, cwd=PEER_DIR, check=True, timeout=600)
    return f"{VERSION_PIN}, installed now by npm ci"


async def _create_schema(owner_dsn: str, role: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(owner_dsn)
    try:
        await conn.execute(PEER_SQL.format(role=role))
    finally:
        await conn.close()


@dataclass
class Peer:
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def stop(self) -> None:
        _stop_process(self.process)


def start(stack: Stack, *, role: str = "analytics_app", pool_size: int = 8) -> Peer:
    """Create the peer's schema (as the owner) and start PostGraphile on a free port."""
    asyncio.run(_create_schema(stack.asyncpg_dsn, role))
    port = _api_port()
    assert stack.log_dir is not None
    log = stack.log_dir / "peer.log"
    env = {**os.environ, "PEER_PORT": str(port), "PEER_DATABASE_URL": stack.asyncpg_dsn,
           "PEER_SCHEMA": PEER_SCHEMA, "PEER_ROLE": role, "PEER_POOL_SIZE": str(pool_size),
           "PEER_KEYS": f"{stack.secret_key}={stack.tenant_id}", "NODE_ENV": "production"}
    with log.open("wb") as out:
        process = subprocess.Popen(["node", "server.mjs"], cwd=PEER_DIR, env=env, stdout=out,
                                   stderr=subprocess.STDOUT)
    peer = Peer(process, f"http://127.0.0.1:{port}", log)
    try:
        _wait_ready(peer, stack.secret_key)
    except BaseException:
        peer.stop()
        raise
    return peer


def _wait_ready(peer: Peer, key: str, timeout: float = 60) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if peer.process.poll() is not None:
            raise RuntimeError(f"PostGraphile exited with {peer.process.returncode}:\n"
                               f"{peer.log.read_text(errors='replace')[-3000:]}")
        try:
            answer = httpx.post(f"{peer.url}/graphql", json={"query": "{ __typename }"}, timeout=2,
                                headers={"authorization": f"Bearer {key}"})
            if answer.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"PostGraphile did not answer within {timeout:.0f} s:\n"
                       f"{peer.log.read_text(errors='replace')[-3000:]}")


def variables(tour: str, first: date, last: date) -> dict[str, str]:
    return {"tour": tour, "first": first.isoformat(), "last": last.isoformat()}


def report_from_days(nodes: list[dict[str, Any]]) -> tuple[Counter[str], dict[str, Counter[str]]]:
    """The peer's rows as (totals per metric, per ISO day per metric), in the rollups' metric names."""
    totals: Counter[str] = Counter()
    days: dict[str, Counter[str]] = {}
    for node in nodes:
        value = int(node["value"])  # PostGraphile sends bigint as a string
        totals[node["metric"]] += value
        days.setdefault(node["day"], Counter())[node["metric"]] += value
    return totals, days


def fetch(peer: Peer, key: str, tour: str, first: date, last: date) -> list[dict[str, Any]]:
    answer = httpx.post(f"{peer.url}/graphql", timeout=30, headers={"authorization": f"Bearer {key}"},
                        json={"query": PEER_QUERY, "variables": variables(tour, first, last)})
    answer.raise_for_status()
    document = answer.json()
    if document.get("errors"):
        raise RuntimeError(f"PostGraphile answered errors: {document['errors']}")
    nodes: list[dict[str, Any]] = document["data"]["tourDays"]["nodes"]
    return nodes
