"""AI analytics from the costs rollups: cost summary, series and breakdowns; request, model, agent,
tool and conversation figures. Usage, requests and tool calls are read from the daily tables for the
period's whole local days and the hourly ones for its other hours (analytics.ai.spans); sketches and
per-user / per-conversation spend are daily, so they cover the local days the period touches.

Definitions (one each): error_rate = requests with status error / requests * 100 (cancelled ones
are not errors); projected_month = cost / days of the period * days in the month of its last day;
a conversation's duration = its last event - its first (turns, requests and tool calls).
"""

from __future__ import annotations

import calendar
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from analytics import metrics
from analytics.ai.fold import CONVERSATION, USER
from analytics.ai.ranking import top_by_bound
from analytics.ai.sketch import quantile
from analytics.ai.spans import DAYS, SPANS, matching, source, window
from analytics.periods import Period, hour_floor, local_midnight

BREAKDOWNS = ("model", "provider", "agent", "tool", "user", "conversation")
DAILY_ONLY = (USER, CONVERSATION)  # spend kept per local day only


def breakdown_period(period: Period, by: str) -> Period:
    """The period a breakdown by ``by`` covers, whose total cost its shares divide: per-user and
    per-conversation spend is kept per local day, so those rows cover the whole local days the period
    touches (a ``since: "36h"`` range's first and last day whole); the others cover the period."""
    return period.whole_days() if by in DAILY_ONLY else period
USAGE, REQUESTS, TOOLS = SPANS["ai_usage_hourly"], SPANS["ai_requests_hourly"], SPANS["ai_tools_hourly"]


def money(value: Decimal | None) -> float:
    return float(round(value or Decimal(0), 6))


def error_rate(errors: int, requests: int) -> float | None:
    """error_rate = requests with status error / requests * 100."""
    return metrics.rate(errors, requests)


@dataclass(frozen=True)
class Unpriced:
    provider: str
    model: str
    usage_type: str
    tokens: int


@dataclass(frozen=True)
class CostSummary:
    total: Decimal
    by_usage_type: dict[str, tuple[int, Decimal]]  # usage type -> (tokens, cost)
    unpriced: list[Unpriced]
    requests: int
    projected_month: Decimal

    @property
    def unpriced_tokens(self) -> int:
        return sum(u.tokens for u in self.unpriced)


def projected_month(total: Decimal, period: Period) -> Decimal:
    days = (period.last_day - period.first_day).days + 1
    last = period.last_day
    return total / days * calendar.monthrange(last.year, last.month)[1]


async def cost_summary(conn: AsyncConnection, period: Period, include_bots: bool) -> CostSummary:
    params = window(period, include_bots)
    usage = (
        await conn.execute(
            text(
                "SELECT provider, model, usage_type, sum(tokens), sum(unpriced_tokens), sum(cost) FROM "
                f"{USAGE} AS s WHERE true GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
            ),
            params,
        )
    ).all()
    requests = (
        await conn.execute(text(f"SELECT coalesce(sum(requests), 0) FROM {REQUESTS} AS s WHERE true"), params)
    ).scalar_one()
    by_usage: dict[str, tuple[int, Decimal]] = {}
    for _, _, usage_type, tokens, _, cost in usage:
        seen = by_usage.get(usage_type, (0, Decimal(0)))
        by_usage[usage_type] = (seen[0] + int(tokens), seen[1] + cost)
    total = sum((c for _, c in by_usage.values()), Decimal(0))
    unpriced = [Unpriced(r[0], r[1], r[2], int(r[4])) for r in usage if r[4]]
    return CostSummary(total, by_usage, unpriced, int(requests), projected_month(total, period))


@dataclass
class Point:
    """One bucket of an AI series."""

    start: datetime
    cost: Decimal = Decimal(0)
    tokens: int = 0
    unpriced_tokens: int = 0
    requests: int = 0
    errors: int = 0
    tool_calls: int = 0


