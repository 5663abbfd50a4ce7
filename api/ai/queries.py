"""Tenant fields of AI operations: costs, requests, agents, agent(name), tools, tool(name),
conversations and modelPrices; each reads the costs rollups through analytics.ai.stats."""

from __future__ import annotations

import base64
import binascii
from datetime import date, datetime
from decimal import Decimal
from uuid import UUID

import strawberry

from analytics.ai import stats
from analytics.ai.requests import list_requests
from analytics.ai.service import list_prices
from analytics.periods import Period as DomainPeriod
from analytics.periods import comparison
from api.ai.types import (
    AgentUsage,
    AIPoint,
    AIRequest,
    AIRequestEdge,
    AISeries,
    ConversationChange,
    ConversationFigures,
    ConversationPoint,
    ConversationPointChange,
    ConversationPointFigures,
    ConversationSeries,
    ConversationStats,
    ConversationSummary,
    CostBreakdownChange,
    CostBreakdownFigures,
    CostBreakdownItem,
    CostChange,
    CostDimension,
    CostFigures,
    CostSummary,
    ModelPrice,
    ModelUsage,
    RequestChange,
    RequestFigures,
    RequestStats,
    ToolStats,
    UnpricedTokens,
    UsageTypeCost,
)
from api.common import (
    Compare,
    Granularity,
    Period,
    RangeInput,
    check_granularity,
    check_limit,
    compared,
)
from api.context import AppInfo
from api.errors import BadInput
from api.tours.queries import PageInfo

MAX_LIMIT = 500
MAX_PAGE = 500
STATUSES = ("ok", "error", "cancelled")


@strawberry.type(description="A page of AI requests, newest first.")
class AIRequestConnection:
    edges: list[AIRequestEdge]
    nodes: list[AIRequest]
    page_info: PageInfo
    total_count: int


def _cursor(row: AIRequest) -> str:
    return base64.urlsafe_b64encode(f"{row.occurred_at.isoformat()}|{row.id}".encode()).decode()


def _after(cursor: str | None) -> tuple[datetime, UUID] | None:
    if cursor is None:
        return None
    try:
        at, _, request_id = (
            base64.b64decode(cursor.encode(), altchars=b"-_", validate=True).decode().partition("|")
        )
        return datetime.fromisoformat(at), UUID(request_id)
    except (ValueError, binascii.Error):
        raise BadInput("after", "is not a cursor returned by this field") from None


async def _series(
    info: AppInfo,
    period: DomainPeriod,
    granularity: Granularity | None,
    include_bots: bool,
    compare: Compare | None = None,
    **filters: str | None,
) -> AISeries:
    """The series; with ``compare``, each point beside the comparison period's point at the same
    position (its series has the same granularity; zeros past its end)."""
    chosen, starts = check_granularity(period, granularity)
    before = comparison(period, compare)
    async with info.context.read() as conn:
        points = await stats.series(conn, period, starts, include_bots, **filters)
        then: list[stats.Point] | None = None
        if before is not None:
            _, before_starts = check_granularity(before, chosen)
            then = await stats.series(conn, before, before_starts, include_bots, **filters)
    tool = filters.get("tool") is not None

    def previous(i: int) -> stats.Point | None:
        if then is None:
            return None
        return then[i] if i < len(then) else stats.Point(points[i].start)

    return AISeries(
        granularity=chosen,
        comparison_period=Period.of(before) if before else None,
        points=[AIPoint.of(p, period.tz, tool, previous(i)) for i, p in enumerate(points)],
    )


async def _request_stats(
    info: AppInfo, period: DomainPeriod, compare: Compare | None, include_bots: bool, **filters: str | None
) -> RequestStats:
    async with info.context.read() as conn:
        now = await stats.request_stats(conn, period, include_bots, **filters)
        before = comparison(period, compare)
        then = None if before is None else await stats.request_stats(conn, before, include_bots, **filters)
    values = RequestFigures.values(now)
    return RequestStats(
        **values,
        **compared(  # type: ignore[arg-type]
            RequestFigures, RequestChange, values, RequestFigures.values(then) if then else None
        ),
    )


