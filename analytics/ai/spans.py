"""Where the AI reads find a period's rows: the daily tables for its whole local days, the hourly
tables for the hours before the first and after the last whole day (``since: "24h"``, date-times),
so a month reads ~30 rows per key, not ~720. ``window`` gives the parameters every read binds."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from analytics.ai.consumer import HOURLY, columns, daily_of
from analytics.db import CURRENT_TENANT, HUMANS_UNLESS_INCLUDE_BOTS
from analytics.periods import Period, hour_floor, local_midnight

HOURS = f"{CURRENT_TENANT} AND bucket >= :start AND bucket < :end AND {HUMANS_UNLESS_INCLUDE_BOTS}"
DAYS = f"{CURRENT_TENANT} AND day BETWEEN :first AND :last AND {HUMANS_UNLESS_INCLUDE_BOTS}"
_WHOLE_DAYS = (
    f"{CURRENT_TENANT} AND day BETWEEN :whole_first AND :whole_last AND {HUMANS_UNLESS_INCLUDE_BOTS}"
)
_EDGE_HOURS = (
    f"{CURRENT_TENANT} AND (bucket >= :start AND bucket < :whole_start OR bucket >= :whole_end "
    f"AND bucket < :end) AND {HUMANS_UNLESS_INCLUDE_BOTS}"
)


def window(period: Period, include_bots: bool, **filters: Any) -> dict[str, Any]:
    """The bounds of ``period`` for the AI reads: hours ``start``/``end``, the local days it touches
    ``first``/``last``, its whole local days ``whole_first``..``whole_last`` (from ``whole_start`` to
    ``whole_end``; none when ``whole_start`` = ``whole_end``), and the read's filters."""
    start, end, tz = hour_floor(period.start, period.tz), period.end, period.tz
    first_whole = start.astimezone(tz).date()
    if local_midnight(first_whole, tz) < start:
        first_whole += timedelta(days=1)
    last_whole = end.astimezone(tz).date() - timedelta(days=1)
    whole_start: datetime = end
    whole_end: datetime = end
    if first_whole <= last_whole:
        whole_start, whole_end = (
            local_midnight(first_whole, tz),
            local_midnight(last_whole + timedelta(days=1), tz),
        )
    return {
        "start": start,
        "end": end,
        "first": period.first_day,
        "last": period.last_day,
        "whole_first": first_whole,
        "whole_last": last_whole,
        "whole_start": whole_start,
        "whole_end": whole_end,
        "tz": tz.key,
        "include_bots": include_bots,
        "model": None,
        "agent": None,
        "tool": None,
        **filters,
    }


def _span(hourly: str) -> str:
    names = columns(hourly)
    daily = ", ".join(("CAST(day AS timestamp) AT TIME ZONE CAST(:tz AS text) AS bucket", *names[1:]))
    return (
        f"(SELECT tenant_id, {daily} FROM {daily_of(hourly)} WHERE {_WHOLE_DAYS} "
        f"UNION ALL SELECT tenant_id, {', '.join(names)} FROM {hourly} WHERE {_EDGE_HOURS})"
    )


# FROM items: the rows of the period, ``bucket`` the local midnight of a daily row's day. Used as
# ``FROM {SPANS[table]} AS alias WHERE true ...``.
SPANS = {table: _span(table) for table in HOURLY}


def source(table: str, hourly_only: bool = False) -> str:
    """``FROM`` and ``WHERE`` start of a read of ``table`` over the period (``hourly_only``: hour series)."""
    if hourly_only:
        return f"{table} WHERE {HOURS}"
    return f"{SPANS[table]} AS s WHERE true"


def matching(*names: str) -> str:
    """Conditions: each named column equals its parameter, unless the parameter is null."""
    return "".join(f" AND (CAST(:{c} AS text) IS NULL OR {c} = :{c})" for c in names)
