"""The ``analytics`` command: run the product (dev, serve, worker, migrate) and administer tenants."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from analytics.errors import InvalidArgument
from analytics.settings import Settings, SettingsError, load_settings
from analytics.traffic.scanner import PATH_RULES, check_path_rules

app = typer.Typer(help="GraphQL analytics API with async workers.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
tenants_app = typer.Typer(help="Create, list and update tenants.", no_args_is_help=True)
keys_app = typer.Typer(help="Create, list and revoke API keys (stored hashed).", no_args_is_help=True)
rollups_app = typer.Typer(help="Inspect the rollups the worker maintains.", no_args_is_help=True)
app.add_typer(tenants_app, name="tenants")
app.add_typer(keys_app, name="keys")
app.add_typer(rollups_app, name="rollups")
persisted_app = typer.Typer(help="Trusted documents (persisted queries) and allowlist mode.",
                            no_args_is_help=True)
app.add_typer(persisted_app, name="persisted")
console = Console()
err = Console(stderr=True)
T = TypeVar("T")

DataDir = typer.Option(
    None, "--data-dir",
    help="Where embedded servers keep data [default: ./.analytics or ANALYTICS_DATA_DIR].")
JsonOut = typer.Option(False, "--json", help="Print machine-readable JSON.")


def _settings(data_dir: Path | None = None) -> Settings:
    try:
        settings = load_settings()
    except SettingsError as exc:
        err.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from None
    if data_dir is not None:
        settings = Settings(**{**settings.__dict__, "data_dir": data_dir})
    return settings


@dataclass
class Servers:
    database_url: str
    redis_url: str | None


@contextmanager
def servers(settings: Settings, *, need_redis: bool, own: bool = False) -> Iterator[Servers]:
    """DATABASE_URL / REDIS_URL when set, else the embedded servers under the data directory.

    Servers this call starts are stopped at the end. With ``own`` (``analytics dev``), servers
    found already running there (left by a run that was killed) are adopted and stopped too;
    one-off commands leave a running ``dev``'s servers alone.
    """
    from analytics.embedded import EmbeddedPostgres, EmbeddedRedis

    started: list[Any] = []
    database_url, redis_url = settings.database_url, settings.redis_url
    try:
        if database_url is None:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            pg = EmbeddedPostgres(settings.data_dir.resolve())
            with console.status("starting embedded PostgreSQL..."):
                database_url = pg.start()
            started.append(pg)
        if redis_url is None and need_redis:
            redis = EmbeddedRedis(settings.data_dir.resolve())
            with console.status("starting embedded Redis..."):
                redis_url = redis.start()
            started.append(redis)
        yield Servers(database_url, redis_url)
    finally:
        for server in reversed(started):
            server.stop(adopted=own)


def _run(coro: Awaitable[T]) -> T:
    return asyncio.run(coro)  # type: ignore[arg-type]


async def _with_owner(url: str, fn: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``fn(conn)`` in one transaction as the database owner (admin commands)."""
    from analytics.db import create_engine

    engine = create_engine(url, role=None, pool_size=1)
    try:
        async with engine.begin() as conn:
            return await fn(conn)
    finally:
        await engine.dispose()


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(1)


@app.command()
def migrate(data_dir: Path | None = DataDir) -> None:
    """Apply the database migrations (Alembic) up to the latest revision."""
    from analytics.db import migrate as run_migrations

    settings = _settings(data_dir)
    with servers(settings, need_redis=False) as s:
        run_migrations(s.database_url)
    console.print("[green]database is up to date[/green]")


@app.command()
def serve(host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
          port: int = typer.Option(8000, help="Port to listen on."),
          log_level: str = typer.Option("warning", help="uvicorn log level.")) -> None:
    """Run the GraphQL API (needs DATABASE_URL and REDIS_URL)."""
    import uvicorn

    from analytics.observability import configure_logging
    from api.app import create_app

    settings = _settings()
    if not settings.database_url or not settings.redis_url:
        raise _fail("DATABASE_URL and REDIS_URL must be set (or use `analytics dev`)")
    configure_logging(settings)  # uvicorn's loggers go through ours; one access line per request
    uvicorn.run(create_app(settings), host=host, port=port, log_level=log_level, log_config=None,
                access_log=False, loop="uvloop" if _has("uvloop") else "asyncio",
                http="httptools" if _has("httptools") else "h11")


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


