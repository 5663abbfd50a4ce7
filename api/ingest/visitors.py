"""Who sent a ``track`` request (analytics.ingest.origin): the client address, the User-Agent
header, the trusted proxy's location headers (ANALYTICS_GEO_HEADERS) and the daily-salted visitor
ids. The raw IP is stored only for tenants that opted in (``analytics tenants update --store-ip``)."""

from __future__ import annotations

from starlette.requests import Request

from analytics.ingest.geo import geo_from_headers
from analytics.ingest.origin import Origin, load_secret
from analytics.settings import Settings
from analytics.tenants.service import Principal

__all__ = ["load_secret", "request_origin"]


def request_origin(request: Request, principal: Principal, settings: Settings, secret: str) -> Origin:
    """The sender of one request; its address is what uvicorn reports (X-Forwarded-For from the
    proxies in FORWARDED_ALLOW_IPS)."""
    return Origin(tenant_id=principal.tenant_id, ip=request.client.host if request.client else "",
                  user_agent=request.headers.get("user-agent"), store_ip=principal.store_ip,
                  visitor_secret=secret, geo=geo_from_headers(request.headers, settings.geo_headers))