@strawberry.type(description="What AI cost over a range. Bots are excluded unless includeBots.")
class Costs:
    period: Period
    include_bots: bool
    domain_period: strawberry.Private[DomainPeriod]

    @strawberry.field(description="Total, by usage type, unpriced tokens, requests, projected month.")
    async def summary(self, info: AppInfo, compare: Compare | None = None) -> CostSummary:
        async with info.context.read() as conn:
            now = await stats.cost_summary(conn, self.domain_period, self.include_bots)
            before = comparison(self.domain_period, compare)
            then = None if before is None else await stats.cost_summary(conn, before, self.include_bots)
        values = CostFigures.values(now)
        return CostSummary(
            **values,
            currency="USD",
            by_usage_type=[
                UsageTypeCost(usage_type=u, tokens=t, cost=stats.money(c))
                for u, (t, c) in sorted(now.by_usage_type.items())
            ],
            unpriced=[
                UnpricedTokens(provider=u.provider, model=u.model, usage_type=u.usage_type, tokens=u.tokens)
                for u in now.unpriced
            ],
            **compared(
                CostFigures,
                CostChange,
                values,  # type: ignore[arg-type]
                CostFigures.values(then) if then else None,
            ),
        )

    @strawberry.field(description="Cost, tokens and requests per bucket, empty buckets as zeros.")
    async def trends(
        self, info: AppInfo, granularity: Granularity | None = None, compare: Compare | None = None
    ) -> AISeries:
        return await _series(info, self.domain_period, granularity, self.include_bots, compare)

    @strawberry.field(
        description="Cost by model, provider, agent, tool, user or conversation, the most "
        "expensive first (limit at most 500)."
    )
    async def breakdown(
        self, info: AppInfo, by: CostDimension, limit: int = 10, compare: Compare | None = None
    ) -> list[CostBreakdownItem]:
        check_limit("limit", limit, MAX_LIMIT)
        before = comparison(self.domain_period, compare)
        async with info.context.read() as conn:
            rows = await stats.breakdown(conn, self.domain_period, by.value, limit, self.include_bots)
            covered = stats.breakdown_period(self.domain_period, by.value)
            total = (await stats.cost_summary(conn, covered, self.include_bots)).total
            then: dict[tuple[str, str | None], stats.CostItem] | None = None
            if before is not None:
                keys = sorted({r.key for r in rows})
                found = await stats.breakdown(conn, before, by.value, MAX_LIMIT, self.include_bots, keys)
                then = {(r.key, r.provider): r for r in found}
                then_covered = stats.breakdown_period(before, by.value)
                then_total = (await stats.cost_summary(conn, then_covered, self.include_bots)).total
        items = []
        for r in rows:
            values = CostBreakdownFigures.values(r, total)
            previous = None
            if then is not None:
                previous = CostBreakdownFigures.values(then.get((r.key, r.provider)), then_total)
            items.append(
                CostBreakdownItem(
                    key=r.key,
                    provider=r.provider,
                    **values,
                    **compared(CostBreakdownFigures, CostBreakdownChange, values, previous),  # type: ignore[arg-type]
                )
            )
        return items


