"""The rollup's consumers: each keeps its own tables current from the claimed events, inside the
rollup transaction, and can prove them equal to a recomputation from the raw events.

The rollup claims outbox rows, loads their events, lets the session upkeep decide which of them
belong to excluded (bot) sessions, then hands the same :class:`Claim` to every consumer of
``analytics.rollups.registry.CONSUMERS`` in order: counters, user days, product events, funnels,
segments, costs. One transaction: all of them or none.

Rows split by ``bot`` per tenant-local day must follow later changes of a session's side (scorer,
bot rules, late events): a consumer lists the DELETEs of one day's rows in ``day_clears`` and the
correction job (analytics.sessions.correction) runs them, then feeds the day's events through
``consume`` again. A consumer whose rows carry a session key instead (reads join ``sessions`` for
the flag, like content facts) leaves ``day_clears`` empty; one that stores the flag beside the key
(funnel attempts) lists in ``day_resyncs`` the UPDATE that sets it again for the day's rows from
``sessions``: it needs no raw events, so it runs for every marked day, also those whose raw events
retention removed (sessions and those rows outlive them).

Erasure (analytics.users.erasure) deletes a person's raw events and corrects the days they were
active through ``day_clears``; rows keyed by the person themselves (a ``user_key`` or ``user_id``
column: distinct users, user days, funnel progress, segment assignments...) must also go on days
whose raw events retention already removed. Every consumer holding such rows lists their DELETEs
in ``erase`` (a test fails when a registered consumer's table has such a column and no ``erase``).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from uuid import UUID
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from analytics.rollups.aggregate import RawEvent


@dataclass(frozen=True)
class Claim:
    """Events for the consumers: a claimed batch, or one local day's events during a correction."""

    tenant_id: int
    tz: ZoneInfo
    events: Sequence[RawEvent]
    bot_events: Collection[UUID]  # ids of the events whose session is excluded as a bot now
    correcting: bool = False  # a day correction: only day-split consumers are called

    @functools.cached_property
    def _bot_flags(self) -> tuple[bool, ...]:
        """Each event's side, looked up once: every consumer walks the claim (a UUID hashes in Python)."""
        bot = self.bot_events
        return tuple(event.id in bot for event in self.events) if bot else (False,) * len(self.events)

    def with_bot(self) -> Iterator[tuple[RawEvent, bool]]:
        return zip(self.events, self._bot_flags, strict=True)


@dataclass(frozen=True)
class Difference:
    table: str
    missing: int  # rows the recomputation has that the rollup lacks or has with other values
    extra: int  # rows the rollup has that the recomputation does not


@dataclass(frozen=True)
class Consumer:
    """One kind of upkeep on claimed events. ``day_clears``: DELETE statements of one local day's
    bot-split rows (parameters ``:tenant``, ``:day``, ``:start``, ``:end`` = the day's local
    midnights). ``expiry``: table -> DELETE of rows past the rollup retention, written after the
    ``kept`` CTE of analytics.retention (``kept.day``, ``kept.at``). ``tables``: what it writes,
    analysed before a verification. ``erase``: DELETE statements of one person's rows on every day
    (parameters ``:tenant`` and ``:user_key``, ``u:<userId>`` or ``a:<anonymousId>``), run by the
    erasure job: required when a table holds per-person rows. ``day_resyncs``: statements (same
    parameters as ``day_clears``) that set one day's stored bot flags again from ``sessions``, run
    for every corrected day whether or not its raw events are kept."""

    name: str
    consume: Callable[[AsyncConnection, Claim], Awaitable[None]]
    verify: Callable[[AsyncConnection, int], Awaitable[list[Difference]]]
    day_clears: tuple[str, ...] = ()
    day_resyncs: tuple[str, ...] = ()
    expiry: Mapping[str, str] = field(default_factory=dict)
    tables: tuple[str, ...] = ()
    erase: tuple[str, ...] = ()


# Days before the tenant's raw_events_from lost their raw events to retention: their rollups stay
# and cannot be recomputed, so checks compare only from ``kept.at`` / ``kept.day`` on.
KEPT = """
kept AS (SELECT coalesce(raw_events_from, '-infinity') AS at,
                coalesce((raw_events_from AT TIME ZONE timezone)::date, '-infinity') AS day,
                timezone
         FROM tenants WHERE id = :tenant)
"""


async def compare(conn: AsyncConnection, tenant_id: int, table: str, want: str, have: str, *,
                  ctes: str = "") -> Difference | None:
    """Compare the rows of ``want`` (the recomputation) with ``have`` (the table) as multisets.
    Both may use the ``kept`` CTE and any of ``ctes`` (``name AS (...)`` items, comma-led)."""
    sql = (f"WITH {KEPT}{ctes}, want AS ({want}), have AS ({have}) SELECT "
           "(SELECT count(*) FROM (SELECT * FROM want EXCEPT ALL SELECT * FROM have) m), "
           "(SELECT count(*) FROM (SELECT * FROM have EXCEPT ALL SELECT * FROM want) x)")
    missing, extra = (await conn.execute(text(sql), {"tenant": tenant_id})).one()
    return Difference(table, int(missing), int(extra)) if missing or extra else None
