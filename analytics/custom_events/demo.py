"""The demo tenant's event definitions (``analytics dev --demo``): the product events of
analytics.demo_product described, typed and broken down by their natural dimensions."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from analytics.custom_events.definitions import define_event
from analytics.custom_events.rules import PropertySpec, PropertyType

STRING, NUMBER = PropertyType.STRING, PropertyType.NUMBER
# (name, description, declared properties, strict, dimensions)
DEMO_DEFINITIONS: tuple[tuple[str, str, tuple[PropertySpec, ...], bool, tuple[str, ...]], ...] = (
    ("sign_up", "A person created an account", (PropertySpec("plan", STRING, True),), True, ("plan",)),
    ("template_selected", "A service template was chosen", (PropertySpec("template", STRING, True),), True,
     ("template",)),
    ("deployment_started", "A deployment began", (PropertySpec("environment", STRING, True),), True,
     ("environment",)),
    ("deployment_succeeded", "A deployment went live",
     (PropertySpec("environment", STRING, True), PropertySpec("durationMs", NUMBER)), True, ("environment",)),
    ("docs_viewed", "A documentation page was read", (PropertySpec("page", STRING, True),), False, ("page",)),
    ("pipeline_run", "A CI pipeline ran", (PropertySpec("status", STRING, True),), True, ("status",)),
    ("monitoring_configured", "Alerts were set up", (PropertySpec("alerts", NUMBER),), False, ()),
)


async def define_demo_events(conn: AsyncConnection, tenant_id: int) -> None:
    """Define the demo's events (before its events are loaded: their dimensions need no backfill)."""
    for name, description, properties, strict, dimensions in DEMO_DEFINITIONS:
        await define_event(conn, tenant_id, name=name, description=description, properties=properties,
                           strict=strict, dimensions=dimensions)
