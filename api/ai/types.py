"""Types of the AI operations graph (analytics.ai): figures, series points, breakdown rows."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import strawberry

from analytics.ai import stats
from analytics.ai.requests import AIRequestRow
from analytics.ai.sketch import RELATIVE_ACCURACY
from api.common import BigInt, Granularity, Period, change_of, compared

SKETCH_NOTE = (
    f"Percentiles come from a DDSketch kept per local day (relative error at most "
    f"{RELATIVE_ACCURACY:.0%} against the exact lower-rank percentile) and cover the whole local "
    "days the range touches."
)
MONEY_NOTE = "US dollars, rounded to 6 decimals."
PREVIOUS_NOTE = "With compare: the same row's figures in the comparison period (zeros when it had none)."


@strawberry.enum(description="What a cost breakdown groups by.")
class CostDimension(enum.Enum):
    MODEL = "model"
    PROVIDER = "provider"
    AGENT = "agent"
    TOOL = "tool"
    USER = "user"
    CONVERSATION = "conversation"


@strawberry.type(
    description="Tokens and cost of one usage type (input, output, cache_read, cache_write, "
    "reasoning; client: costs clients gave for requests; tool: tool call costs)."
)
class UsageTypeCost:
    usage_type: str
    tokens: BigInt
    cost: float = strawberry.field(description=MONEY_NOTE)


@strawberry.type(description="Tokens that no price covers, by model and usage type: never valued at 0.")
class UnpricedTokens:
    provider: str
    model: str
    usage_type: str
    tokens: BigInt


@strawberry.type(description="The compared figures of a cost summary.")
class CostFigures:
    total: float = strawberry.field(description="Cost in the range, " + MONEY_NOTE)
    unpriced_tokens: BigInt = strawberry.field(description="Tokens without a price in the range.")
    requests: int = strawberry.field(description="AIRequest events in the range.")
    projected_month: float = strawberry.field(
        description=("total / days of the range * days in the month of the range's last day, " + MONEY_NOTE)
    )

    @staticmethod
    def values(summary: stats.CostSummary) -> dict[str, Any]:
        return {
            "total": stats.money(summary.total),
            "unpriced_tokens": summary.unpriced_tokens,
            "requests": summary.requests,
            "projected_month": stats.money(summary.projected_month),
        }


@change_of(CostFigures)
class CostChange: ...


@strawberry.type(description="What AI cost in the range: the total, by usage type, the unpriced tokens.")
class CostSummary(CostFigures):
    currency: str = strawberry.field(description="Always USD.")
    by_usage_type: list[UsageTypeCost]
    unpriced: list[UnpricedTokens] = strawberry.field(description="Unpriced tokens by model and usage type.")
    previous: CostFigures | None
    change: CostChange | None


@strawberry.type(description="The figures of one bucket of an AI series.")
class AIFigures:
    cost: float = strawberry.field(description=MONEY_NOTE)
    tokens: BigInt
    unpriced_tokens: BigInt
    requests: int = strawberry.field(description="AIRequest events (for a tool: its calls).")
    errors: int = strawberry.field(description="Requests (for a tool: calls) with status error.")
    error_rate: float | None = strawberry.field(description="errors / requests * 100.")
    tool_calls: int

    @staticmethod
    def values(point: stats.Point, tool: bool = False) -> dict[str, Any]:
        requests = point.tool_calls if tool else point.requests
        return {
            "cost": stats.money(point.cost),
            "tokens": point.tokens,
            "unpriced_tokens": point.unpriced_tokens,
            "requests": requests,
            "errors": point.errors,
            "error_rate": stats.error_rate(point.errors, requests),
            "tool_calls": point.tool_calls,
        }


@change_of(AIFigures)
class AIChange: ...


@strawberry.type(description="One bucket of an AI series; empty buckets are zeros.")
class AIPoint(AIFigures):
    start: datetime = strawberry.field(description="Bucket start in the tenant's time zone.")
    previous: AIFigures | None = strawberry.field(
        description="With compare: the bucket at the same position in the comparison period (zeros "
        "past its end)."
    )
    change: AIChange | None

    @classmethod
    def of(
        cls, point: stats.Point, tz: ZoneInfo, tool: bool = False, before: stats.Point | None = None
    ) -> AIPoint:
        values = AIFigures.values(point, tool)
        then = None if before is None else AIFigures.values(before, tool)
        start = point.start.astimezone(tz)
        return cls(start=start, **values, **compared(AIFigures, AIChange, values, then))  # type: ignore[arg-type]


@strawberry.type(description="An AI series over the range.")
class AISeries:
    granularity: Granularity
    points: list[AIPoint]
    comparison_period: Period | None = strawberry.field(
        default=None, description="The period the points' previous figures come from, when compare is given."
    )


@strawberry.type(description="The compared figures of a cost breakdown row.")
class CostBreakdownFigures:
    cost: float = strawberry.field(description=MONEY_NOTE)
    tokens: BigInt
    unpriced_tokens: BigInt
    requests: int = strawberry.field(description="AIRequest events (TOOL: tool calls).")
    share: float | None = strawberry.field(
        description="cost / the total cost of the period the rows cover * 100 (USER and "
        "CONVERSATION rows cover the whole local days the range touches; the others the range)."
    )

    @staticmethod
    def values(item: stats.CostItem | None, total: Decimal) -> dict[str, Any]:
        cost = item.cost if item else Decimal(0)
        return {
            "cost": stats.money(cost),
            "tokens": item.tokens if item else 0,
            "unpriced_tokens": item.unpriced_tokens if item else 0,
            "requests": item.requests if item else 0,
            "share": round(float(cost / total * 100), 2) if total else None,
        }


@change_of(CostBreakdownFigures)
class CostBreakdownChange: ...


@strawberry.type(description="One row of a cost breakdown, the most expensive first.")
class CostBreakdownItem(CostBreakdownFigures):
    key: str = strawberry.field(
        description="The model, provider, agent, tool, user key (u:/a:) or "
        "conversation id; '' for requests without one."
    )
    provider: str | None = strawberry.field(description="The model's provider (MODEL only).")
    previous: CostBreakdownFigures | None = strawberry.field(
        description="With compare: the same key's figures in the comparison period (zeros when it had none)."
    )
    change: CostBreakdownChange | None


@strawberry.type(description="The compared figures of request statistics.")
class RequestFigures:
    count: int = strawberry.field(description="AIRequest events.")
    errors: int = strawberry.field(description="Requests with status error.")
    cancelled: int
    error_rate: float | None = strawberry.field(
        description="errors / count * 100 (cancelled are not errors)."
    )
    tokens: BigInt = strawberry.field(description="All token types together.")
    cost: float = strawberry.field(description=MONEY_NOTE)
    unpriced_tokens: BigInt
    latency_p50: float | None = strawberry.field(description="Milliseconds. " + SKETCH_NOTE)
    latency_p95: float | None = strawberry.field(description="Milliseconds.")
    latency_p99: float | None = strawberry.field(description="Milliseconds.")
    time_to_first_token_p50: float | None = strawberry.field(description="Milliseconds.")

    @staticmethod
    def values(s: stats.RequestStats) -> dict[str, Any]:
        return {
            "count": s.requests,
            "errors": s.errors,
            "cancelled": s.cancelled,
            "error_rate": s.error_rate,
            "tokens": s.tokens,
            "cost": stats.money(s.cost),
            "unpriced_tokens": s.unpriced_tokens,
            "latency_p50": s.latency_p50,
            "latency_p95": s.latency_p95,
            "latency_p99": s.latency_p99,
            "time_to_first_token_p50": s.ttft_p50,
        }


@change_of(RequestFigures)
class RequestChange: ...


@strawberry.type(description="AI request statistics over the range, optionally compared.")
class RequestStats(RequestFigures):
    previous: RequestFigures | None
    change: RequestChange | None


@strawberry.type(description="One AI request as sent, with its cost.")
class AIRequest:
    id: str
    occurred_at: datetime
    provider: str
    model: str
    agent: str | None
    tool: str | None
    conversation_id: str | None
    user_id: str | None
    status: str
    error_class: str | None
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    latency_ms: int | None
    time_to_first_token_ms: int | None
    cost: float | None = strawberry.field(
        description="Null when some of its tokens have no price. " + MONEY_NOTE
    )
    client_cost: bool = strawberry.field(description="The cost is the one the client sent.")

    @classmethod
    def of(cls, row: AIRequestRow) -> AIRequest:
        values = dict(row.__dict__)
        values["id"] = str(row.id)
        values["cost"] = None if row.cost is None else stats.money(row.cost)
        return cls(**values)


@strawberry.type
class AIRequestEdge:
    cursor: str
    node: AIRequest


@strawberry.type(description="One model's requests in the range.")
class ModelUsage:
    provider: str
    model: str
    priced: bool = strawberry.field(description="The price table (library or yours) has a price for it.")
    stats: RequestFigures
    previous: RequestFigures | None = strawberry.field(description=PREVIOUS_NOTE)
    change: RequestChange | None


@strawberry.type(description="One agent's figures in the range (cost includes its tool calls' costs).")
class AgentUsage:
    name: str
    stats: RequestFigures
    tool_calls: int
    conversations: int = strawberry.field(
        description="Distinct conversations of the agent on the range's days."
    )
    previous: RequestFigures | None = strawberry.field(description=PREVIOUS_NOTE)
    change: RequestChange | None


@strawberry.type(description="The compared figures of a tool's calls.")
class ToolFigures:
    calls: int
    errors: int
    error_rate: float | None = strawberry.field(description="errors / calls * 100.")
    average_duration_ms: float | None
    duration_p50: float | None = strawberry.field(description="Milliseconds. " + SKETCH_NOTE)
    duration_p95: float | None
    duration_p99: float | None
    cost: float = strawberry.field(description="Costs the tool calls carried, " + MONEY_NOTE)

    @staticmethod
    def values(t: stats.ToolUsage | None) -> dict[str, Any]:
        if t is None:
            return {
                "calls": 0,
                "errors": 0,
                "error_rate": None,
                "average_duration_ms": None,
                "duration_p50": None,
                "duration_p95": None,
                "duration_p99": None,
                "cost": 0.0,
            }
        return {
            "calls": t.calls,
            "errors": t.errors,
            "error_rate": t.error_rate,
            "average_duration_ms": t.average_duration_ms,
            "duration_p50": t.duration_p50,
            "duration_p95": t.duration_p95,
            "duration_p99": t.duration_p99,
            "cost": stats.money(t.cost),
        }


@change_of(ToolFigures)
class ToolChange: ...


@strawberry.type(description="One tool's calls in the range.")
class ToolStats(ToolFigures):
    name: str
    previous: ToolFigures | None = strawberry.field(description=PREVIOUS_NOTE)
    change: ToolChange | None

    @classmethod
    def of(
        cls, t: stats.ToolUsage, before: stats.ToolUsage | None = None, compare: bool = False
    ) -> ToolStats:
        values = ToolFigures.values(t)
        then = ToolFigures.values(before) if compare else None
        return cls(name=t.tool, **values, **compared(ToolFigures, ToolChange, values, then))  # type: ignore[arg-type]


@strawberry.type(
    description="One conversation: its turns (ConversationMessage events), requests, tokens "
    "and cost on the range's days."
)
class ConversationSummary:
    id: str
    agent: str
    turns: int
    requests: int
    tokens: BigInt
    unpriced_tokens: BigInt
    cost: float = strawberry.field(description=MONEY_NOTE)
    first_at: datetime
    last_at: datetime
    duration_seconds: float

    @classmethod
    def of(cls, c: stats.Conversation) -> ConversationSummary:
        return cls(
            id=c.id,
            agent=c.agent,
            turns=c.turns,
            requests=c.requests,
            tokens=c.tokens,
            unpriced_tokens=c.unpriced_tokens,
            cost=stats.money(c.cost),
            first_at=c.first_at,
            last_at=c.last_at,
            duration_seconds=c.duration_seconds,
        )


@strawberry.type(description="Conversation figures over the range's days.")
class ConversationFigures:
    conversations: int
    turns: int
    requests: int
    tokens: BigInt
    cost: float = strawberry.field(description=MONEY_NOTE)
    average_turns: float | None = strawberry.field(description="turns / conversations.")
    average_duration_seconds: float | None = strawberry.field(description="Sum of durations / conversations.")
    average_cost: float | None = strawberry.field(description="cost / conversations.")

    @staticmethod
    def values(s: stats.ConversationStats) -> dict[str, Any]:
        return {
            "conversations": s.conversations,
            "turns": s.turns,
            "requests": s.requests,
            "tokens": s.tokens,
            "cost": stats.money(s.cost),
            "average_turns": s.average_turns,
            "average_duration_seconds": s.average_duration_seconds,
            "average_cost": None if s.average_cost is None else stats.money(s.average_cost),
        }


@change_of(ConversationFigures)
class ConversationChange: ...


@strawberry.type(description="Conversation statistics, optionally compared.")
class ConversationStats(ConversationFigures):
    previous: ConversationFigures | None
    change: ConversationChange | None


@strawberry.type(description="The figures of one bucket of the conversation series.")
class ConversationPointFigures:
    conversations: int = strawberry.field(description="Conversations active in the bucket.")
    turns: int
    cost: float = strawberry.field(description=MONEY_NOTE)

    @staticmethod
    def values(point: tuple[int, int, Decimal]) -> dict[str, Any]:
        conversations, turns, cost = point
        return {"conversations": conversations, "turns": turns, "cost": stats.money(cost)}


@change_of(ConversationPointFigures)
class ConversationPointChange: ...


@strawberry.type(description="One bucket of the conversation series (conversations active in it).")
class ConversationPoint(ConversationPointFigures):
    start: datetime = strawberry.field(description="Bucket start in the tenant's time zone.")
    previous: ConversationPointFigures | None = strawberry.field(
        description="With compare: the bucket at the same position in the comparison period (zeros "
        "past its end)."
    )
    change: ConversationPointChange | None


@strawberry.type
class ConversationSeries:
    granularity: Granularity
    points: list[ConversationPoint]
    comparison_period: Period | None = strawberry.field(
        default=None, description="The period the points' previous figures come from, when compare is given."
    )


@strawberry.type(description="A price row: USD per million tokens of one usage type from an instant on.")
class ModelPrice:
    provider: str
    model: str
    usage_type: str
    source: str = strawberry.field(description="library (genai-prices) or tenant (setModelPrice).")
    effective_from: datetime
    above_input_tokens: BigInt = strawberry.field(
        description="0, or a tier: the price of requests whose input (uncached + cache read + cache "
        "write tokens) exceeds this many tokens, for all their tokens of the usage type."
    )
    usd_per_million_tokens: float
