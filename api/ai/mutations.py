"""``setModelPrice`` (secret key): a tenant's price of a model from an instant on; ``syncModelPrices``:
the tenant's copy of the library's prices brought up to the installed genai-prices release."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation

import strawberry

from analytics.ai.service import PriceError, set_model_price
from analytics.ai.sync import LIBRARY_VERSION, sync_library_prices
from api.ai.queries import model_prices
from api.ai.types import ModelPrice
from api.common import BigInt
from api.context import AppInfo
from api.errors import BadInput
from workers.queue import enqueue_session_work


@strawberry.input(
    description="USD per million tokens of each usage type; those left out keep the library's "
    "price (reasoning follows output unless given)."
)
class ModelPriceInput:
    provider: str = strawberry.field(description="As the events send it (ai.provider).")
    model: str = strawberry.field(description="As the events send it (ai.model), e.g. a custom model.")
    effective_from: str = strawberry.field(description="ISO 8601 date-time with offset, or a UTC date.")
    input: str | None = strawberry.field(default=None, description='Decimal string, e.g. "3" or "0.15".')
    output: str | None = None
    cache_read: str | None = None
    cache_write: str | None = None
    reasoning: str | None = None
    above_input_tokens: BigInt = strawberry.field(
        default=0,
        description="0 (the default): the price of every request. Above 0: a tier, the price of the "
        "requests whose input (uncached + cache read + cache write tokens) exceeds it, for all their "
        "tokens of each usage type given (long-context prices).",
    )


def _instant(raw: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise BadInput("input.effectiveFrom", "must be an ISO 8601 date or date-time") from None
    if parsed.tzinfo is None:
        if len(raw) > 10:
            raise BadInput("input.effectiveFrom", "must include a UTC offset (Z or +hh:mm)")
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _decimal(field: str, raw: str | None) -> Decimal | None:
    if raw is None:
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise BadInput(f"input.{field}", "must be a decimal number such as 3 or 0.15") from None
    if not value.is_finite():
        raise BadInput(f"input.{field}", "must be a decimal number such as 3 or 0.15")
    return value


@strawberry.type(description="What a price sync changed in your copy of the library's prices.")
class PriceSyncResult:
    library_version: str = strawberry.field(description="The genai-prices release installed on the server.")
    models: int = strawberry.field(description="Models seen by your events, checked.")
    added: int = strawberry.field(description="Price rows the release has that your copy lacked.")
    changed: int = strawberry.field(description="Price rows of the same start the release corrects.")
    removed: int = strawberry.field(description="Price rows the release no longer has.")
    days_repriced: list[date] = strawberry.field(
        description="Local days marked for re-pricing by the worker (those with usage of a changed "
        "model from its earliest changed start on)."
    )


@strawberry.type
class PriceMutation:
    @strawberry.mutation(
        description="Set your price of a model from effectiveFrom on (secret key): a custom "
        "model or an override of the library's price. Days already rolled up "
        "from then on are re-priced by a worker job (tenant { costs } follows)."
    )
    async def set_model_price(self, info: AppInfo, input: ModelPriceInput) -> list[ModelPrice]:
        principal = info.context.require_secret()
        prices = {
            "input": _decimal("input", input.input),
            "output": _decimal("output", input.output),
            "cache_read": _decimal("cacheRead", input.cache_read),
            "cache_write": _decimal("cacheWrite", input.cache_write),
            "reasoning": _decimal("reasoning", input.reasoning),
        }
        try:
            async with info.context.write() as conn:
                await set_model_price(
                    conn,
                    principal.tenant_id,
                    provider=input.provider,
                    model=input.model,
                    effective_from=_instant(input.effective_from),
                    prices=prices,
                    tz=principal.timezone,
                    above_input_tokens=input.above_input_tokens,
                )
        except PriceError as exc:
            field = {
                "cache_read": "cacheRead",
                "cache_write": "cacheWrite",
                "above_input_tokens": "aboveInputTokens",
            }.get(exc.field, exc.field)
            raise BadInput(f"input.{field}", exc.message) from None
        await enqueue_session_work(info.context.resources.redis, principal.tenant_id)
        return await model_prices(info, input.provider, input.model)

    @strawberry.mutation(
        description="Bring your copy of the library's prices (source library) up to the genai-prices "
        "release installed on the server (secret key): prices it adds, corrects or drops, with their "
        "effective dates; your own prices (source tenant) are kept and still win. The days a change "
        "covers are re-priced by a worker job. The worker also runs this daily and at start."
    )
    async def sync_model_prices(self, info: AppInfo) -> PriceSyncResult:
        principal = info.context.require_secret()
        async with info.context.write() as conn:
            run = await sync_library_prices(conn, principal.tenant_id, principal.timezone)
        if run.days:
            await enqueue_session_work(info.context.resources.redis, principal.tenant_id)
        return PriceSyncResult(
            library_version=LIBRARY_VERSION,
            models=run.models,
            added=run.added,
            changed=run.changed,
            removed=run.removed,
            days_repriced=run.days,
        )
