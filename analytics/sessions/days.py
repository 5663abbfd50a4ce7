"""Sessions per tenant-local day (``session_days``, ``session_people_days``): their check against a
recomputation from the ``sessions`` rows, and the reads that take a period's whole days from them.

Statement triggers on ``sessions`` (migration 0036) keep both tables: every writer of session rows
(the rollup, scoring, bot rules, exemptions, identity re-derivation, erasure, retention) changes them
in the same statement, subtracting the old rows and adding the new, so they always equal the
grouping of the current session rows by the day each session started. ``session_days`` holds per
(day, bot side, dimension, key) the additive figures (dimension ``all``: the day's totals);
``session_people_days`` each day's visitors and signed-in users, so distinct counts over any run of
days stay exact; migration 0040 adds (with the same kind of triggers) ``session_key_visitors``, each
day's visitors per dimension and key, for the breakdowns' distinct visitors, and ``session_bot_days``,
each day's sessions per bot tier and reason code. A period that cuts days reads its edge hours from
the session rows. Distinct visitors over a period merge per-day sketches where a day's group is large
(migration 0041, analytics.rollups.sketches).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from analytics.db import CURRENT_TENANT, HUMANS_UNLESS_INCLUDE_BOTS
from analytics.periods import Period, local_midnight
from analytics.rollups import sketches
from analytics.rollups.consumers import Claim, Consumer, Difference, compare
from analytics.sessions.measures import BOT_FLAGS, BOUNCED, DIMENSIONS, DURATION, Dimension

TOTALS = "all"  # the dimension of a day's totals (key: the empty array)
_ALL = Dimension(())
PEOPLE = {"visitors": ("visitor", "visitor_id"), "users": ("user", "user_id")}


def spec(dimension: str) -> Dimension:
    return _ALL if dimension == TOTALS else DIMENSIONS[dimension]


def key_array(dimension: Dimension) -> str:
    return f"CAST(ARRAY[{', '.join(dimension.keys)}] AS text[])"


# --- the check -----------------------------------------------------------------------------------

_DATED = ("dated AS (SELECT s.*, (s.started_at AT TIME ZONE kept.timezone)::date AS day "
          "FROM sessions s, kept WHERE s.tenant_id = :tenant)")
_WANT_DAYS = " UNION ALL ".join(
    f"SELECT day, excluded AS bot, '{name}' AS dimension, {key_array(spec(name))} AS key, "
    f"count(*) AS sessions, "
    f"sum(page_views) AS page_views, count(*) FILTER (WHERE {BOUNCED}) AS bounced, "
    f"sum({DURATION}) AS duration_seconds FROM dated WHERE {spec(name).where} GROUP BY 1, 2, 4"
    for name in (TOTALS, *DIMENSIONS))
_HAVE_DAYS = ("SELECT day, bot, dimension, key, sessions, page_views, bounced, duration_seconds "
              "FROM session_days WHERE tenant_id = :tenant")
_WANT_PEOPLE = " UNION ALL ".join(
    f"SELECT day, excluded AS bot, '{kind}' AS kind, {column} AS person, count(*) AS sessions FROM dated "
    f"WHERE {column} IS NOT NULL GROUP BY 1, 2, 4" for kind, column in PEOPLE.values())
_HAVE_PEOPLE = "SELECT day, bot, kind, person, sessions FROM session_people_days WHERE tenant_id = :tenant"
_WANT_KEY_VISITORS = " UNION ALL ".join(
    f"SELECT '{name}' AS dimension, day, {key_array(spec(name))} AS key, visitor_id AS visitor, "
    f"excluded AS bot, count(*) AS sessions FROM dated WHERE visitor_id IS NOT NULL AND {spec(name).where} "
    f"GROUP BY 2, 3, 4, 5" for name in DIMENSIONS)
_WANT_BOTS = (f"SELECT s.day, f.tier, f.code, count(*) AS sessions FROM dated s "
              f"CROSS JOIN LATERAL {BOT_FLAGS} AS f GROUP BY 1, 2, 3")
_HAVE_BOTS = "SELECT day, tier, code, sessions FROM session_bot_days WHERE tenant_id = :tenant"
_HAVE_KEY_VISITORS = ("SELECT dimension, day, key, visitor, bot, sessions FROM session_key_visitors "
                      "WHERE tenant_id = :tenant")


async def _verify(conn: AsyncConnection, tenant_id: int) -> list[Difference]:
    found = [await compare(conn, tenant_id, "session_days", _WANT_DAYS, _HAVE_DAYS, ctes=", " + _DATED),
             await compare(conn, tenant_id, "session_people_days", _WANT_PEOPLE, _HAVE_PEOPLE,
                           ctes=", " + _DATED),
             await compare(conn, tenant_id, "session_key_visitors", _WANT_KEY_VISITORS, _HAVE_KEY_VISITORS,
                           ctes=", " + _DATED),
             await compare(conn, tenant_id, "session_bot_days", _WANT_BOTS, _HAVE_BOTS, ctes=", " + _DATED)]
    differing, vanished = await sketches.verify_sketches(conn, tenant_id)
    if differing or vanished:
        found.append(Difference("visitor_sketches", differing, vanished))
    return [d for d in found if d is not None]


async def _kept_by_trigger(conn: AsyncConnection, claim: Claim) -> None:
    """Nothing to do per claim: the session rows' own writes keep the tables."""