async def series(
    conn: AsyncConnection,
    period: Period,
    starts: Sequence[datetime],
    include_bots: bool,
    **filters: str | None,
) -> list[Point]:
    """Cost, tokens, requests, errors and tool calls per bucket (``starts``), empty ones as zeros;
    ``filters``: model, agent, tool."""
    params = window(period, include_bots, **filters)
    points = [Point(s) for s in starts]
    bounds = [hour_floor(s, period.tz) for s in starts]
    # Daily rows fall whole into a bucket unless a bucket starts inside a day (hour series).
    hourly = any(s != local_midnight(s.astimezone(period.tz).date(), period.tz) for s in starts)
    usage, requests, tools = (
        source(t, hourly) for t in ("ai_usage_hourly", "ai_requests_hourly", "ai_tools_hourly")
    )

    def at(bucket: datetime) -> Point:
        return points[max(bisect_right(bounds, bucket) - 1, 0)]

    for bucket, tokens, unpriced, cost in await conn.execute(
        text(
            "SELECT bucket, sum(tokens), sum(unpriced_tokens), sum(cost) FROM "
            f"{usage}{matching('model', 'agent', 'tool')} GROUP BY 1"
        ),
        params,
    ):
        point = at(bucket)
        point.tokens += int(tokens)
        point.unpriced_tokens += int(unpriced)
        point.cost += cost
    if filters.get("tool") is None:
        for bucket, count, errors in await conn.execute(
            text(
                "SELECT bucket, sum(requests), sum(requests) FILTER (WHERE status = 'error') "
                f"FROM {requests}{matching('model', 'agent')} GROUP BY 1"
            ),
            params,
        ):
            point = at(bucket)
            point.requests += int(count)
            point.errors += int(errors or 0)
    if filters.get("model") is None:
        for bucket, calls, errors in await conn.execute(
            text(
                "SELECT bucket, sum(calls), sum(calls) FILTER (WHERE status = 'error') FROM "
                f"{tools}{matching('agent', 'tool')} GROUP BY 1"
            ),
            params,
        ):
            point = at(bucket)
            point.tool_calls += int(calls)
            if filters.get("tool") is not None:
                point.errors += int(errors or 0)
    return points


@dataclass(frozen=True)
class CostItem:
    key: str
    provider: str | None
    cost: Decimal
    tokens: int
    unpriced_tokens: int
    requests: int


async def breakdown(
    conn: AsyncConnection,
    period: Period,
    by: str,
    limit: int,
    include_bots: bool,
    keys: Sequence[str] | None = None,
) -> list[CostItem]:
    """Cost by one dimension, the most expensive first (then by tokens, then key); only ``keys``
    when given (a comparison's rows). ``requests``: AI requests (tool calls for ``tool``)."""
    params = {**window(period, include_bots), "limit": limit, "dimension": by, "keys": keys}
    if by in DAILY_ONLY:
        sql = (
            "SELECT key, NULL, sum(cost) AS cost, sum(tokens) AS tokens, sum(unpriced_tokens), "
            "sum(requests) "
            f"FROM ai_spend_daily WHERE {DAYS} AND dimension = :dimension GROUP BY 1"
        )
    elif by == "tool":
        sql = (
            "WITH u AS (SELECT tool AS key, sum(cost) AS cost, sum(tokens) AS tokens, "
            f"sum(unpriced_tokens) AS unpriced FROM {USAGE} AS s WHERE true AND tool <> '' GROUP "
            f"BY 1), "
            f"c AS (SELECT tool AS key, sum(calls) AS calls FROM {TOOLS} AS s WHERE true GROUP BY "
            f"1) "
            "SELECT key, NULL, coalesce(u.cost, 0) AS cost, coalesce(u.tokens, 0) AS tokens, "
            "coalesce(u.unpriced, 0), coalesce(c.calls, 0) FROM u FULL JOIN c USING (key)"
        )
    else:
        key = {"model": "model", "provider": "provider", "agent": "agent"}[by]
        provider = "provider" if by == "model" else "''"  # '' (not NULL) joins in USING
        group = "1, 2" if by == "model" else "1"
        sql = (
            f"WITH u AS (SELECT {key} AS key, {provider} AS provider, sum(cost) AS cost, sum(tokens) AS "
            f"tokens, "
            f"sum(unpriced_tokens) AS unpriced FROM {USAGE} AS s WHERE true AND usage_type <> "
            f"'tool' "
            f"GROUP BY {group}), "
            f"r AS (SELECT {key} AS key, {provider} AS provider, sum(requests) AS requests "
            f"FROM {REQUESTS} AS s WHERE true GROUP BY {group}) "
            "SELECT key, NULLIF(provider, ''), coalesce(u.cost, 0) AS cost, coalesce(u.tokens, 0) AS "
            "tokens, "
            "coalesce(u.unpriced, 0), coalesce(r.requests, 0) FROM u FULL JOIN r USING (key, provider)"
        )
        if by == "agent":  # tool call costs belong to their agent too
            sql = sql.replace("AND usage_type <> 'tool' ", "")
    order = 'ORDER BY cost DESC, tokens DESC, key COLLATE "C" LIMIT :limit'
    keyed = by in DAILY_ONLY
    scan = text(
        f"SELECT * FROM ({sql}) b WHERE CAST(:keys AS text[]) IS NULL OR key = ANY(CAST(:keys AS text[])) "
        + order
    )
    # Given keys' rows through the key index: a prepared statement's generic plan cannot use an index
    # for "keys IS NULL OR key = ANY(keys)" and scans the whole period instead.
    of_keys = text(sql.replace("GROUP BY 1", "AND key = ANY(CAST(:keys AS text[])) GROUP BY 1") + " " + order)

    async def items(keys: Sequence[str] | None, limit: int) -> list[CostItem]:
        statement = of_keys if keyed and keys is not None else scan
        rows = await conn.execute(statement, {**params, "keys": keys, "limit": limit})
        return [CostItem(r[0], r[1], r[2], int(r[3]), int(r[4]), int(r[5])) for r in rows]

    if keyed and keys is None:  # rank by the bounds; the scan answers when they do not settle it
        ranked = await top_by_bound(conn, params, by, limit, lambda chunk: items(chunk, len(chunk)))
        if ranked is not None:
            return ranked
    return await items(keys, limit)


