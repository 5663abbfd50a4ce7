"""Segment assignments: evaluate users as of an instant and keep their memberships with history.

The rollup marks users whose events changed (``segment_dirty_users``, analytics.segments.inputs);
:func:`assign_marked` takes them in batches, one transaction each under the tenant's lock (so no
rollup marks a user between reading and unmarking), closes the memberships that no longer hold
(``valid_to`` = now), opens the new ones (``valid_from`` = now), stores the score and unmarks them.
A killed run rolls its batch back and leaves the marks for the next one. :func:`start_daily`
marks every known user once a local day, for what time alone changes (silence makes at risk, new
users age, rule windows slide). :func:`verify_assignments` re-evaluates every unmarked user as of
the instant of its last evaluation and compares.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from analytics.db import lock_tenant, tenant_transaction
from analytics.rollups.consumers import Difference
from analytics.segments.engagement import (
    FEATURES_SQL,
    SCORE_SQL,
    Thresholds,
    load_thresholds,
    mark_all_users,
    score_params,
)
from analytics.segments.rules import EventCount, Rule, UserFacts, holds, parse_rule

BATCH_USERS = 500


@dataclass(frozen=True)
class Evaluation:
    score: float
    segments: frozenset[str]


async def rule_segments(conn: AsyncConnection, tenant_id: int) -> dict[str, Rule]:
    rows = await conn.execute(text("SELECT id, rule FROM segment_definitions WHERE tenant_id = :tenant "
                                   "ORDER BY id"), {"tenant": tenant_id})
    return {row.id: parse_rule(row.rule) for row in rows}


async def tenant_zone(conn: AsyncConnection, tenant_id: int) -> ZoneInfo:
    return ZoneInfo((await conn.execute(text("SELECT timezone FROM tenants WHERE id = :tenant"),
                                        {"tenant": tenant_id})).scalar_one())


async def evaluate(conn: AsyncConnection, tenant_id: int, keys: Sequence[str], day: date, *,
                   thresholds: Thresholds, rules: Mapping[str, Rule]) -> dict[str, Evaluation]:
    """Score and segments as of local ``day`` of the users among ``keys`` with human activity."""
    params: dict[str, Any] = {"tenant": tenant_id, "keys": list(keys), "day": day, **score_params(thresholds)}
    features = FEATURES_SQL.format(keys="SELECT unnest(CAST(:keys AS text[])) AS user_key")
    rows = (await conn.execute(text(f"SELECT f.*, {SCORE_SQL.format(p='f.')} AS score FROM ({features}) f "
                                    "WHERE f.first_day IS NOT NULL"), params)).all()
    counts = {c for rule in rules.values() for c in rule.event_counts()}
    tallies: dict[str, dict[EventCount, int]] = defaultdict(dict)
    properties: dict[str, dict[str, Any]] = defaultdict(dict)
    if counts and rows:
        longest = max(c.within_days for c in counts)
        found = await conn.execute(text(
            "SELECT user_key, name, day, sum(events) AS events FROM user_event_days "
            "WHERE tenant_id = :tenant "
            "AND user_key = ANY(:keys) AND NOT bot AND name = ANY(:names) AND day <= CAST(:day AS date) "
            "AND day > CAST(:day AS date) - CAST(:longest AS integer) GROUP BY 1, 2, 3"),
            {**params, "names": sorted({c.event for c in counts}), "longest": longest})
        for r in found:
            for c in counts:
                if c.event == r.name and (day - r.day).days < c.within_days:
                    tallies[r.user_key][c] = tallies[r.user_key].get(c, 0) + int(r.events)
    if rules and rows:
        for r in await conn.execute(text("SELECT user_key, property, value FROM user_properties "
                                         "WHERE tenant_id = :tenant AND user_key = ANY(:keys)"), params):
            properties[r.user_key][r.property] = r.value
    result: dict[str, Evaluation] = {}
    for row in rows:
        score = float(row.score)
        age = (day - row.first_day).days
        chosen = {thresholds.built_in(score=score, age_days=age, silent_days=(day - row.last_day).days)}
        facts = UserFacts(age, tallies.get(row.user_key, {}), properties.get(row.user_key, {}))
        chosen |= {segment for segment, rule in rules.items() if holds(rule, facts)}
        result[row.user_key] = Evaluation(score, frozenset(s for s in chosen if s is not None))
    return result


@dataclass(frozen=True)
class AssignRun:
    users: int
    joined: int
    left: int


_OPEN = text("SELECT user_key, segment_id FROM segment_members WHERE tenant_id = :tenant "
             "AND user_key = ANY(:keys) AND valid_to IS NULL")
_PAIRS = "(user_key, segment_id) IN (SELECT * FROM unnest(CAST(:keys AS text[]), CAST(:segments AS text[])))"
# A membership opened at this very instant (a re-run with the same clock) goes; others end now.
_CLOSE = (text(f"DELETE FROM segment_members WHERE tenant_id = :tenant AND valid_to IS NULL "
               f"AND valid_from >= :now AND {_PAIRS}"),
          text(f"UPDATE segment_members SET valid_to = :now WHERE tenant_id = :tenant AND valid_to IS NULL "
               f"AND {_PAIRS}"))
_JOIN = text(
    "INSERT INTO segment_members (tenant_id, segment_id, user_key, valid_from) "
    "SELECT :tenant, s, k, :now FROM unnest(CAST(:segments AS text[]), CAST(:keys AS text[])) AS x(s, k)")
_SCORES = text(
    "INSERT INTO segment_users (tenant_id, user_key, evaluated_at, score) SELECT :tenant, k, :now, s "
    "FROM unnest(CAST(:keys AS text[]), CAST(:scores AS double precision[])) AS x(k, s) "
    "ON CONFLICT (tenant_id, user_key) DO UPDATE SET evaluated_at = EXCLUDED.evaluated_at, "
    "score = EXCLUDED.score")


async def assign_users(conn: AsyncConnection, tenant_id: int, keys: Sequence[str],
                       now: datetime) -> AssignRun:
    """Evaluate ``keys`` as of ``now`` and move their memberships (the caller holds the tenant lock)."""
    tz = await tenant_zone(conn, tenant_id)
    found = await evaluate(conn, tenant_id, keys, now.astimezone(tz).date(),
                           thresholds=await load_thresholds(conn, tenant_id),
                           rules=await rule_segments(conn, tenant_id))
    current: dict[str, set[str]] = defaultdict(set)
    for row in await conn.execute(_OPEN, {"tenant": tenant_id, "keys": list(keys)}):
        current[row.user_key].add(row.segment_id)
    leave = sorted((k, s) for k in keys for s in current[k] - (found[k].segments if k in found else set()))
    join = sorted((k, s) for k in keys for s in (found[k].segments if k in found else set()) - current[k])
    if leave:
        for statement in _CLOSE:
            await conn.execute(statement, {"tenant": tenant_id, "now": now, "keys": [k for k, _ in leave],
                                           "segments": [s for _, s in leave]})
    if join:
        await conn.execute(_JOIN, {"tenant": tenant_id, "now": now, "keys": [k for k, _ in join],
                                   "segments": [s for _, s in join]})
    scored = sorted(found)
    if scored:
        await conn.execute(_SCORES, {"tenant": tenant_id, "now": now, "keys": scored,
                                     "scores": [found[k].score for k in scored]})
    gone = sorted(set(keys) - set(found))  # no human activity (left): nothing to score
    if gone:
        await conn.execute(text("DELETE FROM segment_users WHERE tenant_id = :tenant "
                                "AND user_key = ANY(:keys)"), {"tenant": tenant_id, "keys": gone})
    await conn.execute(text("DELETE FROM segment_dirty_users WHERE tenant_id = :tenant "
                            "AND user_key = ANY(:keys)"), {"tenant": tenant_id, "keys": list(keys)})
    return AssignRun(len(keys), len(join), len(leave))


async def assign_marked(engine: AsyncEngine, tenant_id: int, *, now: datetime | None = None,
                        batch: int = BATCH_USERS, max_batches: int = 1000) -> AssignRun:
    """Re-evaluate the marked users, ``batch`` per transaction, until none is left (bounded)."""
    users = joined = left = 0
    for _ in range(max_batches):
        async with tenant_transaction(engine, tenant_id) as conn:
            await lock_tenant(conn, tenant_id)
            at = now or (await conn.execute(text("SELECT now()"))).scalar_one()
            keys = list((await conn.execute(text(
                "SELECT user_key FROM segment_dirty_users WHERE tenant_id = :tenant ORDER BY user_key "
                "LIMIT :batch"), {"tenant": tenant_id, "batch": batch})).scalars())
            if not keys:
                break
            run = await assign_users(conn, tenant_id, keys, at)
        users, joined, left = users + run.users, joined + run.joined, left + run.left
    return AssignRun(users, joined, left)


async def start_daily(engine: AsyncEngine, tenant_id: int, *, now: datetime | None = None) -> bool:
    """Mark every scored user for re-evaluation once per tenant-local day; True when it did now."""
    async with tenant_transaction(engine, tenant_id) as conn:
        at = now or (await conn.execute(text("SELECT now()"))).scalar_one()
        tz = await tenant_zone(conn, tenant_id)
        midnight = datetime.combine(at.astimezone(tz).date(), datetime.min.time(), tz)
        done = (await conn.execute(text("SELECT daily_at FROM segment_settings WHERE tenant_id = :tenant "
                                        "FOR UPDATE"), {"tenant": tenant_id})).scalar_one_or_none()
        if done is not None and done >= midnight:
            return False
        thresholds = await load_thresholds(conn, tenant_id)
        await conn.execute(text(
            "INSERT INTO segment_settings (tenant_id, window_days, depth_target, power_min, regular_min, "
            "new_days, at_risk_days, daily_at) VALUES (:tenant, :w, :d, :p, :r, :n, :a, :at) "
            "ON CONFLICT (tenant_id) DO UPDATE SET daily_at = EXCLUDED.daily_at"),
            {"tenant": tenant_id, "w": thresholds.window_days, "d": thresholds.depth_target,
             "p": thresholds.power_min, "r": thresholds.regular_min, "n": thresholds.new_days,
             "a": thresholds.at_risk_days, "at": at})
        await mark_all_users(conn, tenant_id)
    return True


async def verify_assignments(conn: AsyncConnection, tenant_id: int) -> list[Difference]:
    """Open memberships and scores of every unmarked user equal a re-evaluation as of its last
    evaluation; every user with human activity is scored or marked. ``missing``/``extra``: users."""
    tz = await tenant_zone(conn, tenant_id)
    thresholds, rules = await load_thresholds(conn, tenant_id), await rule_segments(conn, tenant_id)
    scored = (await conn.execute(text(
        "SELECT u.user_key, u.evaluated_at, u.score, ARRAY(SELECT segment_id FROM segment_members m "
        "WHERE m.tenant_id = u.tenant_id AND m.user_key = u.user_key AND m.valid_to IS NULL) AS segments "
        "FROM segment_users u WHERE u.tenant_id = :tenant "
        "AND NOT EXISTS (SELECT 1 FROM segment_dirty_users d "
        "WHERE d.tenant_id = u.tenant_id AND d.user_key = u.user_key)"), {"tenant": tenant_id})).all()
    by_instant: dict[datetime, list[Any]] = defaultdict(list)
    for row in scored:
        by_instant[row.evaluated_at].append(row)
    missing = extra = 0
    for at, rows in by_instant.items():
        found = await evaluate(conn, tenant_id, [r.user_key for r in rows], at.astimezone(tz).date(),
                               thresholds=thresholds, rules=rules)
        for row in rows:
            want = found.get(row.user_key)
            if want is None:
                extra += 1
            elif want.score != row.score or want.segments != frozenset(row.segments):
                missing += 1
    missing += int((await conn.execute(text(
        "SELECT count(DISTINCT user_key) FROM user_days d WHERE tenant_id = :tenant AND NOT bot "
        "AND NOT EXISTS (SELECT 1 FROM segment_users u WHERE u.tenant_id = d.tenant_id "
        "AND u.user_key = d.user_key) "
        "AND NOT EXISTS (SELECT 1 FROM segment_dirty_users m WHERE m.tenant_id = d.tenant_id "
        "AND m.user_key = d.user_key)"), {"tenant": tenant_id})).scalar_one())
    extra += int((await conn.execute(text(
        "SELECT count(DISTINCT user_key) FROM segment_members m WHERE tenant_id = :tenant "
        "AND valid_to IS NULL AND NOT EXISTS (SELECT 1 FROM segment_users u WHERE u.tenant_id = m.tenant_id "
        "AND u.user_key = m.user_key) "
        "AND NOT EXISTS (SELECT 1 FROM segment_dirty_users d WHERE d.tenant_id = m.tenant_id "
        "AND d.user_key = m.user_key)"), {"tenant": tenant_id})).scalar_one())
    return [Difference("segment_members", missing, extra)] if missing or extra else []



async def pending_segment_work(engine: AsyncEngine) -> list[tuple[int, int, bool]]:
    """(tenant id, marked users, daily re-evaluation due) for every tenant with segment work."""
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT tenant_id, dirty, daily_due "
                                        "FROM analytics_segment_work()"))).all()
    return [(int(r.tenant_id), int(r.dirty), bool(r.daily_due)) for r in rows if r.dirty or r.daily_due]
