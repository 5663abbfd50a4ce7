"""What a session metric is, defined once: the SQL of each aggregate over ``sessions`` rows, the
additive figures of a set of sessions, and the dimensions breakdowns group by. The period reads
(analytics.sessions.stats) and the per-day rollup (analytics.sessions.days) both use these."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from analytics import metrics

# A bounce: at most one page view and nothing but page views and their engagement reports.
BOUNCED = "(page_views <= 1 AND request_count = page_views + engagement_events)"
DURATION = "extract(epoch FROM last_seen_at - started_at)"
# The registry of session metrics computed per group of sessions, each one SQL aggregate.
AGGREGATES: dict[str, str] = {
    "sessions": "count(*)",
    "visitors": "count(DISTINCT visitor_id)",
    "users": "count(DISTINCT user_id)",  # NULL user ids are not counted
    "page_views": "coalesce(sum(page_views), 0)",
    "bounced": f"count(*) FILTER (WHERE {BOUNCED})",
    "duration_seconds": f"coalesce(sum({DURATION}), 0)",
}
AGGREGATE_SQL = ", ".join(f"{sql} AS {name}" for name, sql in AGGREGATES.items())


@dataclass(frozen=True)
class SessionCounts:
    """The additive figures of a set of sessions, and the rates derived from them."""

    sessions: int = 0
    visitors: int = 0
    users: int = 0
    page_views: int = 0
    bounced: int = 0
    duration_seconds: float = 0.0

    @classmethod
    def of(cls, row: Any) -> SessionCounts:
        return cls(sessions=int(row.sessions), visitors=int(row.visitors), users=int(row.users),
                   page_views=int(row.page_views), bounced=int(row.bounced),
                   duration_seconds=float(row.duration_seconds))

    @property
    def pages_per_session(self) -> float | None:
        return metrics.pages_per_session(self.page_views, self.sessions)

    @property
    def bounce_rate(self) -> float | None:
        return metrics.bounce_rate(self.bounced, self.sessions)

    @property
    def avg_session_duration_seconds(self) -> float | None:
        return metrics.average_session_duration(self.duration_seconds, self.sessions)


# The bot filter's flags of one session (alias ``s``) as rows (``tier``, ``code``): code '' for each tier
# that flagged it, and each distinct non-empty reason code of a tier that flagged it (tier 1 and 2
# reasons are stored with the session; a behavioural flag's reasons are its signals). A FROM item for
# a LATERAL join.
BOT_FLAGS = """(
    SELECT CAST(r->>'tier' AS integer) AS tier, r->>'code' AS code
    FROM jsonb_array_elements(CASE WHEN jsonb_typeof(s.agent_reasons) = 'array' THEN s.agent_reasons
                                   ELSE '[]' END) r
    WHERE r->>'code' <> '' AND (r->>'tier' = '1' AND s.is_bot OR r->>'tier' = '2' AND s.is_scanner)
    UNION
    SELECT 3, k FROM jsonb_object_keys(CASE WHEN s.is_behavioural_bot
                                                 AND jsonb_typeof(s.behaviour_signals) = 'object'
                                            THEN s.behaviour_signals ELSE '{}' END) k
    WHERE k <> ''
    UNION
    SELECT t.tier, '' FROM (VALUES (1, s.is_bot), (2, s.is_scanner), (3, s.is_behavioural_bot))
                           AS t(tier, flagged)
    WHERE t.flagged)"""

# The referrer's host, lower case, without "www." (the tables in analytics.traffic.referrers).
REFERRER_HOST = (r"regexp_replace(lower(substring(referrer_url FROM "
                 r"'^(?:[A-Za-z][A-Za-z0-9+.-]*:)?//(?:[^@/?#]*@)?([^:/?#]+)')), '^(www|m)\.', '')")


@dataclass(frozen=True)
class Dimension:
    """What a breakdown groups by, and which sessions have a value for it (``where``)."""

    keys: tuple[str, ...]
    where: str = "true"


DIMENSIONS: dict[str, Dimension] = {
    "sources": Dimension(("referrer_source",)),
    # Self-referrals are classified direct, so a referrer counts only for other sources.
    "referrers": Dimension((REFERRER_HOST,), f"referrer_source <> 'direct' AND {REFERRER_HOST} <> ''"),
    "campaigns": Dimension(("utm_source", "utm_medium", "utm_campaign"),
                           "coalesce(utm_source, utm_medium, utm_campaign) IS NOT NULL"),
    "countries": Dimension(("country",)),
    "regions": Dimension(("country", "region"), "region IS NOT NULL"),
    "devices": Dimension(("device_type",)),
    "browsers": Dimension(("browser",)),
    "operating_systems": Dimension(("os",)),
    "landing_pages": Dimension(("landing_page",), "landing_page IS NOT NULL"),
}


