"""What the fault tests share: a stack of their own (embedded PostgreSQL and Redis in a temp dir, the
API and the worker as real processes), a client that retries like the SDK, and the exactly-once check.

The PostgreSQL here is not the suite's: the tests stop it with ``pg_ctl stop -m immediate``. It runs
with ``fsync=off`` (speed) but ``synchronous_commit=on``: a commit is in the kernel before the API
acknowledges it, so a killed server (not a crashed machine) must lose nothing acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.db import create_engine, migrate
from analytics.embedded import EmbeddedPostgres, EmbeddedRedis, _pg_commands, free_port
from analytics.rollups.recompute import verify_rollups
from analytics.tenants import service as tenants
from tests.conftest import BROWSER_AGENT, TRACK

FULL = os.environ.get("ANALYTICS_FAULTS", "").lower() == "full"
REPO_ROOT = Path(__file__).resolve().parents[2]
TOUR = "faults-tour"
DAY = "2025-05-10"
STATS = ("{ tenant { tour(id: \"" + TOUR + "\") { stats(range: {from: \"2025-05-01\", to: \"2025-05-31\"}, "
         "includeBots: true) { starts stepViews completions } } } }")
KINDS = ("TourStarted", "StepViewed", "StepViewed", "TourCompleted")
METRIC_OF = {"TourStarted": "starts", "StepViewed": "stepViews", "TourCompleted": "completions"}


def scale(short: int, full: int) -> int:
    return full if FULL else short


class Subprocess:
    """An ``analytics`` command as a subprocess: started, SIGKILLed, paused and stopped by the test."""

    def __init__(self, env: dict[str, str], log: Path, *args: str) -> None:
        self.env, self.log, self.args = env, log, args
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None
        with self.log.open("ab") as out:
            self.process = subprocess.Popen([sys.executable, "-m", "cli", *self.args], env=self.env,
                                            cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT)
        self.starts += 1

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def pause(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGCONT)
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


class Worker(Subprocess):
    """``analytics worker``."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        super().__init__(env, log, "worker")


