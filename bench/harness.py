"""Shared benchmark setup: servers, migrations, a tenant and keys, the API and worker processes."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import platform
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import httpx  # noqa: E402
import orjson  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncConnection  # noqa: E402

from analytics.embedded import EmbeddedPostgres, EmbeddedRedis, _pg_commands, free_port  # noqa: E402
from analytics.rollups.consumers import Claim, Consumer  # noqa: E402

TRACK_MUTATION = ("mutation Track($events: [TrackEvent!]!) "
                  "{ track(events: $events) { accepted duplicates rejected } }")
RESERVED_PORTS = frozenset({8123, 8124})  # used by other services on the bench machine
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Stack:
    """Everything a benchmark needs to talk to a running product."""

    database_url: str  # SQLAlchemy form: postgresql+asyncpg://...
    redis_url: str
    api_url: str  # http://127.0.0.1:PORT
    tenant_id: int
    publishable_key: str
    secret_key: str
    worker_running: bool
    postgres_version: str
    embedded: bool
    load_at_start: tuple[float, float, float] = (0.0, 0.0, 0.0)  # before the servers started
    pids: dict[str, int] = field(default_factory=dict)  # api, worker, postgres (postmaster), redis
    log_dir: Path | None = None

    @property
    def graphql_url(self) -> str:
        return f"{self.api_url}/graphql"

    @property
    def asyncpg_dsn(self) -> str:
        return self.database_url.replace("postgresql+asyncpg://", "postgresql://", 1)

    def auth(self, key: str) -> dict[str, str]:
        return {"authorization": f"Bearer {key}", "content-type": "application/json"}

    def check_alive(self) -> None:
        """Raise if the API or the worker subprocess has exited."""
        for role in ("api", "worker"):
            pid = self.pids.get(role)
            if pid is not None and not _pid_alive(pid):
                raise RuntimeError(f"the {role} process ({pid}) exited; see {self.log_dir}")


def _pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _api_port() -> int:
    while (port := free_port()) in RESERVED_PORTS:
        pass
    return port


async def _owner_setup(url: str) -> tuple[int, str, str, str]:
    """Create a UTC tenant with a publishable and a secret key; return them and the PG version."""
    from sqlalchemy import text

    from analytics.db import create_engine
    from analytics.tenants import service

    engine = create_engine(url, role=None, pool_size=1)
    try:
        async with engine.begin() as conn:
            tenant = await service.create_tenant(conn, name=f"bench-{secrets.token_hex(4)}",
                                                 timezone="UTC")
            _, pk = await service.create_key(conn, tenant_id=tenant.id,
                                             kind=service.KeyKind.PUBLISHABLE, name="bench")
            _, sk = await service.create_key(conn, tenant_id=tenant.id,
                                             kind=service.KeyKind.SECRET, name="bench")
            version = str((await conn.execute(text("SHOW server_version"))).scalar_one())
    finally:
        await engine.dispose()
    return tenant.id, pk, sk, version


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path,
                  timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the API exited with {process.returncode}:\n{_tail(log)}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"the API did not answer {url} within {timeout:.0f} s:\n{_tail(log)}")


def _tail(path: Path, size: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-size:]
    except OSError:
        return ""


def _stop_process(process: subprocess.Popen[bytes], timeout: float = 15) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


def _postmaster_pid(pg: EmbeddedPostgres) -> int | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        return int((pg.pgdata / "postmaster.pid").read_text().splitlines()[0])
    return None


@contextlib.contextmanager
def running_stack(*, worker: bool = True, quiet: bool = False, api_workers: int = 1) -> Iterator[Stack]:
    """Start (or reuse, via DATABASE_URL / REDIS_URL) the servers, migrate, make a tenant, run
    ``analytics serve`` and ``analytics worker``; stop and remove everything on exit."""
    from analytics.db import migrate
    from analytics.settings import load_settings

    settings = load_settings()
    load_at_start = os.getloadavg()
    data_dir = Path(tempfile.mkdtemp(prefix="analytics-bench-"))
    data_dir.chmod(0o755)  # the embedded PostgreSQL runs as an unprivileged user when we are root
    started: list[EmbeddedPostgres | EmbeddedRedis] = []
    children: list[subprocess.Popen[bytes]] = []
    pids: dict[str, int] = {}

    def say(message: str) -> None:
        if not quiet:
            print(f"[setup] {message}", file=sys.stderr, flush=True)

    try:
        database_url = settings.database_url
        if database_url is None:
            say("starting embedded PostgreSQL (durable)")
            pg = EmbeddedPostgres(data_dir, durable=True)
            database_url = pg.start()
            started.append(pg)
            if (pid := _postmaster_pid(pg)) is not None:
                pids["postgres"] = pid
        redis_url = settings.redis_url
        if redis_url is None:
            say("starting embedded Redis")
            redis = EmbeddedRedis(data_dir, durable=True)
            redis_url = redis.start()
            started.append(redis)
            if redis._process is not None:  # the pid, for CPU accounting only
                pids["redis"] = redis._process.pid
        say("applying migrations")
        migrate(database_url)
        tenant_id, pk, sk, version = asyncio.run(_owner_setup(database_url))

        port = _api_port()
        env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
               "ANALYTICS_DATA_DIR": str(data_dir),
               "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT),
                                                            os.environ.get("PYTHONPATH")]))}
        exe = [sys.executable, "-m", "cli"]
        api_log = data_dir / "api.log"
        say(f"starting the API on port {port}")
        with api_log.open("wb") as out:
            api = subprocess.Popen([*exe, "serve", "--port", str(port), "--workers", str(api_workers)],
                                   env=env, cwd=REPO_ROOT,
                                   stdout=out, stderr=subprocess.STDOUT)
        children.append(api)
        pids["api"] = api.pid
        if worker:
            say("starting the worker")
            with (data_dir / "worker.log").open("wb") as out:
                work = subprocess.Popen([*exe, "worker"], env=env, cwd=REPO_ROOT,
                                        stdout=out, stderr=subprocess.STDOUT)
            children.append(work)
            pids["worker"] = work.pid
        api_url = f"http://127.0.0.1:{port}"
        _wait_healthy(f"{api_url}/healthz", api, api_log)
        say("ready")
        yield Stack(database_url=database_url, redis_url=redis_url, api_url=api_url,
                    tenant_id=tenant_id, publishable_key=pk, secret_key=sk, worker_running=worker,
                    postgres_version=version, embedded=bool(started), load_at_start=load_at_start,
                    pids=pids, log_dir=data_dir)
    finally:
        say("stopping")
        for child in reversed(children):
            _stop_process(child)
        for server in reversed(started):
            if isinstance(server, EmbeddedPostgres):  # its data is removed next: no shutdown checkpoint
                with contextlib.suppress(subprocess.CalledProcessError):
                    _pg_commands().pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=server.pgdata,
                                          **server._run_as())
            server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


# --- events -------------------------------------------------------------------------------------

_KINDS = ("TourStarted", "StepViewed", "StepViewed", "StepViewed", "TourCompleted")


def iso_now() -> str:
    """Now in ISO 8601 UTC with a ``Z``, millisecond precision."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# Browser agents the benches' people use (a relay forwards them in ``context.userAgent``).
