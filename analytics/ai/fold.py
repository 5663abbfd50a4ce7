"""Fold AI events into the costs rollup's rows in memory (pure: prices come in a PriceBook).

AIRequest: tokens and cost per hour, provider, model, agent, tool and usage type (a client-given cost
wins over the price table: its tokens count, under usage type ``client`` goes the cost); requests per
status; latency and time to first token into the day's sketches; spend per user and conversation.
ToolCall: calls and duration per hour, duration sketch, a given cost under usage type ``tool``.
ConversationMessage: a turn of its conversation (capsule.conversationId; ai.agent names the agent).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, localcontext
from typing import Any
from zoneinfo import ZoneInfo

from analytics.ai.prices import CLIENT, TOKEN_FIELD, TOOL, USAGE_TYPES, PriceBook, request_context
from analytics.ai.sketch import bin_of
from analytics.ingest.catalogue import AI_REQUEST, TOOL_CALL
from analytics.periods import hour_floor
from analytics.rollups.aggregate import RawEvent, user_key

MESSAGE = "ConversationMessage"
USER, CONVERSATION = "user", "conversation"  # ai_spend_daily dimensions
LATENCY, TTFT, TOOL_DURATION = "latency", "ttft", "tool"  # sketch measures

UsageKey = tuple[datetime, bool, str, str, str, str, str]
SpendKey = tuple[date, bool, str, str, str]


def client_cost(ai: dict[str, Any]) -> Decimal | None:
    cost = ai.get("cost")
    return None if cost is None else Decimal(str(cost))


def token_cost(tokens: int, price: Decimal) -> Decimal:
    """tokens * price per million, exact (the caller's context is fold_costs' 60 digits)."""
    return (price * tokens).scaleb(-6)


@dataclass
class CostFold:
    usage: dict[UsageKey, list[Any]] = field(default_factory=dict)  # tokens, unpriced tokens, cost
    requests: Counter[tuple[datetime, bool, str, str, str, str]] = field(default_factory=Counter)
    tools: dict[tuple[datetime, bool, str, str, str], list[int]] = field(default_factory=dict)
    sketches: Counter[tuple[date, bool, str, str, str, int]] = field(default_factory=Counter)
    # requests, turns, tokens, unpriced tokens, cost, first at, last at
    spend: dict[SpendKey, list[Any]] = field(default_factory=dict)

    def add_usage(self, key: UsageKey, tokens: int, unpriced: int, cost: Decimal) -> None:
        row = self.usage.setdefault(key, [0, 0, Decimal(0)])
        row[0] += tokens
        row[1] += unpriced
        row[2] += cost

    def add_spend(
        self,
        key: SpendKey,
        at: datetime,
        *,
        requests: int = 0,
        turns: int = 0,
        tokens: int = 0,
        unpriced: int = 0,
        cost: Decimal = Decimal(0),
    ) -> None:
        row = self.spend.get(key)
        if row is None:
            self.spend[key] = [requests, turns, tokens, unpriced, cost, at, at]
            return
        row[0] += requests
        row[1] += turns
        row[2] += tokens
        row[3] += unpriced
        row[4] += cost
        row[5], row[6] = min(row[5], at), max(row[6], at)


def models_seen(events: Iterable[RawEvent]) -> dict[tuple[str, str], datetime]:
    """(provider, model) of the AIRequest events, each with its first instant."""
    seen: dict[tuple[str, str], datetime] = {}
    for event in events:
        if event.type == AI_REQUEST and event.ai:
            pair = (event.ai["provider"], event.ai["model"])
            seen[pair] = min(seen.get(pair, event.occurred_at), event.occurred_at)
    return seen


def fold_costs(events: Iterable[tuple[RawEvent, bool]], tz: ZoneInfo, book: PriceBook) -> CostFold:
    fold = CostFold()
    with localcontext() as ctx:
        ctx.prec = 60  # sums of exact token costs stay exact
        for event, bot in events:
            _fold_one(fold, event, bot, tz, book)
    return fold


def _fold_one(fold: CostFold, event: RawEvent, bot: bool, tz: ZoneInfo, book: PriceBook) -> None:
    ai = event.ai or {}
    at = event.occurred_at
    if event.type == AI_REQUEST:
        _request(fold, event, ai, bot, tz, book)
    elif event.type == TOOL_CALL:
        hour, day, agent, tool = hour_floor(at, tz), at.astimezone(tz).date(), ai.get("agent", ""), ai["tool"]
        status = ai.get("status", "ok")
        calls = fold.tools.setdefault((hour, bot, tool, agent, status), [0, 0])
        calls[0] += 1
        calls[1] += ai.get("durationMs", 0)
        if "durationMs" in ai:
            fold.sketches[(day, bot, TOOL_DURATION, tool, agent, bin_of(ai["durationMs"]))] += 1
        cost = client_cost(ai)
        if cost is not None:
            fold.add_usage((hour, bot, "", "", agent, tool, TOOL), 0, 0, cost)
        if "conversationId" in ai:
            fold.add_spend((day, bot, CONVERSATION, ai["conversationId"], agent), at, cost=cost or Decimal(0))
    elif event.type == MESSAGE and (event.capsule or {}).get("conversationId"):
        assert event.capsule is not None
        fold.add_spend(
            (
                at.astimezone(tz).date(),
                bot,
                CONVERSATION,
                event.capsule["conversationId"],
                ai.get("agent", ""),
            ),
            at,
            turns=1,
        )


def _request(
    fold: CostFold, event: RawEvent, ai: dict[str, Any], bot: bool, tz: ZoneInfo, book: PriceBook
) -> None:
    at = event.occurred_at
    hour, day = hour_floor(at, tz), at.astimezone(tz).date()
    provider, model = ai["provider"], ai["model"]
    agent, tool = ai.get("agent", ""), ai.get("tool", "")
    fold.requests[(hour, bot, provider, model, agent, ai.get("status", "ok"))] += 1
    given = client_cost(ai)
    tokens = unpriced = 0
    cost = Decimal(0)
    context = request_context(ai)
    for usage in USAGE_TYPES:
        count = ai.get(TOKEN_FIELD[usage], 0)
        if count <= 0:
            continue
        tokens += count
        if given is not None:
            fold.add_usage((hour, bot, provider, model, agent, tool, usage), count, 0, Decimal(0))
            continue
        price = book.price(provider, model, usage, at, context)
        if price is None:
            unpriced += count
            fold.add_usage((hour, bot, provider, model, agent, tool, usage), count, count, Decimal(0))
        else:
            spent = token_cost(count, price)
            cost += spent
            fold.add_usage((hour, bot, provider, model, agent, tool, usage), count, 0, spent)
    if given is not None:
        cost = given
        fold.add_usage((hour, bot, provider, model, agent, tool, CLIENT), 0, 0, given)
    for measure, name in ((LATENCY, "latencyMs"), (TTFT, "timeToFirstTokenMs")):
        if name in ai:
            fold.sketches[(day, bot, measure, model, agent, bin_of(ai[name]))] += 1
    keys: list[SpendKey] = []
    if event.user_id is not None or event.anonymous_id is not None:
        keys.append((day, bot, USER, user_key(event.user_id, event.anonymous_id), agent))
    if "conversationId" in ai:
        keys.append((day, bot, CONVERSATION, ai["conversationId"], agent))
    for key in keys:
        fold.add_spend(key, at, requests=1, tokens=tokens, unpriced=unpriced, cost=cost)