class Api(Subprocess):
    """``analytics serve`` on a fixed port, so clients reconnect to it after a restart."""

    def __init__(self, env: dict[str, str], log: Path, port: int) -> None:
        super().__init__(env, log, "serve", "--port", str(port))
        self.port = port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start it and wait until it answers."""
        super().start()
        assert self.process is not None
        _wait_healthy(f"{self.url}/healthz", self.process, self.log)


@dataclass
class Stack:
    pg: EmbeddedPostgres
    database_url: str
    redis_url: str
    api_url: str
    data_dir: Path
    worker: Worker
    api: Api

    def stop_postgres_immediately(self) -> None:
        _pg_commands().pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=self.pg.pgdata, **self.pg._run_as())

    def start_postgres(self) -> None:
        assert self.pg.start() == self.database_url  # the same port: clients reconnect to it

    @contextlib.asynccontextmanager
    async def owner(self) -> AsyncIterator[AsyncEngine]:
        """An owner engine for one phase (a stopped server leaves a pool of dead connections)."""
        engine = create_engine(self.database_url, role=None, pool_size=2)
        try:
            yield engine
        finally:
            await engine.dispose()

    def tail(self, name: str, size: int = 3000) -> str:
        with contextlib.suppress(OSError):
            return (self.data_dir / name).read_text(errors="replace")[-size:]
        return ""


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the API exited with {process.returncode}:\n{log.read_text(errors='replace')}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"the API did not answer {url} within {timeout:.0f} s")


@contextlib.contextmanager
def running_stack() -> Iterator[Stack]:
    data_dir = Path(tempfile.mkdtemp(prefix="analytics-faults-"))
    data_dir.chmod(0o755)  # the embedded PostgreSQL runs as an unprivileged user when we are root
    pg = EmbeddedPostgres(data_dir, durable=True)
    redis = EmbeddedRedis(data_dir, durable=False)
    api: Api | None = None
    worker: Worker | None = None
    try:
        database_url = pg.start()
        psql = [str(_pg_commands().POSTGRES_BIN_PATH / "psql"), "-h", "127.0.0.1", "-p", str(pg.port),
                "-U", "postgres", "-d", "postgres", "-tAc"]
        subprocess.run([*psql, "ALTER SYSTEM SET fsync = off"], check=True, capture_output=True)
        subprocess.run([*psql, "SELECT pg_reload_conf()"], check=True, capture_output=True)
        redis_url = redis.start()
        migrate(database_url)
        env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
               "ANALYTICS_DATA_DIR": str(data_dir), "ANALYTICS_SWEEP_SECONDS": "1",
               "ANALYTICS_CORRECTION_DELAY_SECONDS": "0", "ANALYTICS_ROLLUP_CLAIM_BATCHES": "10",
               "ANALYTICS_DB_POOL_SIZE": "4", "ANALYTICS_LOG_LEVEL": "WARNING", "ANALYTICS_LOG_FORMAT": "text",
               "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
        worker = Worker(env, data_dir / "worker.log")
        worker.start()
        api = Api(env, data_dir / "api.log", free_port())
        api.start()
        yield Stack(pg, database_url, redis_url, api.url, data_dir, worker, api)
    finally:
        if worker is not None:
            worker.stop()
        if api is not None:
            api.stop()
        redis.stop()
        pg.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@dataclass(frozen=True)
class Tenant:
    id: int
    publishable: str
    secret: str


async def make_tenant(stack: Stack) -> Tenant:
    async with stack.owner() as engine, engine.begin() as conn:
        tenant = await tenants.create_tenant(conn, name=f"faults-{uuid.uuid4().hex[:10]}", timezone="UTC",
                                             raw_retention_days=3650)
        _, pk = await tenants.create_key(conn, tenant_id=tenant.id, kind=tenants.KeyKind.PUBLISHABLE)
        _, sk = await tenants.create_key(conn, tenant_id=tenant.id, kind=tenants.KeyKind.SECRET)
    return Tenant(tenant.id, pk, sk)


def tour_events(count: int, rng: random.Random) -> list[dict[str, Any]]:
    """``count`` valid tour events with fresh ids, users taking the tour start to finish."""
    events = []
    for i in range(count):
        kind = KINDS[i % len(KINDS)]
        body: dict[str, Any] = {"id": str(uuid.uuid4()), "type": kind, "tourId": TOUR,
                                "userId": f"user-{rng.randrange(500)}",
                                "timestamp": f"{DAY}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:"
                                             f"{rng.randrange(60):02d}Z"}
        if kind == "StepViewed":
            body["stepIndex"] = rng.randrange(3)
        events.append(body)
    return events


@dataclass
class Tally:
    """What the client was told: ids acknowledged (ACCEPTED or DUPLICATE), how often each id was
    ACCEPTED, the type of every event sent, and every answer that was not an acknowledgement."""

    types: dict[str, str] = field(default_factory=dict)
    acknowledged: set[str] = field(default_factory=set)
    accepted: Counter[str] = field(default_factory=Counter)
    rejected: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    statuses: Counter[int] = field(default_factory=Counter)
    network_errors: int = 0
    unavailable: int = 0  # 503 STORAGE_UNAVAILABLE with Retry-After
    retries: int = 0
    batches: int = 0
    anomalies: list[str] = field(default_factory=list)

    def acknowledged_of(self, kind: str) -> int:
        return sum(1 for i in self.acknowledged if self.types[i] == kind)


class RetryingClient:
    """Sends a batch until it is acknowledged, like the SDK: a network error, a 429 or a 5xx leaves
    it unacknowledged and it goes again with the same ids (after a short pause: the test does not
    wait Retry-After's 5 s). A 200 is an answer; any GraphQL error in it is an anomaly."""

    def __init__(self, http: httpx.AsyncClient, url: str, key: str, tally: Tally) -> None:
        self.http, self.url, self.key, self.tally = http, f"{url}/graphql", key, tally

    async def send(self, events: list[dict[str, Any]], *, seconds: float = 120, attempts: int = 5000
                   ) -> dict[str, Any]:
        tally = self.tally
        for e in events:
            tally.types[e["id"]] = e["type"]
        body = json.dumps({"query": TRACK, "variables": {"events": events}})
        headers = {"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"}
        deadline = time.monotonic() + seconds
        for attempt in range(attempts):
            if attempt:
                tally.retries += 1
                if time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.05 if attempt < 5 else 0.2)
            try:
                response = await self.http.post(self.url, content=body, headers=headers)
            except httpx.TransportError:
                tally.network_errors += 1
                continue
            tally.statuses[response.status_code] += 1
            if response.status_code == 503:
                codes = [e.get("extensions", {}).get("code") for e in response.json().get("errors", [])]
                if codes == ["STORAGE_UNAVAILABLE"] and response.headers.get("retry-after"):
                    tally.unavailable += 1
                else:
                    tally.anomalies.append(f"503 without STORAGE_UNAVAILABLE/Retry-After: {response.text[:300]}")
                continue
            if response.status_code == 429 or response.status_code >= 500:
                tally.anomalies.append(f"{response.status_code}: {response.text[:300]}")
                continue
            answer = response.json()
            if response.status_code != 200 or "errors" in answer:
                tally.anomalies.append(f"{response.status_code} with errors: {response.text[:300]}")
                continue
            result: dict[str, Any] = answer["data"]["track"]
            reasons: dict[int, list[tuple[str, str]]] = {}
            for rejection in result["rejections"]:
                reasons.setdefault(rejection["index"], []).append((rejection["field"], rejection["reason"]))
            for entry in result["results"]:
                if entry["status"] in ("ACCEPTED", "DUPLICATE"):
                    tally.acknowledged.add(entry["id"])
                    if entry["status"] == "ACCEPTED":
                        tally.accepted[entry["id"]] += 1
                else:
                    tally.rejected[entry["id"]] = reasons.get(entry["index"], [])
            tally.batches += 1
            return result
        raise AssertionError(f"a batch stayed unacknowledged for {seconds:.0f} s / {attempts} attempts: "
                             f"statuses {dict(tally.statuses)}, network errors {tally.network_errors}")


