"""Who sent a ``track`` request (analytics.ingest.origin): the client address, the User-Agent
header, the trusted proxy's location headers (ANALYTICS_GEO_HEADERS) and the daily-salted visitor
ids. The raw IP is stored only for tenants that opted in (``analytics tenants update --store-ip``)."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request

from analytics.ingest.geo import geo_from_headers
from analytics.ingest.origin import SERVER, SOURCE_HEADER, Origin, load_salts
from analytics.settings import Settings
from analytics.tenants.service import Principal
from analytics.traffic.visitor import DailySalts
from api.context import Resources


async def todays_salts(resources: Resources) -> DailySalts:
    """Today's and yesterday's visitor salts (UTC), loaded once a day per process."""
    today = datetime.now(UTC).date()
    if resources.visitor_salts is None or resources.visitor_salts[0] != today:
        resources.visitor_salts = (today, await load_salts(resources.engine, today))
    return resources.visitor_salts[1]


def request_origin(request: Request, principal: Principal, settings: Settings, salts: DailySalts) -> Origin:
    """The sender of one request; its address is what uvicorn reports (X-Forwarded-For from the
    proxies in FORWARDED_ALLOW_IPS). ``Analytics-Source: server`` declares a server or relay."""
    return Origin(tenant_id=principal.tenant_id, ip=request.client.host if request.client else "",
                  user_agent=request.headers.get("user-agent"), store_ip=principal.store_ip,
                  salts=salts, geo=geo_from_headers(request.headers, settings.geo_headers),
                  privacy_signal=privacy_signal(request),
                  declared_server=request.headers.get(SOURCE_HEADER, "").strip().lower() == SERVER)


def privacy_signal(request: Request) -> bool:
    """The browser's own request says Do Not Track (``DNT: 1``) or Global Privacy Control
    (``Sec-GPC: 1``); browsers add these headers to the SDK's fetch and beacon requests."""
    return request.headers.get("dnt", "").strip() == "1" or request.headers.get("sec-gpc", "").strip() == "1"
