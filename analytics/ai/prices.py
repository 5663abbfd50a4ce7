"""Model prices: defaults from the ``genai-prices`` library, tenant overrides and custom models, each
per model and usage type in US dollars per million tokens from an effective instant on.

The price of (provider, model, usage type) at instant t: the tenant's latest row effective at t, else
the library's latest row effective at t, else none (the tokens are *unpriced*, never valued at 0).
Library rows are copied into the tenant's ``model_prices`` the first time the rollup sees a model
(``ai_models`` remembers it), so the rollup, the correction and the recomputation read one table.
Reasoning tokens take the output price (the library has no separate one) unless one is set.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time
from decimal import Decimal

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


def _mtok(value: Decimal | TieredPrices | None) -> Decimal | None:
    """A tiered price counts at its base tier (requests above the first tier's context are rare)."""
    if value is None:
        return None
    return value.base if isinstance(value, TieredPrices) else Decimal(value)


def _usage_prices(price: ModelPrice) -> dict[str, Decimal]:
    found = {
        usage: p for usage, key in _LIBRARY_KEYS.items() if (p := _mtok(getattr(price, key))) is not None
    }
    if "output" in found:
        found["reasoning"] = found["output"]
    return found


def library_prices(provider: str, model: str) -> tuple[str | None, list[tuple[datetime, str, Decimal]]]:
    """The library's model id for (provider, model as sent) and its prices (effective from, usage,
    USD per million tokens); (None, []) when the library does not know it. Prices that depend on
    the time of day are left out (one price per instant)."""
    try:
        _, info = data_snapshot.get_snapshot().find_provider_model(model, None, provider.lower(), None)
    except LookupError:
        return None, []
    if isinstance(info.prices, ModelPrice):
        return info.id, [(ALWAYS, u, p) for u, p in _usage_prices(info.prices).items()]
    rows: list[tuple[datetime, str, Decimal]] = []
    for conditional in info.prices:
        assert isinstance(conditional, ConditionalPrice)
        if conditional.constraint is None:
            start = ALWAYS
        elif isinstance(conditional.constraint, StartDateConstraint):
            start = datetime.combine(conditional.constraint.start_date, time(), UTC)
        else:
            continue
        rows.extend((start, u, p) for u, p in _usage_prices(conditional.prices).items())
    return info.id, rows


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
    "INSERT INTO model_prices (tenant_id, provider, model, usage_type, source, effective_from, usd_per_mtok) "
    "SELECT CAST(:tenant AS bigint), p, m, u, CAST(:source AS text), f, x FROM unnest(CAST(:providers AS "
    "text[]), CAST(:models AS text[]), "
    "CAST(:usages AS text[]), CAST(:froms AS timestamptz[]), CAST(:prices AS numeric[])) AS t(p, m, u, f, x) "
    "ORDER BY p, m, u, f ON CONFLICT (tenant_id, provider, model, usage_type, source, effective_from) "
    "DO UPDATE SET usd_per_mtok = EXCLUDED.usd_per_mtok"
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
    rows = sorted((p, m, u, f, x) for (p, m), (_, prices) in library.items() for f, u, x in prices)
    await write_prices(conn, tenant_id, "library", rows)


async def write_prices(
    conn: AsyncConnection,
    tenant_id: int,
    source: str,
    rows: Sequence[tuple[str, str, str, datetime, Decimal]],
) -> None:
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
                "prices": [r[4] for r in rows],
            },
        )


@dataclass(frozen=True)
class PriceBook:
    """The price rows of some models, each (effective from, source is tenant, price), latest first."""

    rows: Mapping[PriceKey, Sequence[tuple[datetime, bool, Decimal]]]

    def price(self, provider: str, model: str, usage: str, at: datetime) -> Decimal | None:
        best: tuple[bool, datetime] | None = None
        found: Decimal | None = None
        for start, tenant, price in self.rows.get((provider, model, usage), ()):
            if start <= at and (best is None or (tenant, start) > best):
                best, found = (tenant, start), price
        return found


async def price_book(conn: AsyncConnection, tenant_id: int, pairs: Iterable[tuple[str, str]]) -> PriceBook:
    pairs = sorted(set(pairs))
    rows: dict[PriceKey, list[tuple[datetime, bool, Decimal]]] = {}
    if pairs:
        result = await conn.execute(
            text(
                "SELECT provider, model, usage_type, effective_from, source = 'tenant', usd_per_mtok "
                "FROM model_prices WHERE tenant_id = :tenant AND (provider, model) IN "
                "(SELECT * FROM unnest(CAST(:providers AS text[]), CAST(:models AS text[])))"
            ),
            {"tenant": tenant_id, "providers": [p for p, _ in pairs], "models": [m for _, m in pairs]},
        )
        for r in result:
            rows.setdefault((r[0], r[1], r[2]), []).append((r[3], r[4], r[5]))
    return PriceBook(rows)


# The same rule in SQL, for the recomputation and the request list: the price of usage ``u.usage`` of
# an AIRequest event ``e`` (its ai details) at its instant.
PRICE_SQL = """(SELECT mp.usd_per_mtok FROM model_prices mp WHERE mp.tenant_id = e.tenant_id
    AND mp.provider = e.ai->>'provider' AND mp.model = e.ai->>'model' AND mp.usage_type = u.usage
    AND mp.effective_from <= e.occurred_at
    ORDER BY mp.source = 'tenant' DESC, mp.effective_from DESC LIMIT 1)"""
