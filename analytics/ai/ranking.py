"""The most expensive users or conversations of a period without summing every key's days: walk the
keys by their cost bound, take each chunk's exact figures from the daily rows, and stop once the next
bound is below the k-th exact cost; no key left can then enter the top k. The answer is the same as
the full scan's; when the bounds do not separate the top (costs all 0, keys alike in the bound's
span) the caller scans instead.

Two kinds of bound, never below a key's cost on the days they span: a period within two ISO weeks
(tenant-local days) walks the fortnight starting on its first Monday (ai_spend_weeks: that week and
the next), a longer one the keys' whole lives (ai_spend_keys, with the first and last day seen)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Protocol, TypeVar

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from analytics.db import CURRENT_TENANT

CHUNK: float = 4  # keys the first round reads per row asked for; each round reads 4 times the one before
ROUNDS = 3  # then the caller scans (limit 10: 40 + 160 + 640 keys walked by then)

FORTNIGHTS = True  # off: every period walks the whole-life bounds (the bench's "before")
_AFTER = (
    "AND (CAST(:after_bound AS numeric) IS NULL OR cost_bound < :after_bound OR cost_bound = :after_bound "
    "AND key > :after_key) ORDER BY cost_bound DESC, key LIMIT :chunk"
)
_CANDIDATES = text(
    f"SELECT key, cost_bound FROM ai_spend_keys WHERE {CURRENT_TENANT} AND dimension = :dimension "
    f"AND first_day <= :last AND last_day >= :first {_AFTER}"
)
_FORTNIGHT_CANDIDATES = text(
    f"SELECT key, cost_bound FROM ai_spend_weeks WHERE {CURRENT_TENANT} AND dimension = :dimension "
    f"AND week = :week {_AFTER}"
)


def fortnight(first: date, last: date) -> date | None:
    """The Monday of the fortnight (that ISO week and the next) holding the days first..last, if any."""
    monday = first - timedelta(days=first.weekday())
    return monday if (last - monday).days < 14 else None


class Ranked(Protocol):
    @property
    def key(self) -> str: ...
    @property
    def cost(self) -> Decimal: ...
    @property
    def tokens(self) -> int: ...


T = TypeVar("T", bound=Ranked)


def rank(item: Ranked) -> tuple[Decimal, int, str]:
    """The breakdown's order as a sort key: cost, then tokens, most first, then the key (bytewise)."""
    return (-item.cost, -item.tokens, item.key)


async def top_by_bound(
    conn: AsyncConnection,
    params: dict[str, Any],
    dimension: str,
    limit: int,
    exact: Callable[[Sequence[str]], Awaitable[list[T]]],
) -> list[T] | None:
    """The top ``limit`` keys of ``dimension`` in the period of ``params`` (analytics.ai.spans.window),
    ``exact`` giving the figures of some keys; None when the bounds did not settle it in ROUNDS."""
    best: list[T] = []
    after: tuple[Decimal | None, str | None] = (None, None)
    chunk = max(int(CHUNK * limit), 1)
    week = fortnight(params["first"], params["last"]) if FORTNIGHTS else None
    candidates = _CANDIDATES if week is None else _FORTNIGHT_CANDIDATES
    for _ in range(ROUNDS):
        rows = (
            await conn.execute(
                candidates,
                {
                    "first": params["first"],
                    "last": params["last"],
                    "week": week,
                    "dimension": dimension,
                    "after_bound": after[0],
                    "after_key": after[1],
                    "chunk": chunk,
                },
            )
        ).all()
        if rows:
            best = sorted([*best, *await exact([r[0] for r in rows])], key=rank)[:limit]
        if len(rows) < chunk:  # every key seen in the period's days
            return best
        after = (rows[-1][1], rows[-1][0])
        if len(best) == limit and best[-1].cost > rows[-1][1]:
            return best
        chunk *= 4
    return None
