"""Cost before execution: a child's own granularity resizes the series its parent's range makes."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from graphql import parse

from analytics.sessions.derive import MAX_BOT_REASONS
from analytics.traffic.behaviour import BehaviourSignal
from api.cost import operation_cost
from api.schema import schema


def cost(query: str) -> int:
    document = parse(query)
    operation = document.definitions[0]
    return operation_cost(schema._schema, document, operation, None, ZoneInfo("UTC"))  # type: ignore[arg-type]


def test_a_granularity_below_the_range_is_costed_by_its_own_buckets() -> None:
    trends = '{ tenant { content(range: {from: "2025-01-01", to: "2025-01-10"}) { trends%s { points { start } } } } }'
    daily, hourly = cost(trends % ""), cost(trends % "(granularity: HOUR)")
    # tenant, content, trends, points: 1 + 1 + 1 + 1 + buckets x (start)
    assert (daily, hourly) == (4 + 10, 4 + 240)


def test_a_list_by_day_is_costed_by_the_days_of_its_range() -> None:
    # A year's default granularity is WEEK (53 buckets), but byDay has one item per day.
    by_day = cost('{ tenant { traffic(range: {from: "2025-01-01", to: "2025-12-31"}) { bots { byDay { date } } } } }')
    # tenant, traffic, bots, byDay: 1 + 1 + 1 + 1 + 365 x (date)
    assert by_day == 4 + 365


def test_a_sessions_reasons_and_signals_are_costed_by_how_many_it_can_have() -> None:
    reasons = '{ tenant { sessions(range: {since: "%s"}, first: 10) { nodes { botReasons { code } } } } }'
    # tenant 1 + sessions 1 + 10 x (nodes 1 + botReasons 1 + MAX_BOT_REASONS 9 x code 1), whatever the range
    assert cost(reasons % "24h") == cost(reasons % "90d") == 2 + 10 * (2 + MAX_BOT_REASONS)
    signals = '{ tenant { sessions(range: {since: "24h"}, first: 10) { nodes { behaviourSignals { points } } } } }'
    assert cost(signals) == 2 + 10 * (2 + len(BehaviourSignal))


def test_a_cost_that_reads_no_variable_and_counts_no_range_is_kept_per_text() -> None:
    from api import cost as costs

    def kept(query: str, variables: dict[str, object] | None = None) -> tuple[int, int]:
        document = parse(query)
        operation = document.definitions[0]
        before = len(costs._PURE_COSTS)
        found = operation_cost(schema._schema, document, operation, variables,  # type: ignore[arg-type]
                               ZoneInfo("UTC"), text=query)
        return found, len(costs._PURE_COSTS) - before

    costs._PURE_COSTS.clear()
    plain = "{ tenant { tours(first: 3) { nodes { id } } } }"
    assert kept(plain) == (2 + 3 * 2, 1)  # tenant, tours, 3 x (nodes, id): kept
    assert kept(plain) == (2 + 3 * 2, 0)  # read from the cache
    track = "mutation T($e: [TrackEvent!]!) { track(events: $e) { accepted } }"
    assert kept(track, {"e": []})[1] == 1  # the events are charged per event, not costed: kept
    # A cost-relevant variable (NaN and null would look alike once encoded) or a range: never kept.
    paged = "query Q($n: Int = 7) { tenant { tours(first: $n) { nodes { id } } } }"
    assert kept(paged, {"n": 3}) == (2 + 3 * 2, 0) and kept(paged)[1] == kept(paged, {"n": None})[1] == 0
    ranged = '{ tenant { sessions(range: {since: "24h"}, first: 3) { nodes { id } } } }'
    assert kept(ranged)[1] == 0 and kept(ranged)[1] == 0
    assert kept("{ " + "__typename " * 2_000 + "}")[1] == 0  # a long text is not kept
