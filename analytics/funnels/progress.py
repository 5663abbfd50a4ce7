"""Funnel progress kept by the rollup: the funnel consumer re-derives the attempts of every person
a claim touched with an event that can change them, from that person's retained raw events, and
replaces the person's rows; ``verify`` derives every attempt again from all raw events.

Re-deriving a person whole (not appending) is what makes late and out-of-order events land in the
right attempt exactly once and a re-run write the same rows. Rows carry the first step's session
key: reads join ``sessions`` for the bot flag and the breakdown dimensions, so a session changing
side needs no correction here (``day_clears`` stays empty).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from analytics.funnels.derive import Attempt, derive_attempts, person_of, relevant
from analytics.funnels.store import Funnel, list_funnels
from analytics.rollups.aggregate import RAW_EVENT_COLUMNS, RawEvent
from analytics.rollups.consumers import Claim, Consumer, Difference

# One person's events: by user id, else (no user id) by anonymous id; two index scans.
_PERSON_EVENTS = text(
    f"SELECT {RAW_EVENT_COLUMNS} FROM events WHERE tenant_id = :tenant AND user_id = ANY(:users) "
    f"UNION ALL SELECT {RAW_EVENT_COLUMNS} FROM events WHERE tenant_id = :tenant AND user_id IS NULL "
    "AND anonymous_id = ANY(:anonymous)"
)
_KEPT = text("SELECT raw_events_from FROM tenants WHERE id = :tenant")
_EVER = datetime.min.replace(tzinfo=UTC)


async def _kept(conn: AsyncConnection, tenant_id: int) -> datetime:
    """Where the tenant's retained raw events begin (retention deleted what came before)."""
    found = (await conn.execute(_KEPT, {"tenant": tenant_id})).scalar_one()
    return found if found is not None else _EVER
_DELETE = text(
    """
    DELETE FROM funnel_attempts a USING unnest(CAST(:funnel AS bigint[]), CAST(:person AS text[])) AS k(f, p)
    WHERE a.tenant_id = :tenant AND a.funnel_id = k.f AND a.person = k.p AND a.started_at >= :kept
    """
)
_INSERT = text(
    """
    INSERT INTO funnel_attempts (tenant_id, funnel_id, person, first_event, actor, started_at, step_ats,
                                 ended_at, voided, session_key, properties)
    SELECT :tenant, f, p, e, a, s, CAST(st AS timestamptz[]), en, v, sk, CAST(pr AS jsonb)
    FROM unnest(CAST(:funnel AS bigint[]), CAST(:person AS text[]), CAST(:first_event AS uuid[]),
                CAST(:actor AS text[]), CAST(:started_at AS timestamptz[]), CAST(:step_ats AS text[]),
                CAST(:ended_at AS timestamptz[]), CAST(:voided AS boolean[]), CAST(:session_key AS uuid[]),
                CAST(:properties AS text[])) AS k(f, p, e, a, s, st, en, v, sk, pr)
    """
)


def _array_literal(instants: Iterable[datetime]) -> str:
    return "{" + ",".join(f'"{at.isoformat()}"' for at in instants) + "}"


async def load_person_events(
    conn: AsyncConnection, tenant_id: int, persons: Sequence[str]
) -> dict[str, list[RawEvent]]:
    users = sorted(p[2:] for p in persons if p.startswith("u:"))
    anonymous = sorted(p[2:] for p in persons if p.startswith("a:"))
    found: dict[str, list[RawEvent]] = {p: [] for p in persons}
    rows = await conn.execute(_PERSON_EVENTS, {"tenant": tenant_id, "users": users, "anonymous": anonymous})
    for row in rows:
        event = RawEvent(*row)
        person = person_of(event)
        if person is not None:
            found.setdefault(person, []).append(event)
    return found


async def rederive(
    conn: AsyncConnection, tenant_id: int, work: Mapping[int, tuple[Funnel, Sequence[str]]]
) -> int:
    """Replace the attempts of the given persons at the given funnels (funnel id -> (funnel,
    persons)); the caller holds the tenant's lock. Returns the attempts written."""
    persons = sorted({p for _, people in work.values() for p in people})
    if not persons:
        return 0
    kept = await _kept(conn, tenant_id)
    events = await load_person_events(conn, tenant_id, persons)
    cleared: list[tuple[int, str]] = []
    written: list[tuple[int, Attempt]] = []
    for funnel_id in sorted(work):
        funnel, people = work[funnel_id]
        for person in sorted(set(people)):
            cleared.append((funnel_id, person))
            written.extend(
                (funnel_id, a)
                for a in derive_attempts(funnel.definition, person, events[person])
                if a.started_at >= kept
            )
    await conn.execute(
        _DELETE,
        {
            "tenant": tenant_id,
            "kept": kept,
            "funnel": [f for f, _ in cleared],
            "person": [p for _, p in cleared],
        },
    )
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
            },
        )
    return len(written)


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
    work: dict[int, tuple[Funnel, set[str]]] = {}
    for funnel in funnels:
        work[funnel.id] = (funnel, {p for e in claim.events
                                    if (p := person_of(e)) is not None and relevant(funnel.definition, e)})
    others = sorted({p for e in claim.events if (p := person_of(e)) is not None})
    if others:
        moved = await conn.execute(_MOVED, {"tenant": claim.tenant_id, "funnels": sorted(work),
                                            "persons": others})
        for funnel_id, person in moved:
            work[int(funnel_id)][1].add(person)
    await rederive(conn, claim.tenant_id, {f: (funnel, sorted(people))
                                           for f, (funnel, people) in work.items() if people})


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
    return [Difference("funnel_attempts", missing, extra)] if missing or extra else []


FUNNELS = Consumer(
    "funnels",
    _consume,
    _verify,
    expiry={
        "funnel_attempts": "DELETE FROM funnel_attempts WHERE tenant_id = :tenant "
        "AND started_at < (SELECT at FROM kept)"
    },
    tables=("funnel_attempts",),
    erase=("DELETE FROM funnel_attempts WHERE tenant_id = :tenant AND person = :user_key",),
)
