"""Model prices: defaults from the ``genai-prices`` library, tenant overrides and custom models, each
per model and usage type in US dollars per million tokens from an effective instant on.

The price of (provider, model, usage type) at instant t for a request of N input tokens (uncached +
cache read + cache write, the request's context): among the rows effective at t whose threshold
``above_input_tokens`` is 0 or below N, the tenant's before the library's, then the latest, then the
highest threshold; none such: the tokens are *unpriced*, never valued at 0. A threshold is a tier of a
long-context price (genai-prices' TieredPrices): a request past it pays the tier's price for all its
tokens of that usage type, as the providers bill it.
Library rows are copied into the tenant's ``model_prices`` the first time the rollup sees a model
(``ai_models`` remembers it), so the rollup, the correction and the recomputation read one table.
Reasoning tokens take the output price (the library has no separate one), tiers included, unless one is set.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from decimal import Decimal
from typing import Any

from genai_prices import data_snapshot
from genai_prices.types import ConditionalPrice, ModelPrice, StartDateConstraint, TieredPrices
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

USAGE_TYPES = ("input", "output", "cache_read", "cache_write", "reasoning")
TOKEN_FIELD = {
    "input": "inputTokens",
    "output": "outputTokens",
    "cache_read": "cacheReadTokens",
    "cache_write": "cacheWriteTokens",
    "reasoning": "reasoningTokens",
}
CLIENT = "client"  # cost a client gave for a request (its tokens are then neither priced nor unpriced)
TOOL = "tool"  # cost a client gave for a tool call
ALWAYS = datetime(1970, 1, 1, tzinfo=UTC)  # a library price without a start date
MILLION = Decimal(1_000_000)
_LIBRARY_KEYS = {
    "input": "input_mtok",
    "output": "output_mtok",
    "cache_read": "cache_read_mtok",
    "cache_write": "cache_write_mtok",
}

PriceKey = tuple[str, str, str]  # provider, model, usage type


PriceRow = tuple[datetime, str, int, Decimal]  # effective from, usage type, above input tokens, price


def _tiers(value: Decimal | TieredPrices | None) -> list[tuple[int, Decimal]]:
    """(above input tokens, price) of a library price: the base from 0, then each tier from its start."""
    if value is None:
        return []
    if isinstance(value, TieredPrices):
        return [(0, value.base), *((tier.start, tier.price) for tier in value.tiers)]
    return [(0, Decimal(value))]


def _usage_prices(price: ModelPrice) -> list[tuple[str, int, Decimal]]:
    found = [
        (usage, above, p) for usage, key in _LIBRARY_KEYS.items() for above, p in _tiers(getattr(price, key))
    ]
    return found + [("reasoning", above, p) for usage, above, p in found if usage == "output"]


def library_prices(provider: str, model: str) -> tuple[str | None, list[PriceRow]]:
    """The library's model id for (provider, model as sent) and its prices (effective from, usage,
    above input tokens, USD per million tokens); (None, []) when the library does not know it. Prices
    that depend on the time of day are left out (one price per instant)."""
    try:
        _, info = data_snapshot.get_snapshot().find_provider_model(model, None, provider.lower(), None)
    except LookupError:
        return None, []
    if isinstance(info.prices, ModelPrice):
        return info.id, [(ALWAYS, u, a, p) for u, a, p in _usage_prices(info.prices)]
    rows: list[PriceRow] = []
    for conditional in info.prices:
        assert isinstance(conditional, ConditionalPrice)
        if conditional.constraint is None:
            start = ALWAYS
        elif isinstance(conditional.constraint, StartDateConstraint):
            start = datetime.combine(conditional.constraint.start_date, time(), UTC)
        else:
            continue
        rows.extend((start, u, a, p) for u, a, p in _usage_prices(conditional.prices))
    return info.id, rows


def request_context(ai: Mapping[str, Any]) -> int:
    """The input tokens a tiered price's threshold is compared with: uncached + cache read + write."""
    return (
        int(ai.get("inputTokens", 0)) + int(ai.get("cacheReadTokens", 0)) + int(ai.get("cacheWriteTokens", 0))
    )


_KNOWN = text(
    "SELECT provider, model FROM ai_models WHERE tenant_id = :tenant "
    "AND (provider, model) IN (SELECT * FROM unnest(CAST(:providers AS text[]), CAST(:models AS "
    "text[])))"
)
_ADD_MODELS = text(
    "INSERT INTO ai_models (tenant_id, provider, model, library_model, first_seen_at) "
    "SELECT :tenant, * FROM unnest(CAST(:providers AS text[]), CAST(:models AS text[]), "
    "CAST(:library AS text[]), CAST(:seen AS timestamptz[])) ON CONFLICT DO NOTHING"
)
_ADD_PRICES = text(
    "INSERT INTO model_prices (tenant_id, provider, model, usage_type, source, effective_from, "
    "above_input_tokens, usd_per_mtok) "
    "SELECT CAST(:tenant AS bigint), p, m, u, CAST(:source AS text), f, a, x FROM unnest(CAST(:providers AS "
    "text[]), CAST(:models AS text[]), CAST(:usages AS text[]), CAST(:froms AS timestamptz[]), "
    "CAST(:aboves AS bigint[]), CAST(:prices AS numeric[])) AS t(p, m, u, f, a, x) "
    "ORDER BY p, m, u, f, a ON CONFLICT (tenant_id, provider, model, usage_type, source, effective_from, "
    "above_input_tokens) DO UPDATE SET usd_per_mtok = EXCLUDED.usd_per_mtok"
)