@strawberry.type(description="AI requests over a range. Bots are excluded unless includeBots.")
class Requests:
    period: Period
    include_bots: bool
    domain_period: strawberry.Private[DomainPeriod]

    @strawberry.field(
        description="Count, error rate, latency percentiles, tokens; model (exact) and agent narrow it."
    )
    async def stats(
        self,
        info: AppInfo,
        compare: Compare | None = None,
        model: str | None = None,
        agent: str | None = None,
    ) -> RequestStats:
        return await _request_stats(
            info, self.domain_period, compare, self.include_bots, model=model, agent=agent
        )

    @strawberry.field(
        name="list",
        description="Single requests, newest first (first at most 500); model "
        "matches any "
        "part of the name; status: ok, error or cancelled.",
    )
    async def list_(
        self,
        info: AppInfo,
        first: int = 50,
        after: str | None = None,
        model: str | None = None,
        agent: str | None = None,
        status: str | None = None,
    ) -> AIRequestConnection:
        check_limit("first", first, MAX_PAGE)
        if status is not None and status not in STATUSES:
            raise BadInput("status", "must be ok, error or cancelled")
        async with info.context.read() as conn:
            rows, total = await list_requests(
                conn,
                self.domain_period,
                self.include_bots,
                first=first,
                after=_after(after),
                model=model,
                agent=agent,
                status=status,
            )
        nodes = [AIRequest.of(r) for r in rows[:first]]
        edges = [AIRequestEdge(cursor=_cursor(n), node=n) for n in nodes]
        return AIRequestConnection(
            edges=edges,
            nodes=nodes,
            total_count=total,
            page_info=PageInfo(
                has_next_page=len(rows) > first, end_cursor=edges[-1].cursor if edges else None
            ),
        )

    @strawberry.field(description="Requests, errors, tokens and cost per bucket, empty buckets as zeros.")
    async def trends(
        self,
        info: AppInfo,
        granularity: Granularity | None = None,
        model: str | None = None,
        agent: str | None = None,
        compare: Compare | None = None,
    ) -> AISeries:
        return await _series(
            info, self.domain_period, granularity, self.include_bots, compare, model=model, agent=agent
        )

    @strawberry.field(description="Models used in the range, the most requests first (limit at most 500).")
    async def models(
        self, info: AppInfo, limit: int = 20, compare: Compare | None = None
    ) -> list[ModelUsage]:
        check_limit("limit", limit, MAX_LIMIT)
        before = comparison(self.domain_period, compare)
        async with info.context.read() as conn:
            rows = await stats.models(conn, self.domain_period, self.include_bots, limit)
            then = [
                None
                if before is None
                else await stats.request_stats(conn, before, self.include_bots, model=m.model)
                for m in rows
            ]
        found = []
        for m, t in zip(rows, then, strict=True):
            values = RequestFigures.values(m.stats)
            found.append(
                ModelUsage(
                    provider=m.provider,
                    model=m.model,
                    priced=m.priced,
                    stats=RequestFigures(**values),
                    **compared(  # type: ignore[arg-type]
                        RequestFigures, RequestChange, values, RequestFigures.values(t) if t else None
                    ),
                )
            )
        return found


async def _agents(
    info: AppInfo,
    period: DomainPeriod,
    include_bots: bool,
    limit: int,
    name: str | None = None,
    compare: Compare | None = None,
) -> list[AgentUsage]:
    before = comparison(period, compare)
    async with info.context.read() as conn:
        names = await stats.agent_names(conn, period, include_bots, limit, name)
        found = [await stats.agent_usage(conn, period, include_bots, n) for n in names[:limit]]
        then = [
            None if before is None else await stats.agent_usage(conn, before, include_bots, n)
            for n in names[:limit]
        ]
    agents = []
    for a, t in zip(found, then, strict=True):
        values = RequestFigures.values(a.stats)
        agents.append(
            AgentUsage(
                name=a.agent,
                stats=RequestFigures(**values),
                tool_calls=a.tool_calls,
                conversations=a.conversations,
                **compared(  # type: ignore[arg-type]
                    RequestFigures, RequestChange, values, RequestFigures.values(t.stats) if t else None
                ),
            )
        )
    return agents


async def _tools(
    info: AppInfo,
    period: DomainPeriod,
    include_bots: bool,
    limit: int,
    compare: Compare | None,
    *,
    tool: str | None = None,
    agent: str | None = None,
) -> list[ToolStats]:
    """Tools by calls; with ``compare``, each beside the same tool's figures in the comparison period."""
    before = comparison(period, compare)
    async with info.context.read() as conn:
        rows = await stats.tools(conn, period, include_bots, limit, tool=tool, agent=agent)
        then = [
            None
            if before is None
            else await stats.tools(conn, before, include_bots, 1, tool=t.tool, agent=agent)
            for t in rows
        ]
    return [
        ToolStats.of(t, p[0] if p else None, compare=before is not None)
        for t, p in zip(rows, then, strict=True)
    ]


@strawberry.type(description="Agents (gen_ai.agent.name) over a range.")
class Agents:
    period: Period
    include_bots: bool
    domain_period: strawberry.Private[DomainPeriod]

    @strawberry.field(
        name="list", description="Agents with their figures, the most expensive first (limit at most 500)."
    )
    async def list_(self, info: AppInfo, limit: int = 20, compare: Compare | None = None) -> list[AgentUsage]:
        check_limit("limit", limit, MAX_LIMIT)
        return await _agents(info, self.domain_period, self.include_bots, limit, compare=compare)

    @strawberry.field(description="All requests together (with or without an agent), optionally compared.")
    async def stats(self, info: AppInfo, compare: Compare | None = None) -> RequestStats:
        return await _request_stats(info, self.domain_period, compare, self.include_bots)

    @strawberry.field(description="Requests, cost and tool calls per bucket.")
    async def trends(
        self, info: AppInfo, granularity: Granularity | None = None, compare: Compare | None = None
    ) -> AISeries:
        return await _series(info, self.domain_period, granularity, self.include_bots, compare)


