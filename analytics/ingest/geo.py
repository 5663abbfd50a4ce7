"""Where a request came from, as a trusted proxy's location headers say (ANALYTICS_GEO_HEADERS).

Only the proxy the operator names is believed: anyone can send these headers to a server that is
reached directly. Values fill the place an event's context left out (analytics.ingest.details).
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import unquote

from analytics.ingest.details import GEO_FIELDS, MAX_CONTEXT_TEXT, UNKNOWN_COUNTRIES, country_code

# ANALYTICS_GEO_HEADERS: the proxy whose location headers are trusted (country, region, city).
GEO_HEADERS: dict[str, tuple[str, str, str]] = {
    "cloudflare": ("cf-ipcountry", "cf-region-code", "cf-ipcity"),
    "vercel": ("x-vercel-ip-country", "x-vercel-ip-country-region", "x-vercel-ip-city"),
    "cloudfront": ("cloudfront-viewer-country", "cloudfront-viewer-country-region",
                   "cloudfront-viewer-city"),
}
URL_ENCODED_GEO = frozenset({"vercel"})


def geo_from_headers(headers: Mapping[str, str], provider: str) -> dict[str, str]:
    """The place ``provider``'s headers (lower-case names) report; unknown (XX), Tor (T1) and
    malformed values are left out, since a proxy's oddity is not the event's fault."""
    geo: dict[str, str] = {}
    if provider not in GEO_HEADERS:
        return geo
    for name, header in zip(GEO_FIELDS, GEO_HEADERS[provider], strict=True):
        raw = headers.get(header)
        if raw is None:
            continue
        value = _header_text(raw, url_encoded=provider in URL_ENCODED_GEO)
        if name == "country":
            code = country_code(value)
            if code is not None and code not in UNKNOWN_COUNTRIES:
                geo[name] = code
        elif value and len(value) <= MAX_CONTEXT_TEXT[name] and value.isprintable():
            geo[name] = value
    return geo


def _header_text(raw: str, *, url_encoded: bool) -> str:
    try:  # servers decode header bytes as Latin-1; proxies send UTF-8 (São Paulo, Zürich)
        value = raw.encode("latin-1").decode("utf-8")
    except UnicodeError:
        value = raw
    return (unquote(value) if url_encoded else value).strip()