@dataclass(frozen=True)
class RequestStats:
    requests: int
    errors: int
    cancelled: int
    tokens: int
    cost: Decimal
    unpriced_tokens: int
    latency_p50: float | None
    latency_p95: float | None
    latency_p99: float | None
    ttft_p50: float | None

    @property
    def error_rate(self) -> float | None:
        return error_rate(self.errors, self.requests)


async def _sketch(
    conn: AsyncConnection, params: dict[str, Any], measure: str, subject: str | None = None
) -> list[tuple[int, int]]:
    rows = await conn.execute(
        text(
            f"SELECT bin, sum(count) FROM ai_sketches_daily WHERE {DAYS} AND measure = :measure "
            "AND (CAST(:subject AS text) IS NULL OR subject = :subject)"
            f"{matching('agent')} GROUP BY 1"
        ),
        {**params, "measure": measure, "subject": subject},
    )
    return [(int(b), int(c)) for b, c in rows]


async def request_stats(
    conn: AsyncConnection,
    period: Period,
    include_bots: bool,
    *,
    model: str | None = None,
    agent: str | None = None,
) -> RequestStats:
    params = window(period, include_bots, model=model, agent=agent)
    requests, errors, cancelled = (
        await conn.execute(
            text(
                "SELECT coalesce(sum(requests), 0), coalesce(sum(requests) FILTER (WHERE status = "
                "'error'), 0), "
                "coalesce(sum(requests) FILTER (WHERE status = 'cancelled'), 0) FROM "
                f"{REQUESTS} AS s WHERE true{matching('model', 'agent')}"
            ),
            params,
        )
    ).one()
    tokens, unpriced, cost = (
        await conn.execute(
            text(
                "SELECT coalesce(sum(tokens), 0), coalesce(sum(unpriced_tokens), 0), coalesce(sum(cost), 0) "
                f"FROM {USAGE} AS s WHERE true AND usage_type <> 'tool'{matching('model', 'agent')}"
            ),
            params,
        )
    ).one()
    latency = await _sketch(conn, params, "latency", model)
    ttft = await _sketch(conn, params, "ttft", model)
    return RequestStats(
        int(requests),
        int(errors),
        int(cancelled),
        int(tokens),
        cost,
        int(unpriced),
        quantile(latency, 0.5),
        quantile(latency, 0.95),
        quantile(latency, 0.99),
        quantile(ttft, 0.5),
    )


@dataclass(frozen=True)
class ModelUsage:
    provider: str
    model: str
    priced: bool  # the price table has a price of this model (library or the tenant's)
    stats: RequestStats


