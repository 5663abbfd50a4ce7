"""Cookieless visitor identity: a daily-salted hash of tenant, IP address and user agent.

The salts are random, one per UTC day, stored by the database and deleted once older than
yesterday (migration 0011, ``analytics_visitor_salts``), so an id of two days ago cannot be
recomputed by anyone. ``visitor_id`` is HMAC-SHA256(salt, tenant | IP | user agent) in hex, cut to
32 characters (128 bits). Because the salt changes at midnight UTC, the worker checks both
``visitor_candidates``: an id already seen under yesterday's salt keeps a visit that crosses
midnight whole. Nothing here returns or keeps the raw IP address; it only enters the hash,
normalised so that ``::ffff:203.0.113.9`` and ``203.0.113.9`` are one visitor.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from dataclasses import dataclass

VISITOR_ID_LENGTH = 32


@dataclass(frozen=True, slots=True)
class VisitorCandidates:
    """The visitor's id under today's salt, and under yesterday's for a visit across midnight."""

    today: str
    yesterday: str


@dataclass(frozen=True, slots=True)
class DailySalts:
    """The salts of one UTC day and of the day before it."""

    today: bytes
    yesterday: bytes

    def __post_init__(self) -> None:
        if not (self.today and self.yesterday):
            raise ValueError("a visitor salt is empty")


def visitor_id(tenant_id: int | str, ip: str, user_agent: str | None, salt: bytes) -> str:
    """32 hex characters; the same inputs and salt always give the same id."""
    message = "\x00".join((str(tenant_id), _normalise_ip(ip), (user_agent or "").strip()))
    return hmac.new(salt, message.encode(), hashlib.sha256).hexdigest()[:VISITOR_ID_LENGTH]


def visitor_candidates(tenant_id: int | str, ip: str, user_agent: str | None, *,
                       salts: DailySalts) -> VisitorCandidates:
    """Ids under the salts of the request's UTC day and the day before."""
    return VisitorCandidates(today=visitor_id(tenant_id, ip, user_agent, salts.today),
                             yesterday=visitor_id(tenant_id, ip, user_agent, salts.yesterday))


def _normalise_ip(ip: str) -> str:
    text = ip.strip()
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return text.lower()  # an unparseable value from a proxy header still hashes consistently
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return str(address.ipv4_mapped)
    return str(address)
