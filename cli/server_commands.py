"""Server-side commands: run the product (dev, serve, worker), migrate the database, print the schema."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC
from pathlib import Path
from typing import Any

import typer

from analytics.settings import Settings
from cli.common import DataDir, console, err, fail, run, settings_for, write_private, write_text_or_fail
from cli.servers import Servers, servers, with_owner

app = typer.Typer()

@app.command()
def migrate(data_dir: Path | None = DataDir) -> None:
    """Apply the database migrations (Alembic) up to the latest revision."""
    from analytics.db import migrate as run_migrations

    settings = settings_for(data_dir)
    with servers(settings, need_redis=False, create=True) as s:
        run_migrations(s.database_url)
    console.print(f"[green]database is up to date[/green] ({s.where})", highlight=False)


@app.command()
def serve(host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
          port: int = typer.Option(8000, help="Port to listen on."),
          log_level: str = typer.Option("warning", help="uvicorn log level."),
          workers: int = typer.Option(1, min=1, help="API processes sharing the port (uvicorn's "
                                                     "supervisor restarts one that dies); each has its "
                                                     "own pool, group commits and kept keys.")) -> None:
    """Run the GraphQL API (needs DATABASE_URL and REDIS_URL)."""
    import uvicorn

    from analytics.observability import configure_logging
    from api.app import app_from_environment, create_app

    settings = settings_for()
    if not settings.database_url or not settings.redis_url:
        raise fail("DATABASE_URL and REDIS_URL must be set (or use `analytics dev`)")
    configure_logging(settings)  # uvicorn's loggers go through ours; one access line per request
    options: dict[str, Any] = dict(host=host, port=port, log_level=log_level, log_config=None,
                                   access_log=False, loop="uvloop" if _has("uvloop") else "asyncio",
                                   http="httptools" if _has("httptools") else "h11")
    if workers == 1:
        uvicorn.run(create_app(settings), **options)
    else:  # each process builds its app from the same environment
        uvicorn.run(f"{app_from_environment.__module__}:{app_from_environment.__name__}", factory=True,
                    workers=workers, **options)


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


@app.command()
def worker(burst: bool = typer.Option(False, help="Exit when the queue is empty.")) -> None:
    """Run an ARQ worker: rollups, the outbox sweeper and partition upkeep."""
    import logging

    from arq.worker import Worker

    from workers.settings import worker_options

    settings = settings_for()
    if not settings.database_url or not settings.redis_url:
        raise fail("DATABASE_URL and REDIS_URL must be set (or use `analytics dev`)")
    from analytics.observability import configure_logging

    configure_logging(settings)
    # arq logs every job start and end at INFO, which with a sweep each second drowns the rest.
    logging.getLogger("arq").setLevel(logging.DEBUG if settings.log_level == "DEBUG" else logging.WARNING)
    Worker(**worker_options(settings, burst=burst)).run()


def keys_file(data_dir: Path) -> Path:
    """Where ``analytics dev`` keeps the demo tenant's raw keys (mode 0600)."""
    return data_dir / "demo-keys.json"


def dev_file(data_dir: Path) -> Path:
    """Where a running ``analytics dev`` says its API's URL (removed when it stops)."""
    return data_dir / "dev.json"


async def _ensure_demo_tenant(s: Servers, settings: Settings) -> dict[str, str]:
    """The demo tenant and its keys; the raw keys are kept in the data directory for later runs."""
    from analytics.tenants import service

    path = keys_file(settings.data_dir)
    if path.exists():
        saved: dict[str, str] = json.loads(path.read_text())
        return saved

    async def create(conn: Any) -> dict[str, str]:
        try:
            tenant = await service.get_tenant(conn, "demo")
        except service.TenantError:
            tenant = await service.create_tenant(
                conn, name="demo", timezone="UTC",
                raw_retention_days=settings.default_raw_retention_days)
        _, pk = await service.create_key(conn, tenant_id=tenant.id, kind=service.KeyKind.PUBLISHABLE,
                                         name="demo")
        _, sk = await service.create_key(conn, tenant_id=tenant.id, kind=service.KeyKind.SECRET,
                                         name="demo")
        return {"tenant": "demo", "publishableKey": pk, "secretKey": sk}

    keys = await with_owner(s, create)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private(path, json.dumps(keys, indent=2))
    return keys


