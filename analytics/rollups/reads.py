"""Reading the counters: one query shape for every entity (tours, content), with the table that fits
the period (daily counters for whole local days, hourly ones otherwise) and the bot filter."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from analytics.db import CURRENT_TENANT, HUMANS_UNLESS_INCLUDE_BOTS
from analytics.periods import Period, hour_floor


def ids_filter(column: str) -> str:
    """``column`` is one of the ids of the ``:ids`` parameter, or ``:ids`` is NULL (every id)."""
    return f"(CAST(:ids AS text[]) IS NULL OR {column} = ANY(CAST(:ids AS text[])))"


ENTITY_IDS = ids_filter("entity_id")


def counter_window(period: Period) -> tuple[str, str, dict[str, Any]]:
    """The counter table that fits the period, its time filter and parameters."""
    if period.days:
        return "counters_daily", "day BETWEEN :first AND :last", {"first": period.days[0],
                                                                   "last": period.days[1]}
    return ("counters_hourly", "bucket >= :start AND bucket < :end",
            {"start": hour_floor(period.start, period.tz), "end": period.end})


async def counter_rows(conn: AsyncConnection, *, entity_type: str, entity_ids: Sequence[str] | None,
                       period: Period, by: str, include_bots: bool = False
                       ) -> list[tuple[str, datetime | date | None, str, int]]:
    """(entity id, bucket or day or None, metric, sum) of whole-entity counters over the period;
    ``by`` is total, bucket (hour buckets, or days from the daily table) or day."""
    table, time_filter, params = counter_window(period)
    group = {"total": "NULL", "bucket": "day" if period.days else "bucket", "day": "day"}[by]
    sql = (f"SELECT entity_id, {group} AS at, metric, sum(value) FROM {table} "
           f"WHERE {CURRENT_TENANT} AND entity_type = :type AND step_index = -1 AND {time_filter} "
           f"AND {HUMANS_UNLESS_INCLUDE_BOTS} AND {ENTITY_IDS} GROUP BY 1, 2, 3")
    params.update(type=entity_type, ids=list(entity_ids) if entity_ids is not None else None,
                  include_bots=include_bots)
    return [(r[0], r[1], r[2], int(r[3])) for r in await conn.execute(text(sql), params)]
