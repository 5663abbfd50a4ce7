"""Erasure (GDPR article 17): delete everything stored about one person and correct the counters.

``request_erasure`` records the request (an ``erasures`` row: the job and its audit record); a
worker runs ``run_erasure``, one transaction under the tenant's lock (rollups, session scoring and
corrections wait), all or nothing: a worker killed mid-way leaves nothing half-erased, and the
sweeper queues the job again. The transaction
- deletes the person's raw events (analytics.users.subjects says which);
- re-derives the sessions those events belonged to from the events that remain (the session upkeep
  of the rollup): sessions left with no event go, with their content facts; a session shared with
  other people's events is rewritten without the person; sessions of days whose raw events
  retention removed go when they name the person;
- runs every registered consumer's ``erase`` statements for each of the person's user keys (their
  distinct-user rows, user days, and whatever per-person rows later consumers declare), on every
  day, including days whose raw events retention already removed;
- recomputes the affected local days of every day-split consumer from the raw events that remain
  (analytics.sessions.correction), so counters equal a recomputation. Days before the tenant's
  ``raw_events_from`` cannot be recomputed: there the person's past contributions stay inside the
  counters as anonymous counts, while their per-person rows are deleted;
- deletes the person's access exports (rows here, files after the commit);
- clears the id from the erasure row (and from failed earlier requests for the person), stores the
  counts. The audit record keeps who asked (key id and name), when, and how many rows of each kind:
  no personal data. Erasing twice is harmless: the second run finds nothing and counts zeros.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from analytics.content.upkeep import replace_content_facts
from analytics.db import CURRENT_TENANT, lock_tenant, tenant_transaction
from analytics.rollups.aggregate import RAW_EVENT_COLUMNS, RawEvent
from analytics.rollups.registry import CONSUMERS
from analytics.sessions.correction import correct_days
from analytics.sessions.exemptions import usable_exemptions
from analytics.sessions.rules import usable_patterns
from analytics.sessions.upkeep import keep_sessions
from analytics.users.subjects import (
    NAMED_EVENTS,
    UNNAMED_SESSION_EVENTS,
    Identity,
    Subject,
    SubjectKind,
    identity_of,
    person_sessions,
)

log = logging.getLogger(__name__)

CONTENT_TABLES = ("content_sessions", "content_conversations", "content_session_items")


@dataclass(frozen=True)
class Erasure:
    """An erasure request as the audit sees it (the person's id is never read back)."""

    id: uuid.UUID
    subject_kind: SubjectKind
    status: str
    counts: dict[str, int]
    requested_by_key_id: int | None
    requested_by_key_name: str | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


_COLUMNS = ("id, subject_kind, status, counts, requested_by_key_id, requested_by_key_name, error, "
            "created_at, started_at, finished_at")


def _erasure(row: Any) -> Erasure:
    return Erasure(row.id, SubjectKind(row.subject_kind), row.status, dict(row.counts),
                   row.requested_by_key_id, row.requested_by_key_name, row.error, row.created_at,
                   row.started_at, row.finished_at)


async def request_erasure(conn: AsyncConnection, *, tenant_id: int, subject: Subject, key_id: int) -> Erasure:
    """Record an erasure request by the key ``key_id`` (its name is copied: the audit outlives it)."""
    row = (await conn.execute(text(
        "INSERT INTO erasures (tenant_id, subject_kind, subject, requested_by_key_id, requested_by_key_name) "
        "VALUES (:tenant, :kind, :subject, :key, (SELECT name FROM api_keys WHERE tenant_id = :tenant "
        f"AND id = :key)) RETURNING {_COLUMNS}"),
        {"tenant": tenant_id, "kind": subject.kind.value, "subject": subject.id, "key": key_id})).one()
    return _erasure(row)


async def get_erasure(conn: AsyncConnection, erasure_id: uuid.UUID) -> Erasure | None:
    row = (await conn.execute(text(f"SELECT {_COLUMNS} FROM erasures WHERE {CURRENT_TENANT} AND id = :id"),
                              {"id": erasure_id})).one_or_none()
    return _erasure(row) if row else None


async def list_erasures(conn: AsyncConnection, *, limit: int) -> list[Erasure]:
    """The latest erasures first."""
    rows = await conn.execute(text(f"SELECT {_COLUMNS} FROM erasures WHERE {CURRENT_TENANT} "
                                   "ORDER BY created_at DESC, id LIMIT :limit"), {"limit": limit})
    return [_erasure(row) for row in rows]


_TENANT = text("SELECT timezone, scanner_exempt_rules, ARRAY(SELECT pattern FROM bot_rules "
               "WHERE tenant_id = :tenant ORDER BY id) AS patterns FROM tenants WHERE id = :tenant")
_DELETE_NAMED = text(f"DELETE FROM events WHERE {NAMED_EVENTS} RETURNING {RAW_EVENT_COLUMNS}")
_DELETE_UNNAMED = text(f"DELETE FROM events WHERE {UNNAMED_SESSION_EVENTS} RETURNING {RAW_EVENT_COLUMNS}")
_CONTENT_ROWS = text("SELECT " + " + ".join(
    f"(SELECT count(*) FROM {table} WHERE tenant_id = :tenant "
    "AND session_id = ANY(CAST(:sessions AS uuid[])))" for table in CONTENT_TABLES))
# Sessions naming the person that ended before the tenant's raw events begin: no event is left to
# re-derive them from.
_DELETE_EXPIRED_SESSIONS = text(
    "DELETE FROM sessions WHERE tenant_id = :tenant AND id = ANY(CAST(:sessions AS uuid[])) "
    "AND last_seen_at < (SELECT raw_events_from FROM tenants WHERE id = :tenant) RETURNING id")
_TABLE = re.compile(r"^\s*DELETE\s+FROM\s+(\w+)", re.IGNORECASE)
# Each consumer's erase statements with the table each one names (the count's kind).
ERASE_STATEMENTS = [(m.group(1) if (m := _TABLE.match(statement)) else consumer.name, text(statement))
                    for consumer in CONSUMERS for statement in consumer.erase]


async def erase_person(conn: AsyncConnection, tenant_id: int, identity: Identity) -> dict[str, int]:
    """Delete the person's rows and correct the days they touched (the caller holds the tenant's
    lock, in one transaction). Returns rows deleted per kind."""
    tenant = (await conn.execute(_TENANT, {"tenant": tenant_id})).one()
    tz = ZoneInfo(tenant.timezone)
    params = {"tenant": tenant_id, **identity.params}
    sessions = await person_sessions(conn, tenant_id, identity)
    in_sessions = {"tenant": tenant_id, "sessions": sessions}
    content_before = (await conn.execute(_CONTENT_ROWS, in_sessions)).scalar_one()
    deleted = [RawEvent(*row) for row in await conn.execute(_DELETE_NAMED, params)]
    deleted += [RawEvent(*row) for row in await conn.execute(_DELETE_UNNAMED, {**params, **in_sessions})]
    upkeep = await keep_sessions(conn, tenant_id, deleted, tz, usable_patterns(tenant.patterns),
                                 usable_exemptions(tenant.scanner_exempt_rules))
    expired = [row.id for row in await conn.execute(_DELETE_EXPIRED_SESSIONS, in_sessions)]
    await replace_content_facts(conn, tenant_id, {}, expired)
    content_after = (await conn.execute(_CONTENT_ROWS, in_sessions)).scalar_one()
    counts = {"events": len(deleted), "sessions": upkeep.sessions_removed + len(expired),
              "content_facts": int(content_before) - int(content_after)}
    for table, statement in ERASE_STATEMENTS:
        for key in identity.user_keys:
            removed = (await conn.execute(statement, {"tenant": tenant_id, "user_key": key})).rowcount
            counts[table] = counts.get(table, 0) + int(removed or 0)
    days: set[date] = {e.occurred_at.astimezone(tz).date() for e in deleted} | set(upkeep.dirty_days)
    counts["days_corrected"] = len(await correct_days(conn, tenant_id, sorted(days), tz))
    return counts


_CLAIM = text(f"SELECT subject_kind, subject, status FROM erasures WHERE {CURRENT_TENANT} AND id = :id "
              "FOR UPDATE")
_DELETE_EXPORTS = text(f"DELETE FROM user_exports WHERE {CURRENT_TENANT} AND subject_kind = :kind "
                       "AND subject = ANY(CAST(:subjects AS text[])) RETURNING id")
_FORGET = text(f"UPDATE erasures SET subject = NULL WHERE {CURRENT_TENANT} AND subject_kind = :kind "
               "AND subject = ANY(CAST(:subjects AS text[])) AND status = 'failed'")
_DONE = text(f"UPDATE erasures SET status = 'done', subject = NULL, counts = CAST(:counts AS jsonb), "
             f"error = NULL, finished_at = now() WHERE {CURRENT_TENANT} AND id = :id")


def user_export_file(data_dir: Path, tenant_id: int, export_id: uuid.UUID) -> Path:
    return data_dir / "exports" / str(tenant_id) / f"user-{export_id}.json"


async def _set(engine: AsyncEngine, tenant_id: int, erasure_id: uuid.UUID, assignments: str,
               **values: object) -> None:
    async with tenant_transaction(engine, tenant_id) as conn:
        await conn.execute(text(f"UPDATE erasures SET {assignments} WHERE {CURRENT_TENANT} AND id = :id"),
                           {"id": erasure_id, **values})


async def run_erasure(engine: AsyncEngine, tenant_id: int, erasure_id: uuid.UUID,
                      data_dir: Path) -> Erasure | None:
    """Erase the person of a queued (or interrupted) request; a finished one is left as it is."""
    async with tenant_transaction(engine, tenant_id) as conn:
        job = await get_erasure(conn, erasure_id)
    if job is None or job.status == "done":
        return job
    await _set(engine, tenant_id, erasure_id, "status = 'running', started_at = now(), error = NULL")
    try:
        async with tenant_transaction(engine, tenant_id) as conn:
            await lock_tenant(conn, tenant_id)
            row = (await conn.execute(_CLAIM, {"id": erasure_id})).one()
            if row.status == "done" or row.subject is None:
                return await get_erasure(conn, erasure_id)
            subject = Subject(SubjectKind(row.subject_kind), row.subject)
            identity = await identity_of(conn, tenant_id, subject)
            counts = await erase_person(conn, tenant_id, identity)
            exports: list[uuid.UUID] = []
            for kind, ids in ((SubjectKind.USER, [identity.user_id] if identity.user_id else []),
                              (SubjectKind.ANONYMOUS, list(identity.anonymous_ids))):
                if ids:
                    exports += [r.id for r in await conn.execute(
                        _DELETE_EXPORTS, {"kind": kind.value, "subjects": ids})]
                    await conn.execute(_FORGET, {"kind": kind.value, "subjects": ids})
            counts["user_exports"] = len(exports)
            await conn.execute(_DONE, {"id": erasure_id, "counts": json.dumps(counts)})
    except Exception as exc:
        log.exception("erasure %s of tenant %s failed", erasure_id, tenant_id)
        await _set(engine, tenant_id, erasure_id, "status = 'failed', error = :error, finished_at = now()",
                   error=f"{type(exc).__name__}: the erasure failed and changed nothing; see the worker log")
        return None
    for export_id in exports:
        path = user_export_file(data_dir, tenant_id, export_id)
        path.unlink(missing_ok=True)
        path.with_name(path.name + ".part").unlink(missing_ok=True)
    log.info("erasure %s of tenant %s: %s", erasure_id, tenant_id,
             " ".join(f"{kind}={rows}" for kind, rows in sorted(counts.items())))
    async with tenant_transaction(engine, tenant_id) as conn:
        return await get_erasure(conn, erasure_id)


__all__ = ["Erasure", "erase_person", "get_erasure", "list_erasures", "request_erasure", "run_erasure",
           "user_export_file"]
