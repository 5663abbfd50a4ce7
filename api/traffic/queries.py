"""Tenant-level traffic fields: the traffic report of a range, and the top sources of the overview."""

from __future__ import annotations

from analytics.periods import Compare, comparison
from analytics.periods import Period as DomainPeriod
from api.common import Period, RangeInput
from api.context import AppInfo
from api.traffic.types import Traffic, TrafficRow, breakdown_rows


def traffic(info: AppInfo, range: RangeInput, compare: Compare | None, include_bots: bool,
            content_id: str | None = None) -> Traffic:
    """The traffic report of a range (of the sessions that used ``content_id`` when given)."""
    period = range.resolve(info.context.require_secret().timezone)
    compared = comparison(period, compare)
    return Traffic(period=Period.of(period), include_bots=include_bots, domain_period=period,
                   comparison_period=Period.of(compared) if compared else None, compared=compared,
                   content_id=content_id)


async def top_sources(info: AppInfo, period: DomainPeriod, compare: Compare | None, include_bots: bool,
                      limit: int) -> list[TrafficRow]:
    compared = comparison(period, compare)
    rows, before = await breakdown_rows(info, "sources", period, include_bots, limit, compared)
    return [TrafficRow.of(r, before) for r in rows]