@strawberry.type(description="One agent over a range.")
class Agent:
    name: str
    period: Period
    include_bots: bool
    domain_period: strawberry.Private[DomainPeriod]

    @strawberry.field(description="The agent's requests, optionally compared.")
    async def stats(self, info: AppInfo, compare: Compare | None = None) -> RequestStats:
        return await _request_stats(info, self.domain_period, compare, self.include_bots, agent=self.name)

    @strawberry.field(description="The agent's requests, cost and tool calls per bucket.")
    async def trends(
        self, info: AppInfo, granularity: Granularity | None = None, compare: Compare | None = None
    ) -> AISeries:
        return await _series(
            info, self.domain_period, granularity, self.include_bots, compare, agent=self.name
        )

    @strawberry.field(description="The tools the agent called, the most calls first.")
    async def tools(self, info: AppInfo, limit: int = 20, compare: Compare | None = None) -> list[ToolStats]:
        check_limit("limit", limit, MAX_LIMIT)
        return await _tools(info, self.domain_period, self.include_bots, limit, compare, agent=self.name)

    @strawberry.field(description="The agent's conversations, the latest first.")
    async def conversations(self, info: AppInfo, limit: int = 20) -> list[ConversationSummary]:
        check_limit("limit", limit, MAX_LIMIT)
        async with info.context.read() as conn:
            rows = await stats.conversations(
                conn, self.domain_period, self.include_bots, limit, agent=self.name
            )
        return [ConversationSummary.of(c) for c in rows]


@strawberry.type(description="Tool calls over a range.")
class Tools:
    period: Period
    include_bots: bool
    domain_period: strawberry.Private[DomainPeriod]

    @strawberry.field(description="Each tool's calls, errors, durations and cost, the most calls first.")
    async def stats(self, info: AppInfo, limit: int = 20, compare: Compare | None = None) -> list[ToolStats]:
        check_limit("limit", limit, MAX_LIMIT)
        return await _tools(info, self.domain_period, self.include_bots, limit, compare)

    @strawberry.field(description="Tool calls per bucket (toolCalls), empty buckets as zeros.")
    async def trends(
        self, info: AppInfo, granularity: Granularity | None = None, compare: Compare | None = None
    ) -> AISeries:
        return await _series(info, self.domain_period, granularity, self.include_bots, compare)


@strawberry.type(description="One tool over a range.")
class Tool:
    name: str
    period: Period
    include_bots: bool
    domain_period: strawberry.Private[DomainPeriod]

    @strawberry.field(description="The tool's calls, errors, durations and cost (null without calls).")
    async def stats(self, info: AppInfo, compare: Compare | None = None) -> ToolStats | None:
        rows = await _tools(info, self.domain_period, self.include_bots, 1, compare, tool=self.name)
        return rows[0] if rows else None

    @strawberry.field(description="The tool's calls (requests), errors and cost per bucket.")
    async def trends(
        self, info: AppInfo, granularity: Granularity | None = None, compare: Compare | None = None
    ) -> AISeries:
        return await _series(
            info, self.domain_period, granularity, self.include_bots, compare, tool=self.name
        )