@contextlib.asynccontextmanager
async def http_client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30, headers={"User-Agent": BROWSER_AGENT}) as client:
        yield client


async def sustained_ingest(client: RetryingClient, rng: random.Random, stop: asyncio.Event, *,
                           per_batch: int = 50, max_batches: int = 2000, pause: float = 0.05) -> int:
    """Send batch after batch (each one until acknowledged, ``pause`` apart: about what one worker
    folds in on a shared machine) until ``stop`` is set; bounded in count."""
    sent = 0
    while sent < max_batches and not stop.is_set():
        await client.send(tour_events(per_batch, rng))
        sent += 1
        await asyncio.sleep(pause)
    return sent


async def wait_for(condition: Any, seconds: float, what: str, every: float = 0.05) -> None:
    deadline = time.monotonic() + seconds
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds:.0f} s waiting for {what}")
        await asyncio.sleep(every)


async def scalar(engine: AsyncEngine, sql: str, **params: Any) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text(sql), params)).scalar_one())


async def outbox_rows(engine: AsyncEngine, tenant_id: int) -> int:
    return await scalar(engine, "SELECT count(*) FROM outbox WHERE tenant_id = :t", t=tenant_id)


async def counted(engine: AsyncEngine, tenant_id: int) -> int:
    """Events folded into the daily counters so far (whole-tour rows)."""
    return await scalar(engine, "SELECT coalesce(sum(value), 0) FROM counters_daily WHERE tenant_id = :t "
                                "AND step_index = -1", t=tenant_id)


async def kill_working_worker(stack: Stack, engine: AsyncEngine, tenant_id: int, rng: random.Random) -> None:
    """SIGKILL the worker once it is working: when it has folded something in since this was called,
    after a random pause of up to 0.3 s so the kill lands anywhere in a claim. The caller starts the next one."""
    before = await counted(engine, tenant_id)

    async def grew() -> bool:
        return await counted(engine, tenant_id) > before

    await wait_for(grew, 60, "the worker to roll up")
    await asyncio.sleep(rng.uniform(0, 0.3))
    stack.worker.kill()


async def outbox_drained(engine: AsyncEngine, tenant_id: int) -> bool:
    return await outbox_rows(engine, tenant_id) == 0


