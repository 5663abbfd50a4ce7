"""Distinct people over a run of days from per-day sketches: the read cost per (day, group), not per
visitor-day.

The exact per-day rows (``session_key_visitors``: a day's visitors per dimension and key;
``session_people_days``: a day's visitors and signed-in users) make a distinct count over 30 days
read every visitor of every day: at 10 million events about 600,000 rows per dimension, most of a
second. So the sketch job (``build_sketches``, run by the worker for days before today) keeps, per
day and for every group of at least ``ANALYTICS_SKETCH_MIN_PEOPLE`` (1,000) people, a HyperLogLog
sketch of its people: 4,096 one-byte registers (precision 12, a relative standard error of about 1.6 %) filled
from a 64-bit hash of each person's id computed by PostgreSQL (``hashtextextended``), so the rows
never leave the database to be sketched or counted.

Migration 0041 says why a sketch can never answer for a set that changed after it was built: each
per-day table's triggers bump the day's version in the same transaction as the change, and a sketch
counts only while its version is the day's. A count then merges (register-wise maximum) the
current sketches of each group and adds the exact rows of the days and groups that have none (small
groups, today, the period's edge hours, days changed since), all read by one statement (one
snapshot). A group with no current sketch in the period is counted exactly; one with a sketch is
an estimate (Ertl's improved raw estimator, unbiased from one person to billions).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from analytics.db import CURRENT_TENANT, tenant_transaction

PRECISION = 12
REGISTERS = 1 << PRECISION
_Q = 64 - PRECISION  # hash bits left for the register value: values 0 .. _Q + 1

Key = tuple[str | None, ...]


# --- the estimator -------------------------------------------------------------------------------


def _sigma(x: float) -> float:
    if x == 1.0:
        return math.inf
    y, z = 1.0, x
    while True:
        x *= x
        z_old, z = z, z + x * y
        y += y
        if z == z_old:
            return z


def _tau(x: float) -> float:
    if x in (0.0, 1.0):
        return 0.0
    y, z = 1.0, 1.0 - x
    while True:
        x = math.sqrt(x)
        z_old = z
        y *= 0.5
        z -= (1.0 - x) ** 2 * y
        if z == z_old:
            return z / 3


def estimate(registers: np.ndarray) -> float:
    """The cardinality a register array stands for (O. Ertl, "New cardinality estimation algorithms
    for HyperLogLog sketches", 2017, the improved raw estimator: no empirical bias tables, no switch
    to linear counting)."""
    counts = np.bincount(registers, minlength=_Q + 2).astype(float)
    m = float(REGISTERS)
    z = m * _tau(1.0 - counts[_Q + 1] / m)
    for k in range(_Q, 0, -1):
        z = 0.5 * (z + counts[k])
    z += m * _sigma(counts[0] / m)
    return m * m / (2 * math.log(2)) / z


# A person's register (``h``: the 64-bit hash of their id) and the value it offers there: the position
# of the first 1 bit in the hash's other 52 bits (53 when they are all zero).
_HASH = "hashtextextended({}, 0) AS h"
_REG = f"CAST(h & {REGISTERS - 1} AS integer)"
_RHO = (f"coalesce(nullif(position(B'1' IN CAST((h >> {PRECISION}) & {(1 << _Q) - 1} AS bit({_Q}))), 0), "
        f"{_Q + 1})")


def registers_of(pairs: Iterable[tuple[int, int]]) -> np.ndarray:
    """A register array from (register, value) pairs: each register keeps its largest value."""
    registers = np.zeros(REGISTERS, dtype=np.uint8)
    listed = list(pairs)
    if listed:
        at = np.fromiter((p[0] for p in listed), dtype=np.intp, count=len(listed))
        values = np.fromiter((p[1] for p in listed), dtype=np.uint8, count=len(listed))
        np.maximum.at(registers, at, values)
    return registers


# --- what is sketched ----------------------------------------------------------------------------

# Dimensions: those of session_key_visitors, 'all:visitor' and 'all:user' (session_people_days' kinds),
# and from daily_users a tour step's viewers (key: tour id, step index), a content item's viewers (key:
# content id) and the viewers of any content item (key: the empty array).
TOUR_STEPS = "tour_steps"
CONTENT_VIEWS = "content_views"
CONTENT_VIEWERS = "content_viewers"


def tour_step_views(alias: str = "") -> str:
    """The daily_users (or counters_daily) rows of tour step views, of the table named ``alias``."""
    return f"{alias}entity_type = 'tour' AND {alias}metric = 'step_views' AND {alias}step_index >= 0"


def content_views(alias: str = "") -> str:
    """The daily_users (or counters_daily) rows of content views, of the table named ``alias``."""
    return f"{alias}entity_type = 'content' AND {alias}metric = 'views' AND {alias}step_index = -1"


# One day's people per (dimension, key, bot) group, from the three per-day tables (``:day``).
_DAY_PEOPLE = f"""
    SELECT dimension, key, bot, visitor AS person FROM session_key_visitors
    WHERE tenant_id = :tenant AND day = :day
    UNION ALL
    SELECT 'all:' || kind, CAST('{{}}' AS text[]), bot, person FROM session_people_days
    WHERE tenant_id = :tenant AND day = :day
    UNION ALL
    SELECT '{TOUR_STEPS}', ARRAY[entity_id, CAST(step_index AS text)], bot, user_key FROM daily_users
    WHERE tenant_id = :tenant AND day = :day AND {tour_step_views()}
    UNION ALL
    SELECT '{CONTENT_VIEWS}', ARRAY[entity_id], bot, user_key FROM daily_users
    WHERE tenant_id = :tenant AND day = :day AND {content_views()}
    UNION ALL
    SELECT DISTINCT '{CONTENT_VIEWERS}', CAST('{{}}' AS text[]), bot, user_key FROM daily_users
    WHERE tenant_id = :tenant AND day = :day AND {content_views()}"""
_DAY_REGISTERS = text(f"""
    WITH p AS MATERIALIZED ({_DAY_PEOPLE}),
    big AS (SELECT dimension, key, bot, count(*) AS people FROM p GROUP BY 1, 2, 3
            HAVING count(*) >= :min_people)
    SELECT dimension, key, bot, people, {_REG} AS reg, max({_RHO}) AS rho
    FROM (SELECT dimension, key, bot, people, {_HASH.format("person")}
          FROM p JOIN big USING (dimension, key, bot)) AS r
    GROUP BY 1, 2, 3, 4, 5""")


@dataclass(frozen=True)
class Sketch:
    dimension: str
    key: Key
    bot: bool
    people: int
    registers: bytes


async def day_sketches(conn: AsyncConnection, tenant_id: int, day: date, *, min_people: int) -> list[Sketch]:
    """The sketches of one day's groups of at least ``min_people`` people, from the rows as they are."""
    pairs: dict[tuple[str, Key, bool, int], list[tuple[int, int]]] = defaultdict(list)
    values = {"tenant": tenant_id, "day": day, "min_people": min_people}
    for row in await conn.execute(_DAY_REGISTERS, values):
        pairs[(row.dimension, tuple(row.key), row.bot, int(row.people))].append((row.reg, row.rho))
    return [Sketch(dimension, key, bot, people, registers_of(found).tobytes())
            for (dimension, key, bot, people), found in sorted(pairs.items(), key=_order)]


