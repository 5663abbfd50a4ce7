"""Session upkeep for batches that only append: a visitor whose new events all come after every event
it has is folded into its open session's stored fold (analytics.sessions.fold), so the claim reads
the new events and one row, not the session's events, however long the session has grown.

A visitor's events are folded only when the result is certain to equal the derivation
(analytics.sessions.upkeep) over all its events:

- none of its stored sessions ends at or after its first new event, and at most one (the open
  session) ends less than 30 minutes before it: only that one can take new events;
- its sessions of the last 24 hours are all of the current derivation (older rows are derived
  again, as before), and the open session's fold describes exactly its events (count, start, end);
  a session over ``MAX_FOLDED_PATHS`` distinct paths keeps no fold;
- no stored event of the visitor (its ids or ids linked to them) lies after its latest stored
  session other than the batch's own (an event still waiting in the outbox would belong there);
- neither the session nor the new events hold content events (their facts need the events).

Every other visitor of the batch is left to the derivation, which also repairs a folded session
that a late event later changes.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection, Sequence
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from analytics.content.derive import is_content
from analytics.rollups.aggregate import RawEvent
from analytics.sessions.correction import mark_days
from analytics.sessions.derive import DERIVATION, folded_facts, link_visitors, session_id_of
from analytics.sessions.fold import SessionFold
from analytics.sessions.rows import NO_UPKEEP, Upkeep, set_session_keys, write_sessions
from analytics.traffic.sessions import (
    CONTINUED,
    IDLE_LIMIT,
    LENGTH_LIMIT,
    OpenSession,
    VisitorEvent,
    assign_sessions,
)

# The visitors' sessions that end within 24 hours before the batch, the fold only of those that end
# within 30 minutes (the ones that may still be open). started_at bounds the index scan.
_RECENT = text(
    "SELECT id, visitor_id, started_at, last_seen_at, request_count, derivation, excluded, "
    "is_behavioural_bot, CASE WHEN last_seen_at >= :open_after THEN fold END AS fold FROM sessions "
    "WHERE tenant_id = :tenant AND visitor_id = ANY(:visitors) AND last_seen_at >= :lo "
    "AND started_at >= :started_lo"
)
# Per group, the stored events after its bound, each counted once per id of the group it names (as
# visitor or previous visitor): more than the batch's own means other events lie there. (Counting
# instead of excluding the batch's ids: a 100-id filter made the generic plan costly enough to JIT.)
# Two joins, one per index (an OR of the two could plan as a scan of the events per visitor).
_LATER = text(
    """
    WITH g AS MATERIALIZED (
        SELECT * FROM unnest(CAST(:visitors AS text[]), CAST(:groups AS integer[]),
                             CAST(:afters AS timestamptz[])) AS g(visitor, grp, after))
    SELECT grp, sum(n) AS events FROM (
        SELECT g.grp, count(*) AS n FROM g JOIN events e ON e.tenant_id = :tenant
            AND e.visitor_id = g.visitor AND e.occurred_at > g.after GROUP BY g.grp
        UNION ALL
        SELECT g.grp, count(*) AS n FROM g JOIN events e ON e.tenant_id = :tenant
            AND e.visitor_prev = g.visitor AND e.occurred_at > g.after GROUP BY g.grp) counted
    GROUP BY grp
    """
)


class _Plan:
    """One visitor's new events and the open session they may continue."""

    def __init__(self, events: list[RawEvent], visitors: list[str], open_row: Row[Any] | None,
                 fold: SessionFold | None, after: datetime) -> None:
        self.events, self.visitors, self.open_row = events, visitors, open_row
        self.fold, self.after = fold, after

    def own_count(self) -> int:
        """What ``_LATER`` counts for the batch's own events (each one is after ``after``)."""
        ids = set(self.visitors)
        return sum((e.visitor_id in ids) + (e.visitor_prev in ids) for e in self.events)