SESSION_DAYS = Consumer("session_days", _kept_by_trigger, _verify,
                        tables=("session_days", "session_people_days", "session_key_visitors",
                                "session_bot_days", "session_day_versions", "visitor_sketches"),
                        # The per-day rows go with their sessions (the triggers); the days' versions and
                        # sketches by day.
                        expiry={table: f"DELETE FROM {table} WHERE tenant_id = :tenant "
                                       "AND day < (SELECT day FROM kept)"
                                for table in ("visitor_sketches", "session_day_versions")})


# --- the reads -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """A period split into its whole local days and the hours before and after them."""

    start: datetime
    end: datetime
    whole_first: date  # after whole_last when the period holds no whole day
    whole_last: date
    whole_start: datetime  # = whole_end when there is no whole day
    whole_end: datetime

    @classmethod
    def of(cls, period: Period) -> Window:
        tz = period.tz
        first = period.start.astimezone(tz).date()
        if local_midnight(first, tz) < period.start:
            first += timedelta(days=1)
        last = period.end.astimezone(tz).date() - timedelta(days=1)  # the day holding the end is cut
        if first > last:
            return cls(period.start, period.end, first, last, period.end, period.end)
        return cls(period.start, period.end, first, last, local_midnight(first, tz),
                   local_midnight(last + timedelta(days=1), tz))

    def params(self) -> dict[str, object]:
        return {"start": self.start, "end": self.end, "whole_first": self.whole_first,
                "whole_last": self.whole_last, "whole_start": self.whole_start, "whole_end": self.whole_end}


# Rows of the period's edge hours by ``started_at`` (sessions; content sessions: analytics.content.facts).
EDGES = (f"{CURRENT_TENANT} AND (started_at >= :start AND started_at < :whole_start "
          "OR started_at >= :whole_end AND started_at < :end)")


def span(dimension: str) -> str:
    """A FROM item: the period's additive rows of ``dimension`` (``bot``, ``key``, ``day_start`` the
    local midnight of a daily row or a session's start, and the four sums): whole days from
    ``session_days``, edge hours from the session rows. Parameters: :meth:`Window.params`, ``tz``."""
    of = spec(dimension)
    return f"""(
        SELECT bot, key, CAST(day AS timestamp) AT TIME ZONE CAST(:tz AS text) AS day_start, sessions,
               page_views, bounced, duration_seconds
        FROM session_days WHERE {CURRENT_TENANT} AND dimension = '{dimension}'
          AND day BETWEEN :whole_first AND :whole_last
        UNION ALL
        SELECT excluded, {key_array(of)}, started_at, 1, page_views, CAST({BOUNCED} AS integer), {DURATION}
        FROM sessions WHERE {EDGES} AND {of.where})"""


_HUMANS_OF_GROUP = "(CAST(:include_bots AS boolean) OR NOT g.bot)"
PEOPLE_COLUMNS = dict(PEOPLE.values())  # session_people_days' kind -> the sessions column


# A day's bucket (``:unit`` of date_trunc in ``:tz``), of a per-day row's ``day``.
_DAY_BUCKET = ("date_trunc(CAST(:unit AS text), CAST({}.day AS timestamp) AT TIME ZONE CAST(:tz AS text), "
               "CAST(:tz AS text))")


