"""Admin commands against the database as its owner: tenants, keys and rollups."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from analytics.errors import InvalidArgument
from analytics.traffic.scanner import PATH_RULES, check_path_rules
from cli.common import USAGE, DataDir, JsonOut, console, fail, settings_for
from cli.servers import as_owner

tenants_app = typer.Typer(help="Create, list and update tenants.", no_args_is_help=True)
keys_app = typer.Typer(help="Create, list and revoke API keys (stored hashed).", no_args_is_help=True)
rollups_app = typer.Typer(help="Inspect the rollups the worker maintains.", no_args_is_help=True)


@tenants_app.command("create")
def tenants_create(name: str = typer.Argument(..., help="Unique tenant name."),
                   timezone: str = typer.Option("UTC", help="IANA time zone for days and hours."),
                   retention_days: int | None = typer.Option(
                       None, help="Days of raw events kept, 7 up to the rollup retention "
                                  "[default: ANALYTICS_RAW_RETENTION_DAYS, 90]."),
                   data_dir: Path | None = DataDir, as_json: bool = JsonOut) -> None:
    """Create a tenant with a publishable and a secret key (shown once)."""
    from analytics.retention import check_raw_retention_days
    from analytics.tenants import service

    settings = settings_for(data_dir)
    try:
        service.check_timezone(timezone)
        if retention_days is not None:
            check_raw_retention_days(retention_days, settings.rollup_retention_days, name="--retention-days")
    except service.TenantError as exc:
        raise fail(f"--timezone: {exc}", USAGE) from None
    except InvalidArgument as exc:
        raise fail(str(exc), USAGE) from None

    async def create(conn: Any) -> dict[str, str]:
        tenant = await service.create_tenant(
            conn, name=name, timezone=timezone,
            raw_retention_days=retention_days or settings.default_raw_retention_days)
        _, pk = await service.create_key(conn, tenant_id=tenant.id, kind=service.KeyKind.PUBLISHABLE)
        _, sk = await service.create_key(conn, tenant_id=tenant.id, kind=service.KeyKind.SECRET)
        return {"tenant": name, "timezone": timezone, "publishableKey": pk, "secretKey": sk}

    result = as_owner(settings, create)
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

    tenants = as_owner(settings_for(data_dir), service.list_tenants)
    rows = [{"id": t.id, "name": t.name, "timezone": t.timezone,
             "rawRetentionDays": t.raw_retention_days} for t in tenants]
    print_rows(rows, as_json, "tenants")


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
                   allowed_origins: str | None = typer.Option(
                       None, "--allowed-origins", metavar="ORIGINS",
                       help="Web pages that may read answers to the tenant's secret keys in a browser "
                            "(CORS), comma-separated scheme://host[:port], or 'none' (the default). "
                            "Publishable keys may send events from any page."),
                   privacy_signals: bool | None = typer.Option(
                       None, "--honour-privacy-signals/--ignore-privacy-signals",
                       help="Drop events sent with Do Not Track or Global Privacy Control (OPTED_OUT, "
                            "never stored), or count them like the rest (the default)."),
                   event_allowlist: bool | None = typer.Option(
                       None, "--event-allowlist/--no-event-allowlist",
                       help="Accept only the Custom event names the tenant defined (analytics events "
                            "define), or every valid name (the default)."),
                   retention_days: int | None = typer.Option(
                       None, "--retention-days", metavar="DAYS",
                       help="Days of raw events kept, from 7 to ANALYTICS_ROLLUP_RETENTION_DAYS (760); "
                            "older ones are deleted by the next retention run, counters stay."),
                   business_metrics: bool | None = typer.Option(
                       None, "--business-metrics/--no-business-metrics",
                       help="Show the tenant's business gauges (reference 001: active users, feature "
                            "adoption...) on the API's /metrics, or not (the default)."),
                   data_dir: Path | None = DataDir) -> None:
    """Change a tenant's settings."""
    from zoneinfo import ZoneInfo

    from analytics.business_metrics import set_business_metrics
    from analytics.custom_events.definitions import set_event_allowlist
    from analytics.ingest.origin import set_store_ip
    from analytics.retention import check_raw_retention_days, set_raw_retention
    from analytics.sessions.exemptions import set_scanner_exemptions
    from analytics.tenants import service
    from analytics.tenants.origins import check_origins, set_allowed_origins

    if (store_ip, scanner_exempt, allowed_origins, privacy_signals, retention_days,
            business_metrics, event_allowlist) == (None,) * 7:
        raise fail("nothing to change: give --store-ip, --no-store-ip, --scanner-exempt, --allowed-origins, "
                   "--retention-days, --business-metrics/--no-business-metrics, "
                   "--honour-privacy-signals/--ignore-privacy-signals or "
                   "--event-allowlist/--no-event-allowlist", USAGE)
    rules, origins = _listed(scanner_exempt), _listed(allowed_origins)
    settings = settings_for(data_dir)
    try:
        check_path_rules("--scanner-exempt", rules)
        if retention_days is not None:
            check_raw_retention_days(retention_days, settings.rollup_retention_days, name="--retention-days")
        check_origins(origins)
    except InvalidArgument as exc:  # check_origins names its own argument: origins, origins[i]
        raise fail(str(exc).replace("origins", "--allowed-origins", 1), USAGE) from None
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
        if privacy_signals is not None:
            await service.set_privacy_signals(conn, owner.id, privacy_signals)
            verdict = "honoured" if privacy_signals else "ignored"
            said.append(f"Do Not Track / Global Privacy Control {verdict} from the next request on")
        if event_allowlist is not None:
            await set_event_allowlist(conn, owner.id, event_allowlist)
            said.append("only defined Custom event names accepted" if event_allowlist
                        else "every valid Custom event name accepted")
        if allowed_origins is not None:
            stored = await set_allowed_origins(conn, owner.id, origins)
            said.append(f"origins allowed to read with a secret key: {', '.join(stored) or 'none'}")
        if retention_days is not None:
            await set_raw_retention(conn, owner.id, retention_days,
                                    rollup_days=settings.rollup_retention_days)
            said.append(f"raw events kept {retention_days} days (plus a day of grace) from the next "
                        "retention run on")
        if business_metrics is not None:
            await set_business_metrics(conn, owner.id, business_metrics)
            said.append(f"business gauges {'shown' if business_metrics else 'not shown'} on /metrics from "
                        "the next refresh on")

    as_owner(settings, update)
    for line in said:
        console.print(f"{name}: {line}")


