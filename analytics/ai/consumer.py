"""The costs consumer (analytics.rollups.consumers): prices the claimed AI events with the price in
force at each event's instant and writes the AI rollups, split ``bot`` per tenant-local day; its
``verify`` prices the raw events again in SQL, from the same price table, and compares.

Usage, requests and tool calls are kept twice from the same fold: per local hour (``*_hourly``, read
for hour series and the partial first and last day of a period) and per local day (``*_daily``, the
same keys with ``day`` for ``bucket``, read for the whole days of a period: a month reads ~30 rows per
key instead of ~720, and their count depends on the keys seen in a day, not on the requests)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from analytics.ai.fold import CostFold, fold_costs, models_seen
from analytics.ai.prices import CLIENT, PRICE_SQL, TOKEN_FIELD, TOOL, ensure_models, price_book
from analytics.ai.sketch import bin_sql
from analytics.rollups.consumers import KEPT, Claim, Consumer, Difference, compare

# table: (key columns with their SQL types, value columns with types, how a conflict merges)
_TABLES: dict[str, tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...], str]] = {
    "ai_usage_hourly": (
        (
            ("bucket", "timestamptz"),
            ("bot", "boolean"),
            ("provider", "text"),
            ("model", "text"),
            ("agent", "text"),
            ("tool", "text"),
            ("usage_type", "text"),
        ),
        (("tokens", "bigint"), ("unpriced_tokens", "bigint"), ("cost", "numeric")),
        "tokens = t.tokens + EXCLUDED.tokens, unpriced_tokens = t.unpriced_tokens + "
        "EXCLUDED.unpriced_tokens, "
        "cost = t.cost + EXCLUDED.cost",
    ),
    "ai_requests_hourly": (
        (
            ("bucket", "timestamptz"),
            ("bot", "boolean"),
            ("provider", "text"),
            ("model", "text"),
            ("agent", "text"),
            ("status", "text"),
        ),
        (("requests", "bigint"),),
        "requests = t.requests + EXCLUDED.requests",
    ),
    "ai_tools_hourly": (
        (
            ("bucket", "timestamptz"),
            ("bot", "boolean"),
            ("tool", "text"),
            ("agent", "text"),
            ("status", "text"),
        ),
        (("calls", "bigint"), ("duration_ms", "bigint")),
        "calls = t.calls + EXCLUDED.calls, duration_ms = t.duration_ms + EXCLUDED.duration_ms",
    ),
    "ai_sketches_daily": (
        (
            ("day", "date"),
            ("bot", "boolean"),
            ("measure", "text"),
            ("subject", "text"),
            ("agent", "text"),
            ("bin", "integer"),
        ),
        (("count", "bigint"),),
        "count = t.count + EXCLUDED.count",
    ),
    "ai_spend_daily": (
        (("day", "date"), ("bot", "boolean"), ("dimension", "text"), ("key", "text"), ("agent", "text")),
        (
            ("requests", "bigint"),
            ("turns", "bigint"),
            ("tokens", "bigint"),
            ("unpriced_tokens", "bigint"),
            ("cost", "numeric"),
            ("first_at", "timestamptz"),
            ("last_at", "timestamptz"),
        ),
        "requests = t.requests + EXCLUDED.requests, turns = t.turns + EXCLUDED.turns, "
        "tokens = t.tokens + EXCLUDED.tokens, unpriced_tokens = t.unpriced_tokens + "
        "EXCLUDED.unpriced_tokens, "
        "cost = t.cost + EXCLUDED.cost, first_at = least(t.first_at, EXCLUDED.first_at), "
        "last_at = greatest(t.last_at, EXCLUDED.last_at)",
    ),
}
HOURLY = ("ai_usage_hourly", "ai_requests_hourly", "ai_tools_hourly")


def daily_of(table: str) -> str:
    return table.replace("_hourly", "_daily")


for _hourly in HOURLY:  # the daily twin: the same keys and merge, ``day`` for ``bucket``
    _keys, _values, _merge = _TABLES[_hourly]
    _TABLES[daily_of(_hourly)] = ((("day", "date"), *_keys[1:]), _values, _merge)
TABLES = tuple(_TABLES)


def columns(table: str) -> tuple[str, ...]:
    """The columns of a costs rollup table after ``tenant_id``: keys, then values."""
    keys, values, _ = _TABLES[table]
    return tuple(c for c, _ in (*keys, *values))


def _arrays(columns: Sequence[tuple[str, str]]) -> str:
    """The rows as parameter arrays, one per column, typed."""
    return ", ".join(f"CAST(:{c} AS {t}[])" for c, t in columns)


def _upsert(table: str, source: str) -> str:
    """Upsert ``source``'s rows into ``table`` in key order (PostgreSQL sorts them: concurrent
    writers never deadlock, and the fold sorts nothing)."""
    keys, values, merge = _TABLES[table]
    names = ", ".join(c for c, _ in (*keys, *values))
    order = ", ".join(c for c, _ in keys)
    # Any total order will do: bytewise ("C") compares text faster than the database's collation.
    ordered = ", ".join(f'{c} COLLATE "C"' if t == "text" else c for c, t in keys)
    return (
        f"INSERT INTO {table} AS t (tenant_id, {names}) SELECT :tenant, {names} FROM {source} "
        f"ORDER BY {ordered} ON CONFLICT (tenant_id, {order}) DO UPDATE SET {merge}"
    )


def _hourly_and_daily(hourly: str) -> str:
    """One statement for an hourly table and its daily twin: the hourly rows sent once, summed per
    tenant-local day in SQL for the twin."""
    keys, values, _ = _TABLES[hourly]
    columns = ", ".join(c for c, _ in (*keys, *values))
    rest = ", ".join(c for c, _ in keys[1:])
    sums = ", ".join(f"sum({c}) AS {c}" for c, _ in values)
    per_day = (
        f"(SELECT (bucket AT TIME ZONE CAST(:tz AS text))::date AS day, {rest}, {sums} FROM rows "
        f"GROUP BY 1, {rest}) AS d"
    )
    return (
        f"WITH rows AS (SELECT * FROM unnest({_arrays((*keys, *values))}) AS r({columns})), "
        f"hourly AS ({_upsert(hourly, 'rows')}) {_upsert(daily_of(hourly), per_day)}"
    )


def _daily(table: str) -> str:
    columns = (*_TABLES[table][0], *_TABLES[table][1])
    return _upsert(table, f"unnest({_arrays(columns)}) AS r({', '.join(c for c, _ in columns)})")


# ai_spend_keys: an upper bound of each user's and conversation's cost with the days it was seen, only
# ever added to (corrections add again, expiry leaves it), so it never falls below the daily rows'
# sum: analytics.ai.breakdowns ranks keys by it. Filled from the spend rows in the same statement.
KEYS_TABLE = "ai_spend_keys"
_SPEND_KEYS = (
    f"INSERT INTO {KEYS_TABLE} AS t (tenant_id, dimension, key, cost_bound, first_day, last_day) "
    "SELECT :tenant, dimension, key, sum(cost), min(day), max(day) FROM rows GROUP BY dimension, key "
    'ORDER BY dimension COLLATE "C", key COLLATE "C" ON CONFLICT (tenant_id, dimension, key) DO UPDATE SET '
    "cost_bound = t.cost_bound + EXCLUDED.cost_bound, first_day = least(t.first_day, EXCLUDED.first_day), "
    "last_day = greatest(t.last_day, EXCLUDED.last_day)"
)


# ai_spend_weeks: the same bound per key and fortnight (the ISO week ``week`` and the next), so a
# range of at most two ISO weeks is ranked by two weeks of each key's cost (analytics.ai.ranking).
# A day's cost goes to the two fortnights holding it: those starting on its week's Monday and the one
# before.
WEEKS_TABLE = "ai_spend_weeks"


def fortnights(day: str) -> str:
    """The Mondays of the two fortnights holding the local day ``day`` (an SQL date), as VALUES."""
    monday = f"{day} - extract(isodow FROM {day})::int"
    return f"(VALUES ({monday} + 1), ({monday} - 6))"


_SPEND_WEEKS = (
    f"INSERT INTO {WEEKS_TABLE} AS t (tenant_id, dimension, week, key, cost_bound) "
    f"SELECT :tenant, dimension, w.week, key, sum(cost) FROM rows CROSS JOIN LATERAL {fortnights('day')} "
    'AS w(week) GROUP BY dimension, w.week, key ORDER BY dimension COLLATE "C", w.week, key COLLATE "C" '
    "ON CONFLICT (tenant_id, dimension, week, key) DO UPDATE SET cost_bound = t.cost_bound + "
    "EXCLUDED.cost_bound"
)


def _spend_and_keys() -> str:
    keys, values, _ = _TABLES["ai_spend_daily"]
    columns = ", ".join(c for c, _ in (*keys, *values))
    return (
        f"WITH rows AS (SELECT * FROM unnest({_arrays((*keys, *values))}) AS r({columns})), "
        f"spend AS ({_upsert('ai_spend_daily', 'rows')}), weeks AS ({_SPEND_WEEKS}) {_SPEND_KEYS}"
    )


_UPSERTS = {
    **{table: text(_hourly_and_daily(table)) for table in HOURLY},
    "ai_sketches_daily": text(_daily("ai_sketches_daily")),
    "ai_spend_daily": text(_spend_and_keys()),
}


def _rows(fold: CostFold) -> dict[str, list[tuple[Any, ...]]]:
    """Each upsert's rows (the hourly ones also fill their daily twins), unsorted."""
    return {
        "ai_usage_hourly": [(*k, *v) for k, v in fold.usage.items()],
        "ai_requests_hourly": [(*k, v) for k, v in fold.requests.items()],
        "ai_tools_hourly": [(*k, *v) for k, v in fold.tools.items()],
        "ai_sketches_daily": [(*k, v) for k, v in fold.sketches.items()],
        "ai_spend_daily": [(*k, *v) for k, v in fold.spend.items()],
    }


