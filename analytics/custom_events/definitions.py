"""A tenant's event definitions: what a Custom event name means (description, declared properties,
strict mode, breakdown dimensions), the tenant's allowlist switch, and the rules ingest reads."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from analytics.custom_events.rules import EventRules, NameRules, PropertySpec, PropertyType
from analytics.db import tenant_transaction
from analytics.errors import InvalidArgument
from analytics.ingest.catalogue import CATALOGUE
from analytics.ingest.events import MAX_NAME_LENGTH, NAME_PATTERN

MAX_DEFINITIONS = 500
MAX_PROPERTIES = 50
MAX_DIMENSIONS = 10
MAX_DESCRIPTION = 1000
MAX_PROPERTY_NAME = 100


@dataclass(frozen=True)
class Dimension:
    property: str
    status: str  # pending (backfill queued), running, done
    processed: int
    total: int
    backfill_through: date | None


@dataclass(frozen=True)
class EventDefinition:
    name: str
    description: str | None
    properties: tuple[PropertySpec, ...]
    strict: bool
    dimensions: tuple[Dimension, ...]
    created_at: datetime
    updated_at: datetime


def check_name(field: str, name: str) -> None:
    if not name or len(name) > MAX_NAME_LENGTH:
        raise InvalidArgument(field, f"must be 1 to {MAX_NAME_LENGTH} characters")
    if not NAME_PATTERN.fullmatch(name):
        raise InvalidArgument(field, "may hold only letters, digits, spaces and _ . : - /")
    if name in CATALOGUE:
        raise InvalidArgument(field, f"{name!r} is a catalogue type, not a Custom event name")


def _checked(description: str | None, properties: Sequence[PropertySpec], dimensions: Sequence[str]
             ) -> None:
    if description is not None and len(description) > MAX_DESCRIPTION:
        raise InvalidArgument("description", f"is {len(description)} characters; the limit is "
                                             f"{MAX_DESCRIPTION}")
    if len(properties) > MAX_PROPERTIES:
        raise InvalidArgument("properties", f"declare at most {MAX_PROPERTIES} properties")
    seen: set[str] = set()
    for i, spec in enumerate(properties):
        if not spec.name or len(spec.name) > MAX_PROPERTY_NAME:
            raise InvalidArgument(f"properties.{i}.name", f"must be 1 to {MAX_PROPERTY_NAME} characters")
        if spec.name in seen:
            raise InvalidArgument(f"properties.{i}.name", f"{spec.name!r} is declared twice")
        seen.add(spec.name)
    if len(dimensions) > MAX_DIMENSIONS:
        raise InvalidArgument("dimensions", f"{len(dimensions)} dimensions; the limit is {MAX_DIMENSIONS} "
                                            "per event name")
    if len(set(dimensions)) != len(dimensions):
        raise InvalidArgument("dimensions", "names a property twice")
    for i, dimension in enumerate(dimensions):
        if not dimension or len(dimension) > MAX_PROPERTY_NAME:
            raise InvalidArgument(f"dimensions.{i}", f"must be 1 to {MAX_PROPERTY_NAME} characters")


_DEFINITION = text(
    """
    INSERT INTO event_definitions (tenant_id, name, description, properties, strict)
    VALUES (:tenant, :name, :description, CAST(:properties AS jsonb), :strict)
    ON CONFLICT (tenant_id, name) DO UPDATE SET description = EXCLUDED.description,
        properties = EXCLUDED.properties, strict = EXCLUDED.strict, updated_at = now()
    """
)
_COUNT = text("SELECT count(*) FROM event_definitions WHERE tenant_id = :tenant AND name <> :name")
_DIMENSIONS = text("SELECT dimension FROM event_dimensions WHERE tenant_id = :tenant AND name = :name")
_DROP_DIMENSIONS = [
    text("DELETE FROM event_dimensions WHERE tenant_id = :tenant AND name = :name "
         "AND dimension = ANY(CAST(:gone AS text[]))"),
    text("DELETE FROM custom_event_values WHERE tenant_id = :tenant AND name = :name "
         "AND dimension = ANY(CAST(:gone AS text[]))"),
    text("DELETE FROM custom_event_admitted WHERE tenant_id = :tenant AND name = :name "
         "AND dimension = ANY(CAST(:gone AS text[]))"),
]
_ADD_DIMENSIONS = text(
    """
    INSERT INTO event_dimensions (tenant_id, name, dimension, position)
    SELECT :tenant, :name, d, p FROM unnest(CAST(:dimensions AS text[])) WITH ORDINALITY AS t(d, p)
    ON CONFLICT (tenant_id, name, dimension) DO UPDATE SET position = EXCLUDED.position
    """
)


async def define_event(conn: AsyncConnection, tenant_id: int, *, name: str, description: str | None,
                       properties: Sequence[PropertySpec], strict: bool, dimensions: Sequence[str]
                       ) -> tuple[EventDefinition, list[str]]:
    """Create or replace a definition; returns it and the dimensions new to it (to backfill).
    Dimensions no longer listed lose their counts."""
    check_name("name", name)
    _checked(description, properties, dimensions)
    if (await conn.execute(_COUNT, {"tenant": tenant_id, "name": name})).scalar_one() >= MAX_DEFINITIONS:
        raise InvalidArgument("name", f"the tenant already has {MAX_DEFINITIONS} event definitions")
    payload = json.dumps([{"name": p.name, "type": p.type.value, "required": p.required} for p in properties])
    await conn.execute(_DEFINITION, {"tenant": tenant_id, "name": name, "description": description,
                                     "properties": payload, "strict": strict})
    before = {r[0] for r in await conn.execute(_DIMENSIONS, {"tenant": tenant_id, "name": name})}
    gone = sorted(before - set(dimensions))
    if gone:
        for statement in _DROP_DIMENSIONS:
            await conn.execute(statement, {"tenant": tenant_id, "name": name, "gone": gone})
    await conn.execute(_ADD_DIMENSIONS, {"tenant": tenant_id, "name": name, "dimensions": list(dimensions)})
    found = await get_definition(conn, name)
    assert found is not None
    return found, [d for d in dimensions if d not in before]


async def remove_event(conn: AsyncConnection, tenant_id: int, name: str) -> bool:
    """Forget a definition and its dimension counts (the per-name counters stay)."""
    params = {"tenant": tenant_id, "name": name}
    removed = (await conn.execute(text("DELETE FROM event_definitions WHERE tenant_id = :tenant AND "
                                       "name = :name RETURNING name"), params)).first()
    for table in ("custom_event_values", "custom_event_admitted"):
        await conn.execute(text(f"DELETE FROM {table} WHERE tenant_id = :tenant AND name = :name"), params)
    return removed is not None


async def set_event_allowlist(conn: AsyncConnection, tenant_id: int, enabled: bool) -> None:
    """Reject Custom events whose name is not defined (enabled), or accept every valid name."""
    await conn.execute(text("UPDATE tenants SET event_allowlist = :on WHERE id = :tenant"),
                       {"on": enabled, "tenant": tenant_id})


async def event_allowlist(conn: AsyncConnection, tenant_id: int) -> bool:
    row = await conn.execute(text("SELECT event_allowlist FROM tenants WHERE id = :tenant"),
                             {"tenant": tenant_id})
    return bool(row.scalar_one())


_LIST = text(
    """
    SELECT d.name, d.description, d.properties, d.strict, d.created_at, d.updated_at,
           coalesce(array_agg(ARRAY[m.dimension, m.status, m.processed::text, m.total::text,
                                    m.backfill_through::text] ORDER BY m.position)
                    FILTER (WHERE m.dimension IS NOT NULL), '{}') AS dimensions
    FROM event_definitions d
    LEFT JOIN event_dimensions m ON m.tenant_id = d.tenant_id AND m.name = d.name
    WHERE d.tenant_id = CAST(NULLIF(current_setting('analytics.tenant_id', true), '') AS bigint)
      AND (CAST(:name AS text) IS NULL OR d.name = :name)
      AND (CAST(:after AS text) IS NULL OR d.name > CAST(:after AS text) COLLATE "C")
    GROUP BY d.tenant_id, d.name ORDER BY d.name COLLATE "C" LIMIT :first
    """
)


def _definition(r: Any) -> EventDefinition:
    properties = tuple(PropertySpec(p["name"], PropertyType(p["type"]), bool(p["required"]))
                       for p in r.properties)
    dimensions = tuple(Dimension(d[0], d[1], int(d[2]), int(d[3]), date.fromisoformat(d[4]) if d[4] else None)
                       for d in r.dimensions)
    return EventDefinition(r.name, r.description, properties, r.strict, dimensions, r.created_at,
                           r.updated_at)


async def list_definitions(conn: AsyncConnection, *, first: int = MAX_DEFINITIONS, after: str | None = None
                           ) -> list[EventDefinition]:
    """The current tenant's definitions by name (byte order), ``first`` of them after ``after``."""
    return [_definition(r) for r in await conn.execute(_LIST, {"name": None, "first": first, "after": after})]


async def get_definition(conn: AsyncConnection, name: str) -> EventDefinition | None:
    row = (await conn.execute(_LIST, {"name": name, "first": 1, "after": None})).first()
    return _definition(row) if row is not None else None


async def load_rules(engine: AsyncEngine, tenant_id: int) -> EventRules:
    """The tenant's rules for ingest: one short transaction (the cache calls this at most every few
    seconds per tenant and process)."""
    async with tenant_transaction(engine, tenant_id) as conn:
        allowlist = await event_allowlist(conn, tenant_id)
        rows = (await conn.execute(text("SELECT name, strict, properties FROM event_definitions "
                                        "WHERE tenant_id = :tenant"), {"tenant": tenant_id})).all()
    names = {r.name: NameRules(r.strict, tuple(PropertySpec(p["name"], PropertyType(p["type"]),
                                                            bool(p["required"])) for p in r.properties))
             for r in rows}
    return EventRules(allowlist, names)
