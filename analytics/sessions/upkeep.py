"""Session upkeep inside the rollup transaction: re-derive the sessions of every visitor a batch
touched, write them, and say which of the batch's events belong to excluded (bot) sessions.

Sessions are derived, not appended: for each visitor of the batch the worker reloads that visitor's
events from 24 hours before the batch's first event to 24 hours after its last (widened to cover
the visitor's stored sessions there; when the batch only appends to its visitors' history, from 30
minutes before to 30 minutes after, since only a session still open can change), splits them again
and replaces the stored rows whose events changed (a session with the same events keeps its row and
its behavioural score). Late and
out-of-order events therefore land in the right session, exactly once, and a re-run gives the same
rows. When an already-counted event moves between a human and a bot session (a scanner path seen
later, two sessions merged by a late event), its local day is marked in ``dirty_days`` and the
correction job recomputes that day's counters (analytics.sessions.correction).

A visitor whose new events only append to its history is not derived at all: the events are folded
into its open session's stored fold (analytics.sessions.appends); this module derives the rest.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from analytics.content.upkeep import replace_content_facts
from analytics.rollups.aggregate import RAW_EVENT_COLUMNS, RawEvent
from analytics.sessions.appends import fold_appends
from analytics.sessions.correction import mark_days
from analytics.sessions.derive import DERIVATION, folded_facts, link_visitors, split_sessions
from analytics.sessions.fold import SessionFold
from analytics.sessions.rows import NO_UPKEEP, Upkeep, set_session_keys, write_sessions
from analytics.traffic.sessions import IDLE_LIMIT, LENGTH_LIMIT

__all__ = ["Upkeep", "keep_sessions", "rederive_visitors"]

# Stored sessions the re-derivation replaces: those of the visitors in the window, and those any
# loaded event belongs to now (a visit across midnight is stored under the first day's id).
# Two index scans joined by UNION (an OR of the two can plan as a scan of the tenant's sessions).
_STORED = "id, started_at, last_seen_at, request_count, derivation, excluded, is_behavioural_bot"
_EXISTING = text(
    f"SELECT {_STORED} FROM sessions "
    "WHERE tenant_id = :tenant AND visitor_id = ANY(:visitors) AND last_seen_at >= :lo "
    "AND started_at <= :hi "
    f"UNION SELECT {_STORED} FROM sessions "
    "WHERE tenant_id = :tenant AND id = ANY(CAST(:keys AS uuid[]))"
)
# The latest stored session end of the visitors (only sessions that could still be open matter), and
# whether any of those rows was derived by older code (then the whole window is derived again).
_LATEST = text("SELECT max(last_seen_at) AS latest, bool_or(derivation <> :derivation) AS outdated "
               "FROM sessions WHERE tenant_id = :tenant AND visitor_id = ANY(:visitors) "
               "AND last_seen_at >= :lo")
# A batch that only appends to its visitors' history re-reads only their open sessions (the cost of a
# visitor with many sessions stays flat as its day fills), and with FOLD_APPENDS not even those: it
# folds the new events into the open session's stored fold (analytics.sessions.appends).
# bench/pageviews.py turns them off to measure the older ways.
NARROW_APPENDS = True
FOLD_APPENDS = True
WIDENINGS = 4  # the window grows to cover stored sessions it touches, at most this many times
_WINDOW = text(
    f"SELECT {RAW_EVENT_COLUMNS} FROM events WHERE tenant_id = :tenant "
    "AND occurred_at >= :lo AND occurred_at <= :hi "
    "AND (visitor_id = ANY(:visitors) OR visitor_prev = ANY(:visitors))"
)
_DELETE = text("DELETE FROM sessions WHERE tenant_id = :tenant AND id = ANY(:ids)")


@dataclass(frozen=True)
class _Stored:
    started_at: datetime
    last_seen_at: datetime
    request_count: int
    derivation: int
    excluded: bool
    behavioural: bool

    def outdated(self, events: Sequence[RawEvent]) -> bool:
        """Whether the row was derived by older code, or from other events than these (a window
        cut short by the widening limit): then it is derived again though no event moved."""
        return (self.derivation != DERIVATION or self.request_count != len(events)
                or (self.started_at, self.last_seen_at) != (events[0].occurred_at, events[-1].occurred_at))


async def keep_sessions(conn: AsyncConnection, tenant_id: int, batch: Sequence[RawEvent], tz: ZoneInfo,
                        bot_patterns: Sequence[str], exempt_rules: Collection[str] = (),
                        exclude_unknown: bool = False, appended: bool = False) -> Upkeep:
    """Re-derive the sessions of the batch's visitors (the caller holds the tenant's lock).
    ``appended``: the batch's events were just stored (the rollup's claim, not an erasure's
    deleted events), so the visitors whose events only extend their history are folded in."""
    folded = NO_UPKEEP
    if appended and FOLD_APPENDS:
        folded, batch = await fold_appends(conn, tenant_id, batch, tz, bot_patterns, exempt_rules,
                                           exclude_unknown)
    visitors = sorted({v for e in batch for v in (e.visitor_id, e.visitor_prev) if v})
    if not visitors:
        return folded
    first = min(e.occurred_at for e in batch)
    last = max(e.occurred_at for e in batch)
    lo, hi = first - LENGTH_LIMIT, last + LENGTH_LIMIT
    if NARROW_APPENDS and await _appends_only(conn, tenant_id, visitors, first):
        lo, hi = first - IDLE_LIMIT, last + IDLE_LIMIT
    return folded | await _rederive(conn, tenant_id, visitors, lo, hi, tz,
                                    frozenset(e.id for e in batch if e.id), bot_patterns, exempt_rules,
                                    exclude_unknown)


async def rederive_visitors(conn: AsyncConnection, tenant_id: int, visitors: Collection[str], lo: datetime,
                            hi: datetime, tz: ZoneInfo, bot_patterns: Sequence[str],
                            exempt_rules: Collection[str] = (), exclude_unknown: bool = False) -> Upkeep:
    """Derive the sessions of ``visitors`` from ``lo`` to ``hi`` again, every event already counted
    (the identity re-derivation): days whose events change side are marked for correction."""
    if not visitors:
        return NO_UPKEEP
    return await _rederive(conn, tenant_id, sorted(visitors), lo, hi, tz, frozenset(), bot_patterns,
                           exempt_rules, exclude_unknown)


async def _appends_only(conn: AsyncConnection, tenant_id: int, visitors: Sequence[str],
                        first: datetime) -> bool:
    """Whether every session the visitors have ended before the batch's first event: then only
    sessions still open (their last event within the idle limit) can change, and the window
    shrinks from the batch's time +-24 h to +-30 minutes (widened to the open sessions whole)."""
    row = (await conn.execute(_LATEST, {"tenant": tenant_id, "visitors": list(visitors),
                                        "lo": first - LENGTH_LIMIT, "derivation": DERIVATION})).one()
    return row.latest is None or (row.latest < first and not row.outdated)


