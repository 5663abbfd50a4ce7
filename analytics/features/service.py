"""Declaring features: a tenant names a feature and the events that mean using it (an event matcher).
A new or changed feature is counted by the rollup from then on and backfilled by a worker job from
the raw events still retained (analytics.features.backfill), whose progress the feature carries."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from analytics.db import CURRENT_TENANT, lock_tenant
from analytics.errors import InvalidArgument
from analytics.matchers import Matcher, parse_matcher

MAX_FEATURES = 50  # per tenant: also bounds the /metrics labels of feature gauges
MAX_NAME_LENGTH = 100


@dataclass(frozen=True)
class Backfill:
    status: str  # queued, running, done or failed
    first_day: date | None  # the first local day with a matching raw event, once known
    processed_days: int
    total_days: int | None
    finished_at: datetime | None
    error: str | None


@dataclass(frozen=True)
class Feature:
    id: int
    name: str
    matcher: Matcher
    created_at: datetime
    updated_at: datetime
    backfill: Backfill


_COLUMNS = ("id, name, matcher, created_at, updated_at, backfill_status, backfill_from, backfill_processed, "
            "backfill_total, backfill_finished_at, backfill_error")


def _feature(row: Any) -> Feature:
    return Feature(int(row.id), row.name, parse_matcher(row.matcher), row.created_at, row.updated_at,
                   Backfill(row.backfill_status, row.backfill_from, int(row.backfill_processed),
                            row.backfill_total, row.backfill_finished_at, row.backfill_error))


def check_name(name: str, *, field: str = "name") -> str:
    cleaned = name.strip()
    if not cleaned or len(cleaned) > MAX_NAME_LENGTH or not cleaned.isprintable():
        raise InvalidArgument(field, f"must be 1 to {MAX_NAME_LENGTH} printable characters")
    return cleaned


async def list_features(conn: AsyncConnection, *, name: str | None = None,
                        feature_id: int | None = None) -> list[Feature]:
    """The tenant's features by name (one when ``name`` or ``feature_id`` is given)."""
    rows = await conn.execute(text(
        f"SELECT {_COLUMNS} FROM features WHERE {CURRENT_TENANT} "
        "AND (CAST(:name AS text) IS NULL OR name = :name) "
        "AND (CAST(:id AS bigint) IS NULL OR id = :id) ORDER BY name"), {"name": name, "id": feature_id})
    return [_feature(row) for row in rows]


async def define_feature(conn: AsyncConnection, tenant_id: int, name: str, matcher: Matcher) -> Feature:
    """Create the feature, or give an existing one (same name) a new matcher. Either way its rows are
    rebuilt: cleared here, counted by the rollup from this commit on and backfilled by the job."""
    name = check_name(name)
    # The tenant's lock: a rollup folding with the old matchers finishes first, later ones read the new.
    await lock_tenant(conn, tenant_id)
    existing = await list_features(conn, name=name)
    if existing and existing[0].matcher == matcher and existing[0].backfill.status != "failed":
        return existing[0]  # the same definition again: nothing to rebuild
    if not existing:
        count = int((await conn.execute(text(f"SELECT count(*) FROM features WHERE {CURRENT_TENANT}"))
                     ).scalar_one())
        if count >= MAX_FEATURES:
            raise InvalidArgument("name", f"this tenant has {MAX_FEATURES} features, the most it may have: "
                                          "remove one first")
    row = (await conn.execute(text(
        """
        INSERT INTO features (tenant_id, name, matcher) VALUES (:tenant, :name, CAST(:matcher AS jsonb))
        ON CONFLICT (tenant_id, name) DO UPDATE SET matcher = EXCLUDED.matcher, updated_at = now(),
            backfill_status = 'queued', backfill_from = NULL, backfill_processed = 0, backfill_total = NULL,
            backfill_finished_at = NULL, backfill_error = NULL
        RETURNING id
        """), {"tenant": tenant_id, "name": name, "matcher": json.dumps(matcher.to_json())})).one()
    await conn.execute(text("DELETE FROM feature_user_days WHERE tenant_id = :tenant AND feature_id = :id"),
                       {"tenant": tenant_id, "id": row.id})
    return (await list_features(conn, feature_id=int(row.id)))[0]


async def remove_feature(conn: AsyncConnection, tenant_id: int, name: str) -> bool:
    """Remove the feature and its counts; False when the tenant has no feature of that name."""
    await lock_tenant(conn, tenant_id)  # no rollup still folding for it can add rows after this
    removed = (await conn.execute(
        text(f"DELETE FROM features WHERE {CURRENT_TENANT} AND name = :name RETURNING tenant_id, id"),
        {"name": name.strip()})).first()
    if removed is None:
        return False
    await conn.execute(text("DELETE FROM feature_user_days WHERE tenant_id = :tenant AND feature_id = :id"),
                       {"tenant": removed.tenant_id, "id": removed.id})
    return True


async def feature_matchers(conn: AsyncConnection, tenant_id: int) -> Sequence[tuple[int, Matcher]]:
    """(id, matcher) of every feature of the tenant, for the rollup consumer."""
    rows = await conn.execute(text("SELECT id, matcher FROM features WHERE tenant_id = :tenant ORDER BY id"),
                              {"tenant": tenant_id})
    return [(int(row.id), parse_matcher(row.matcher)) for row in rows]