async def ensure_models(
    conn: AsyncConnection, tenant_id: int, seen: Mapping[tuple[str, str], datetime]
) -> None:
    """Record models seen for the first time, with the library's prices when it knows them."""
    if not seen:
        return
    pairs = sorted(seen)
    known = {
        (r.provider, r.model)
        for r in await conn.execute(
            _KNOWN, {"tenant": tenant_id, "providers": [p for p, _ in pairs], "models": [m for _, m in pairs]}
        )
    }
    new = [pair for pair in pairs if pair not in known]
    if not new:
        return
    library = {pair: library_prices(*pair) for pair in new}
    await conn.execute(
        _ADD_MODELS,
        {
            "tenant": tenant_id,
            "providers": [p for p, _ in new],
            "models": [m for _, m in new],
            "library": [library[k][0] for k in new],
            "seen": [seen[k] for k in new],
        },
    )
    rows = sorted((p, m, u, f, a, x) for (p, m), (_, prices) in library.items() for f, u, a, x in prices)
    await write_prices(conn, tenant_id, "library", rows)


async def write_prices(
    conn: AsyncConnection,
    tenant_id: int,
    source: str,
    rows: Sequence[tuple[str, str, str, datetime, int, Decimal]],
) -> None:
    """Upsert price rows (provider, model, usage type, effective from, above input tokens, price)."""
    if rows:
        await conn.execute(
            _ADD_PRICES,
            {
                "tenant": tenant_id,
                "source": source,
                "providers": [r[0] for r in rows],
                "models": [r[1] for r in rows],
                "usages": [r[2] for r in rows],
                "froms": [r[3] for r in rows],
                "aboves": [r[4] for r in rows],
                "prices": [r[5] for r in rows],
            },
        )


@dataclass(frozen=True)
class PriceBook:
    """The price rows of some models, each (effective from, source is tenant, above input tokens, price)."""

    rows: Mapping[PriceKey, Sequence[tuple[datetime, bool, int, Decimal]]]
    # Each key's rows in the rule's order of preference (tenant first, latest, highest threshold): a
    # price is then the first row in force, in a loop the fold runs for every token of every request.
    _ranked: dict[PriceKey, list[tuple[datetime, bool, int, Decimal]]] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        ranked = {
            key: sorted(rows, key=lambda r: (r[1], r[0], r[2]), reverse=True)
            for key, rows in self.rows.items()
        }
        object.__setattr__(self, "_ranked", ranked)

    def price(self, provider: str, model: str, usage: str, at: datetime, context: int = 0) -> Decimal | None:
        """The price at ``at`` of a request of ``context`` input tokens (request_context)."""
        for start, _, above, price in self._ranked.get((provider, model, usage), ()):
            if start <= at and (above == 0 or context > above):
                return price
        return None


async def price_book(conn: AsyncConnection, tenant_id: int, pairs: Iterable[tuple[str, str]]) -> PriceBook:
    pairs = sorted(set(pairs))
    rows: dict[PriceKey, list[tuple[datetime, bool, int, Decimal]]] = {}
    if pairs:
        result = await conn.execute(
            text(
                "SELECT provider, model, usage_type, effective_from, source = 'tenant', above_input_tokens, "
                "usd_per_mtok "
                "FROM model_prices WHERE tenant_id = :tenant AND (provider, model) IN "
                "(SELECT * FROM unnest(CAST(:providers AS text[]), CAST(:models AS text[])))"
            ),
            {"tenant": tenant_id, "providers": [p for p, _ in pairs], "models": [m for _, m in pairs]},
        )
        for r in result:
            rows.setdefault((r[0], r[1], r[2]), []).append((r[3], r[4], r[5], r[6]))
    return PriceBook(rows)


# The same rule in SQL, for the recomputation and the request list: the price of usage ``u.usage`` of
# an AIRequest event ``e`` (its ai details) at its instant, for its context (request_context).
CONTEXT_SQL = " + ".join(
    f"coalesce(CAST(e.ai->>'{f}' AS bigint), 0)"
    for f in ("inputTokens", "cacheReadTokens", "cacheWriteTokens")
)
PRICE_SQL = f"""(SELECT mp.usd_per_mtok FROM model_prices mp WHERE mp.tenant_id = e.tenant_id
    AND mp.provider = e.ai->>'provider' AND mp.model = e.ai->>'model' AND mp.usage_type = u.usage
    AND mp.effective_from <= e.occurred_at
    AND (mp.above_input_tokens = 0 OR {CONTEXT_SQL} > mp.above_input_tokens)
    ORDER BY mp.source = 'tenant' DESC, mp.effective_from DESC, mp.above_input_tokens DESC LIMIT 1)"""