async def _rederive(conn: AsyncConnection, tenant_id: int, visitors: Sequence[str], lo: datetime,
                    hi: datetime, tz: ZoneInfo, in_batch: frozenset[uuid.UUID], bot_patterns: Sequence[str],
                    exempt_rules: Collection[str], exclude_unknown: bool) -> Upkeep:
    window, stored = await _load_window(conn, tenant_id, set(visitors), lo, hi)

    session_events: dict[uuid.UUID, list[RawEvent]] = {}
    membership: dict[uuid.UUID, uuid.UUID] = {}  # event id -> session id
    latest: set[uuid.UUID] = set()  # each visitor's latest session: the one a later batch may extend
    for visitor_events in link_visitors(window):
        for session_id, events in split_sessions(visitor_events).items():
            session_events[session_id] = events
            membership.update((e.id, session_id) for e in events if e.id is not None)
            if events[-1] is visitor_events[-1]:
                latest.add(session_id)
    moved = [e for e in window if e.id is not None and e.session_key != membership[e.id]]
    # Only sessions whose events changed are written (and so scored again): the others would get
    # the same facts, their stored rows stand (unless derived by older code or from other events).
    changed = ({membership[e.id] for e in moved if e.id is not None}
               | {e.session_key for e in moved if e.session_key in session_events}
               | {k for k, events in session_events.items() if k not in stored or stored[k].outdated(events)})
    folds = {k: SessionFold.of(session_events[k]) for k in changed}
    derived = {k: folded_facts(k, fold, bot_patterns, exempt_rules, exclude_unknown)
               for k, fold in folds.items()}

    def excluded(session_id: uuid.UUID) -> bool:
        facts, old = derived.get(session_id), stored.get(session_id)
        if facts is None:
            return old is not None and old.excluded
        return facts.is_bot or facts.is_scanner or (old is not None and old.behavioural)

    dirty: set[date] = set()
    for event in window:
        if event.id is None:
            continue
        new_key = membership[event.id]
        if event.id not in in_batch:
            old = stored.get(event.session_key) if event.session_key else None
            if (old.excluded if old else False) != excluded(new_key):
                dirty.add(event.occurred_at.astimezone(tz).date())

    await write_sessions(conn, tenant_id, [(facts, folds[k].dump() if k in latest else None)
                                           for k, facts in derived.items()])
    removed = sorted(set(stored) - set(session_events))
    if removed:
        await conn.execute(_DELETE, {"tenant": tenant_id, "ids": removed})
    await replace_content_facts(conn, tenant_id, {k: session_events[k] for k in changed}, removed)
    await set_session_keys(conn, tenant_id, [(e, membership[e.id]) for e in moved if e.id])
    if dirty:
        await mark_days(conn, tenant_id, dirty)
    bots = frozenset(e for e in in_batch if e in membership and excluded(membership[e]))
    return Upkeep(bots, len(derived), len(removed), tuple(sorted(dirty)))


async def _load_window(conn: AsyncConnection, tenant_id: int, visitors: set[str], lo: datetime,
                       hi: datetime) -> tuple[list[RawEvent], dict[uuid.UUID, _Stored]]:
    """The visitors' events from ``lo`` to ``hi`` and the stored sessions they touch, the window
    widened until it holds every stored session whole (and the ids linked across midnight)."""
    window: list[RawEvent] = []
    stored: dict[uuid.UUID, _Stored] = {}
    for _ in range(WIDENINGS):
        params = {"tenant": tenant_id, "visitors": sorted(visitors), "lo": lo, "hi": hi}
        window = [RawEvent(*row) for row in await conn.execute(_WINDOW, params)]
        keys = sorted({e.session_key for e in window if e.session_key is not None}, key=str)
        stored = {row.id: _Stored(row.started_at, row.last_seen_at, row.request_count, row.derivation,
                                  row.excluded, row.is_behavioural_bot)
                  for row in await conn.execute(_EXISTING, {**params, "keys": keys})}
        wider_lo = min([lo, *(s.started_at for s in stored.values())])
        wider_hi = max([hi, *(s.last_seen_at for s in stored.values())])
        linked = visitors | {v for e in window for v in (e.visitor_id, e.visitor_prev) if v}
        if (wider_lo, wider_hi, linked) == (lo, hi, visitors):
            break
        lo, hi, visitors = wider_lo, wider_hi, linked
    return window, stored