def _order(item: tuple[tuple[str, Key, bool, int], list[tuple[int, int]]]) -> tuple[str, str, bool]:
    dimension, key, bot, _ = item[0]
    return dimension, repr(key), bot


# Days before the tenant's local today whose sketches are not built at the day's version.
_DUE = text("SELECT d.day FROM session_day_versions d JOIN tenants t ON t.id = d.tenant_id "
            "WHERE d.tenant_id = :tenant AND d.due AND d.day < (now() AT TIME ZONE t.timezone)::date "
            "ORDER BY d.day DESC")
_VERSION = text("SELECT version FROM session_day_versions WHERE tenant_id = :tenant AND day = :day AND due")
_CLEAR = text("DELETE FROM visitor_sketches WHERE tenant_id = :tenant AND day = :day")
_STORE = text("INSERT INTO visitor_sketches (tenant_id, dimension, day, key, bot, version, people, "
              "registers) VALUES (:tenant, :dimension, :day, :key, :bot, :version, :people, :registers)")
# Waits for a writer that bumped the version meanwhile, then finds the version changed: still due.
_BUILT = text("UPDATE session_day_versions SET due = false "
              "WHERE tenant_id = :tenant AND day = :day AND version = :version")
_WORK = text("SELECT tenant_id, days FROM analytics_sketch_work()")


@dataclass(frozen=True)
class SketchRun:
    days: int
    sketches: int