async def fold_appends(conn: AsyncConnection, tenant_id: int, batch: Sequence[RawEvent], tz: ZoneInfo,
                       bot_patterns: Sequence[str], exempt_rules: Collection[str],
                       exclude_unknown: bool) -> tuple[Upkeep, list[RawEvent]]:
    """Fold the visitors whose events only append; returns what it did and the events left over."""
    groups = link_visitors(batch)
    if not groups:
        return NO_UPKEEP, list(batch)
    ids = [sorted({v for e in g for v in (e.visitor_id, e.visitor_prev) if v}) for g in groups]
    first = min(g[0].occurred_at for g in groups)
    rows = (await conn.execute(_RECENT, {
        "tenant": tenant_id, "visitors": sorted({v for vs in ids for v in vs}), "lo": first - LENGTH_LIMIT,
        "started_lo": first - 2 * LENGTH_LIMIT, "open_after": first - IDLE_LIMIT})).all()
    by_visitor: dict[str, list[Row[Any]]] = {}
    for row in rows:
        by_visitor.setdefault(row.visitor_id, []).append(row)
    plans = {i: plan for i, g in enumerate(groups) if (plan := _plan(g, ids[i], by_visitor)) is not None}
    if plans:
        stored_after = {row.grp: row.events for row in await conn.execute(_LATER, {
            "tenant": tenant_id, "visitors": [v for p in plans.values() for v in p.visitors],
            "groups": [i for i, p in plans.items() for _ in p.visitors],
            "afters": [p.after for p in plans.values() for _ in p.visitors]})}
        for i in [i for i, plan in plans.items() if stored_after.get(i, 0) != plan.own_count()]:
            del plans[i]
    if not plans:
        return NO_UPKEEP, list(batch)

    written: list[tuple[Any, dict[str, Any] | None]] = []
    keys: list[tuple[RawEvent, uuid.UUID]] = []
    bots: set[uuid.UUID] = set()
    dirty: set[date] = set()
    for plan in plans.values():
        open_row = plan.open_row
        tail = None if open_row is None or plan.fold is None else OpenSession(
            open_row.started_at, open_row.last_seen_at, plan.fold.sdk_session_id)
        labels = assign_sessions([VisitorEvent(e.occurred_at, e.sdk_session_id) for e in plan.events], tail)
        sessions: dict[str, list[RawEvent]] = {}
        for label, event in zip(labels, plan.events, strict=True):
            sessions.setdefault(label, []).append(event)
        for label, events in sessions.items():
            if label == CONTINUED:
                assert open_row is not None and plan.fold is not None
                session_id, fold = open_row.id, plan.fold
                for event in events:
                    fold.add(event)
            else:
                session_id, fold = session_id_of(events[0], label), SessionFold.of(events)
            facts = folded_facts(session_id, fold, bot_patterns, exempt_rules, exclude_unknown)
            behavioural = label == CONTINUED and open_row is not None and open_row.is_behavioural_bot
            excluded = facts.is_bot or facts.is_scanner or behavioural
            if label == CONTINUED and open_row is not None and open_row.excluded != excluded:
                # the session's counted events change side
                dirty |= _local_days(open_row.started_at, open_row.last_seen_at, tz)
            written.append((facts, fold.dump() if label == labels[-1] else None))
            keys.extend((e, session_id) for e in events if e.id and e.session_key != session_id)
            if excluded:
                bots |= {e.id for e in events if e.id}
    await write_sessions(conn, tenant_id, written)
    await set_session_keys(conn, tenant_id, keys)
    if dirty:
        await mark_days(conn, tenant_id, dirty)
    done = {id(e) for plan in plans.values() for e in plan.events}
    return (Upkeep(frozenset(bots), len(written), 0, tuple(sorted(dirty))),
            [e for e in batch if id(e) not in done])


def _plan(events: list[RawEvent], visitors: list[str], by_visitor: dict[str, list[Row[Any]]]) -> _Plan | None:
    """How to fold one visitor's events, or None when they must be derived."""
    first = events[0].occurred_at
    stored = {row.id: row for v in visitors for row in by_visitor.get(v, ())
              if row.last_seen_at >= first - LENGTH_LIMIT}.values()
    if any(row.last_seen_at >= first or row.derivation != DERIVATION for row in stored) \
            or any(is_content(e) for e in events):
        return None  # not an append; or older rows to derive again; or content facts to derive
    near = [row for row in stored if row.last_seen_at >= first - IDLE_LIMIT]
    if len(near) > 1:
        return None
    open_row = near[0] if near else None
    fold = _stored_fold(open_row) if open_row is not None else None
    if open_row is not None and (fold is None or fold.content):
        return None
    after = max((row.last_seen_at for row in stored), default=first - LENGTH_LIMIT)
    return _Plan(events, visitors, open_row, fold, after)


def _stored_fold(row: Row[Any]) -> SessionFold | None:
    """The row's fold if it describes exactly the row's events under the current derivation."""
    if row.fold is None or row.derivation != DERIVATION:
        return None
    fold = SessionFold.load(json.loads(row.fold) if isinstance(row.fold, str) else row.fold)
    if fold is None or (fold.request_count, fold.started_at, fold.last_seen_at) != (
            row.request_count, row.started_at, row.last_seen_at):
        return None
    return fold


def _local_days(start: datetime, end: datetime, tz: ZoneInfo) -> set[date]:
    """The tenant-local days from ``start`` to ``end`` (a session's events: never 30 minutes apart,
    so every one of those days holds some)."""
    day, last = start.astimezone(tz).date(), end.astimezone(tz).date()
    days = set()
    while day <= last:
        days.add(day)
        day += timedelta(days=1)
    return days