async def models(conn: AsyncConnection, period: Period, include_bots: bool, limit: int) -> list[ModelUsage]:
    params = {**window(period, include_bots), "limit": limit}
    pairs = (
        await conn.execute(
            text(
                "SELECT provider, model, EXISTS (SELECT 1 FROM model_prices p WHERE p.tenant_id = "
                "r.tenant_id "
                f"AND p.provider = r.provider AND p.model = r.model) FROM {REQUESTS} AS r "
                "WHERE true GROUP BY r.tenant_id, 1, 2 ORDER BY sum(requests) DESC, 1, 2 LIMIT :limit"
            ),
            params,
        )
    ).all()
    return [
        ModelUsage(p, m, bool(priced), await request_stats(conn, period, include_bots, model=m))
        for p, m, priced in pairs
    ]


@dataclass(frozen=True)
class AgentUsage:
    agent: str
    stats: RequestStats
    tool_calls: int
    conversations: int


async def agent_names(
    conn: AsyncConnection, period: Period, include_bots: bool, limit: int, name: str | None = None
) -> list[str]:
    params = {**window(period, include_bots, agent=name), "limit": limit}
    agent = f" AND agent <> ''{matching('agent')}"
    return [
        r[0]
        for r in await conn.execute(
            text(
                f"SELECT agent FROM (SELECT agent, sum(cost) AS cost FROM {USAGE} AS s WHERE true{agent} "
                f"GROUP BY 1 UNION ALL SELECT agent, 0 FROM {TOOLS} AS s WHERE true{agent} "
                f"UNION ALL SELECT agent, 0 FROM {REQUESTS} AS s WHERE true{agent}) a "
                "GROUP BY 1 ORDER BY sum(cost) DESC, 1 LIMIT :limit"
            ),
            params,
        )
    ]


async def agent_usage(conn: AsyncConnection, period: Period, include_bots: bool, agent: str) -> AgentUsage:
    params = window(period, include_bots, agent=agent)
    calls = (
        await conn.execute(
            text(f"SELECT coalesce(sum(calls), 0) FROM {TOOLS} AS s WHERE true{matching('agent')}"),
            params,
        )
    ).scalar_one()
    conversations = (
        await conn.execute(
            text(
                f"SELECT count(DISTINCT key) FROM ai_spend_daily WHERE {DAYS} AND dimension = 'conversation'"
                f"{matching('agent')}"
            ),
            params,
        )
    ).scalar_one()
    stats = await request_stats(conn, period, include_bots, agent=agent)
    tool_cost = (
        await conn.execute(
            text(
                f"SELECT coalesce(sum(cost), 0) FROM {USAGE} AS s WHERE true AND usage_type = 'tool'"
                f"{matching('agent')}"
            ),
            params,
        )
    ).scalar_one()
    stats = RequestStats(**{**stats.__dict__, "cost": stats.cost + tool_cost})
    return AgentUsage(agent, stats, int(calls), int(conversations))


@dataclass(frozen=True)
class ToolUsage:
    tool: str
    calls: int
    errors: int
    duration_ms: int
    cost: Decimal
    duration_p50: float | None
    duration_p95: float | None
    duration_p99: float | None

    @property
    def error_rate(self) -> float | None:
        return error_rate(self.errors, self.calls)

    @property
    def average_duration_ms(self) -> float | None:
        return round(self.duration_ms / self.calls, 1) if self.calls else None


async def tools(
    conn: AsyncConnection,
    period: Period,
    include_bots: bool,
    limit: int,
    *,
    tool: str | None = None,
    agent: str | None = None,
) -> list[ToolUsage]:
    params = {**window(period, include_bots, tool=tool, agent=agent), "limit": limit}
    rows = (
        await conn.execute(
            text(
                "WITH c AS (SELECT tool, sum(calls) AS calls, sum(calls) FILTER (WHERE status = 'error') "
                "AS errors, "
                f"sum(duration_ms) AS duration FROM {TOOLS} AS s WHERE true{matching('tool', 'agent')} GROUP "
                f"BY 1), "
                f"u AS (SELECT tool, sum(cost) AS cost FROM {USAGE} AS s WHERE true AND usage_type = "
                f"'tool'"
                f"{matching('tool', 'agent')} GROUP BY 1) "
                "SELECT c.tool, c.calls, coalesce(c.errors, 0), c.duration, coalesce(u.cost, 0) FROM c "
                "LEFT JOIN u "
                "USING (tool) "
                "ORDER BY c.calls DESC, c.tool LIMIT :limit"
            ),
            params,
        )
    ).all()
    found = []
    for name, calls, errors, duration, cost in rows:
        bins = await _sketch(conn, {**params, "agent": agent}, "tool", name)
        found.append(
            ToolUsage(
                name,
                int(calls),
                int(errors),
                int(duration),
                cost,
                quantile(bins, 0.5),
                quantile(bins, 0.95),
                quantile(bins, 0.99),
            )
        )
    return found