async def build_sketches(engine: AsyncEngine, tenant_id: int, *, min_people: int) -> SketchRun:
    """Sketch every due day of the tenant, newest first (the days dashboards read most), one
    transaction a day. The day's version is read by a statement before the one that reads its rows
    (each statement its own snapshot), so the sketches are labelled with a version no newer than the
    rows they were built from: a change that lands in between leaves them stale (never read) and the
    day due again, never a current sketch that misses it. Versions come from one sequence, so a day
    deleted and filled again never meets an old sketch's version."""
    async with tenant_transaction(engine, tenant_id) as conn:
        due = [day for (day,) in await conn.execute(_DUE, {"tenant": tenant_id})]
    built = days = 0
    for day in due:
        async with tenant_transaction(engine, tenant_id) as conn:
            version = (await conn.execute(_VERSION, {"tenant": tenant_id, "day": day})).scalar()
            if version is None:  # built meanwhile, or gone
                continue
            found = await day_sketches(conn, tenant_id, day, min_people=min_people)
            await conn.execute(_CLEAR, {"tenant": tenant_id, "day": day})
            if found:
                await conn.execute(_STORE, [{"tenant": tenant_id, "day": day, "version": version,
                                             "dimension": s.dimension, "key": list(s.key), "bot": s.bot,
                                             "people": s.people, "registers": s.registers} for s in found])
            await conn.execute(_BUILT, {"tenant": tenant_id, "day": day, "version": version})
        built, days = built + len(found), days + 1
    return SketchRun(days, built)


async def pending_sketch_work(engine: AsyncEngine) -> list[int]:
    """The tenants with days to sketch."""
    async with engine.connect() as conn:
        return [int(row.tenant_id) for row in await conn.execute(_WORK)]


# Current sketches (built at their day's version) and the days they were built on.
_CURRENT = text("SELECT s.day, s.dimension, s.key, s.bot, s.people, s.registers FROM visitor_sketches s "
                "JOIN session_day_versions d ON d.tenant_id = s.tenant_id AND d.day = s.day "
                "AND d.version = s.version WHERE s.tenant_id = :tenant")


async def verify_sketches(conn: AsyncConnection, tenant_id: int) -> tuple[int, int]:
    """(current sketches that differ from their group's rows, groups of a sketched day that have
    vanished): every current sketch rebuilt from the rows and compared register by register."""
    stored: dict[date, list[Sketch]] = defaultdict(list)
    for row in await conn.execute(_CURRENT, {"tenant": tenant_id}):
        stored[row.day].append(Sketch(row.dimension, tuple(row.key), row.bot, int(row.people),
                                      bytes(row.registers)))
    differing = vanished = 0
    for day, sketches in stored.items():
        smallest = min(s.people for s in sketches)
        rebuilt = {(s.dimension, s.key, s.bot): s
                   for s in await day_sketches(conn, tenant_id, day, min_people=smallest)}
        for sketch in sketches:
            again = rebuilt.get((sketch.dimension, sketch.key, sketch.bot))
            if again is None:
                vanished += 1
            elif again != sketch:
                differing += 1
    return differing, vanished


# --- counting ------------------------------------------------------------------------------------


def _wanted(names: Sequence[str]) -> str:
    arrays = ", ".join(f"CAST(:{k} AS text[])" for k in names)
    return (f"SELECT CAST(ARRAY[{', '.join(f'w.{k}' for k in names)}] AS text[]) AS key "
            f"FROM unnest({arrays}) AS w({', '.join(names)})")


def count_sql(dimension: str, exact: Callable[[bool], str], *, keyed: int = 0, wanted: bool = False,
              group: str = "s.key", sketch_filter: str = "") -> str:
    """One statement (one snapshot) for the distinct people per key of sketch dimension
    ``dimension`` over a window (analytics.sessions.days.Window's parameters, ``include_bots``):
    rows ``(key, kind, reg, value, registers)``: kind 0 a current sketch's registers (``value``: its
    exact people), kind 1 a key's exact count (no current sketch in the period), kind 2 a (register,
    value) pair of the exact rows of a key that has sketches. ``group``: what a sketch row ``s``
    counts under (its key, or a time bucket of its day). ``exact(merged)``: a FROM item of ``(key,
    person)``, the period's people in the groups and hours without a current sketch, of the keys that
    have a current sketch elsewhere in the period (``merged``) or of those that have none; it may use
    the CTEs ``current`` (``day``, ``sketch_key``, ``bot`` of the current sketches), ``sketched`` (the
    ``key`` of each, as ``group`` puts it) and, with ``wanted``, the
    CTE ``wanted`` (``key``: the keys of the arrays ``:k0``.., the only ones counted; ``keyed``: how
    many key columns). ``sketch_filter``: more conditions on the sketch rows ``s``. Each group's rows
    are read once (by the branch its key belongs to), and exact people are grouped by hashing: a
    count(DISTINCT) made the planner sort the ids in the database's collation, several times the
    cost."""
    only = (" AND s.key IN (SELECT key FROM wanted)" if wanted else "") + sketch_filter
    return f"""
        WITH {f"wanted AS ({_wanted([f'k{i}' for i in range(keyed)])})," if wanted else ""}
        current AS MATERIALIZED (
            SELECT s.day, s.key AS sketch_key, {group} AS key, s.bot, s.people, s.registers
            FROM visitor_sketches s
            JOIN session_day_versions d
                ON d.tenant_id = s.tenant_id AND d.day = s.day AND d.version = s.version
            WHERE s.{CURRENT_TENANT} AND s.dimension = '{dimension}'
              AND s.day BETWEEN :whole_first AND :whole_last
              AND (CAST(:include_bots AS boolean) OR NOT s.bot){only}),
        sketched AS MATERIALIZED (SELECT DISTINCT key FROM current)
        SELECT key, 0 AS kind, 0 AS reg, people AS value, registers FROM current
        UNION ALL
        SELECT key, 1, 0, count(*), NULL FROM (SELECT key, person FROM {exact(False)} AS e
                                                GROUP BY key, person) AS d
        GROUP BY key
        UNION ALL
        SELECT key, 2, {_REG}, max({_RHO}), NULL FROM (
            SELECT key, {_HASH.format("person")} FROM {exact(True)} AS e) AS r
        GROUP BY 1, 3"""


