"""Content facts inside the rollup transaction: replace the rows of every session the session upkeep
re-derived (or removed) with a fresh derivation from the session's events.

Rows carry no bot flag: reads join ``sessions`` and keep ``NOT excluded`` unless bots are asked
for, so a session flagged later (scorer, bot rule) needs no rewrite here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import astuple, fields
from uuid import UUID

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncConnection

from analytics.content.derive import ContentFacts, ContentSession, Conversation, SessionItem, content_facts
from analytics.rollups.aggregate import RawEvent

_TABLES = {"content_sessions": ContentSession, "content_conversations": Conversation,
           "content_session_items": SessionItem}
_SQL_TYPES = {"session_id": "uuid", "started_at": "timestamptz", "first_view_at": "timestamptz",
              "first_conversion_at": "timestamptz", "last_at": "timestamptz", "engaged_ms": "bigint",
              "messages": "integer", "turns": "integer", "count": "integer", "converted": "boolean"}


def _columns(row_type: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(row_type))


_DELETES = [text(f"DELETE FROM {table} WHERE tenant_id = :tenant AND session_id = ANY(:ids)")
            for table in _TABLES]


def _insert(table: str, row_type: type) -> TextClause:
    names = _columns(row_type)
    arrays = ", ".join(f"CAST(:{c} AS {_SQL_TYPES.get(c, 'text')}[])" for c in names)
    return text(f"INSERT INTO {table} (tenant_id, {', '.join(names)}) "
                f"SELECT :tenant, * FROM unnest({arrays})")


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