async def _load_demo(s: Servers, settings: Settings, tenant_name: str) -> int:
    from analytics.ai.demo import demo_ai_events
    from analytics.db import create_engine, tenant_transaction
    from analytics.demo import demo_events, demo_traffic
    from analytics.demo_definitions import define_demo
    from analytics.demo_product import demo_product_events
    from analytics.experiments.demo import define_demo_experiments
    from analytics.ingest.events import EventIn
    from analytics.ingest.origin import Origin, load_salts
    from analytics.ingest.service import PartitionCache, ingest_batch
    from analytics.tenants import service

    tenant = await with_owner(s, lambda conn: service.get_tenant(conn, tenant_name))
    engine = create_engine(s.database_url, role=settings.app_role, pool_size=2)
    accepted = 0
    try:
        async with tenant_transaction(engine, tenant.id) as conn:
            await define_demo(conn, tenant.id)
        from zoneinfo import ZoneInfo

        partitions = PartitionCache()
        tz = ZoneInfo(tenant.timezone)
        # Tours come from signed-in users; site traffic from one demo address, sent each day (with that
        # day's visitor salts, as the API would have used them).
        batches: list[tuple[Origin | None, list[EventIn]]] = [
            (None, list(demo_events(days=42, tz=tz))), (None, list(demo_product_events(days=42, tz=tz))),
            (None, list(demo_ai_events(days=30, tz=tz)))]
        batches.append((None, await define_demo_experiments(engine, tenant.id, tz=tz)))
        batches += [(Origin(tenant_id=tenant.id, ip="198.51.100.20", user_agent=None, store_ip=False,
                            salts=await load_salts(engine, at.astimezone(UTC).date())), events)
                    for at, events in demo_traffic(days=42, tz=tz)]
        for origin, events in batches:
            for start in range(0, len(events), settings.max_batch_events):
                outcome = await ingest_batch(engine, partitions, tenant_id=tenant.id,
                                             events=events[start:start + settings.max_batch_events],
                                             retention_days=tenant.raw_retention_days,
                                             max_future_seconds=settings.max_future_seconds, origin=origin)
                if outcome.errors:  # our own data: a rejection is a bug to see, not a figure to miss
                    first = outcome.errors[0]
                    raise RuntimeError(f"demo event {events[start + first.index].type} rejected: "
                                       f"{first.field}: {first.reason}")
                accepted += outcome.accepted
    finally:
        await engine.dispose()
    return accepted


@app.command()
def dev(data_dir: Path | None = DataDir,
        host: str = typer.Option("127.0.0.1", help="Interface the API listens on."),
        port: int = typer.Option(8000, help="Port of the API."),
        demo: bool = typer.Option(False, "--demo",
                                  help="Load realistic demo data: six weeks of tours, site traffic and "
                                       "product events.")
) -> None:
    """Run everything locally: embedded PostgreSQL and Redis, migrations, API, worker, demo keys."""
    from analytics.db import migrate as run_migrations

    settings = settings_for(data_dir)
    _check_port_free(host, port)
    # SIGTERM (kill, systemd) and SIGHUP (terminal closed) stop everything as Ctrl-C does.
    for stop_signal in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(stop_signal, _interrupt)
    with servers(settings, need_redis=True, own=True, create=True, announce=False) as s:
        assert s.redis_url is not None
        with console.status("applying migrations..."):
            run_migrations(s.database_url)
        keys = run(_ensure_demo_tenant(s, settings))
        if demo:
            with console.status("loading demo tours and traffic..."):
                accepted = run(_load_demo(s, settings, keys["tenant"]))
            console.print(f"demo data: {accepted} new events queued for the worker")
        env = {**os.environ, "DATABASE_URL": s.database_url, "REDIS_URL": s.redis_url,
               "ANALYTICS_DATA_DIR": str(settings.data_dir)}
        env.setdefault("ANALYTICS_LOG_FORMAT", "text")  # JSON lines are for log shippers, not people
        exe = [sys.executable, "-m", "cli"]
        # Own sessions: Ctrl-C reaches only this process, which then stops the API, the worker and
        # the servers once each, in that order.
        children = [
            subprocess.Popen([*exe, "serve", "--host", host, "--port", str(port)], env=env,
                             start_new_session=True),
            subprocess.Popen([*exe, "worker"], env=env, start_new_session=True),
        ]
        url = f"http://{host}:{port}/graphql"
        failed = False
        found = dev_file(settings.data_dir)
        try:
            _wait_http(url.replace("/graphql", "/healthz"), children[0])
            # The reporting commands find this server (and the demo secret key) with nothing set.
            reachable = url.replace("//0.0.0.0:", "//127.0.0.1:")
            found.write_text(json.dumps({"url": reachable, "pid": os.getpid()}))
            console.print(f"""
[bold green]analytics is running[/bold green]
  GraphiQL        {url}
  Dashboard       {url.removesuffix('/graphql')}/dashboard   (sign in with the secret key)
  tenant          {keys['tenant']}
  publishable key {keys['publishableKey']}   (track events)
  secret key      {keys['secretKey']}   (read analytics; add header Authorization: Bearer <key>)
  data            {settings.data_dir.resolve()}
  reports         analytics overview --since 7d   (from this folder, or pass --data-dir)
Press Ctrl-C to stop.""")
            while all(child.poll() is None for child in children):
                time.sleep(0.5)
            err.print("[red]the API or the worker exited; stopping[/red]")
            failed = True
        except KeyboardInterrupt:
            console.print("stopping...")
        finally:
            found.unlink(missing_ok=True)
            for child in children:
                if child.poll() is None:
                    child.send_signal(signal.SIGINT)
            for child in children:
                try:
                    child.wait(15)
                except subprocess.TimeoutExpired:
                    child.kill()
    if failed:
        raise typer.Exit(1)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _check_port_free(host: str, port: int) -> None:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            raise fail(f"port {port} on {host} is in use (another `analytics dev`?); "
                        "stop it or pass --port") from None


def _wait_http(url: str, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise fail(f"the API did not come up at {url}")


@app.command("schema")
def schema_command(
    output: Path | None = typer.Option(None, "-o", "--output", help="Write to this file."),
) -> None:
    """Print the GraphQL schema (SDL) generated from the code."""
    from api.schema import schema_sdl

    sdl = schema_sdl()
    if output:
        write_text_or_fail("--output", output, sdl)
    else:
        sys.stdout.write(sdl)


