"""Cookieless visitor ids for ``track``: the request's address and the event's user agent, hashed
under today's and yesterday's daily salt (analytics.traffic.visitor). The raw IP is never stored."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request

from analytics.ingest.events import EventIn, Identify
from analytics.traffic.visitor import visitor_candidates


async def load_secret(engine: AsyncEngine) -> str:
    """The instance's visitor-salt secret (created by migration 0005)."""
    async with engine.connect() as conn:
        return str((await conn.execute(text(
            "SELECT value FROM instance_secrets WHERE name = 'visitor_salt'"))).scalar_one())


def identifier(request: Request, tenant_id: int, secret: str) -> Identify:
    """``Identify`` for one request: one hash pair per distinct user agent in the batch."""
    ip = request.client.host if request.client else ""
    header_agent = request.headers.get("user-agent")
    now = datetime.now(UTC)
    seen: dict[str | None, tuple[str | None, str | None]] = {}

    def identify(event: EventIn) -> tuple[str | None, str | None]:
        agent = event.context.user_agent if event.context and event.context.user_agent else header_agent
        if agent not in seen:
            ids = visitor_candidates(tenant_id, ip, agent, secret=secret, at=now)
            seen[agent] = (ids.today, ids.yesterday)
        return seen[agent]

    return identify
