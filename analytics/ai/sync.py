"""Bring a tenant's copy of the library's prices up to the installed ``genai-prices`` release: prices
a later release adds, corrects or drops (with their effective dates), models it now knows; tenant
overrides (source ``tenant``) are never touched and keep winning. Every model whose prices changed
has its rolled-up days from the earliest changed effective date on marked for the correction job,
which re-prices them (analytics.sessions.correction), as a ``setModelPrice`` does."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from importlib.metadata import version
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from analytics.ai.prices import library_prices, write_prices
from analytics.ai.service import days_from
from analytics.db import tenant_transaction
from analytics.sessions.correction import mark_days

LIBRARY_VERSION = version("genai-prices")

PriceKey = tuple[str, datetime, int]  # usage type, effective from, above input tokens


@dataclass
class PriceSync:
    """What one tenant's sync changed."""

    models: int = 0  # models checked
    added: int = 0
    changed: int = 0
    removed: int = 0
    repriced: dict[tuple[str, str], list[date]] = field(default_factory=dict)  # model -> days marked

    @property
    def days(self) -> list[date]:
        return sorted({d for days in self.repriced.values() for d in days})


_MODELS = text("SELECT provider, model, library_model FROM ai_models WHERE tenant_id = :tenant ORDER BY 1, 2")
_LIBRARY_ROWS = text(
    "SELECT provider, model, usage_type, effective_from, above_input_tokens, usd_per_mtok FROM model_prices "
    "WHERE tenant_id = :tenant AND source = 'library'"
)
_REMOVE = text(
    "DELETE FROM model_prices WHERE tenant_id = :tenant AND source = 'library' AND provider = :provider "
    "AND model = :model AND usage_type = :usage AND effective_from = :start AND above_input_tokens = :above"
)
_LIBRARY_MODEL = text(
    "UPDATE ai_models SET library_model = :library WHERE tenant_id = :tenant AND provider = :provider "
    "AND model = :model"
)


async def sync_library_prices(conn: AsyncConnection, tenant_id: int, tz: ZoneInfo) -> PriceSync:
    """Sync the tenant's library prices (in the caller's transaction); marks the days to re-price."""
    copied: dict[tuple[str, str], dict[PriceKey, Decimal]] = {}
    for provider, model, usage, start, above, price in await conn.execute(
        _LIBRARY_ROWS, {"tenant": tenant_id}
    ):
        copied.setdefault((provider, model), {})[(usage, start, above)] = price
    run = PriceSync()
    upserts: list[tuple[str, str, str, datetime, int, Decimal]] = []
    for provider, model, library_model in (await conn.execute(_MODELS, {"tenant": tenant_id})).all():
        run.models += 1
        known, rows = library_prices(provider, model)
        want = {(usage, start, above): price for start, usage, above, price in rows}
        have = copied.get((provider, model), {})
        new = [(k, p) for k, p in sorted(want.items()) if k not in have]
        changed = [(k, p) for k, p in sorted(want.items()) if k in have and have[k] != p]
        gone = sorted(k for k in have if k not in want)
        if known != library_model:
            await conn.execute(
                _LIBRARY_MODEL, {"tenant": tenant_id, "provider": provider, "model": model, "library": known}
            )
        if not (new or changed or gone):
            continue
        run.added, run.changed, run.removed = (
            run.added + len(new),
            run.changed + len(changed),
            run.removed + len(gone),
        )
        upserts.extend(
            (provider, model, usage, start, above, price) for (usage, start, above), price in (*new, *changed)
        )
        for usage, start, above in gone:
            await conn.execute(
                _REMOVE,
                {
                    "tenant": tenant_id,
                    "provider": provider,
                    "model": model,
                    "usage": usage,
                    "start": start,
                    "above": above,
                },
            )
        earliest = min(start for (_, start, _), _ in (*new, *changed)) if new or changed else None
        if gone:
            earliest = min([*(s for _, s, _ in gone), *([earliest] if earliest else [])])
        assert earliest is not None
        run.repriced[(provider, model)] = await days_from(conn, tenant_id, tz, provider, model, earliest)
    await write_prices(conn, tenant_id, "library", sorted(upserts))
    await mark_days(conn, tenant_id, run.days)
    return run


async def sync_all_tenants(engine: AsyncEngine) -> dict[int, PriceSync]:
    """Sync every tenant that has seen a model, one transaction each; the tenants whose prices
    changed, with what changed (their days wait for the correction job)."""
    async with engine.connect() as conn:  # tenants are hidden from the app role: a definer function
        tenants = (await conn.execute(text("SELECT * FROM analytics_ai_tenants()"))).all()
    found: dict[int, PriceSync] = {}
    for tenant_id, timezone in tenants:
        async with tenant_transaction(engine, tenant_id) as conn:
            run = await sync_library_prices(conn, tenant_id, ZoneInfo(timezone))
        if run.added or run.changed or run.removed:
            found[tenant_id] = run
    return found
