"""Funnel progress kept by the rollup: the funnel consumer re-derives the attempts of every person
a claim touched with an event that can change them, from that person's retained raw events, and
replaces the person's rows; ``verify`` derives every attempt again from all raw events.

Re-deriving (not appending) is what makes late and out-of-order events land in the right attempt
exactly once and a re-run write the same rows. The consumer re-derives a person's attempts (per-user
counting) only from the last stored attempt that began before the person's earliest new event, or
from that event when that attempt had ended before it: no attempt is open just before an attempt
begins or after one ends, so what came earlier cannot change, and a claim reads the person's recent
events instead of their whole retained history. Per-session counting, a person whose sessions moved
and the backfill re-derive the person whole. Rows carry the first step's session
key: reads join ``sessions`` for the breakdown dimensions. The rows also carry ``bot`` (that session
excluded when written; a day correction sets it again: ``day_resyncs`` holds that UPDATE) and ``sole``
(the attempt is its actor's only one; written so by each re-derivation, which also sets it again on the
rows its actors keep when their number of attempts crosses one). Triggers
sum the sole attempts per local day into ``funnel_days`` and ``funnel_day_gaps`` (migration 0037) in
the same statement, whoever writes, so the funnel query reads days (analytics.funnels.days).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from analytics.funnels.definition import Counting
from analytics.funnels.derive import Attempt, derive_attempts, person_of, relevant
from analytics.funnels.store import Funnel, list_funnels
from analytics.rollups.aggregate import RAW_EVENT_COLUMNS, RawEvent
from analytics.rollups.consumers import Claim, Consumer, Difference, compare

# Persons' events from a point on each: by user id, else (no user id) by anonymous id; index range
# scans (events_user, events_anonymous).
_PERSON_EVENTS = text(
    f"SELECT {RAW_EVENT_COLUMNS} FROM unnest(CAST(:users AS text[]), CAST(:users_from AS timestamptz[])) "
    "AS k(key_user, key_from) JOIN events e ON e.tenant_id = :tenant AND e.user_id = k.key_user "
    "AND e.occurred_at >= k.key_from "
    f"UNION ALL SELECT {RAW_EVENT_COLUMNS} FROM unnest(CAST(:anonymous AS text[]), "
    "CAST(:anonymous_from AS timestamptz[])) AS k(key_anonymous, key_from) JOIN events e "
    "ON e.tenant_id = :tenant AND e.user_id IS NULL AND e.anonymous_id = k.key_anonymous "
    "AND e.occurred_at >= k.key_from"
)
# The latest stored attempt of each (funnel, person) that began before the given instant.
_LAST_BEFORE = text(
    """
    SELECT DISTINCT ON (a.funnel_id, a.person) a.funnel_id, a.person, a.started_at, a.first_event, a.ended_at
    FROM unnest(CAST(:funnel AS bigint[]), CAST(:person AS text[]), CAST(:before AS timestamptz[]))
        AS k(f, p, b)
    JOIN funnel_attempts a
      ON a.tenant_id = :tenant AND a.funnel_id = k.f AND a.person = k.p AND a.started_at < k.b
    ORDER BY a.funnel_id, a.person, a.started_at DESC, a.first_event DESC
    """
)
_NIL = UUID(int=0)
_KEPT = text("SELECT raw_events_from FROM tenants WHERE id = :tenant")
_EVER = datetime.min.replace(tzinfo=UTC)


async def _kept(conn: AsyncConnection, tenant_id: int) -> datetime:
    """Where the tenant's retained raw events begin (retention deleted what came before)."""
    found = (await conn.execute(_KEPT, {"tenant": tenant_id})).scalar_one()
    return found if found is not None else _EVER