@strawberry.type(
    description="Conversations over a range: turns are ConversationMessage events, requests "
    "and cost come from AIRequest and ToolCall events naming the conversation."
)
class Conversations:
    period: Period
    include_bots: bool
    domain_period: strawberry.Private[DomainPeriod]

    @strawberry.field(description="Conversations, turns, duration, tokens and cost, optionally compared.")
    async def stats(
        self, info: AppInfo, compare: Compare | None = None, agent: str | None = None
    ) -> ConversationStats:
        async with info.context.read() as conn:
            now = await stats.conversation_stats(conn, self.domain_period, self.include_bots, agent=agent)
            before = comparison(self.domain_period, compare)
            then = (
                None
                if before is None
                else await stats.conversation_stats(conn, before, self.include_bots, agent=agent)
            )
        values = ConversationFigures.values(now)
        return ConversationStats(
            **values,
            **compared(  # type: ignore[arg-type]
                ConversationFigures,
                ConversationChange,
                values,
                ConversationFigures.values(then) if then else None,
            ),
        )

    @strawberry.field(
        description="Conversations active, turns and cost per bucket (DAY or longer); with compare, "
        "each point beside the comparison period's point at the same position."
    )
    async def trends(
        self,
        info: AppInfo,
        granularity: Granularity | None = None,
        agent: str | None = None,
        compare: Compare | None = None,
    ) -> ConversationSeries:
        chosen, starts = check_granularity(self.domain_period, granularity or Granularity.DAY)
        if chosen is Granularity.HOUR:
            raise BadInput("granularity", "conversations are kept per day: use DAY, WEEK or MONTH")
        before = comparison(self.domain_period, compare)
        async with info.context.read() as conn:
            points = await stats.conversation_series(
                conn, self.domain_period, _days(self.domain_period, starts), self.include_bots, agent=agent
            )
            then = None
            if before is not None:
                _, before_starts = check_granularity(before, chosen)
                then = await stats.conversation_series(
                    conn, before, _days(before, before_starts), self.include_bots, agent=agent
                )

        def point(i: int, start: datetime) -> ConversationPoint:
            values = ConversationPointFigures.values(points[i])
            previous = None
            if then is not None:
                previous = ConversationPointFigures.values(then[i] if i < len(then) else (0, 0, Decimal(0)))
            return ConversationPoint(
                start=start.astimezone(self.domain_period.tz),
                **values,
                **compared(ConversationPointFigures, ConversationPointChange, values, previous),  # type: ignore[arg-type]
            )

        return ConversationSeries(
            granularity=chosen,
            points=[point(i, s) for i, s in enumerate(starts)],
            comparison_period=None if before is None else Period.of(before),
        )

    @strawberry.field(name="list", description="Conversations, the latest first (limit at most 500).")
    async def list_(
        self, info: AppInfo, limit: int = 20, agent: str | None = None
    ) -> list[ConversationSummary]:
        check_limit("limit", limit, MAX_LIMIT)
        async with info.context.read() as conn:
            rows = await stats.conversations(conn, self.domain_period, self.include_bots, limit, agent=agent)
        return [ConversationSummary.of(c) for c in rows]


def _days(period: DomainPeriod, starts: list[datetime]) -> list[date]:
    return [s.astimezone(period.tz).date() for s in starts]


def _period(info: AppInfo, range: RangeInput) -> DomainPeriod:
    return range.resolve(info.context.require_secret().timezone)


def costs(info: AppInfo, range: RangeInput, include_bots: bool) -> Costs:
    period = _period(info, range)
    return Costs(period=Period.of(period), include_bots=include_bots, domain_period=period)


def requests(info: AppInfo, range: RangeInput, include_bots: bool) -> Requests:
    period = _period(info, range)
    return Requests(period=Period.of(period), include_bots=include_bots, domain_period=period)


def agents(info: AppInfo, range: RangeInput, include_bots: bool) -> Agents:
    period = _period(info, range)
    return Agents(period=Period.of(period), include_bots=include_bots, domain_period=period)


def agent(info: AppInfo, name: str, range: RangeInput, include_bots: bool) -> Agent:
    period = _period(info, range)
    return Agent(name=name, period=Period.of(period), include_bots=include_bots, domain_period=period)


def tools(info: AppInfo, range: RangeInput, include_bots: bool) -> Tools:
    period = _period(info, range)
    return Tools(period=Period.of(period), include_bots=include_bots, domain_period=period)


def tool(info: AppInfo, name: str, range: RangeInput, include_bots: bool) -> Tool:
    period = _period(info, range)
    return Tool(name=name, period=Period.of(period), include_bots=include_bots, domain_period=period)


def conversations(info: AppInfo, range: RangeInput, include_bots: bool) -> Conversations:
    period = _period(info, range)
    return Conversations(period=Period.of(period), include_bots=include_bots, domain_period=period)


async def model_prices(info: AppInfo, provider: str | None, model: str | None) -> list[ModelPrice]:
    info.context.require_secret()
    async with info.context.read() as conn:
        rows = await list_prices(conn, provider=provider, model=model)
    return [
        ModelPrice(
            provider=r.provider,
            model=r.model,
            usage_type=r.usage_type,
            source=r.source,
            effective_from=r.effective_from,
            above_input_tokens=r.above_input_tokens,
            usd_per_million_tokens=float(r.usd_per_mtok),
        )
        for r in rows
    ]