def _unsketched(dimension: str, people: str, *, by_bucket: bool = False,
                wanted: bool = False) -> Callable[[bool], str]:
    """The ``exact`` FROM items of :func:`analytics.rollups.sketches.count_sql`: the period's (``key``,
    ``person``) of the whole days' groups with no current sketch (each group of ``session_days``' rows
    of ``dimension`` read through ``people``, a LATERAL subquery over ``g``), and of the edge hours;
    ``by_bucket``: the key is the day's or hour's time bucket instead; ``wanted``: only the keys of
    the CTE ``wanted``."""
    name = TOTALS if dimension.startswith("all:") else dimension
    of = spec(name)
    column = PEOPLE_COLUMNS[dimension.removeprefix("all:")] if name == TOTALS else "visitor_id"
    keys = ((_DAY_BUCKET.format("g"), "date_trunc(CAST(:unit AS text), started_at, CAST(:tz AS text))")
            if by_bucket else ("g.key", key_array(of)))
    only = (" AND g.key IN (SELECT key FROM wanted)", f" AND {key_array(of)} IN (SELECT key FROM wanted)")
    only = only if wanted else ("", "")

    def exact(merged: bool) -> str:
        side = "" if merged else "NOT "
        return f"""(
        SELECT {keys[0]} AS key, p.person FROM session_days g CROSS JOIN LATERAL ({people}) AS p
        WHERE g.{CURRENT_TENANT} AND g.dimension = '{name}' AND g.day BETWEEN :whole_first AND :whole_last
          AND {_HUMANS_OF_GROUP}{only[0]}
          AND {side}EXISTS (SELECT 1 FROM sketched k WHERE k.key = {keys[0]})
          AND NOT EXISTS (SELECT 1 FROM current c
                          WHERE c.day = g.day AND c.sketch_key = g.key AND c.bot = g.bot)
        UNION ALL
        SELECT {keys[1]}, {column} FROM sessions
        WHERE {EDGES} AND {of.where} AND {column} IS NOT NULL
          AND (CAST(:include_bots AS boolean) OR NOT excluded){only[1]}
          AND {side}EXISTS (SELECT 1 FROM sketched k WHERE k.key = {keys[1]}))"""

    return exact


def key_visitors_sql(dimension: str, *, wanted: bool) -> str:
    """The statement counting ``dimension``'s distinct visitors per key over a period (parameters:
    :func:`params`, and with ``wanted`` the key columns' arrays ``:k0``..), read with
    :func:`analytics.rollups.sketches.counts_from`."""
    people = "SELECT person FROM analytics_key_day_visitors(g.dimension, g.day, g.key, g.bot) AS person"
    return sketches.count_sql(dimension, _unsketched(dimension, people, wanted=wanted),
                              keyed=len(spec(dimension).keys), wanted=wanted)


async def key_visitors(conn: AsyncConnection, dimension: str, values: dict[str, object],
                       keys: Sequence[tuple[str | None, ...]]) -> dict[tuple[str | None, ...], int]:
    """Distinct visitors per key of ``dimension`` over the period of ``values`` (:func:`params`), for
    the given keys (a key without visitors is left out)."""
    if not keys:
        return {}
    arrays = {f"k{i}": [key[i] for key in keys] for i in range(len(spec(dimension).keys))}
    rows = await conn.execute(text(key_visitors_sql(dimension, wanted=True)), {**values, **arrays})
    return sketches.counts_from(rows)


def people_sql(kind: str, *, by_bucket: bool) -> str:
    """The statement counting the period's distinct ``visitors`` or ``users`` (parameters: :func:`params`;
    ``by_bucket``: per ``:unit`` bucket, read with :func:`analytics.rollups.sketches.counts_from`."""
    name = PEOPLE[kind][0]
    people = (f"SELECT person FROM session_people_days p WHERE p.tenant_id = g.tenant_id AND p.day = g.day "
              f"AND p.kind = '{name}' AND p.bot = g.bot")
    return sketches.count_sql(f"all:{name}", _unsketched(f"all:{name}", people, by_bucket=by_bucket), keyed=0,
                              wanted=False, group=_DAY_BUCKET.format("s") if by_bucket else "s.key")


async def people_count(conn: AsyncConnection, kind: str, values: dict[str, object]) -> int:
    """The period's distinct ``visitors`` or ``users`` (``values``: :func:`params`)."""
    rows = await conn.execute(text(people_sql(kind, by_bucket=False)), {**values, "unit": "day"})
    return sketches.counts_from(rows).get((), 0)


async def people_by_bucket(conn: AsyncConnection, kind: str,
                           values: dict[str, object]) -> dict[datetime, int]:
    """The distinct ``visitors`` or ``users`` per ``:unit`` bucket of ``values``' whole days."""
    return sketches.counts_from(await conn.execute(text(people_sql(kind, by_bucket=True)), values))


_SUMS = ("coalesce(sum(sessions), 0) AS sessions, coalesce(sum(page_views), 0) AS page_views, "
         "coalesce(sum(bounced), 0) AS bounced, coalesce(sum(duration_seconds), 0) AS duration_seconds")


