"""Who an event belongs to and who sent it: the end user's agent and address, the visitor id, and
whether a server (not the end user's browser) sent the request.

The rules, also in README "Events from a server or relay":

- **The visitor.** An event with a ``userId`` or an ``anonymousId`` belongs to the visitor those ids
  name: ``identity_visitor_id`` hashes tenant, userId and anonymousId (no salt: the ids themselves are
  stored with the event), so events with the same pair are one visitor and two different
  anonymousIds (or userIds) are never one. An event without either is cookieless: its visitor hashes
  tenant, the end user's address and agent under today's and yesterday's salt
  (analytics.traffic.visitor), as before.
- **Server sources.** A request whose User-Agent is not a browser's (a library such as curl or
  python-requests, or none at all), or that says ``Analytics-Source: server``, is a server or relay.
  Its events that carry ids or ``context.userAgent`` (and every event of a declared one) are
  *server-sourced*: the end user's agent is ``context.userAgent`` only and their address
  ``context.ip`` only; the request's own agent, address and proxy geo are never used as theirs.
  ``events.server_source`` records it, so the worker files such an event without any agent under
  ``unknown agent`` (counted as a person unless the tenant excludes them) instead of ``ua_empty``.
- **Browsers.** Every other event is the end user's own request: ``context.userAgent`` else the
  User-Agent header, the request's address, the proxy's geo. A library agent there stays a bot.

The address reaches ``events.ip_address`` only for tenants with ``store_ip``. The API never parses
user agents: the worker does, from ``events.user_agent``.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Mapping
from datetime import date, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from analytics.traffic.visitor import VISITOR_ID_LENGTH, DailySalts, visitor_candidates

# Real agents stay under 500 characters; this bounds a hostile header's cost. The worker's parser
# (analytics.traffic.agents) imports it from here, so the API never loads the parser.
MAX_AGENT_LENGTH = 1024

# What the request adds to each stored row, after the event's own columns.
ORIGIN_COLUMNS = ("user_agent", "ip_address", "visitor_id", "visitor_prev", "server_source")
OriginColumns = tuple[str | None, str | None, str | None, str | None, bool]
# A request header by which a server declares itself whatever its User-Agent says.
SOURCE_HEADER = "analytics-source"
SERVER = "server"
# Every browser (and every crawler that poses as one) opens its User-Agent with one of these; HTTP
# libraries (curl/8.5, python-requests/2.32, node-fetch, Go-http-client/2.0, okhttp) do not.
_BROWSER_PREFIXES = ("Mozilla/", "Opera/")
# The same text as SQL (workers' identity re-derivation), so stored events get the same ids.
IDENTITY_SQL = ("left(encode(sha256(convert_to(concat('identity', chr(31), CAST(tenant_id AS text), chr(31), "
                "length(coalesce(user_id, '')), ':', coalesce(user_id, ''), chr(31), "
                f"coalesce(anonymous_id, '')), 'UTF8')), 'hex'), {VISITOR_ID_LENGTH})")


def identity_visitor_id(tenant_id: int, user_id: str | None, anonymous_id: str | None) -> str:
    """The visitor of an event that says whose it is: the same (tenant, userId, anonymousId) always
    gives the same 32 hex characters (``IDENTITY_SQL`` in SQL; the length prefix keeps ``a`` + ``bc``
    apart from ``ab`` + ``c``)."""
    user, anonymous = user_id or "", anonymous_id or ""
    message = f"identity\x1f{tenant_id}\x1f{len(user)}:{user}\x1f{anonymous}"
    return hashlib.sha256(message.encode()).hexdigest()[:VISITOR_ID_LENGTH]


def is_browser_agent(agent: str | None) -> bool:
    """Whether a request's own User-Agent is a browser's (or a crawler posing as one)."""
    return (agent or "").lstrip().startswith(_BROWSER_PREFIXES)


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
                 privacy_signal: bool = False, declared_server: bool = False) -> None:
        self.tenant_id, self.ip, self.user_agent = tenant_id, ip, user_agent
        self.geo: Mapping[str, str] = geo or {}
        self.store_ip = store_ip
        self.stored_ip = _inet(ip) if store_ip else None
        self.salts = salts
        self.privacy_signal = privacy_signal  # the request carried DNT: 1 or Sec-GPC: 1
        # Not the end user's browser: a library's agent or none, or the request said so.
        self.declared_server = declared_server
        self.server = declared_server or not is_browser_agent(user_agent)
        self._visitors: dict[tuple[str, str | None], tuple[str, str]] = {}  # one pair per address+agent

    def server_sourced(self, *, has_ids: bool, context_agent: str | None) -> bool:
        """Whether the event's end user is someone other than the request's sender (module docstring)."""
        return self.declared_server or (self.server and (has_ids or bool((context_agent or "").strip())))

    def columns(self, *, user_id: str | None, anonymous_id: str | None, context_agent: str | None,
                context_ip: str | None, server_sourced: bool) -> OriginColumns:
        if server_sourced:
            agent, ip = effective_agent(context_agent, None), (context_ip or "").strip()
            stored = _inet(ip) if self.store_ip and ip else None
        else:
            agent, ip, stored = effective_agent(context_agent, self.user_agent), self.ip, self.stored_ip
        if user_id or anonymous_id:
            identity = identity_visitor_id(self.tenant_id, user_id, anonymous_id)
            return agent, stored, identity, None, server_sourced
        if (ip, agent) not in self._visitors:
            ids = visitor_candidates(self.tenant_id, ip, agent, salts=self.salts)
            self._visitors[(ip, agent)] = (ids.today, ids.yesterday)
        return (agent, stored, *self._visitors[(ip, agent)], server_sourced)


def without_origin(context_agent: str | None) -> OriginColumns:
    """Events loaded without a request (demo data, scripts): only the SDK's own agent is known."""
    return effective_agent(context_agent, None), None, None, None, False


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