async def write_fold(conn: AsyncConnection, tenant_id: int, fold: CostFold, tz: ZoneInfo) -> None:
    """One statement per table (an hourly table with its daily twin), rows in key order."""
    for table, rows in _rows(fold).items():
        if rows:
            keys, values, _ = _TABLES[table]
            names = [c for c, _ in (*keys, *values)]
            await conn.execute(
                _UPSERTS[table],
                {
                    "tenant": tenant_id,
                    "tz": tz.key,
                    **{name: [row[i] for row in rows] for i, name in enumerate(names)},
                },
            )


async def _consume(conn: AsyncConnection, claim: Claim) -> None:
    seen = models_seen(claim.events)
    if not seen and not any(e.ai or e.type == "ConversationMessage" for e in claim.events):
        return
    await ensure_models(conn, claim.tenant_id, seen)
    book = await price_book(conn, claim.tenant_id, seen)
    await write_fold(conn, claim.tenant_id, fold_costs(claim.with_bot(), claim.tz, book), claim.tz)


_USAGE_FIELDS = ", ".join(f"('{u}', '{f}')" for u, f in TOKEN_FIELD.items())
# The recomputation: every AI event of the kept days with its session's side, local hour and day.
_EVENTS = f""",
ev AS (
    SELECT e.id, e.tenant_id, e.type, e.occurred_at, e.user_id, e.anonymous_id, e.ai, e.capsule,
           coalesce(s.excluded, false) AS bot, coalesce(e.ai->>'agent', '') AS agent,
           e.occurred_at - make_interval(mins => extract(minute FROM l.at)::int,
                                         secs => extract(second FROM l.at)) AS bucket,
           l.at::date AS day
    FROM events e LEFT JOIN sessions s ON s.tenant_id = e.tenant_id AND s.id = e.session_key
    CROSS JOIN LATERAL (SELECT e.occurred_at AT TIME ZONE (SELECT timezone FROM kept)) AS l(at)
    WHERE e.tenant_id = :tenant AND e.occurred_at >= (SELECT at FROM kept)
      AND e.type IN ('AIRequest', 'ToolCall', 'ConversationMessage')
),
used AS (
    SELECT e.*, u.usage, CAST(e.ai->>u.field AS bigint) AS tokens, e.ai ? 'cost' AS given,
           {PRICE_SQL} AS price
    FROM ev e CROSS JOIN (VALUES {_USAGE_FIELDS}) AS u(usage, field)
    WHERE e.type = 'AIRequest' AND coalesce(CAST(e.ai->>u.field AS bigint), 0) > 0
),
priced AS (
    SELECT *, CASE WHEN NOT given AND price IS NULL THEN tokens ELSE 0 END AS unpriced,
           CASE WHEN given OR price IS NULL THEN 0 ELSE tokens * price * 0.000001 END AS cost
    FROM used
),
request AS (
    SELECT e.*, coalesce(p.tokens, 0) AS tokens, coalesce(p.unpriced, 0) AS unpriced,
           CASE WHEN e.ai ? 'cost' THEN CAST(e.ai->>'cost' AS numeric) ELSE coalesce(p.cost, 0) END AS cost
    FROM ev e LEFT JOIN (SELECT id, sum(tokens) AS tokens, sum(unpriced) AS unpriced, sum(cost) AS cost
                         FROM priced GROUP BY id) p ON p.id = e.id
    WHERE e.type = 'AIRequest'
)
"""
_KEPT_HOUR = "WHERE tenant_id = :tenant AND bucket >= (SELECT at FROM kept)"
_KEPT_DAY = "WHERE tenant_id = :tenant AND day >= (SELECT day FROM kept)"
_CHECKS = {
    "ai_usage_hourly": (
        f"""SELECT bucket, bot, ai->>'provider', ai->>'model', agent, coalesce(ai->>'tool', ''), usage,
                  sum(tokens), sum(unpriced), sum(cost) FROM priced GROUP BY 1, 2, 3, 4, 5, 6, 7
           UNION ALL
           SELECT bucket, bot, ai->>'provider', ai->>'model', agent, coalesce(ai->>'tool', ''),
                  '{CLIENT}', 0, 0,
                  sum(CAST(ai->>'cost' AS numeric)) FROM ev WHERE type = 'AIRequest' AND ai ? 'cost'
           GROUP BY 1, 2, 3, 4, 5, 6
           UNION ALL
           SELECT bucket, bot, '', '', agent, ai->>'tool', '{TOOL}', 0, 0, sum(CAST(ai->>'cost' AS numeric))
           FROM ev WHERE type = 'ToolCall' AND ai ? 'cost' GROUP BY 1, 2, 3, 4, 5, 6""",
        "SELECT bucket, bot, provider, model, agent, tool, usage_type, tokens, unpriced_tokens, cost "
        f"FROM ai_usage_hourly {_KEPT_HOUR}",
    ),
    "ai_requests_hourly": (
        "SELECT bucket, bot, ai->>'provider', ai->>'model', agent, coalesce(ai->>'status', 'ok'), count(*) "
        "FROM ev WHERE type = 'AIRequest' GROUP BY 1, 2, 3, 4, 5, 6",
        f"SELECT bucket, bot, provider, model, agent, status, requests FROM ai_requests_hourly {_KEPT_HOUR}",
    ),
    "ai_tools_hourly": (
        "SELECT bucket, bot, ai->>'tool', agent, coalesce(ai->>'status', 'ok'), count(*), "
        "coalesce(sum(CAST(ai->>'durationMs' AS bigint)), 0) FROM ev WHERE type = 'ToolCall' "
        "GROUP BY 1, 2, 3, 4, 5",
        f"SELECT bucket, bot, tool, agent, status, calls, duration_ms FROM ai_tools_hourly {_KEPT_HOUR}",
    ),
    "ai_sketches_daily": (
        "SELECT day, bot, measure, subject, agent, bin, count(*) FROM ("
        f"SELECT day, bot, 'latency' AS measure, ai->>'model' AS subject, agent, "
        f"{bin_sql(chr(40) + 'ai->>' + chr(39) + 'latencyMs' + chr(39) + ')::int')} AS bin "
        "FROM ev WHERE type = 'AIRequest' AND ai ? 'latencyMs' UNION ALL "
        f"SELECT day, bot, 'ttft', ai->>'model', agent, "
        f"{bin_sql(chr(40) + 'ai->>' + chr(39) + 'timeToFirstTokenMs' + chr(39) + ')::int')} "
        "FROM ev WHERE type = 'AIRequest' AND ai ? 'timeToFirstTokenMs' UNION ALL "
        f"SELECT day, bot, 'tool', ai->>'tool', agent, "
        f"{bin_sql(chr(40) + 'ai->>' + chr(39) + 'durationMs' + chr(39) + ')::int')} "
        "FROM ev WHERE type = 'ToolCall' AND ai ? 'durationMs') s GROUP BY 1, 2, 3, 4, 5, 6",
        f"SELECT day, bot, measure, subject, agent, bin, count FROM ai_sketches_daily {_KEPT_DAY}",
    ),
    "ai_spend_daily": (
        """SELECT day, bot, dimension, key, agent, sum(requests), sum(turns), sum(tokens), sum(unpriced),
                  sum(cost), min(occurred_at), max(occurred_at) FROM (
             SELECT day, bot, 'user' AS dimension, coalesce('u:' || user_id, 'a:' || anonymous_id) AS key,
                    agent,
                    1 AS requests, 0 AS turns, tokens, unpriced, cost, occurred_at
             FROM request WHERE user_id IS NOT NULL OR anonymous_id IS NOT NULL
             UNION ALL
             SELECT day, bot, 'conversation', ai->>'conversationId', agent, 1, 0, tokens, unpriced, cost,
                    occurred_at
             FROM request WHERE ai ? 'conversationId'
             UNION ALL
             SELECT day, bot, 'conversation', ai->>'conversationId', agent, 0, 0, 0, 0,
                    coalesce(CAST(ai->>'cost' AS numeric), 0), occurred_at
             FROM ev WHERE type = 'ToolCall' AND ai ? 'conversationId'
             UNION ALL
             SELECT day, bot, 'conversation', capsule->>'conversationId', agent, 0, 1, 0, 0, 0, occurred_at
             FROM ev WHERE type = 'ConversationMessage' AND capsule ? 'conversationId') s
           GROUP BY 1, 2, 3, 4, 5""",
        "SELECT day, bot, dimension, key, agent, requests, turns, tokens, unpriced_tokens, cost, first_at, "
        f"last_at FROM ai_spend_daily {_KEPT_DAY}",
    ),
}


