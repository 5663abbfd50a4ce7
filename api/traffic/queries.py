"""Tenant-level traffic fields: the traffic report of a range, and the top sources of the overview."""

from __future__ import annotations

from analytics.periods import Period as DomainPeriod
from api.common import Period, RangeInput
from api.context import AppInfo
from api.traffic.types import Traffic, TrafficRow, breakdown_rows


def traffic(info: AppInfo, range: RangeInput, include_bots: bool) -> Traffic:
    period = range.resolve(info.context.require_secret().timezone)
    return Traffic(period=Period.of(period), include_bots=include_bots, domain_period=period)


async def top_sources(info: AppInfo, period: DomainPeriod, include_bots: bool,
                      limit: int) -> list[TrafficRow]:
    return [TrafficRow.of(r) for r in await breakdown_rows(info, "sources", period, include_bots, limit)]