@app.command()
def worker(burst: bool = typer.Option(False, help="Exit when the queue is empty.")) -> None:
    """Run an ARQ worker: rollups, the outbox sweeper and partition upkeep."""
    import logging

    from arq.worker import Worker

    from workers.settings import worker_options

    settings = _settings()
    if not settings.database_url or not settings.redis_url:
        raise _fail("DATABASE_URL and REDIS_URL must be set (or use `analytics dev`)")
    from analytics.observability import configure_logging

    configure_logging(settings)
    # arq logs every job start and end at INFO, which with a sweep each second drowns the rest.
    logging.getLogger("arq").setLevel(logging.DEBUG if settings.log_level == "DEBUG" else logging.WARNING)
    Worker(**worker_options(settings, burst=burst)).run()


def _keys_file(settings: Settings) -> Path:
    return settings.data_dir / "demo-keys.json"


async def _ensure_demo_tenant(url: str, settings: Settings) -> dict[str, str]:
    """The demo tenant and its keys; the raw keys are kept in the data directory for later runs."""
    from analytics.tenants import service

    path = _keys_file(settings)
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

    keys = await _with_owner(url, create)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(keys, indent=2))
    path.chmod(0o600)
    return keys


async def _load_demo(url: str, settings: Settings, tenant_name: str) -> int:
    from analytics.db import create_engine, tenant_transaction
    from analytics.demo import DEMO_TOURS, demo_events, demo_traffic
    from analytics.ingest.events import EventIn
    from analytics.ingest.origin import Origin, load_secret
    from analytics.ingest.service import PartitionCache, ingest_batch
    from analytics.tenants import service
    from analytics.tours.service import StepDefinition, define_tour

    tenant = await _with_owner(url, lambda conn: service.get_tenant(conn, tenant_name))
    engine = create_engine(url, role=settings.app_role, pool_size=2)
    accepted = 0
    try:
        async with tenant_transaction(engine, tenant.id) as conn:
            for tour in DEMO_TOURS:
                await define_tour(conn, tour_id=tour.id, title=tour.title, steps=[
                    StepDefinition(i, title, selector) for i, (title, selector) in enumerate(tour.steps)])
        from zoneinfo import ZoneInfo

        partitions = PartitionCache()
        tz = ZoneInfo(tenant.timezone)
        secret = await load_secret(engine)
        # Tours come from signed-in users; site traffic from one demo address, sent each day.
        batches: list[tuple[Origin | None, list[EventIn]]] = [(None, list(demo_events(days=42, tz=tz)))]
        batches += [(Origin(tenant_id=tenant.id, ip="198.51.100.20", user_agent=None, store_ip=False,
                            visitor_secret=secret, at=at), events)
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
                                  help="Load realistic demo data: six weeks of tours and site traffic.")
) -> None:
    """Run everything locally: embedded PostgreSQL and Redis, migrations, API, worker, demo keys."""
    from analytics.db import migrate as run_migrations

    settings = _settings(data_dir)
    _check_port_free(host, port)
    # SIGTERM (kill, systemd) and SIGHUP (terminal closed) stop everything as Ctrl-C does.
    for stop_signal in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(stop_signal, _interrupt)
    with servers(settings, need_redis=True, own=True) as s:
        assert s.redis_url is not None
        with console.status("applying migrations..."):
            run_migrations(s.database_url)
        keys = _run(_ensure_demo_tenant(s.database_url, settings))
        if demo:
            with console.status("loading demo tours and traffic..."):
                accepted = _run(_load_demo(s.database_url, settings, keys["tenant"]))
            console.print(f"demo data: {accepted} new events queued for the worker")
        env = {**os.environ, "DATABASE_URL": s.database_url, "REDIS_URL": s.redis_url,
               "ANALYTICS_DATA_DIR": str(settings.data_dir)}
        env.setdefault("ANALYTICS_LOG_FORMAT", "text")  # JSON lines are for log shippers, not people
        exe = [sys.executable, "-m", "analytics.cli"]
        # Own sessions: Ctrl-C reaches only this process, which then stops the API, the worker and
        # the servers once each, in that order.
        children = [
            subprocess.Popen([*exe, "serve", "--host", host, "--port", str(port)], env=env,
                             start_new_session=True),
            subprocess.Popen([*exe, "worker"], env=env, start_new_session=True),
        ]
        url = f"http://{host}:{port}/graphql"
        failed = False
        try:
            _wait_http(url.replace("/graphql", "/healthz"), children[0])
            console.print(f"""
[bold green]analytics is running[/bold green]
  GraphiQL        {url}
  tenant          {keys['tenant']}
  publishable key {keys['publishableKey']}   (track events)
  secret key      {keys['secretKey']}   (read analytics; add header Authorization: Bearer <key>)
  data            {settings.data_dir.resolve()}
Press Ctrl-C to stop.""")
            while all(child.poll() is None for child in children):
                time.sleep(0.5)
            err.print("[red]the API or the worker exited; stopping[/red]")
            failed = True
        except KeyboardInterrupt:
            console.print("stopping...")
        finally:
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
            raise _fail(f"port {port} on {host} is in use (another `analytics dev`?); "
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
    raise _fail(f"the API did not come up at {url}")


@tenants_app.command("create")
def tenants_create(name: str = typer.Argument(..., help="Unique tenant name."),
                   timezone: str = typer.Option("UTC", help="IANA time zone for days and hours."),
                   retention_days: int | None = typer.Option(
                       None, min=1,
                       help="Days of raw events kept [default: ANALYTICS_RAW_RETENTION_DAYS, 90]."),
                   data_dir: Path | None = DataDir, as_json: bool = JsonOut) -> None:
    """Create a tenant with a publishable and a secret key (shown once)."""
    from analytics.tenants import service

    settings = _settings(data_dir)

    async def create(conn: Any) -> dict[str, str]:
        tenant = await service.create_tenant(
            conn, name=name, timezone=timezone,
            raw_retention_days=retention_days or settings.default_raw_retention_days)
        _, pk = await service.create_key(conn, tenant_id=tenant.id, kind=service.KeyKind.PUBLISHABLE)
        _, sk = await service.create_key(conn, tenant_id=tenant.id, kind=service.KeyKind.SECRET)
        return {"tenant": name, "timezone": timezone, "publishableKey": pk, "secretKey": sk}

    with servers(settings, need_redis=False) as s:
        try:
            result = _run(_with_owner(s.database_url, create))
        except service.TenantError as exc:
            raise _fail(str(exc)) from None
    if as_json:
        print(json.dumps(result))
        return
    console.print(f"tenant [bold]{name}[/bold] ({timezone}) created; keys are shown only once:")
    console.print(f"  publishable key {result['publishableKey']}")
    console.print(f"  secret key      {result['secretKey']}")


@tenants_app.command("list")
def tenants_list(data_dir: Path | None = DataDir, as_json: bool = JsonOut) -> None:
    """List tenants."""
    from analytics.tenants import service

    with servers(_settings(data_dir), need_redis=False) as s:
        tenants = _run(_with_owner(s.database_url, service.list_tenants))
    rows = [{"id": t.id, "name": t.name, "timezone": t.timezone,
             "rawRetentionDays": t.raw_retention_days} for t in tenants]
    _print_rows(rows, as_json, "tenants")


@tenants_app.command("update")
def tenants_update(name: str = typer.Argument(..., help="Tenant name."),
                   store_ip: bool | None = typer.Option(
                       None, "--store-ip/--no-store-ip",
                       help="Keep the raw client IP address of new events (off by default: only "
                            "daily-salted visitor hashes are kept)."),
                   scanner_exempt: str | None = typer.Option(
                       None, "--scanner-exempt", metavar="RULES",
                       help="Scanner path rules the tenant's own site needs, comma-separated (of: "
                            f"{', '.join(PATH_RULES)}), or 'none'. Stored sessions flagged by a newly "
                            "exempt rule stop being scanners and their days' counters are corrected."),
                   data_dir: Path | None = DataDir) -> None:
    """Change a tenant's settings."""
    from zoneinfo import ZoneInfo

    from analytics.ingest.origin import set_store_ip
    from analytics.sessions.exemptions import set_scanner_exemptions
    from analytics.tenants import service

    if store_ip is None and scanner_exempt is None:
        raise _fail("nothing to change: give --store-ip, --no-store-ip or --scanner-exempt")
    rules = [] if scanner_exempt is None or scanner_exempt.strip() == "none" else [
        r.strip() for r in scanner_exempt.split(",") if r.strip()]
    try:
        check_path_rules("--scanner-exempt", rules)
    except InvalidArgument as exc:
        raise _fail(str(exc)) from None
    said: list[str] = []

    async def update(conn: Any) -> None:
        owner = await service.get_tenant(conn, name)
        if store_ip is not None:
            await set_store_ip(conn, owner.id, store_ip)
            said.append(f"raw IP addresses {'stored' if store_ip else 'not stored'} from the next event on")
        if scanner_exempt is not None:
            done = await set_scanner_exemptions(conn, owner.id, rules, ZoneInfo(owner.timezone))
            said.append(f"scanner rules exempt: {', '.join(done.rules) or 'none'} ({done.sessions_lifted} "
                        f"stored sessions no longer scanners, {done.days_marked} days to correct)")

    with servers(_settings(data_dir), need_redis=False) as s:
        try:
            _run(_with_owner(s.database_url, update))
        except service.TenantError as exc:
            raise _fail(str(exc)) from None
    for line in said:
        console.print(f"{name}: {line}")


def _print_rows(rows: list[dict[str, Any]], as_json: bool, title: str) -> None:
    if as_json:
        print(json.dumps(rows, default=str))
        return
    table = Table(title=title)
    for column in rows[0] if rows else ["(none)"]:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row.values()))
    console.print(table)