PEOPLE_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/{n}.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.{n} Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E{n} Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0.{n}",
)


def person_context() -> dict[str, str]:
    """One person's browser agent and address, as a server SDK relays them (``context``): the product
    files each user as its own human visitor rather than the relay's library agent."""
    n = secrets.randbelow(1 << 24)
    return {"userAgent": PEOPLE_AGENTS[n % len(PEOPLE_AGENTS)].format(n=100 + n % 400),
            "ip": f"198.{18 + (n >> 16) % 2}.{(n >> 8) & 255}.{n & 255}"}


def make_events(count: int, *, tour_id: str | None = None, kinds: Sequence[str] = _KINDS,
                timestamp: str | None = None, tours: int = 20) -> list[dict[str, Any]]:
    """``count`` fresh valid events with unique UUIDs: by default each user takes a tour (start,
    three step views, completion), one user after another, over ``tours`` tours. Each user is its
    own visitor with a browser agent and address in ``context`` (``person_context``)."""
    stamp = timestamp or iso_now()
    events: list[dict[str, Any]] = []
    user, tour, context = "", "", person_context()
    for i in range(count):
        position = i % len(kinds)
        if position == 0:
            user = f"user-{secrets.token_hex(6)}"
            tour = tour_id or f"bench-tour-{(i // len(kinds)) % tours}"
            context = person_context()
        kind = kinds[position]
        event: dict[str, Any] = {"id": str(uuid.uuid4()), "type": kind, "timestamp": stamp,
                                 "tourId": tour, "userId": user, "context": context}
        if kind == "StepViewed":
            event["stepIndex"] = kinds[:position].count("StepViewed")
        events.append(event)
    return events


