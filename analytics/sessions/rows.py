"""Writing session rows inside the rollup transaction: the facts of each session with its fold (the
state a later batch appends to, analytics.sessions.fold), and each event's session key."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from analytics.rollups.aggregate import RawEvent
from analytics.sessions.derive import SessionFacts

FACT_COLUMNS = tuple(f.name for f in fields(SessionFacts))
_SQL_TYPES = {"id": "uuid", "started_at": "timestamptz", "last_seen_at": "timestamptz",
              "request_count": "integer", "page_views": "integer", "unique_pages": "integer",
              "engagement_events": "integer", "engaged_ms": "bigint", "zero_dwell_page_views": "integer",
              "interval_stddev_ms": "double precision", "is_bot": "boolean", "is_scanner": "boolean",
              "agent_reasons": "jsonb", "reading_patterns": "jsonb", "ip_address": "inet",
              "derivation": "smallint", "fold": "jsonb"}
_COLUMNS = (*FACT_COLUMNS, "fold")
UPSERT = text(
    f"""
    INSERT INTO sessions (tenant_id, {", ".join(_COLUMNS)})
    SELECT :tenant, * FROM unnest({", ".join(
        f"CAST(:{c} AS {_SQL_TYPES.get(c, 'text')}[])" for c in _COLUMNS)})
    ON CONFLICT (tenant_id, id) DO UPDATE SET
        {", ".join(f"{c} = EXCLUDED.{c}" for c in _COLUMNS if c != "id")},
        updated_at = clock_timestamp(), scored_at = NULL
    """
)
SET_KEYS = text(
    """
    UPDATE events e SET session_key = k.key
    FROM unnest(CAST(:ids AS uuid[]), CAST(:ats AS timestamptz[]), CAST(:keys AS uuid[]))
        AS k(id, occurred_at, key)
    WHERE e.tenant_id = :tenant AND e.occurred_at = k.occurred_at AND e.id = k.id
    """
)


@dataclass(frozen=True)
class Upkeep:
    """What one batch did to sessions: the bot flag of each batch event, and the counts."""

    bot_events: frozenset[uuid.UUID]
    sessions_written: int
    sessions_removed: int
    dirty_days: tuple[date, ...]

    def __or__(self, other: Upkeep) -> Upkeep:
        return Upkeep(self.bot_events | other.bot_events, self.sessions_written + other.sessions_written,
                      self.sessions_removed + other.sessions_removed,
                      tuple(sorted(set(self.dirty_days) | set(other.dirty_days))))


NO_UPKEEP = Upkeep(frozenset(), 0, 0, ())


async def write_sessions(conn: AsyncConnection, tenant_id: int,
                         sessions: Sequence[tuple[SessionFacts, dict[str, Any] | None]]) -> None:
    """Upsert the sessions (facts and fold) in one statement, in id order."""
    if not sessions:
        return
    ordered = sorted(sessions, key=lambda pair: pair[0].id)
    columns: dict[str, list[object]] = {
        name: [_param(name, getattr(facts, name)) for facts, _ in ordered] for name in FACT_COLUMNS}
    columns["fold"] = [None if fold is None else json.dumps(fold) for _, fold in ordered]
    await conn.execute(UPSERT, {"tenant": tenant_id, **columns})


async def set_session_keys(conn: AsyncConnection, tenant_id: int,
                           moved: Sequence[tuple[RawEvent, uuid.UUID]]) -> None:
    """Point each event at its session."""
    if moved:
        await conn.execute(SET_KEYS, {"tenant": tenant_id, "ids": [e.id for e, _ in moved],
                                      "ats": [e.occurred_at for e, _ in moved],
                                      "keys": [k for _, k in moved]})


def _param(name: str, value: object) -> object:
    return json.dumps(value) if _SQL_TYPES.get(name) == "jsonb" else value
