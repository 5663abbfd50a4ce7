"""``tenant { retention }``: how long the tenant's raw events and rollups are kept."""

from __future__ import annotations

from datetime import datetime

import strawberry

from analytics.retention import raw_retention
from api.context import AppInfo


@strawberry.type(description="How long this tenant's data is kept: raw events for rawDays whole local days "
                             "(plus a day of grace), counters, sessions and content facts for rollupDays. "
                             "Counters of days whose raw events are gone stay.")
class Retention:
    raw_days: int = strawberry.field(description="Days of raw events kept (analytics tenants update "
                                                 "--retention-days); a change applies at the next "
                                                 "retention run.")
    rollup_days: int = strawberry.field(description="Days of counters, sessions and content facts kept "
                                                    "(ANALYTICS_ROLLUP_RETENTION_DAYS).")
    oldest_raw_event: datetime | None = strawberry.field(description="When the oldest raw event kept "
                                                                     "happened; null when none is kept.")


async def tenant_retention(info: AppInfo) -> Retention:
    principal = info.context.require_secret()
    async with info.context.read() as conn:
        raw = await raw_retention(conn, principal.tenant_id)
    return Retention(raw_days=raw.days, rollup_days=info.context.resources.settings.rollup_retention_days,
                     oldest_raw_event=raw.oldest_raw_event)