# The period's totals (the columns of SessionCounts but visitors and users: :func:`people_count`; and
# ``bots``: the excluded sessions whatever include_bots says).
TOTALS_SQL = f"""
    SELECT coalesce(sum(sessions) FILTER (WHERE {HUMANS_UNLESS_INCLUDE_BOTS}), 0) AS sessions,
           0 AS visitors, 0 AS users,
           coalesce(sum(page_views) FILTER (WHERE {HUMANS_UNLESS_INCLUDE_BOTS}), 0) AS page_views,
           coalesce(sum(bounced) FILTER (WHERE {HUMANS_UNLESS_INCLUDE_BOTS}), 0) AS bounced,
           coalesce(sum(duration_seconds) FILTER (WHERE {HUMANS_UNLESS_INCLUDE_BOTS}), 0) AS duration_seconds,
           coalesce(sum(sessions) FILTER (WHERE bot), 0) AS bots
    FROM {span(TOTALS)} AS r"""

# Per bucket (``:unit`` of date_trunc in ``:tz``): the columns of SessionCounts but visitors and users
# (:func:`people_by_bucket`).
SERIES_SQL = f"""
    SELECT date_trunc(:unit, day_start, CAST(:tz AS text)) AS bucket, {_SUMS}, 0 AS visitors, 0 AS users
    FROM {span(TOTALS)} AS r WHERE {HUMANS_UNLESS_INCLUDE_BOTS} GROUP BY 1"""

# The bot filter's summary: every session of the period whatever include_bots says (``total``,
# ``excluded``, ``unknown_agent``: those of device type ``:unknown``), and the sessions per bot tier
# (code '') and reason code.
BOT_TOTALS_SQL = f"""
    SELECT coalesce(sum(sessions), 0) AS total, coalesce(sum(sessions) FILTER (WHERE bot), 0) AS excluded,
           (SELECT coalesce(sum(sessions), 0) FROM {span("devices")} AS d WHERE key[1] = :unknown)
               AS unknown_agent
    FROM {span(TOTALS)} AS r"""
BOT_FLAGS_SQL = f"""
    SELECT tier, code, sum(sessions) AS sessions FROM (
        SELECT tier, code, sessions FROM session_bot_days
        WHERE {CURRENT_TENANT} AND day BETWEEN :whole_first AND :whole_last
        UNION ALL
        SELECT f.tier, f.code, 1 FROM sessions s CROSS JOIN LATERAL {BOT_FLAGS} AS f WHERE {EDGES}) AS r
    GROUP BY tier, code"""

PERIOD_SESSIONS_SQL = (f"SELECT coalesce(sum(sessions), 0) FROM {span(TOTALS)} AS r "
                       f"WHERE {HUMANS_UNLESS_INCLUDE_BOTS}")


def breakdown_sql(dimension: str, order: str = "", limit: bool = False, only_keys: bool = False) -> str:
    """Like analytics.sessions.stats' breakdown statement (``k0``.. keys, the SessionCounts columns,
    ``total``), from the rollup, in ``order`` (an ORDER BY over those columns), the first ``:limit``
    rows when ``limit``. Visitors and users are reported as 0: :func:`key_visitors` counts the visitors
    of the keys a caller shows; users are not kept per key."""
    names = [f"k{i}" for i in range(len(spec(dimension).keys))]
    # Byte order (collation "C") for ties, as the statement over the session rows.
    keys = ", ".join(f'g.key[{i + 1}] COLLATE "C" AS {k}' for i, k in enumerate(names))
    join = ""
    if only_keys:
        arrays = ", ".join(f"CAST(:{k} AS text[])" for k in names)
        join = (f"JOIN unnest({arrays}) AS wanted({', '.join(names)}) ON "
                + " AND ".join(f"g.key[{i + 1}] IS NOT DISTINCT FROM wanted.{k}"
                               for i, k in enumerate(names)))
    return f"""
        WITH g AS (SELECT key, {_SUMS} FROM {span(dimension)} AS r WHERE {HUMANS_UNLESS_INCLUDE_BOTS}
                   GROUP BY key)
        SELECT g.key, {keys}, g.sessions, g.page_views, g.bounced, g.duration_seconds,
               ({PERIOD_SESSIONS_SQL}) AS total, 0 AS visitors, 0 AS users
        FROM g {join} {order} {"LIMIT :limit" if limit else ""}"""


def params(period: Period, include_bots: bool) -> dict[str, object]:
    return {**Window.of(period).params(), "tz": period.tz.key, "include_bots": include_bots}
