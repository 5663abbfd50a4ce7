"""Sessions per tenant-local day (``session_days``, ``session_people_days``): their check against a
recomputation from the ``sessions`` rows, and the reads that take a period's whole days from them.

Statement triggers on ``sessions`` (migration 0036) keep both tables: every writer of session rows
(the rollup, scoring, bot rules, exemptions, identity re-derivation, erasure, retention) changes them
in the same statement, subtracting the old rows and adding the new, so they always equal the
grouping of the current session rows by the day each session started. ``session_days`` holds per
(day, bot side, dimension, key) the additive figures (dimension ``all``: the day's totals);
``session_people_days`` each day's visitors and signed-in users, so distinct counts over any run of
days stay exact. A period that cuts days reads its edge hours from the session rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from analytics.db import CURRENT_TENANT
from analytics.periods import Period, local_midnight
from analytics.rollups.consumers import Claim, Consumer, Difference, compare
from analytics.sessions.measures import BOUNCED, DIMENSIONS, DURATION, Dimension

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


async def _verify(conn: AsyncConnection, tenant_id: int) -> list[Difference]:
    found = [await compare(conn, tenant_id, "session_days", _WANT_DAYS, _HAVE_DAYS, ctes=", " + _DATED),
             await compare(conn, tenant_id, "session_people_days", _WANT_PEOPLE, _HAVE_PEOPLE,
                           ctes=", " + _DATED)]
    return [d for d in found if d is not None]


async def _kept_by_trigger(conn: AsyncConnection, claim: Claim) -> None:
    """Nothing to do per claim: the session rows' own writes keep the tables."""


SESSION_DAYS = Consumer("session_days", _kept_by_trigger, _verify,
                        tables=("session_days", "session_people_days"))


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


_EDGES = (f"{CURRENT_TENANT} AND (started_at >= :start AND started_at < :whole_start "
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
        FROM sessions WHERE {_EDGES} AND {of.where})"""


def people(kind: str) -> str:
    """A FROM item: the period's (``bot``, ``person``, ``day_start``) of ``visitors`` or ``users``, whole
    days from ``session_people_days``, edge hours from the session rows."""
    name, column = PEOPLE[kind]
    return f"""(
        SELECT bot, person, CAST(day AS timestamp) AT TIME ZONE CAST(:tz AS text) AS day_start
        FROM session_people_days WHERE {CURRENT_TENANT} AND kind = '{name}'
          AND day BETWEEN :whole_first AND :whole_last
        UNION ALL
        SELECT excluded, {column}, started_at FROM sessions WHERE {_EDGES} AND {column} IS NOT NULL)"""