def daily_users_people(key: str, rows: str) -> Callable[[bool], str]:
    """The ``exact`` of :func:`count_sql` for a daily_users dimension: the people of each (day, bot side,
    entity, step) group whose counters_daily row ``g`` matches ``rows``, under ``key`` (an expression
    of ``g``: the group's sketch key). The groups are chosen first (``OFFSET 0`` keeps the planner from
    merging that step into the look-up), so whether a group is sketched is asked once a group, not once
    a person, and only the people of the groups counted exactly are read, by the daily_users index.
    A person is listed once a key, found by the key's text and the id in the "C" collation: comparing
    the array keys row by row, in the database's collation, cost twice the time."""
    def exact(merged: bool) -> str:
        return f"""(
    SELECT min(key) AS key, person FROM (
    SELECT g.key, g.key_text, p.user_key COLLATE "C" AS person
    FROM (SELECT {key} AS key, CAST({key} AS text) COLLATE "C" AS key_text, g.* FROM counters_daily g
          WHERE g.{CURRENT_TENANT} AND {rows}
            AND g.day BETWEEN :whole_first AND :whole_last AND (CAST(:include_bots AS boolean) OR NOT g.bot)
            AND {"" if merged else "NOT "}EXISTS (SELECT 1 FROM sketched k WHERE k.key = {key})
            AND NOT EXISTS (SELECT 1 FROM current c WHERE c.day = g.day AND c.bot = g.bot
                            AND c.sketch_key = {key})
          OFFSET 0) AS g
    CROSS JOIN LATERAL (
        SELECT user_key FROM daily_users u WHERE u.tenant_id = g.tenant_id AND u.entity_type = g.entity_type
          AND u.entity_id = g.entity_id AND u.metric = g.metric AND u.step_index = g.step_index
          AND u.day = g.day AND u.bot = g.bot) AS p) AS x
    GROUP BY key_text, person)"""
    return exact


def counts_from(rows: Iterable[Any]) -> dict[Any, int]:
    """The distinct people per key (a tuple for an array key) from the rows of a :func:`count_sql`
    statement. A key counted from one sketch alone is exact: the sketch's own count; an estimate is
    never below the exact count of any one of its sketches."""
    exact: dict[Any, int] = {}
    merged: dict[Any, np.ndarray] = {}
    alone: dict[Any, int | None] = {}  # the people of a key's only sketch (None: several)
    floor: dict[Any, int] = defaultdict(int)
    pairs: dict[Any, list[tuple[int, int]]] = defaultdict(list)
    for row in rows:
        key = tuple(row.key) if isinstance(row.key, list) else row.key
        if row.kind == 1:
            exact[key] = int(row.value)
        elif row.kind == 2:
            pairs[key].append((row.reg, row.value))
        else:
            registers = np.frombuffer(row.registers, dtype=np.uint8)
            alone[key] = int(row.value) if key not in merged else None
            floor[key] = max(floor[key], int(row.value))
            merged[key] = registers if key not in merged else np.maximum(merged[key], registers)
    for key, found in pairs.items():
        merged[key] = np.maximum(merged[key], registers_of(found))
        alone[key] = None
    for key, registers in merged.items():
        only = alone[key]
        exact[key] = only if only is not None else max(round(estimate(registers)), floor[key])
    return exact