# The stored attempts a re-derivation replaces, with their session's flag as it is now: those the new
# derivation gives again unchanged stay (no write, so the funnel_days triggers see only real changes).
_REPLACED = text(
    """
    SELECT a.funnel_id, a.person, a.first_event, a.actor, a.started_at, a.step_ats, a.ended_at, a.voided,
           a.session_key, a.properties, a.bot = coalesce(s.excluded, false) AS flagged
    FROM unnest(CAST(:funnel AS bigint[]), CAST(:person AS text[]),
        CAST(:from_at AS timestamptz[]), CAST(:from_event AS uuid[])) AS k(f, p, fa, fe)
    JOIN funnel_attempts a ON a.tenant_id = :tenant AND a.funnel_id = k.f AND a.person = k.p
      AND a.started_at >= :kept AND (a.started_at, a.first_event) >= (k.fa, k.fe)
    LEFT JOIN sessions s ON s.tenant_id = a.tenant_id AND s.id = a.session_key
    """
)
_DELETE = text(
    """
    DELETE FROM funnel_attempts a USING unnest(CAST(:funnel AS bigint[]), CAST(:person AS text[]),
        CAST(:first_event AS uuid[])) AS k(f, p, e)
    WHERE a.tenant_id = :tenant AND a.funnel_id = k.f AND a.person = k.p AND a.first_event = k.e
    RETURNING a.funnel_id, a.actor
    """
)
_INSERT = text(
    """
    INSERT INTO funnel_attempts (tenant_id, funnel_id, person, first_event, actor, started_at, step_ats,
                                 ended_at, voided, session_key, properties, bot, sole)
    SELECT :tenant, f, p, e, a, s, CAST(st AS timestamptz[]), en, v, sk, CAST(pr AS jsonb),
           coalesce((SELECT x.excluded FROM sessions x WHERE x.tenant_id = :tenant AND x.id = sk), false), so
    FROM unnest(CAST(:funnel AS bigint[]), CAST(:person AS text[]), CAST(:first_event AS uuid[]),
                CAST(:actor AS text[]), CAST(:started_at AS timestamptz[]), CAST(:step_ats AS text[]),
                CAST(:ended_at AS timestamptz[]), CAST(:voided AS boolean[]), CAST(:session_key AS uuid[]),
                CAST(:properties AS text[]), CAST(:sole AS boolean[]))
         AS k(f, p, e, a, s, st, en, v, sk, pr, so)
    """
)

# The rows the given actors keep once their re-derived attempts are deleted, and whether one is sole:
# a written attempt is sole when its actor keeps none and writes no other (the funnel_days triggers
# sum sole attempts); a kept row's flag changes only when its actor goes from one attempt to more
# or back, and then it is set by _SET_SOLE.
_KEPT_ROWS = text(
    """
    SELECT k.f, k.a, count(x.actor) AS n, coalesce(bool_or(x.sole), false) AS sole
    FROM (SELECT DISTINCT f, a FROM unnest(CAST(:funnel AS bigint[]), CAST(:actor AS text[])) AS u(f, a)) k
    LEFT JOIN funnel_attempts x ON x.tenant_id = :tenant AND x.funnel_id = k.f AND x.actor = k.a
    GROUP BY k.f, k.a
    """
)
_SET_SOLE = text(
    """
    UPDATE funnel_attempts a SET sole = k.s
    FROM unnest(CAST(:funnel AS bigint[]), CAST(:actor AS text[]), CAST(:sole AS boolean[])) AS k(f, ac, s)
    WHERE a.tenant_id = :tenant AND a.funnel_id = k.f AND a.actor = k.ac
    """
)
# A day correction: the bot flag of the attempts that began that day, from their sessions as now.
BOT_RESYNC = (
    "UPDATE funnel_attempts a SET bot = NOT a.bot WHERE a.tenant_id = :tenant "
    "AND a.funnel_id IN (SELECT id FROM funnels WHERE tenant_id = :tenant) "
    "AND a.started_at >= :start AND a.started_at < :end AND a.bot <> coalesce((SELECT s.excluded "
    "FROM sessions s WHERE s.tenant_id = a.tenant_id AND s.id = a.session_key), false)"
)


