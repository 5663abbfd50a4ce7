"""The tenant's funnels: define, change, remove, read; a change rebuilds the funnel's progress."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from analytics.db import lock_tenant
from analytics.errors import InvalidArgument
from analytics.funnels.definition import MAX_FUNNELS, FunnelDefinition, parse_definition


@dataclass(frozen=True)
class Backfill:
    status: str  # pending, running, done
    processed: int
    total: int | None
    finished_at: datetime | None


@dataclass(frozen=True)
class Funnel:
    id: int
    definition: FunnelDefinition
    version: int
    created_at: datetime
    updated_at: datetime
    backfill: Backfill


_COLUMNS = (
    "id, definition, version, created_at, updated_at, backfill_status, backfill_processed, "
    "backfill_total, backfill_finished_at"
)


def _funnel(row: Any) -> Funnel:
    return Funnel(
        int(row.id),
        parse_definition(row.definition),
        row.version,
        row.created_at,
        row.updated_at,
        Backfill(
            row.backfill_status,
            int(row.backfill_processed),
            None if row.backfill_total is None else int(row.backfill_total),
            row.backfill_finished_at,
        ),
    )


async def list_funnels(conn: AsyncConnection, tenant_id: int) -> list[Funnel]:
    rows = await conn.execute(
        text(f"SELECT {_COLUMNS} FROM funnels WHERE tenant_id = :tenant ORDER BY id"), {"tenant": tenant_id}
    )
    return [_funnel(row) for row in rows]


async def get_funnel(conn: AsyncConnection, tenant_id: int, funnel_id: int) -> Funnel | None:
    row = (
        await conn.execute(
            text(f"SELECT {_COLUMNS} FROM funnels WHERE tenant_id = :tenant AND id = :id"),
            {"tenant": tenant_id, "id": funnel_id},
        )
    ).one_or_none()
    return _funnel(row) if row else None


async def define_funnel(
    conn: AsyncConnection, tenant_id: int, *, funnel_id: int | None, definition: FunnelDefinition
) -> Funnel:
    """Create a funnel (``funnel_id`` None) or replace one's definition. Either way its progress is
    cleared and a backfill is due (the caller queues the job once this commits)."""
    body = json.dumps(definition.to_json())
    await lock_tenant(
        conn, tenant_id
    )  # the rollup's funnel consumer must not write the old definition's rows
    try:
        async with conn.begin_nested():
            if funnel_id is None:
                count = (
                    await conn.execute(
                        text("SELECT count(*) FROM funnels WHERE tenant_id = :tenant"), {"tenant": tenant_id}
                    )
                ).scalar_one()
                if count >= MAX_FUNNELS:
                    raise InvalidArgument("input", f"a tenant has at most {MAX_FUNNELS} funnels")
                row = (
                    await conn.execute(
                        text(
                            "INSERT INTO funnels (tenant_id, name, definition) "
                            "VALUES (:tenant, :name, CAST(:body AS jsonb)) "
                            "RETURNING id"
                        ),
                        {"tenant": tenant_id, "name": definition.name, "body": body},
                    )
                ).one()
                funnel_id = int(row.id)
            else:
                updated = (
                    await conn.execute(
                        text(
                            "UPDATE funnels SET name = :name, definition = CAST(:body AS jsonb), "
                            "version = version + 1, "
                            "updated_at = now(), backfill_status = 'pending', backfill_cursor = '', "
                            "backfill_processed = 0, backfill_total = NULL, backfill_finished_at = NULL "
                            "WHERE tenant_id = :tenant AND id = :id RETURNING id"
                        ),
                        {"tenant": tenant_id, "id": funnel_id, "name": definition.name, "body": body},
                    )
                ).one_or_none()
                if updated is None:
                    raise InvalidArgument("input.id", "names no funnel of this tenant")
                await conn.execute(
                    text("DELETE FROM funnel_attempts WHERE tenant_id = :tenant AND funnel_id = :id"),
                    {"tenant": tenant_id, "id": funnel_id},
                )
    except IntegrityError:
        raise InvalidArgument("input.name", f"another funnel is named {definition.name!r}") from None
    # Nobody rolled up yet (a funnel defined before any event): the rollup's consumer builds it all,
    # there is nothing to backfill. The tenant's lock makes this exact: a rollup commits user_days
    # and its funnel rows together, before this transaction or after it.
    await conn.execute(text(
        "UPDATE funnels SET backfill_status = 'done', backfill_total = 0, backfill_finished_at = now() "
        "WHERE tenant_id = :tenant AND id = :id "
        "AND NOT EXISTS (SELECT 1 FROM user_days WHERE tenant_id = :tenant)"),
        {"tenant": tenant_id, "id": funnel_id})
    funnel = await get_funnel(conn, tenant_id, funnel_id)
    assert funnel is not None
    return funnel


async def remove_funnel(conn: AsyncConnection, tenant_id: int, funnel_id: int) -> bool:
    await lock_tenant(conn, tenant_id)
    await conn.execute(
        text("DELETE FROM funnel_attempts WHERE tenant_id = :tenant AND funnel_id = :id"),
        {"tenant": tenant_id, "id": funnel_id},
    )
    result = await conn.execute(
        text("DELETE FROM funnels WHERE tenant_id = :tenant AND id = :id"),
        {"tenant": tenant_id, "id": funnel_id},
    )
    return bool(getattr(result, "rowcount", 0))