def _key_row(key: Any) -> dict[str, Any]:
    return {"id": key.id, "tenant": key.tenant, "kind": key.kind.value, "prefix": key.display_prefix,
            "name": key.name, "createdAt": key.created_at.isoformat(),
            "revokedAt": key.revoked_at.isoformat() if key.revoked_at else None}


@keys_app.command("create")
def keys_create(tenant: str = typer.Option(..., "--tenant", help="Tenant name."),
                kind: str = typer.Option("secret", help="publishable (ingest only) or secret (read, admin)."),
                name: str | None = typer.Option(None, help="A label for the key."),
                data_dir: Path | None = DataDir, as_json: bool = JsonOut) -> None:
    """Issue a new API key; the key is shown once."""
    from analytics.tenants import service

    try:
        key_kind = service.KeyKind(kind)
    except ValueError:
        raise _fail("--kind must be publishable or secret") from None

    async def create(conn: Any) -> dict[str, Any]:
        owner = await service.get_tenant(conn, tenant)
        key, raw = await service.create_key(conn, tenant_id=owner.id, kind=key_kind, name=name)
        return {**_key_row(key), "key": raw}

    with servers(_settings(data_dir), need_redis=False) as s:
        try:
            result = _run(_with_owner(s.database_url, create))
        except service.TenantError as exc:
            raise _fail(str(exc)) from None
    if as_json:
        print(json.dumps(result))
    else:
        console.print(f"{kind} key {result['id']} for {tenant} (shown once): {result['key']}")