@dataclass(frozen=True)
class Summary:
    fault: str
    acknowledged: int
    stored: int
    lost: int
    doubled: int
    unacknowledged_stored: int
    counters_equal: bool
    graph: dict[str, int]
    expected_graph: dict[str, int]
    outbox: int
    seconds: float
    notes: str

    def line(self) -> str:
        return (f"[faults] {self.fault}: acknowledged {self.acknowledged}, stored {self.stored}, lost {self.lost}, "
                f"doubled {self.doubled}, stored unacknowledged {self.unacknowledged_stored}, counters equal "
                f"{self.counters_equal}, graph {self.graph} (client {self.expected_graph}), outbox {self.outbox}, "
                f"{self.seconds:.1f} s; {self.notes}")

    def assert_exactly_once(self) -> None:
        assert (self.lost, self.doubled, self.unacknowledged_stored) == (0, 0, 0), self.line()
        assert self.stored == self.acknowledged, self.line()
        assert self.counters_equal, self.line()
        assert self.graph == self.expected_graph, self.line()
        assert self.outbox == 0, self.line()


async def settle_and_check(stack: Stack, tenant: Tenant, tally: Tally, http: httpx.AsyncClient, *,
                           fault: str, started: float, notes: str, drain_seconds: float = 120,
                           session_seconds: float = 5) -> Summary:
    """Wait (bounded) for the worker to drain the outbox and the session work, then compare
    everything exactly: stored ids, counters against the recomputation, the graph, the outbox."""
    async with stack.owner() as engine:
        async def drained() -> bool:
            return await outbox_rows(engine, tenant.id) == 0

        async def sessions_done() -> bool:
            async with engine.connect() as conn:
                return not (await conn.execute(text(
                    "SELECT 1 FROM analytics_session_work(:d) WHERE tenant_id = :t"),
                    {"d": timedelta(0), "t": tenant.id})).first()

        waited = time.monotonic()
        with contextlib.suppress(AssertionError):  # a stuck outbox is reported below, not here
            await wait_for(drained, drain_seconds, "the outbox to drain", every=0.2)
        drain = time.monotonic() - waited
        # Session scoring follows the rollup; give it a moment (bounded: it changes no counter of these
        # human sessions). After a SIGKILL it may stay pending for minutes: the killed job's arq key
        # holds the coalesced ``sessions:<tenant>`` id until it expires (reported, not a pass criterion).
        with contextlib.suppress(AssertionError):
            await wait_for(sessions_done, session_seconds, "the session work", every=0.2)
        sessions_pending = not await sessions_done()
        async with engine.connect() as conn:
            stored = {str(r[0]): int(r[1]) for r in (await conn.execute(text(
                "SELECT id, count(*) FROM events WHERE tenant_id = :t GROUP BY id"), {"t": tenant.id})).all()}
            differences = await verify_rollups(conn, tenant.id)
        outbox = await outbox_rows(engine, tenant.id)
    response = await http.post(f"{stack.api_url}/graphql", json={"query": STATS},
                               headers={"Authorization": f"Bearer {tenant.secret}"})
    assert response.status_code == 200 and "errors" not in response.json(), response.text
    graph = dict(response.json()["data"]["tenant"]["tour"]["stats"])
    expected = {metric: tally.acknowledged_of(kind) for kind, metric in METRIC_OF.items()}
    extra = (f", network errors {tally.network_errors}" if tally.network_errors else "") + (
        f", differences {differences}" if differences else "") + (
        ", session work still pending" if sessions_pending else "")
    summary = Summary(
        fault=fault, acknowledged=len(tally.acknowledged), stored=len(stored),
        lost=len(tally.acknowledged - stored.keys()), doubled=sum(1 for n in stored.values() if n > 1),
        unacknowledged_stored=len(stored.keys() - tally.acknowledged), counters_equal=differences == [],
        graph=graph, expected_graph=expected, outbox=outbox, seconds=time.monotonic() - started,
        notes=f"{notes}; batches {tally.batches}, retries {tally.retries}, "
              f"answers {dict(sorted(tally.statuses.items()))}, outbox drained in {drain:.1f} s{extra}")
    print(summary.line(), flush=True)
    return summary
