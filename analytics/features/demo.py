"""The demo's features: reference 001's five, matching the demo product events (analytics.demo_product)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from analytics.features.service import define_feature
from analytics.matchers import Matcher

DEMO_FEATURES = (("Deploy Application", "deployment_succeeded"), ("Create Service", "service_activated"),
                 ("View Documentation", "docs_viewed"), ("Run Pipeline", "pipeline_run"),
                 ("Configure Monitoring", "monitoring_configured"))


async def define_demo_features(conn: AsyncConnection, tenant_id: int) -> None:
    """Declare the five features (in the caller's tenant transaction); their backfill job counts any
    demo events already stored."""
    for name, event in DEMO_FEATURES:
        await define_feature(conn, tenant_id, name, Matcher(event))