@keys_app.command("list")
def keys_list(tenant: str | None = typer.Option(None, "--tenant", help="Only this tenant's keys."),
              data_dir: Path | None = DataDir, as_json: bool = JsonOut) -> None:
    """List API keys (prefixes only; keys are stored hashed)."""
    from analytics.tenants import service

    async def listing(conn: Any) -> list[Any]:
        owner = await service.get_tenant(conn, tenant) if tenant else None
        return await service.list_keys(conn, tenant_id=owner.id if owner else None)

    with servers(_settings(data_dir), need_redis=False) as s:
        try:
            keys = _run(_with_owner(s.database_url, listing))
        except service.TenantError as exc:
            raise _fail(str(exc)) from None
    _print_rows([_key_row(k) for k in keys], as_json, "API keys")


@keys_app.command("revoke")
def keys_revoke(key_id: int = typer.Argument(..., help="Key id from `analytics keys list`."),
                data_dir: Path | None = DataDir, as_json: bool = JsonOut) -> None:
    """Revoke a key; it stops working on the next request."""
    from analytics.tenants import service

    with servers(_settings(data_dir), need_redis=False) as s:
        try:
            key = _run(_with_owner(s.database_url, lambda conn: service.revoke_key(conn, key_id=key_id)))
        except service.TenantError as exc:
            raise _fail(str(exc)) from None
    if as_json:
        print(json.dumps(_key_row(key)))
    else:
        console.print(f"key {key.id} ({key.display_prefix}..., {key.tenant}) revoked")


@rollups_app.command("verify")
def rollups_verify(tenant: str = typer.Option(..., "--tenant", help="Tenant name."),
                   data_dir: Path | None = DataDir, as_json: bool = JsonOut) -> None:
    """Compare the counters with a recomputation from raw events (run when the outbox is empty)."""
    from analytics.rollups.recompute import verify_rollups
    from analytics.tenants import service

    async def verify(conn: Any) -> list[Any]:
        owner = await service.get_tenant(conn, tenant)
        return await verify_rollups(conn, owner.id)

    with servers(_settings(data_dir), need_redis=False) as s:
        differences = _run(_with_owner(s.database_url, verify))
    rows = [{"table": d.table, "missing": d.missing, "extra": d.extra} for d in differences]
    if as_json:
        print(json.dumps(rows))
    elif rows:
        _print_rows(rows, False, "rollups that differ from the raw events")
    else:
        console.print("[green]every rollup equals its recomputation from raw events[/green]")
    if rows:
        raise typer.Exit(1)