def _array_literal(instants: Iterable[datetime]) -> str:
    return "{" + ",".join(f'"{at.isoformat()}"' for at in instants) + "}"


Start = tuple[datetime, UUID]  # (occurred_at, id) of the first event a re-derivation reads


async def load_person_events(
    conn: AsyncConnection, tenant_id: int, persons: Sequence[str], since: Mapping[str, datetime] | None = None
) -> dict[str, list[RawEvent]]:
    """The persons' events (each from ``since[person]`` on, if given)."""
    def start(person: str) -> datetime:
        return since.get(person, _EVER) if since is not None else _EVER

    users = sorted(p for p in persons if p.startswith("u:"))
    anonymous = sorted(p for p in persons if p.startswith("a:"))
    found: dict[str, list[RawEvent]] = {p: [] for p in persons}
    rows = await conn.execute(_PERSON_EVENTS, {
        "tenant": tenant_id, "users": [p[2:] for p in users], "users_from": [start(p) for p in users],
        "anonymous": [p[2:] for p in anonymous], "anonymous_from": [start(p) for p in anonymous]})
    for row in rows:
        event = RawEvent(*row)
        person = person_of(event)
        if person is not None:
            found.setdefault(person, []).append(event)
    return found


async def _starts(conn: AsyncConnection, tenant_id: int, pairs: Sequence[tuple[int, str]],
                  since: Mapping[tuple[int, str], datetime]) -> dict[tuple[int, str], Start]:
    """Where each (funnel, person) is re-derived from: the whole history, or (``since``: the earliest
    new event) the last stored attempt that began before it if that one was still open then (a
    completed, voided, broken or expired attempt cannot change, and no attempt was open after it),
    else that instant."""
    starts: dict[tuple[int, str], Start] = {pair: (_EVER, _NIL) for pair in pairs}
    windowed = [pair for pair in pairs if pair in since]
    if not windowed:
        return starts
    for pair in windowed:
        starts[pair] = (since[pair], _NIL)
    rows = await conn.execute(_LAST_BEFORE, {
        "tenant": tenant_id, "funnel": [f for f, _ in windowed], "person": [p for _, p in windowed],
        "before": [since[pair] for pair in windowed]})
    for row in rows:
        pair = (int(row.funnel_id), row.person)
        if row.ended_at >= since[pair]:
            starts[pair] = (row.started_at, row.first_event)
    return starts


def _from(start: Start, events: Sequence[RawEvent]) -> list[RawEvent]:
    """The events at or after ``start`` in the order attempts are derived in."""
    at, first = start
    if at == _EVER:
        return list(events)
    key = (at, str(first))
    return [e for e in events if e.id is not None and (e.occurred_at, str(e.id)) >= key]


