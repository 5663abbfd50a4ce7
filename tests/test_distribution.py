"""The schema stays ready for Citus, distributed by ``tenant_id`` (DESIGN; docs/scaling.md).

Read from the migrated catalog, so a new table or constraint that would stop the distribution fails
here: every table but the few global ones has a ``tenant_id``, every primary key, unique constraint
and unique index of those tables includes it, and no foreign key joins two tenants' rows."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

# Global tables: Citus reference tables (copied to every node), or left on the coordinator.
GLOBAL = {"tenants", "instance_secrets", "visitor_salts", "alembic_version"}
# Tenant rows looked up before the tenant is known (a request's key by its hash): reference tables too.
LOOKUP = {"api_keys"}
REFERENCE = GLOBAL | LOOKUP

TABLES = """
SELECT c.relname, c.oid,
       (SELECT a.attnum FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id'
         AND NOT a.attisdropped) AS tenant_column,
       (SELECT a.attnotnull FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id') AS not_null
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
ORDER BY 1"""

UNIQUE_INDEXES = """
SELECT t.relname AS table_name, i.relname AS index_name, x.indkey::int2[] AS columns
FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE n.nspname = 'public' AND x.indisunique AND NOT t.relispartition AND t.relkind IN ('r', 'p')"""

FOREIGN_KEYS = """
SELECT c.conname, src.relname AS source, dst.relname AS target, c.conkey::int2[] AS source_columns,
       c.confkey::int2[] AS target_columns
FROM pg_constraint c JOIN pg_class src ON src.oid = c.conrelid JOIN pg_class dst ON dst.oid = c.confrelid
WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace AND NOT src.relispartition"""


async def _catalog(engine: AsyncEngine, sql: str) -> list[dict[str, object]]:
    async with engine.connect() as conn:
        return [dict(row._mapping) for row in await conn.execute(text(sql))]


async def test_every_table_but_the_global_ones_is_keyed_by_tenant(owner_engine: AsyncEngine) -> None:
    tables = await _catalog(owner_engine, TABLES)
    assert REFERENCE <= {t["relname"] for t in tables}, "a global table was renamed: update REFERENCE"
    missing = [t["relname"] for t in tables if t["relname"] not in GLOBAL and t["tenant_column"] is None]
    assert missing == [], f"tables without tenant_id cannot be distributed: {missing}"
    nullable = [t["relname"] for t in tables if t["relname"] not in GLOBAL and not t["not_null"]]
    assert nullable == [], f"tenant_id must be NOT NULL: {nullable}"


async def test_every_unique_key_of_a_distributed_table_includes_tenant_id(owner_engine: AsyncEngine) -> None:
    columns = {t["relname"]: t["tenant_column"] for t in await _catalog(owner_engine, TABLES)}
    indexes = await _catalog(owner_engine, UNIQUE_INDEXES)
    assert any(i["table_name"] == "events" for i in indexes), "the events primary key is not seen"
    wrong = [f"{i['table_name']}.{i['index_name']}" for i in indexes
             if i["table_name"] not in REFERENCE and columns[i["table_name"]] not in i["columns"]]  # type: ignore[operator]
    assert wrong == [], f"unique keys without tenant_id cannot be enforced per shard: {wrong}"


async def test_no_foreign_key_crosses_tenants(owner_engine: AsyncEngine) -> None:
    columns = {t["relname"]: t["tenant_column"] for t in await _catalog(owner_engine, TABLES)}
    keys = await _catalog(owner_engine, FOREIGN_KEYS)
    assert any(k["source"] == "tour_steps" and k["target"] == "tours" for k in keys)
    crossing = []
    for key in keys:
        source, target = str(key["source"]), str(key["target"])
        source_columns, target_columns = list(key["source_columns"]), list(key["target_columns"])  # type: ignore[call-overload]
        if target == "tenants":
            # To the tenant itself: the key is the tenant_id (Citus: a distributed table to a reference table).
            ok = source_columns == [columns[source]]
        elif target in REFERENCE:
            ok = True
        else:
            # Between two distributed tables: the tenant_id of one must meet the tenant_id of the other.
            pairs = set(zip(source_columns, target_columns, strict=True))
            ok = (columns[source], columns[target]) in pairs
        if not ok:
            crossing.append(f"{source} -> {target} ({key['conname']})")
    assert crossing == [], f"foreign keys that could join two tenants' rows: {crossing}"
