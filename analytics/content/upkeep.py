"""Content facts inside the rollup transaction: replace the rows of every session the session upkeep
re-derived (or removed) with a fresh derivation from the session's events.

``content_sessions`` rows carry their session's bot side (``bot``), read from the session row the
upkeep wrote just before, so content reads need not join ``sessions``. A session flagged later
(scorer, bot rule, exemption, unknown-agent setting) marks its days, and the day correction sets the
flag again (``CONTENT_SESSIONS.day_resyncs``; conversations and items follow their content session).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import astuple, fields
from uuid import UUID

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncConnection

from analytics.content.derive import ContentFacts, ContentSession, Conversation, SessionItem, content_facts
from analytics.content.facts import DAY_SUMS
from analytics.rollups.aggregate import RawEvent
from analytics.rollups.consumers import Claim, Consumer, Difference, compare

_TABLES = {"content_sessions": ContentSession, "content_conversations": Conversation,
           "content_session_items": SessionItem}
_SQL_TYPES = {"session_id": "uuid", "started_at": "timestamptz", "first_view_at": "timestamptz",
              "first_conversion_at": "timestamptz", "last_at": "timestamptz", "engaged_ms": "bigint",
              "messages": "integer", "turns": "integer", "count": "integer", "converted": "boolean"}


def _columns(row_type: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(row_type))


_DELETES = [text(f"DELETE FROM {table} WHERE tenant_id = :tenant AND session_id = ANY(:ids)")
            for table in _TABLES]


# A content session's bot side: its session's, as the session upkeep has just written it.
_SESSION_BOT = ("coalesce((SELECT s.excluded FROM sessions s WHERE s.tenant_id = :tenant "
                "AND s.id = u.session_id), false)")


def _insert(table: str, row_type: type) -> TextClause:
    names = _columns(row_type)
    arrays = ", ".join(f"CAST(:{c} AS {_SQL_TYPES.get(c, 'text')}[])" for c in names)
    flagged = table == "content_sessions"
    return text(f"INSERT INTO {table} (tenant_id, {', '.join(names)}{', bot' if flagged else ''}) "
                f"SELECT :tenant, u.*{', ' + _SESSION_BOT if flagged else ''} "
                f"FROM unnest({arrays}) AS u({', '.join(names)})")


_INSERTS = {table: _insert(table, row_type) for table, row_type in _TABLES.items()}


async def replace_content_facts(conn: AsyncConnection, tenant_id: int,
                                sessions: Mapping[UUID, Sequence[RawEvent]],
                                removed: Sequence[UUID]) -> None:
    """Delete the content facts of ``sessions`` and ``removed``, insert those of ``sessions``' events
    (one statement per table; the caller holds the tenant's lock)."""
    ids = sorted(set(sessions) | set(removed))
    if not ids:
        return
    for statement in _DELETES:
        await conn.execute(statement, {"tenant": tenant_id, "ids": ids})
    facts = ContentFacts()
    for session_id in sorted(sessions):
        derived = content_facts(session_id, sessions[session_id])
        facts.sessions.extend(derived.sessions)
        facts.conversations.extend(derived.conversations)
        facts.items.extend(derived.items)
    for table, rows in (("content_sessions", facts.sessions), ("content_conversations", facts.conversations),
                        ("content_session_items", facts.items)):
        if rows:
            values = [astuple(row) for row in rows]
            names = _columns(_TABLES[table])
            await conn.execute(_INSERTS[table], {"tenant": tenant_id, **{
                name: [value[i] for value in values] for i, name in enumerate(names)}})


# --- the stored bot side -----------------------------------------------------------------------

# One marked day's content sessions whose stored side is not their session's (any more).
BOT_RESYNC = (
    "UPDATE content_sessions c SET bot = NOT c.bot WHERE c.tenant_id = :tenant "
    "AND c.started_at >= :start AND c.started_at < :end AND c.bot <> coalesce((SELECT s.excluded "
    "FROM sessions s WHERE s.tenant_id = c.tenant_id AND s.id = c.session_id), false)"
)


async def _nothing(conn: AsyncConnection, claim: Claim) -> None:
    """The session upkeep writes the facts (it knows which sessions it re-derived), before the consumers."""


async def _verify(conn: AsyncConnection, tenant_id: int) -> list[Difference]:
    found = [await compare(
        conn, tenant_id, "content_sessions",
        "SELECT c.session_id, c.content_id, coalesce(s.excluded, false) FROM content_sessions c "
        "LEFT JOIN sessions s ON s.tenant_id = c.tenant_id AND s.id = c.session_id "
        "WHERE c.tenant_id = :tenant",
        "SELECT session_id, content_id, bot FROM content_sessions WHERE tenant_id = :tenant"),
        await compare(
        conn, tenant_id, "content_days",
        f"SELECT (started_at AT TIME ZONE (SELECT timezone FROM kept))::date, bot, content_id, {DAY_SUMS} "
        "FROM content_sessions WHERE tenant_id = :tenant GROUP BY 1, 2, 3",
        "SELECT day, bot, content_id, sessions, viewing_sessions, viewing_engaged_ms, engaged_ms, "
        "converting_sessions, time_to_conversion_seconds FROM content_days WHERE tenant_id = :tenant")]
    return [d for d in found if d]


CONTENT_SESSIONS = Consumer("content_sessions", _nothing, _verify, day_resyncs=(BOT_RESYNC,),
                            tables=("content_sessions", "content_days"))
"""The content sessions in the registry (analytics.rollups.registry): their stored bot side set again
by the day corrections; both it and their per-day sums (``content_days``, kept by triggers on
``content_sessions``, migration 0043) checked by ``analytics rollups verify``. The facts themselves
are written by the session upkeep (:func:`replace_content_facts`)."""
