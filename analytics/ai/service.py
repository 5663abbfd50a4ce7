"""Setting and listing a tenant's model prices (``setModelPrice``, ``analytics prices``): a price
change marks the days it re-prices for the correction job (analytics.sessions.correction)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from analytics.ai.prices import write_prices
from analytics.sessions.correction import mark_days

MAX_PRICE = Decimal(1_000_000)
MAX_CONTEXT = 3_000_000_000  # three token fields of at most 10^9 each


class PriceError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


@dataclass(frozen=True)
class ModelPriceRow:
    provider: str
    model: str
    usage_type: str
    source: str
    effective_from: datetime
    above_input_tokens: int
    usd_per_mtok: Decimal


async def set_model_price(
    conn: AsyncConnection,
    tenant_id: int,
    *,
    provider: str,
    model: str,
    effective_from: datetime,
    prices: Mapping[str, Decimal | None],
    tz: ZoneInfo,
    above_input_tokens: int = 0,
) -> list[date]:
    """Set the tenant's price of a model (a custom model or an override of the library) from
    ``effective_from`` on, per usage type given; reasoning follows output unless given. With
    ``above_input_tokens``: a tier, the price of requests whose context exceeds it. Marks the
    local days already rolled up from then on for a correction (re-priced by the correction job).
    Returns those days."""
    if not provider or len(provider) > 100:
        raise PriceError("provider", "must be 1 to 100 characters")
    if not model or len(model) > 200:
        raise PriceError("model", "must be 1 to 200 characters")
    if not 0 <= above_input_tokens <= MAX_CONTEXT:
        raise PriceError("above_input_tokens", f"must be between 0 and {MAX_CONTEXT:,}")
    given = {u: p for u, p in prices.items() if p is not None}
    if not given:
        raise PriceError("input", "give at least one price")
    for usage, price in given.items():
        if not Decimal(0) <= price <= MAX_PRICE:
            raise PriceError(usage, f"must be between 0 and {MAX_PRICE} USD per million tokens")
    if "output" in given and "reasoning" not in given:
        given["reasoning"] = given["output"]
    await write_prices(
        conn,
        tenant_id,
        "tenant",
        sorted((provider, model, u, effective_from, above_input_tokens, p) for u, p in given.items()),
    )
    days = await days_from(conn, tenant_id, tz, provider, model, effective_from)
    await mark_days(conn, tenant_id, days)
    return days


async def days_from(
    conn: AsyncConnection, tenant_id: int, tz: ZoneInfo, provider: str, model: str, start: datetime
) -> list[date]:
    """The local days already rolled up with usage of the model from the day of ``start`` on (those
    a price change from then re-prices), ascending."""
    rows = await conn.execute(
        text(
            "SELECT DISTINCT day FROM ai_usage_daily WHERE tenant_id = :tenant AND provider = :provider "
            "AND model = :model AND day >= (CAST(:start AS timestamptz) AT TIME ZONE :tz)::date"
        ),
        {"tenant": tenant_id, "tz": tz.key, "provider": provider, "model": model, "start": start},
    )
    return sorted(r[0] for r in rows)


async def list_prices(
    conn: AsyncConnection, *, provider: str | None = None, model: str | None = None
) -> list[ModelPriceRow]:
    rows = await conn.execute(
        text(
            "SELECT provider, model, usage_type, source, effective_from, above_input_tokens, usd_per_mtok "
            "FROM model_prices "
            "WHERE tenant_id = NULLIF(current_setting('analytics.tenant_id', true), '')::bigint "
            "AND (CAST(:provider AS text) IS NULL OR provider = :provider) "
            "AND (CAST(:model AS text) IS NULL OR model = :model) "
            "ORDER BY provider, model, usage_type, source, effective_from, above_input_tokens LIMIT 1000"
        ),
        {"provider": provider, "model": model},
    )
    return [ModelPriceRow(*r) for r in rows]