async def rederive(
    conn: AsyncConnection, tenant_id: int, work: Mapping[int, tuple[Funnel, Sequence[str]]],
    since: Mapping[tuple[int, str], datetime] | None = None,
) -> int:
    """Replace the attempts of the given persons at the given funnels (funnel id -> (funnel,
    persons)); the caller holds the tenant's lock. ``since`` ((funnel, person) -> the earliest event
    that is new to the stored attempts) limits a per-user funnel's re-derivation to what that event can
    change; without it a person is re-derived whole. Returns the attempts written."""
    pairs = [(f, p) for f in sorted(work) for p in sorted(set(work[f][1]))]
    if not pairs:
        return 0
    kept = await _kept(conn, tenant_id)
    starts = await _starts(conn, tenant_id, pairs, {
        pair: at for pair, at in (since or {}).items()
        if pair[0] in work and work[pair[0]][0].definition.counting is Counting.USER})
    reads: dict[str, datetime] = {}
    for (_, person), (at, _) in starts.items():
        reads[person] = min(at, reads.get(person, at))
    events = await load_person_events(conn, tenant_id, sorted(reads), reads)
    written: list[tuple[int, Attempt]] = []
    for funnel_id, person in pairs:
        written.extend(
            (funnel_id, a)
            for a in derive_attempts(work[funnel_id][0].definition, person,
                                     _from(starts[(funnel_id, person)], events[person]))
            if a.started_at >= kept
        )
    derived = len(written)
    stored = (await conn.execute(
        _REPLACED,
        {
            "tenant": tenant_id,
            "kept": kept,
            "funnel": [f for f, _ in pairs],
            "person": [p for _, p in pairs],
            "from_at": [starts[pair][0] for pair in pairs],
            "from_event": [starts[pair][1] for pair in pairs],
        },
    )).all()
    same = {_key(f, a) for f, a in written}
    keys = [(_stored_key(r), bool(r.flagged)) for r in stored]
    unchanged = {k for k, flagged in keys if flagged and k in same}
    gone = [k for k, _ in keys if k not in unchanged]
    written = [(f, a) for f, a in written if _key(f, a) not in unchanged]
    removed: list[Any] = []
    if gone:
        removed = list(await conn.execute(_DELETE, {"tenant": tenant_id, "funnel": [k[0] for k in gone],
                                                    "person": [k[1] for k in gone],
                                                    "first_event": [k[2] for k in gone]}))
    actors = sorted({(int(f), a) for f, a in removed} | {(f, a.actor) for f, a in written})
    kept_rows: dict[tuple[int, str], tuple[int, bool]] = {}
    if actors:
        rows = await conn.execute(_KEPT_ROWS, {"tenant": tenant_id, "funnel": [f for f, _ in actors],
                                               "actor": [a for _, a in actors]})
        kept_rows = {(int(r.f), r.a): (int(r.n), bool(r.sole)) for r in rows}
    writes = Counter((f, a.actor) for f, a in written)
    changed = [(pair, kept == 1 and writes[pair] == 0) for pair, (kept, sole) in kept_rows.items()
               if kept and sole != (kept == 1 and writes[pair] == 0)]
    if changed:
        await conn.execute(_SET_SOLE, {"tenant": tenant_id, "funnel": [f for (f, _), _ in changed],
                                       "actor": [a for (_, a), _ in changed],
                                       "sole": [s for _, s in changed]})
    written.sort(key=lambda item: (item[0], item[1].person, str(item[1].first_event)))
    if written:
        await conn.execute(
            _INSERT,
            {
                "tenant": tenant_id,
                "funnel": [f for f, _ in written],
                "person": [a.person for _, a in written],
                "first_event": [a.first_event for _, a in written],
                "actor": [a.actor for _, a in written],
                "started_at": [a.started_at for _, a in written],
                "step_ats": [_array_literal(a.step_ats) for _, a in written],
                "ended_at": [a.ended_at for _, a in written],
                "voided": [a.voided for _, a in written],
                "session_key": [a.session_key for _, a in written],
                "properties": [
                    None if a.properties is None else json.dumps(a.properties) for _, a in written
                ],
                "sole": [kept_rows.get((f, a.actor), (0, False))[0] == 0 and writes[(f, a.actor)] == 1
                         for f, a in written],
            },
        )
    return derived


# Persons whose stored attempts name a session their first event no longer belongs to: the session
# upkeep moved it (a late event joined or split a visit), though no claimed event of theirs matched.
_MOVED = text(
    """
    SELECT DISTINCT a.funnel_id, a.person FROM funnel_attempts a
    JOIN events e ON e.tenant_id = a.tenant_id AND e.occurred_at = a.started_at AND e.id = a.first_event
    WHERE a.tenant_id = :tenant AND a.funnel_id = ANY(:funnels) AND a.person = ANY(:persons)
      AND e.session_key IS DISTINCT FROM a.session_key
    """
)


