"""Who sent a batch, as its request shows: the effective user agent, the client address (kept only
when the tenant opted in), the place a trusted proxy reported, and the cookieless visitor ids.

Visitor ids hash tenant, address and agent under today's and yesterday's salt
(analytics.traffic.visitor); the address itself reaches ``events.ip_address`` only for tenants
with ``store_ip``. The API never parses user agents: the worker does, from ``events.user_agent``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from datetime import date, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from analytics.traffic.visitor import DailySalts, visitor_candidates

# Real agents stay under 500 characters; this bounds a hostile header's cost. The worker's parser
# (analytics.traffic.agents) imports it from here, so the API never loads the parser.
MAX_AGENT_LENGTH = 1024

# What the request adds to each stored row, after the event's own columns.
ORIGIN_COLUMNS = ("user_agent", "ip_address", "visitor_id", "visitor_prev")
OriginColumns = tuple[str | None, str | None, str | None, str | None]


def effective_agent(context_agent: str | None, header_agent: str | None) -> str | None:
    """The SDK's user agent, else the request's header: trimmed, capped, None when blank."""
    agent = (context_agent or "").strip() or (header_agent or "").strip()
    return agent[:MAX_AGENT_LENGTH] or None


def _inet(ip: str) -> str | None:
    try:
        return str(ipaddress.ip_address(ip.strip().split("%", 1)[0]))  # PostgreSQL has no zone ids
    except ValueError:
        return None  # not an address (a Unix socket, a test client's name)


class Origin:
    """One request's sender, as the API saw it."""

    def __init__(self, *, tenant_id: int, ip: str, user_agent: str | None, store_ip: bool,
                 salts: DailySalts, geo: Mapping[str, str] | None = None,
                 privacy_signal: bool = False) -> None:
        self.tenant_id, self.ip, self.user_agent = tenant_id, ip, user_agent
        self.geo: Mapping[str, str] = geo or {}
        self.stored_ip = _inet(ip) if store_ip else None
        self.salts = salts
        self.privacy_signal = privacy_signal  # the request carried DNT: 1 or Sec-GPC: 1
        self._visitors: dict[str | None, tuple[str, str]] = {}  # one hash pair per distinct agent

    def columns(self, context_agent: str | None) -> OriginColumns:
        agent = effective_agent(context_agent, self.user_agent)
        if agent not in self._visitors:
            ids = visitor_candidates(self.tenant_id, self.ip, agent, salts=self.salts)
            self._visitors[agent] = (ids.today, ids.yesterday)
        return (agent, self.stored_ip, *self._visitors[agent])


def without_origin(context_agent: str | None) -> OriginColumns:
    """Events loaded without a request (demo data, scripts): only the SDK's own agent is known."""
    return effective_agent(context_agent, None), None, None, None


async def load_salts(engine: AsyncEngine, day: date) -> DailySalts:
    """The visitor salts of the UTC ``day`` and the day before, made on first use; salts older than
    yesterday are deleted on the way (migration 0011)."""
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        result = await conn.execute(text("SELECT day, salt FROM analytics_visitor_salts(:day)"), {"day": day})
        rows: dict[date, bytes] = {row.day: bytes(row.salt) for row in result}
    return DailySalts(today=rows[day], yesterday=rows[day - timedelta(days=1)])


async def set_store_ip(conn: AsyncConnection, tenant_id: int, on: bool) -> None:
    """Opt the tenant in to (or out of) keeping raw client addresses on new events."""
    await conn.execute(text("UPDATE tenants SET store_ip = :on WHERE id = :tenant"),
                       {"on": on, "tenant": tenant_id})