def _listed(option: str | None) -> list[str]:
    """A comma-separated option as its items; 'none' (or nothing) is the empty list."""
    if option is None or option.strip() == "none":
        return []
    return [item.strip() for item in option.split(",") if item.strip()]


def print_rows(rows: list[dict[str, Any]], as_json: bool, title: str) -> None:
    if as_json:
        print(json.dumps(rows, default=str))
        return
    table = Table(title=title)
    for column in rows[0] if rows else ["(none)"]:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row.values()))
    console.print(table)


def key_row(key: Any) -> dict[str, Any]:
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
        raise fail("--kind must be publishable or secret", USAGE) from None

    async def create(conn: Any) -> dict[str, Any]:
        owner = await service.get_tenant(conn, tenant)
        key, raw = await service.create_key(conn, tenant_id=owner.id, kind=key_kind, name=name)
        return {**key_row(key), "key": raw}

    result = as_owner(settings_for(data_dir), create)
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

    keys = as_owner(settings_for(data_dir), listing)
    print_rows([key_row(k) for k in keys], as_json, "API keys")


@keys_app.command("revoke")
def keys_revoke(key_id: int = typer.Argument(..., help="Key id from `analytics keys list`."),
                data_dir: Path | None = DataDir, as_json: bool = JsonOut) -> None:
    """Revoke a key; it stops working on the next request."""
    from analytics.tenants import service

    key = as_owner(settings_for(data_dir), lambda conn: service.revoke_key(conn, key_id=key_id))
    if as_json:
        print(json.dumps(key_row(key)))
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

    differences = as_owner(settings_for(data_dir), verify)
    rows = [{"table": d.table, "missing": d.missing, "extra": d.extra} for d in differences]
    if as_json:
        print(json.dumps(rows))
    elif rows:
        print_rows(rows, False, "rollups that differ from the raw events")
    else:
        console.print("[green]every rollup equals its recomputation from raw events[/green]")
    if rows:
        raise typer.Exit(1)
