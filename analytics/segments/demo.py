"""The demo tenant's segments (``analytics dev --demo``): thresholds that fit the demo's six weeks of
uniform sign-ups, and one rule segment, deployers (deployment_succeeded at least 3 times in the last
7 days; analytics.demo_product sends it).

The demo signs people up evenly over 42 days, so the default 14 days of "new" would make a third of
its users new; with 7 days, and a depth target of 5 events per active day (a demo visit holds about
4.6 events), its habits give reference 001's shape: about 23 % power, 48 % regular, 18 % new and
11 % at risk (reference: 22.5 / 52.5 / 17.7 / 7.3).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from analytics.segments.engagement import Thresholds, save_thresholds
from analytics.segments.service import define_segment

DEMO_THRESHOLDS = Thresholds(new_days=7, depth_target=5.0)
DEMO_SEGMENTS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("deployers", "Deployers", {"match": "ALL", "conditions": [
        {"event": "deployment_succeeded", "atLeast": 3, "withinDays": 7}]}),
)


async def define_demo_segments(conn: AsyncConnection, tenant_id: int) -> None:
    await save_thresholds(conn, tenant_id, DEMO_THRESHOLDS)
    for segment_id, name, rule in DEMO_SEGMENTS:
        await define_segment(conn, tenant_id, segment_id=segment_id, name=name, rule=rule)