def track_body(events: Sequence[dict[str, Any]]) -> bytes:
    return orjson.dumps({"query": TRACK_MUTATION, "operationName": "Track",
                         "variables": {"events": list(events)}})


# --- figures ------------------------------------------------------------------------------------


def timed_consumer(consumer: Consumer, spent: dict[str, float]) -> Consumer:
    """The rollup consumer with the time it takes added up in ``spent`` under its name."""
    async def consume(conn: AsyncConnection, claim: Claim) -> None:
        started = time.perf_counter()
        try:
            await consumer.consume(conn, claim)
        finally:
            spent[consumer.name] = spent.get(consumer.name, 0.0) + time.perf_counter() - started

    return dataclasses.replace(consumer, consume=consume)


def percentile(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0-100) by nearest rank; NaN when there are no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def print_section(title: str, rows: Sequence[tuple[str, object]]) -> None:
    print(f"\n== {title}")
    width = max((len(name) for name, _ in rows), default=0)
    for name, value in rows:
        print(f"  {name.ljust(width)}  {value}")
    sys.stdout.flush()


def conditions(stack: Stack, **extra: object) -> list[tuple[str, object]]:
    rows: list[tuple[str, object]] = [
        ("CPUs", os.cpu_count()),
        ("machine", f"{platform.system()} {platform.release()} {platform.machine()}"),
        ("Python", platform.python_version()),
        ("load average before start", " ".join(f"{x:.2f}" for x in stack.load_at_start)),
        ("PostgreSQL", f"{stack.postgres_version} "
                       f"({'embedded, durable' if stack.embedded else 'DATABASE_URL'})"),
        ("worker running", "yes (1 process)" if stack.worker_running else "no"),
    ]
    rows.extend((name.replace("_", " "), value) for name, value in extra.items())
    return rows


# --- process accounting (Linux /proc; empty elsewhere) ------------------------------------------


def _proc_stat(pid: int) -> tuple[int, float, float] | None:
    """(parent pid, own CPU seconds, CPU seconds of reaped children) of a live process."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[1]), (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS,
            (int(fields[13]) + int(fields[14])) / _CLOCK_TICKS)


def _children_of(parent: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := _proc_stat(int(entry))) and stat[0] == parent:
            found.append(int(entry))
    return found


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds used so far per role. ``postgres`` counts the postmaster, its live children and
    the children that already exited; ``postgres exited`` is the part spent by the postmaster and
    exited children: mostly connections that were closed (churn), also autovacuum workers."""
    totals: dict[str, float] = {}
    for role, pid in pids.items():
        stat = _proc_stat(pid)
        if stat is None:
            continue
        if role in ("postgres", "api"):  # the API has children with `serve --workers N`
            exited = stat[1] + stat[2]
            live = sum(child[1] for p in _children_of(pid) if (child := _proc_stat(p)))
            totals[role] = exited + live
            if role == "postgres":
                totals[PG_EXITED] = exited
        else:
            totals[role] = stat[1]
    totals[MACHINE] = _machine_busy_seconds()
    return totals


PG_EXITED = "postgres exited"
MACHINE = "machine"


def _machine_busy_seconds() -> float:
    """CPU seconds all processes of the machine have used (``/proc/stat``: all but idle, iowait)."""
    try:
        with open("/proc/stat") as fh:
            fields = [int(x) for x in fh.readline().split()[1:]]
    except OSError:
        return 0.0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / _CLOCK_TICKS


def rss_mb(pid: int, *, peak: bool = False) -> float | None:
    """Resident memory of a live process in MB (``peak``: the high-water mark, VmHWM)."""
    field_name = "VmHWM:" if peak else "VmRSS:"
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(field_name):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def cpu_share(before: dict[str, float], after: dict[str, float], elapsed: float) -> str:
    """Cores used per role over ``elapsed`` seconds, then other processes and the machine total."""
    used = {role: (after[role] - before[role]) / elapsed for role in after if role in before}
    machine = used.pop(MACHINE, None)
    exited = used.pop(PG_EXITED, None)
    parts = [f"{role} {cores:.2f}" + (f" ({exited:.2f} of it in exited connections)"
                                      if role == "postgres" and exited is not None else "")
             for role, cores in used.items()]
    if machine is not None:
        parts.append(f"other processes {max(0.0, machine - sum(used.values())):.2f}")
        parts.append(f"machine {machine:.2f} of {os.cpu_count()}")
    return ", ".join(parts) + " (cores)"
