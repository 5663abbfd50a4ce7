"""The demo's segments: its habits give reference 001's distribution (power / regular / new / at
risk), and its rule segment (deployers) is filled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.db import tenant_transaction
from analytics.demo_product import demo_product_events
from analytics.ingest.service import PartitionCache, ingest_batch
from analytics.rollups.recompute import verify_rollups
from analytics.rollups.service import roll_up
from analytics.segments.assign import assign_marked
from analytics.segments.demo import define_demo_segments
from analytics.segments.service import list_segments, segment_figures

NOW = datetime(2025, 6, 4, 17, tzinfo=UTC)


async def test_the_demo_habits_give_reference_001s_shape(make_tenant: Any, app_engine: AsyncEngine,
                                                         owner_engine: AsyncEngine) -> None:
    tenant = await make_tenant()
    events = list(demo_product_events(days=42, tz=ZoneInfo("UTC"), now=NOW))
    partitions = PartitionCache()
    for start in range(0, len(events), 1000):
        outcome = await ingest_batch(app_engine, partitions, tenant_id=tenant.id,
                                     events=events[start:start + 1000], retention_days=3650,
                                     max_future_seconds=86400)
        assert outcome.errors == []
    await roll_up(app_engine, tenant.id, claim_batches=1000)
    async with tenant_transaction(app_engine, tenant.id) as conn:
        await define_demo_segments(conn, tenant.id)
    await assign_marked(app_engine, tenant.id, now=NOW)
    async with tenant_transaction(app_engine, tenant.id) as conn:
        segments = await list_segments(conn, tenant.id)
        figures = await segment_figures(conn, tenant.id, segments, NOW + timedelta(seconds=1))
        # the scores the job stored at NOW (a range ending the day they were evaluated) give the same
        stored = await segment_figures(conn, tenant.id, segments, NOW + timedelta(seconds=1), stored=True)
    found = {f.segment.id: (f.size, f.share, f.mean_engagement) for f in figures}
    assert {f.segment.id: (f.size, f.share, f.mean_engagement) for f in stored} == found
    # Reference 001: power 22.5 %, regular 52.5 %, new 17.7 %, at risk 7.3 %.
    assert found == {"power": (95, 21.06, 7.9), "regular": (230, 51.0, 5.9), "new": (73, 16.19, 5.7),
                     "at_risk": (53, 11.75, 2.4), "deployers": (38, 8.43, 7.6)}
    async with owner_engine.connect() as conn:
        assert await verify_rollups(conn, tenant.id) == []