for _hourly in HOURLY:  # the daily twins recomputed the same way, grouped by local day
    _want, _have = _CHECKS[_hourly]
    _CHECKS[daily_of(_hourly)] = (
        _want.replace("SELECT bucket, ", "SELECT day, "),
        _have.replace("SELECT bucket, ", "SELECT day, ")
        .replace(_hourly, daily_of(_hourly))
        .replace(_KEPT_HOUR, _KEPT_DAY),
    )


# The bounds hold: every key of the kept daily rows has one at or above its cost, spanning its days.
_KEYS_CHECK = f"""WITH {KEPT}
SELECT count(*) FROM (SELECT dimension, key, sum(cost) AS cost, min(day) AS first_day, max(day) AS last_day
                      FROM ai_spend_daily {_KEPT_DAY} GROUP BY 1, 2) d
LEFT JOIN {KEYS_TABLE} k ON k.tenant_id = :tenant AND k.dimension = d.dimension AND k.key = d.key
WHERE k.key IS NULL OR k.cost_bound < d.cost OR k.first_day > d.first_day OR k.last_day < d.last_day"""


# And every key's fortnights: a bound at or above the key's cost on the kept days of those 14 days.
_WEEKS_CHECK = f"""WITH {KEPT}
SELECT count(*) FROM (SELECT dimension, w.week, key, sum(cost) AS cost FROM ai_spend_daily
                      CROSS JOIN LATERAL {fortnights("day")} AS w(week) {_KEPT_DAY} GROUP BY 1, 2, 3) d
LEFT JOIN {WEEKS_TABLE} k ON k.tenant_id = :tenant AND k.dimension = d.dimension AND k.week = d.week
                         AND k.key = d.key
WHERE k.key IS NULL OR k.cost_bound < d.cost"""


