"""Access (GDPR article 15): a person's stored data as one JSON file, written by a worker.

``request_export`` records the request (a ``user_exports`` row, which keeps the person's id until
the export expires or the person is erased); ``run_export`` writes
``exports/<tenant>/user-<id>.json`` (``.part`` until complete, so a download never sees half a
file) with progress in ``bytes``. The file holds the same rows erasure would delete
(analytics.users.subjects): raw events, sessions, content facts, and the per-person rows of every
rollup consumer (read through its ``erase`` statements, ``DELETE FROM <table> WHERE ...``), each
row as PostgreSQL renders it in JSON, without ``tenant_id``.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from analytics.db import CURRENT_TENANT, tenant_transaction
from analytics.rollups.registry import CONSUMERS
from analytics.users.erasure import CONTENT_TABLES, user_export_file
from analytics.users.subjects import (
    NAMED_EVENTS,
    UNNAMED_SESSION_EVENTS,
    Subject,
    SubjectKind,
    identity_of,
    person_sessions,
)

log = logging.getLogger(__name__)

EXPIRES_AFTER = timedelta(days=7)  # the file can be downloaded this long after the request


@dataclass(frozen=True)
class UserExport:
    id: uuid.UUID
    tenant_id: int
    subject_kind: SubjectKind
    status: str
    bytes: int
    rows: int | None
    error: str | None
    created_at: datetime
    finished_at: datetime | None
    expires_at: datetime

    @property
    def expired(self) -> bool:
        return datetime.now(UTC) >= self.expires_at


_COLUMNS = "id, tenant_id, subject_kind, status, bytes, rows, error, created_at, finished_at, expires_at"


def _export(row: Any) -> UserExport:
    return UserExport(row.id, row.tenant_id, SubjectKind(row.subject_kind), row.status, row.bytes, row.rows,
                      row.error, row.created_at, row.finished_at, row.expires_at)


async def request_export(conn: AsyncConnection, *, tenant_id: int, subject: Subject,
                         key_id: int) -> UserExport:
    row = (await conn.execute(text(
        "INSERT INTO user_exports (tenant_id, subject_kind, subject, requested_by_key_id, expires_at) "
        "VALUES (:tenant, :kind, :subject, :key, now() + CAST(:expiry AS interval)) "
        f"RETURNING {_COLUMNS}"),
        {"tenant": tenant_id, "kind": subject.kind.value, "subject": subject.id, "key": key_id,
         "expiry": EXPIRES_AFTER})).one()
    return _export(row)


_GET = text(f"SELECT {_COLUMNS} FROM user_exports WHERE {CURRENT_TENANT} AND id = :id")
_SUBJECT = text(f"SELECT subject_kind, subject FROM user_exports WHERE {CURRENT_TENANT} AND id = :id")


async def get_export(conn: AsyncConnection, export_id: uuid.UUID) -> UserExport | None:
    row = (await conn.execute(_GET, {"id": export_id})).one_or_none()
    return _export(row) if row else None


def _rows(source: str, order: str = "") -> str:
    """A JSON array (as text) of ``source``'s rows (alias ``t``), without the tenant id."""
    return f"SELECT coalesce(jsonb_agg(to_jsonb(t) - 'tenant_id'{order}), '[]')::text, count(*) FROM {source}"


_PER_PERSON = [(m.group(1), re.sub(r"^\s*DELETE\s+FROM\s+(\w+)", r"\1 t", statement, flags=re.IGNORECASE))
               for consumer in CONSUMERS for statement in consumer.erase
               if (m := re.match(r"^\s*DELETE\s+FROM\s+(\w+)", statement, re.IGNORECASE))]


def _sections(sessions: list[object]) -> Iterator[tuple[str, str, dict[str, object]]]:
    """(name, SQL of a JSON array and its row count, extra parameters) of every part of the file."""
    yield "events", _rows(f"events t WHERE {NAMED_EVENTS} OR ({UNNAMED_SESSION_EVENTS})",
                          " ORDER BY t.occurred_at, t.id"), {"sessions": sessions}
    yield "sessions", _rows("sessions t WHERE tenant_id = :tenant AND id = ANY(CAST(:sessions AS uuid[]))",
                            " ORDER BY t.started_at"), {"sessions": sessions}
    for table in CONTENT_TABLES:
        yield table, _rows(f"{table} t WHERE tenant_id = :tenant "
                           "AND session_id = ANY(CAST(:sessions AS uuid[]))"), {"sessions": sessions}


async def _write(conn: AsyncConnection, tenant_id: int, subject: Subject, out: Any) -> int:
    identity = await identity_of(conn, tenant_id, subject)
    sessions = await person_sessions(conn, tenant_id, identity)
    params: dict[str, object] = {"tenant": tenant_id, **identity.params}
    head = {"subject": {"kind": subject.kind.value, "id": subject.id},
            "anonymousIds": list(identity.anonymous_ids),
            "generatedAt": datetime.now(UTC).isoformat()}
    out.write(json.dumps(head)[:-1].encode())
    rows = 0
    for name, sql, extra in _sections(sessions):
        array, count = (await conn.execute(text(sql), {**params, **extra})).one()
        out.write(f", {json.dumps(name)}: {array}".encode())
        rows += int(count)
    per_person: dict[str, list[str]] = {}
    for table, source in _PER_PERSON:
        for key in identity.user_keys:
            found = await conn.execute(text(_rows(source)), {"tenant": tenant_id, "user_key": key})
            array, count = found.one()
            if count:
                per_person.setdefault(table, []).append(array[1:-1])
                rows += int(count)
    for table, parts in sorted(per_person.items()):
        out.write(f", {json.dumps(table)}: [{', '.join(parts)}]".encode())
    out.write(b"}\n")
    return rows


async def _update(engine: AsyncEngine, job: UserExport, assignments: str, **values: object) -> None:
    async with tenant_transaction(engine, job.tenant_id) as conn:
        await conn.execute(text(f"UPDATE user_exports SET {assignments} WHERE {CURRENT_TENANT} AND id = :id"),
                           {"id": job.id, **values})


async def run_export(engine: AsyncEngine, tenant_id: int, export_id: uuid.UUID,
                     data_dir: Path) -> UserExport | None:
    """Write the person's file (read in one transaction); the row ends done or failed."""
    async with tenant_transaction(engine, tenant_id) as conn:
        job = await get_export(conn, export_id)
    if job is None or job.status == "done":
        return job
    await _update(engine, job, "status = 'running', started_at = now(), bytes = 0, error = NULL")
    target = user_export_file(data_dir, tenant_id, export_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    try:
        async with tenant_transaction(engine, tenant_id) as conn:
            row = (await conn.execute(_SUBJECT, {"id": export_id})).one()
            with partial.open("wb") as out:
                rows = await _write(conn, tenant_id, Subject(SubjectKind(row.subject_kind), row.subject), out)
        written = partial.stat().st_size
        partial.replace(target)
    except Exception as exc:
        log.exception("user export %s of tenant %s failed", export_id, tenant_id)
        partial.unlink(missing_ok=True)
        await _update(engine, job, "status = 'failed', error = :error, finished_at = now()",
                      error=f"{type(exc).__name__}: the export failed; see the worker log")
        return None
    await _update(engine, job, "status = 'done', rows = :rows, bytes = :bytes, finished_at = now()",
                  rows=rows, bytes=written)
    log.info("user export %s of tenant %s: %s rows, %d bytes", export_id, tenant_id, rows, written)
    async with tenant_transaction(engine, tenant_id) as conn:
        return await get_export(conn, export_id)


__all__ = ["UserExport", "get_export", "request_export", "run_export"]