@app.command("schema")
def schema_command(
    output: Path | None = typer.Option(None, "-o", "--output", help="Write to this file."),
) -> None:
    """Print the GraphQL schema (SDL) generated from the code."""
    from api.schema import schema_sdl

    sdl = schema_sdl()
    if output:
        output.write_text(sdl)
    else:
        sys.stdout.write(sdl)


@persisted_app.command("push")
def persisted_push(manifest: Path = typer.Argument(
                       ..., exists=True, dir_okay=False,
                       help="Apollo persisted-query manifest or Relay id map (JSON)."),
                   tenant: str = typer.Option(..., "--tenant", help="Tenant name."),
                   replace: bool = typer.Option(False, "--replace",
                                                help="Drop the tenant's documents not in this manifest."),
                   data_dir: Path | None = DataDir, as_json: bool = JsonOut) -> None:
    """Register a manifest's operations as the tenant's trusted documents (each one validated)."""
    from analytics import persisted
    from analytics.db import scope_to_tenant
    from analytics.errors import InvalidArgument
    from analytics.tenants import service
    from api.persisted.register import prepare_manifest

    settings = _settings(data_dir)
    try:
        data = json.loads(manifest.read_text())
        prepared = prepare_manifest(data, settings.limits)
    except ValueError as exc:  # InvalidArgument and JSON errors
        where = exc.field if isinstance(exc, InvalidArgument) else str(manifest)
        message = exc.message if isinstance(exc, InvalidArgument) else f"not JSON: {exc}"
        raise _fail(f"{where}: {message}") from None

    async def push(conn: Any) -> int:
        owner = await service.get_tenant(conn, tenant)
        await scope_to_tenant(conn, owner.id)
        return await persisted.store_documents(conn, owner.id, prepared, replace=replace)

    with servers(settings, need_redis=False) as s:
        try:
            stored = _run(_with_owner(s.database_url, push))
        except service.TenantError as exc:
            raise _fail(str(exc)) from None
    rows = [{"id": d.id, "name": name, "type": kind} for d, kind, name in prepared]
    if as_json:
        print(json.dumps({"stored": stored, "documents": rows}))
    else:
        console.print(f"{stored} trusted documents stored for {tenant}")


@persisted_app.command("list")
def persisted_list(tenant: str = typer.Option(..., "--tenant", help="Tenant name."),
                   data_dir: Path | None = DataDir, as_json: bool = JsonOut) -> None:
    """List the tenant's trusted documents and whether allowlist mode is on."""
    from analytics import persisted
    from analytics.db import scope_to_tenant
    from analytics.tenants import service

    async def listing(conn: Any) -> list[Any]:
        owner = await service.get_tenant(conn, tenant)
        await scope_to_tenant(conn, owner.id)
        return await persisted.list_documents(conn)

    with servers(_settings(data_dir), need_redis=False) as s:
        try:
            documents = _run(_with_owner(s.database_url, listing))
        except service.TenantError as exc:
            raise _fail(str(exc)) from None
    _print_rows([{"id": d.id, "name": d.operation_name, "type": d.operation_type} for d in documents],
                as_json, f"trusted documents of {tenant}")


@persisted_app.command("allowlist")
def persisted_allowlist(state: str = typer.Argument(..., help="on: only trusted documents run; off: any."),
                        tenant: str = typer.Option(..., "--tenant", help="Tenant name."),
                        data_dir: Path | None = DataDir) -> None:
    """Turn the tenant's allowlist mode on or off (ANALYTICS_PERSISTED_ONLY=true forces it for all)."""
    from analytics import persisted
    from analytics.tenants import service

    if state not in ("on", "off"):
        raise _fail("STATE must be on or off")

    async def switch(conn: Any) -> None:
        owner = await service.get_tenant(conn, tenant)
        await persisted.set_persisted_only(conn, owner.id, state == "on")

    with servers(_settings(data_dir), need_redis=False) as s:
        try:
            _run(_with_owner(s.database_url, switch))
        except service.TenantError as exc:
            raise _fail(str(exc)) from None
    console.print(f"allowlist mode {state} for {tenant}")


# Reporting commands (analytics.reports_cli); registered before main() so `python -m` sees them.
from analytics.reports_cli import overview, sessions_app, traffic_app  # noqa: E402

app.command("overview")(overview)
app.add_typer(sessions_app, name="sessions")
app.add_typer(traffic_app, name="traffic")
from analytics.content.cli import content_app  # noqa: E402

app.add_typer(content_app, name="content")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