async def _consume(conn: AsyncConnection, claim: Claim) -> None:
    if claim.correcting:
        return
    funnels = await list_funnels(conn, claim.tenant_id)
    if not funnels:
        return
    persons = [(e, p) for e in claim.events if (p := person_of(e)) is not None]
    work: dict[int, tuple[Funnel, set[str]]] = {}
    since: dict[tuple[int, str], datetime] = {}
    for funnel in funnels:
        people: set[str] = set()
        for event, person in persons:
            if relevant(funnel.definition, event):
                people.add(person)
                pair = (funnel.id, person)
                since[pair] = min(event.occurred_at, since.get(pair, event.occurred_at))
        work[funnel.id] = (funnel, people)
    others = sorted({p for _, p in persons})
    if others:
        moved = await conn.execute(_MOVED, {"tenant": claim.tenant_id, "funnels": sorted(work),
                                            "persons": others})
        for funnel_id, person in moved:  # the first step's session changed: re-derive the person whole
            work[int(funnel_id)][1].add(person)
            since.pop((int(funnel_id), person), None)
    await rederive(conn, claim.tenant_id, {f: (funnel, sorted(people))
                                           for f, (funnel, people) in work.items() if people}, since)


_ALL_EVENTS = text(
    f"SELECT {RAW_EVENT_COLUMNS} FROM events WHERE tenant_id = :tenant "
    "AND (user_id IS NOT NULL OR anonymous_id IS NOT NULL) "
    "ORDER BY coalesce('u:' || user_id, 'a:' || anonymous_id)"
)
_STORED = text(
    "SELECT funnel_id, person, first_event, actor, started_at, step_ats, ended_at, voided, session_key, "
    "properties FROM funnel_attempts WHERE tenant_id = :tenant AND started_at >= :kept"
)


def _key(funnel_id: int, attempt: Attempt) -> tuple[Any, ...]:
    return (funnel_id, *attempt.row(), json.dumps(attempt.properties, sort_keys=True))


def _stored_key(r: Any) -> tuple[Any, ...]:
    """A stored attempt row as :func:`_key` gives a derived one."""
    return (int(r.funnel_id), r.person, r.first_event, r.actor, r.started_at, tuple(r.step_ats), r.ended_at,
            r.voided, r.session_key, json.dumps(r.properties, sort_keys=True))


async def recompute_attempts(conn: AsyncConnection, tenant_id: int) -> Counter[tuple[Any, ...]]:
    """Every funnel's attempts derived again from all the tenant's retained raw events (this reads
    nothing the incremental path wrote)."""
    funnels = await list_funnels(conn, tenant_id)
    kept = await _kept(conn, tenant_id)
    want: Counter[tuple[Any, ...]] = Counter()
    if not funnels:
        return want
    person: str | None = None
    events: list[RawEvent] = []

    def flush() -> None:
        if person is not None:
            for funnel in funnels:
                want.update(
                    _key(funnel.id, a)
                    for a in derive_attempts(funnel.definition, person, events)
                    if a.started_at >= kept
                )

    async for row in await conn.stream(_ALL_EVENTS, {"tenant": tenant_id}):
        event = RawEvent(*row)
        key = person_of(event)
        if key != person:
            flush()
            person, events = key, []
        events.append(event)
    flush()
    return want


async def _verify(conn: AsyncConnection, tenant_id: int) -> list[Difference]:
    want = await recompute_attempts(conn, tenant_id)
    kept = await _kept(conn, tenant_id)
    have: Counter[tuple[Any, ...]] = Counter(
        (
            int(r.funnel_id),
            r.person,
            r.first_event,
            r.actor,
            r.started_at,
            tuple(r.step_ats),
            r.ended_at,
            r.voided,
            r.session_key,
            json.dumps(r.properties, sort_keys=True),
        )
        for r in await conn.execute(_STORED, {"tenant": tenant_id, "kept": kept})
    )
    missing = sum((want - have).values())
    extra = sum((have - want).values())
    found = [Difference("funnel_attempts", missing, extra)] if missing or extra else []
    flags = (await conn.execute(_FLAGS, {"tenant": tenant_id})).scalar_one()
    if flags:
        found.append(Difference("funnel_attempts.sole/bot", int(flags), 0))
    for table, want_sql, have_sql in _SUMS:
        difference = await compare(conn, tenant_id, table, want_sql, have_sql, ctes=_ZONE)
        if difference:
            found.append(difference)
    return found


