"""Tier 3: the behavioural scorer, run as a worker job over sessions changed since their last score.

Each session the rollup rewrote (``scored_at IS NULL``) is scored from its stored facts with
:func:`analytics.traffic.behaviour.score_session`; the score, every signal's points and the flag
(score >= 50) are written back. When the flag changes the session's side (human/bot), the local
days it spans are marked for a counter correction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from analytics.sessions.correction import mark_days
from analytics.traffic.agents import lacks_browser_token
from analytics.traffic.behaviour import SessionSignals, score_session

SCORE_BATCH = 5000

_UNSCORED = text(
    """
    SELECT id, started_at, last_seen_at, request_count, unique_pages, page_views, interval_stddev_ms,
           engagement_events, zero_dwell_page_views, user_agent, is_behavioural_bot,
           is_bot OR is_scanner AS flagged
    FROM sessions WHERE tenant_id = :tenant AND scored_at IS NULL
    ORDER BY updated_at LIMIT :limit
    """
)
# Whether the tenant sends engagement events at all (else "no engagement" says nothing).
_COLLECTS_ENGAGEMENT = text(
    "SELECT EXISTS (SELECT 1 FROM sessions WHERE tenant_id = :tenant AND engagement_events > 0)"
)
_WRITE = text(
    """
    UPDATE sessions s SET behavioural_bot_score = u.score, behaviour_signals = u.signals,
                          is_behavioural_bot = u.flagged, scored_at = clock_timestamp()
    FROM unnest(CAST(:ids AS uuid[]), CAST(:scores AS integer[]), CAST(:signals AS jsonb[]),
                CAST(:flagged AS boolean[])) AS u(id, score, signals, flagged)
    WHERE s.tenant_id = :tenant AND s.id = u.id
    """
)


@dataclass(frozen=True)
class ScoringResult:
    scored: int
    changed: int  # sessions whose behavioural flag changed
    dirty_days: tuple[date, ...]


async def score_sessions(conn: AsyncConnection, tenant_id: int, tz: ZoneInfo, *,
                         limit: int = SCORE_BATCH) -> ScoringResult:
    """Score up to ``limit`` sessions waiting for a score; the caller holds the tenant's lock."""
    rows = (await conn.execute(_UNSCORED, {"tenant": tenant_id, "limit": limit})).all()
    if not rows:
        return ScoringResult(0, 0, ())
    collects = bool((await conn.execute(_COLLECTS_ENGAGEMENT, {"tenant": tenant_id})).scalar_one())
    ids, scores, signals, flags = [], [], [], []
    dirty: set[date] = set()
    changed = 0
    for row in rows:
        result = score_session(SessionSignals(
            request_count=row.request_count,
            duration_seconds=(row.last_seen_at - row.started_at).total_seconds(),
            unique_pages=row.unique_pages, page_views=row.page_views,
            interval_stddev_ms=row.interval_stddev_ms,
            engagement_events=row.engagement_events if collects else None,
            zero_dwell_page_views=row.zero_dwell_page_views, bare_agent=lacks_browser_token(row.user_agent)))
        ids.append(row.id)
        scores.append(result.score)
        signals.append(json.dumps({str(k): v for k, v in result.contributions.items()}))
        flags.append(result.flagged)
        if result.flagged != row.is_behavioural_bot:
            changed += 1
            if not row.flagged:  # the tier-1/2 flags did not already put it on the bot side
                dirty.update(local_days(row.started_at, row.last_seen_at, tz))
    await conn.execute(_WRITE, {"tenant": tenant_id, "ids": ids, "scores": scores, "signals": signals,
                                "flagged": flags})
    if dirty:
        await mark_days(conn, tenant_id, dirty)
    return ScoringResult(len(rows), changed, tuple(sorted(dirty)))


def local_days(start: datetime, end: datetime, tz: ZoneInfo) -> list[date]:
    """Every tenant-local day from ``start`` to ``end``, inclusive."""
    first, last = start.astimezone(tz).date(), end.astimezone(tz).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]
