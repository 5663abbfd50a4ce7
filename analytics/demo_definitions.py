"""What the demo tenant declares before its events arrive: custom event definitions, the demo tours'
titles and steps, reference 001's segments, features and funnels. One definition, shared by
``analytics dev --demo`` and the tests that load a slice of the demo."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from analytics.custom_events.demo import define_demo_events
from analytics.demo import DEMO_TOURS
from analytics.features.demo import define_demo_features
from analytics.funnels.demo import define_demo_funnels
from analytics.segments.demo import define_demo_segments
from analytics.tours.service import StepDefinition, define_tour


async def define_demo(conn: AsyncConnection, tenant_id: int) -> None:
    """Declare the demo's definitions in ``conn`` (a transaction scoped to ``tenant_id``)."""
    await define_demo_events(conn, tenant_id)
    for tour in DEMO_TOURS:
        await define_tour(conn, tour_id=tour.id, title=tour.title, steps=[
            StepDefinition(i, title, selector) for i, (title, selector) in enumerate(tour.steps)])
    await define_demo_segments(conn, tenant_id)
    await define_demo_features(conn, tenant_id)
    await define_demo_funnels(conn, tenant_id)
