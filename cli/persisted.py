"""``analytics persisted ...``: a tenant's trusted documents (persisted queries) and allowlist mode, and
the reporting commands' own manifest."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from cli.admin import print_rows
from cli.common import USAGE, DataDir, JsonOut, console, fail, settings_for, write_text_or_fail
from cli.servers import as_owner

persisted_app = typer.Typer(help="Trusted documents (persisted queries) and allowlist mode.",
                            no_args_is_help=True)


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

    settings = settings_for(data_dir)
    try:
        data = json.loads(manifest.read_text())
        prepared = prepare_manifest(data, settings.limits)
    except ValueError as exc:  # InvalidArgument and JSON errors
        where = exc.field if isinstance(exc, InvalidArgument) else str(manifest)
        message = exc.message if isinstance(exc, InvalidArgument) else f"not JSON: {exc}"
        raise fail(f"{where}: {message}") from None

    async def push(conn: Any) -> int:
        owner = await service.get_tenant(conn, tenant)
        await scope_to_tenant(conn, owner.id)
        return await persisted.store_documents(conn, owner.id, prepared, replace=replace)

    stored = as_owner(settings, push)
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

    settings = settings_for(data_dir)

    async def listing(conn: Any) -> tuple[bool, list[Any]]:
        owner = await service.get_tenant(conn, tenant)
        only = await persisted.persisted_only(conn, owner.id)
        await scope_to_tenant(conn, owner.id)
        return only, await persisted.list_documents(conn)

    tenant_only, documents = as_owner(settings, listing)
    server_only = settings.limits.persisted_only
    rows = [{"id": d.id, "name": d.operation_name, "type": d.operation_type} for d in documents]
    if as_json:
        print(json.dumps({"tenant": tenant, "allowlist": tenant_only or server_only,
                          "serverAllowlist": server_only, "documents": rows}))
        return
    state = ("on (ANALYTICS_PERSISTED_ONLY forces it for every tenant)" if server_only
             else "on (only these documents run)" if tenant_only else "off (any valid query runs)")
    console.print(f"allowlist mode for {tenant}: {state}", highlight=False)
    print_rows(rows, False, f"trusted documents of {tenant}")


@persisted_app.command("manifest")
def persisted_manifest(output: Path | None = typer.Option(None, "-o", "--output",
                                                          help="Write to this file.")) -> None:
    """Print the reporting commands' own operations as an Apollo persisted-query manifest: push it
    (`analytics persisted push`) so the CLI works against a tenant in allowlist mode."""
    from cli.documents import manifest

    text = json.dumps(manifest(), indent=2) + "\n"
    if output:
        write_text_or_fail("--output", output, text)
    else:
        sys.stdout.write(text)


@persisted_app.command("allowlist")
def persisted_allowlist(state: str = typer.Argument(..., help="on: only trusted documents run; off: any."),
                        tenant: str = typer.Option(..., "--tenant", help="Tenant name."),
                        data_dir: Path | None = DataDir) -> None:
    """Turn the tenant's allowlist mode on or off (ANALYTICS_PERSISTED_ONLY=true forces it for all)."""
    from analytics import persisted
    from analytics.tenants import service

    if state not in ("on", "off"):
        raise fail("STATE must be on or off", USAGE)

    async def switch(conn: Any) -> None:
        owner = await service.get_tenant(conn, tenant)
        await persisted.set_persisted_only(conn, owner.id, state == "on")

    as_owner(settings_for(data_dir), switch)
    console.print(f"allowlist mode {state} for {tenant}")


