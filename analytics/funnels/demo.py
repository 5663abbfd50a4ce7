"""The demo's funnels: reference 001's onboarding, deployment and service-creation funnels over the
demo product events (analytics.demo_product), and reference 002's capsule funnel (view -> CTA ->
conversion) on the demo's pricing assistant (analytics.demo)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from analytics.funnels.definition import parse_definition
from analytics.funnels.store import define_funnel, list_funnels

CAPSULE = "pricing-assistant"


def _steps(*names: str, where: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    return [{"matcher": {"event": name, "where": where or []}} for name in names]


_ON_CAPSULE = [{"property": "contentId", "op": "EQ", "value": CAPSULE}]
DEMO_FUNNELS: tuple[dict[str, Any], ...] = (
    {"name": "Onboarding", "steps": _steps("sign_up", "profile_setup", "template_selected",
                                           "deployment_succeeded")},
    {"name": "Deployment", "steps": _steps("deployment_started", "deployment_configured", "build_completed",
                                           "deployment_succeeded")},
    {"name": "Service creation", "steps": _steps("template_selected", "service_configured",
                                                 "service_reviewed", "service_activated")},
    {"name": "Pricing assistant", "window_seconds": 86400,
     "steps": _steps("ContentViewed", "ContentCtaClicked", "ContentConverted", where=_ON_CAPSULE)},
)


async def define_demo_funnels(conn: AsyncConnection, tenant_id: int) -> int:
    """Define the demo funnels the tenant does not have yet (by name); their backfill is queued by the
    worker's sweeper. Returns how many were defined."""
    existing = {f.definition.name for f in await list_funnels(conn, tenant_id)}
    defined = 0
    for raw in DEMO_FUNNELS:
        if raw["name"] not in existing:
            await define_funnel(conn, tenant_id, funnel_id=None, definition=parse_definition(raw))
            defined += 1
    return defined
