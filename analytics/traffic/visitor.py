"""Cookieless visitor identity: a daily-salted hash of tenant, IP address and user agent.

``daily_salt`` derives the day's salt from a server secret with HMAC-SHA256, so no salt is ever
stored and yesterday's cannot be recomputed without the secret. ``visitor_id`` is
HMAC-SHA256(salt, tenant | IP | user agent) in hex, cut to 32 characters (128 bits). Because the
salt changes at midnight UTC, the worker checks both ``visitor_candidates``: an id already seen
under yesterday's salt keeps a visit that crosses midnight whole. Nothing here returns or keeps
the raw IP address; it only enters the hash, normalised so that ``::ffff:203.0.113.9`` and
``203.0.113.9`` are one visitor.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

VISITOR_ID_LENGTH = 32


@dataclass(frozen=True, slots=True)
class VisitorCandidates:
    """The visitor's id under today's salt, and under yesterday's for a visit across midnight."""

    today: str
    yesterday: str


def daily_salt(secret: bytes | str, day: date) -> bytes:
    """The salt of one UTC day; a different secret or day gives an unrelated salt."""
    key = secret.encode() if isinstance(secret, str) else secret
    if not key:
        raise ValueError("the visitor salt secret is empty")
    return hmac.new(key, b"visitor-salt:" + day.isoformat().encode(), hashlib.sha256).digest()


def visitor_id(tenant_id: int | str, ip: str, user_agent: str | None, salt: bytes) -> str:
    """32 hex characters; the same inputs and salt always give the same id."""
    message = "\x00".join((str(tenant_id), _normalise_ip(ip), (user_agent or "").strip()))
    return hmac.new(salt, message.encode(), hashlib.sha256).hexdigest()[:VISITOR_ID_LENGTH]


def visitor_candidates(tenant_id: int | str, ip: str, user_agent: str | None, *, secret: bytes | str,
                       at: datetime) -> VisitorCandidates:
    """Ids under the salts of ``at``'s UTC day and the day before."""
    if at.tzinfo is None:
        raise ValueError("visitor_candidates needs an aware datetime")
    today = at.astimezone(UTC).date()
    return VisitorCandidates(
        today=visitor_id(tenant_id, ip, user_agent, daily_salt(secret, today)),
        yesterday=visitor_id(tenant_id, ip, user_agent, daily_salt(secret, today - timedelta(days=1))),
    )


def _normalise_ip(ip: str) -> str:
    text = ip.strip()
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return text.lower()  # an unparseable value from a proxy header still hashes consistently
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return str(address.ipv4_mapped)
    return str(address)