async def _verify(conn: AsyncConnection, tenant_id: int) -> list[Difference]:
    found = [
        await compare(conn, tenant_id, table, want, have, ctes=_EVENTS)
        for table, (want, have) in _CHECKS.items()
    ]
    for table, check in ((KEYS_TABLE, _KEYS_CHECK), (WEEKS_TABLE, _WEEKS_CHECK)):
        below = (await conn.execute(text(check), {"tenant": tenant_id})).scalar_one()
        if below:
            found.append(Difference(table, int(below), 0))
    return [d for d in found if d is not None]


def _clears(tables: Sequence[str]) -> tuple[str, ...]:
    return tuple(
        f"DELETE FROM {t} WHERE tenant_id = :tenant AND "
        + ("bucket >= :start AND bucket < :end" if t.endswith("hourly") else "day = :day")
        for t in tables
    )


COSTS = Consumer(
    "costs",
    _consume,
    _verify,
    day_clears=_clears(TABLES),
    expiry={
        **{
            t: f"DELETE FROM {t} WHERE tenant_id = :tenant AND "
            + ("bucket < (SELECT at FROM kept)" if t.endswith("hourly") else "day < (SELECT day FROM kept)")
            for t in TABLES
        },
        KEYS_TABLE: f"DELETE FROM {KEYS_TABLE} WHERE tenant_id = :tenant "
        "AND last_day < (SELECT day FROM kept)",
        WEEKS_TABLE: f"DELETE FROM {WEEKS_TABLE} WHERE tenant_id = :tenant "
        "AND week + 13 < (SELECT day FROM kept)",
    },
    tables=(*TABLES, KEYS_TABLE, WEEKS_TABLE),
    # The person's spend rows and bound; their requests stay in the other tables as anonymous counts.
    erase=(
        "DELETE FROM ai_spend_daily WHERE tenant_id = :tenant AND dimension = 'user' AND key = :user_key",
        f"DELETE FROM {KEYS_TABLE} WHERE tenant_id = :tenant AND dimension = 'user' AND key = :user_key",
        f"DELETE FROM {WEEKS_TABLE} WHERE tenant_id = :tenant AND dimension = 'user' AND key = :user_key",
    ),
)
