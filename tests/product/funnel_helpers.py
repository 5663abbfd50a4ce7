"""Shared pieces of the funnel tests: journeys as data, defining a funnel, reading its result."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.conftest import GraphQLClient, event

T = datetime(2025, 5, 10, 10, 0, tzinfo=UTC)
CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/124.0.0.0 Safari/537.36")
IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.4 Mobile/15E148 Safari/604.1")
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"

DEFINE = """
mutation($input: DefineFunnelInput!) { defineFunnel(input: $input) {
  id name order counting windowSeconds backfill { status processed total } steps { index title withinSeconds }
} }
"""
RESULT = """
query($id: ID!, $range: RangeInput!, $compare: Compare, $breakdown: FunnelBreakdownInput, $bots: Boolean! = false) {
  tenant { funnel(id: $id) { result(range: $range, compare: $compare, breakdown: $breakdown, includeBots: $bots) {
    entered converted overallConversion inProgress dropped
    steps { index title actors conversionFromFirst conversionFromPrevious dropped inProgress dropOffRate
            medianSecondsFromPrevious p90SecondsFromPrevious }
    biggestDropOff { index }
  } } }
}
"""
SPLIT = """
query($id: ID!, $range: RangeInput!, $compare: Compare, $breakdown: FunnelBreakdownInput, $bots: Boolean! = false) {
  tenant { funnel(id: $id) { result(range: $range, compare: $compare, breakdown: $breakdown, includeBots: $bots) {
    steps { actors }
    previous { entered converted overallConversion }
    overallConversionChange
    breakdown { value entered converted }
  } } }
}
"""
MAY = {"from": "2025-05-01", "to": "2025-05-31"}


def at(seconds: float) -> str:
    return (T + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def custom(name: str, seconds: float, user: str, agent: str = CHROME, **fields: Any) -> dict[str, Any]:
    """A Custom event ``seconds`` after T by ``user`` (each user its own browser, so its own visitor)."""
    context = {"userAgent": f"{agent} u/{user}", **fields.pop("context", {})}
    return event("Custom", at(seconds), user, name=name, context=context, **fields)


def steps(*names: str, within: dict[int, int] | None = None) -> list[dict[str, Any]]:
    return [{"matcher": {"event": n}, **({"withinSeconds": within[i]} if within and i in within else {})}
            for i, n in enumerate(names)]


async def define(gql: GraphQLClient, key: str, name: str, names: tuple[str, ...] = ("a", "b", "c"),
                 **options: Any) -> dict[str, Any]:
    within = options.pop("within", None)
    data = await gql.data(key, DEFINE, {"input": {"name": name, "steps": steps(*names, within=within),
                                                  **options}})
    defined: dict[str, Any] = data["defineFunnel"]
    return defined


async def result(gql: GraphQLClient, key: str, funnel_id: str, range: dict[str, Any] | None = None,
                 **variables: Any) -> dict[str, Any]:
    document = SPLIT if "breakdown" in variables or "compare" in variables else RESULT
    data = await gql.data(key, document, {"id": funnel_id, "range": range or MAY, **variables})
    found: dict[str, Any] = data["tenant"]["funnel"]["result"]
    return found


def actors(found: dict[str, Any]) -> list[int]:
    return [s["actors"] for s in found["steps"]]