@dataclass(frozen=True)
class Conversation:
    id: str
    agent: str
    turns: int
    requests: int
    tokens: int
    unpriced_tokens: int
    cost: Decimal
    first_at: datetime
    last_at: datetime

    @property
    def duration_seconds(self) -> float:
        return metrics.seconds((self.last_at - self.first_at).total_seconds())


_CONVERSATIONS = (
    "SELECT key, max(agent), sum(turns), sum(requests), sum(tokens), sum(unpriced_tokens), sum(cost), "
    f"min(first_at), max(last_at) FROM ai_spend_daily WHERE {DAYS} AND dimension = 'conversation'"
    f"{matching('agent')} GROUP BY 1"
)


async def conversations(
    conn: AsyncConnection, period: Period, include_bots: bool, limit: int, *, agent: str | None = None
) -> list[Conversation]:
    """The conversations active in the period's days, the latest first."""
    params = {**window(period, include_bots, agent=agent), "limit": limit}
    rows = await conn.execute(text(f"{_CONVERSATIONS} ORDER BY max(last_at) DESC, 1 LIMIT :limit"), params)
    return [
        Conversation(r[0], r[1], int(r[2]), int(r[3]), int(r[4]), int(r[5]), r[6], r[7], r[8]) for r in rows
    ]


@dataclass(frozen=True)
class ConversationStats:
    conversations: int
    turns: int
    requests: int
    tokens: int
    cost: Decimal
    duration_seconds: float
    by_agent: dict[str, int] = field(default_factory=dict)

    @property
    def average_turns(self) -> float | None:
        return round(self.turns / self.conversations, 2) if self.conversations else None

    @property
    def average_duration_seconds(self) -> float | None:
        return metrics.seconds(self.duration_seconds / self.conversations) if self.conversations else None

    @property
    def average_cost(self) -> Decimal | None:
        return self.cost / self.conversations if self.conversations else None


async def conversation_stats(
    conn: AsyncConnection, period: Period, include_bots: bool, *, agent: str | None = None
) -> ConversationStats:
    params = window(period, include_bots, agent=agent)
    rows = (await conn.execute(text(_CONVERSATIONS), params)).all()
    return ConversationStats(
        len(rows),
        sum(int(r[2]) for r in rows),
        sum(int(r[3]) for r in rows),
        sum(int(r[4]) for r in rows),
        sum((r[6] for r in rows), Decimal(0)),
        sum((r[8] - r[7]).total_seconds() for r in rows),
    )


async def conversation_series(
    conn: AsyncConnection,
    period: Period,
    days: Sequence[date],
    include_bots: bool,
    *,
    agent: str | None = None,
) -> list[tuple[int, int, Decimal]]:
    """Per bucket (first local day of each, ascending): conversations active, turns, cost."""
    params = window(period, include_bots, agent=agent)
    keys: list[set[str]] = [set() for _ in days]
    turns = [0 for _ in days]
    costs = [Decimal(0) for _ in days]
    for day, key, day_turns, cost in await conn.execute(
        text(
            "SELECT day, key, sum(turns), sum(cost) FROM ai_spend_daily "
            f"WHERE {DAYS} AND dimension = 'conversation'{matching('agent')} GROUP BY 1, 2"
        ),
        params,
    ):
        i = max(bisect_right(list(days), day) - 1, 0)
        keys[i].add(key)
        turns[i] += int(day_turns)
        costs[i] += cost
    return [(len(k), t, c) for k, t, c in zip(keys, turns, costs, strict=True)]