# Attempts marked ``sole`` beside another attempt of their actor, or whose ``bot`` flag differs from
# their session's. The other way round is allowed: when retention or an erasure removes an actor's
# other attempts, the one left keeps ``sole = false`` until the actor's next re-derivation; the
# funnel query reads such an attempt one by one (analytics.funnels.days), so its answers are the same.
_FLAGS = text(
    """
    SELECT count(*) FROM (
        SELECT a.sole, count(*) OVER (PARTITION BY a.funnel_id, a.actor) = 1 AS alone, a.bot,
               coalesce(s.excluded, false) AS excluded
        FROM funnel_attempts a LEFT JOIN sessions s ON s.tenant_id = a.tenant_id AND s.id = a.session_key
        WHERE a.tenant_id = :tenant
    ) f WHERE (f.sole AND NOT f.alone) OR f.bot <> f.excluded
    """
)
# The day sums the triggers keep, recomputed from the sole attempts (zero rows are left in place).
_ZONE = ", zone AS (SELECT timezone AS tz FROM tenants WHERE id = :tenant)"
_DAY_KEYS = ("a.funnel_id, (a.started_at AT TIME ZONE z.tz)::date, a.bot, a.voided, "
             "(a.step_ats[cardinality(a.step_ats)] AT TIME ZONE z.tz)::date, "
             "(a.ended_at AT TIME ZONE z.tz)::date")
_SUMS = (
    ("funnel_days",
     f"SELECT {_DAY_KEYS}, cardinality(a.step_ats)::smallint, count(*) FROM funnel_attempts a, zone z "
     "WHERE a.tenant_id = :tenant AND a.sole GROUP BY 1, 2, 3, 4, 5, 6, 7",
     "SELECT funnel_id, day, bot, voided, last_day, ended_day, reached, attempts FROM funnel_days "
     "WHERE tenant_id = :tenant AND attempts <> 0"),
    ("funnel_day_gaps",
     f"SELECT {_DAY_KEYS}, k::smallint, array_agg(date_part('epoch', a.step_ats[k] - a.step_ats[k - 1]) "
     "ORDER BY date_part('epoch', a.step_ats[k] - a.step_ats[k - 1])) "
     "FROM funnel_attempts a CROSS JOIN zone z "
     "CROSS JOIN LATERAL generate_series(2, cardinality(a.step_ats)) k "
     "WHERE a.tenant_id = :tenant AND a.sole GROUP BY 1, 2, 3, 4, 5, 6, 7",
     "SELECT funnel_id, day, bot, voided, last_day, ended_day, step, gaps FROM funnel_day_gaps "
     "WHERE tenant_id = :tenant AND cardinality(gaps) > 0"),
)


FUNNELS = Consumer(
    "funnels",
    _consume,
    _verify,
    expiry={
        "funnel_attempts": "DELETE FROM funnel_attempts WHERE tenant_id = :tenant "
        "AND started_at < (SELECT at FROM kept)",
        # the attempts' triggers took expired attempts off their days: the emptied day rows go
        "funnel_days": "DELETE FROM funnel_days WHERE tenant_id = :tenant AND attempts = 0",
        "funnel_day_gaps": "DELETE FROM funnel_day_gaps WHERE tenant_id = :tenant AND cardinality(gaps) = 0",
    },
    day_resyncs=(BOT_RESYNC,),
    tables=("funnel_attempts", "funnel_days", "funnel_day_gaps"),
    erase=("DELETE FROM funnel_attempts WHERE tenant_id = :tenant AND person = :user_key",),
)
