"""Export jobs: the same export as ``/export/...``, written by a worker to a file, with progress.

A job row (per tenant, row-level security) records what to export (the period resolved when the
job was asked for, so ``since: "7d"`` means the same seven days however late the worker runs), its
status (queued → running → done | failed), bytes written so far, and rows when done. The file is
written as ``<id>.<format>.part`` and renamed when complete, so a download never sees half a file;
a worker killed mid-job leaves the row ``running`` and the job is retried by arq from the start.
API and workers must share ``ANALYTICS_DATA_DIR`` (``exports/<tenant>/``).
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from analytics.db import CURRENT_TENANT, tenant_transaction
from analytics.export import Dataset, ExportFormat, ExportRequest, ExportStream
from analytics.periods import Period

log = logging.getLogger(__name__)

PROGRESS_SECONDS = 1.0  # how often a running job writes its byte count


@dataclass(frozen=True)
class ExportJob:
    id: uuid.UUID
    tenant_id: int
    dataset: Dataset
    format: ExportFormat
    period: Period
    include_bots: bool
    status: str
    bytes: int
    rows: int | None
    error: str | None
    created_at: datetime
    finished_at: datetime | None

    @property
    def request(self) -> ExportRequest:
        return ExportRequest(self.tenant_id, self.dataset, self.format, self.period, self.include_bots)


_COLUMNS = ("id, tenant_id, dataset, format, timezone, period_start, period_end, first_day, last_day, "
            "include_bots, status, bytes, rows, error, created_at, finished_at")


def _job(row: Any) -> ExportJob:
    days: tuple[date, date] | None = (row.first_day, row.last_day) if row.first_day else None
    return ExportJob(row.id, row.tenant_id, Dataset(row.dataset), ExportFormat(row.format),
                     Period(row.period_start, row.period_end, ZoneInfo(row.timezone), days),
                     row.include_bots, row.status,
                     row.bytes, row.rows, row.error, row.created_at, row.finished_at)


async def create_job(conn: AsyncConnection, request: ExportRequest) -> ExportJob:
    period = request.period
    row = (await conn.execute(text(
        "INSERT INTO export_jobs (tenant_id, dataset, format, timezone, period_start, period_end, "
        "first_day, last_day, include_bots) "
        "VALUES (:tenant, :dataset, :format, :tz, :start, :end, :first, :last, :include_bots) "
        f"RETURNING {_COLUMNS}"),
        {"tenant": request.tenant_id, "dataset": request.dataset.value, "format": request.format.value,
         "tz": period.tz.key, "start": period.start, "end": period.end,
         "first": period.days[0] if period.days else None,
         "last": period.days[1] if period.days else None, "include_bots": request.include_bots})).one()
    return _job(row)


async def get_job(conn: AsyncConnection, job_id: uuid.UUID) -> ExportJob | None:
    row = (await conn.execute(text(f"SELECT {_COLUMNS} FROM export_jobs WHERE {CURRENT_TENANT} AND id = :id"),
                              {"id": job_id})).one_or_none()
    return _job(row) if row else None


def job_file(data_dir: Path, job: ExportJob) -> Path:
    return data_dir / "exports" / str(job.tenant_id) / f"{job.id}.{job.format.value}"


async def _update(engine: AsyncEngine, job: ExportJob, assignments: str, **values: object) -> None:
    async with tenant_transaction(engine, job.tenant_id) as conn:
        await conn.execute(text(f"UPDATE export_jobs SET {assignments} WHERE {CURRENT_TENANT} AND id = :id"),
                           {"id": job.id, **values})


async def run_job(engine: AsyncEngine, tenant_id: int, job_id: uuid.UUID, data_dir: Path) -> ExportJob | None:
    """Write the export to its file, reporting bytes as it goes; the job row ends done or failed."""
    async with tenant_transaction(engine, tenant_id) as conn:
        job = await get_job(conn, job_id)
    if job is None or job.status == "done":
        return job
    await _update(engine, job, "status = 'running', started_at = now(), bytes = 0, error = NULL")
    target = job_file(data_dir, job)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    stream = ExportStream(engine, job.request)
    written, reported = 0, time.monotonic()
    try:
        await stream.start()
        with partial.open("wb") as out:
            async for chunk in stream:
                out.write(chunk)
                written += len(chunk)
                if time.monotonic() - reported >= PROGRESS_SECONDS:
                    await _update(engine, job, "bytes = :bytes", bytes=written)
                    reported = time.monotonic()
        partial.replace(target)
    except Exception as exc:
        log.exception("export job %s of tenant %s failed", job.id, tenant_id)
        partial.unlink(missing_ok=True)
        await _update(engine, job, "status = 'failed', error = :error, finished_at = now(), bytes = :bytes",
                      error=f"{type(exc).__name__}: the export failed; see the worker log", bytes=written)
        return None
    finally:
        await stream.aclose()
    await _update(engine, job, "status = 'done', rows = :rows, bytes = :bytes, finished_at = now()",
                  rows=stream.rows, bytes=written)
    log.info("export job %s of tenant %s: %s rows, %d bytes", job.id, tenant_id, stream.rows, written)
    async with tenant_transaction(engine, tenant_id) as conn:
        return await get_job(conn, job_id)


__all__ = ["ExportJob", "create_job", "get_job", "job_file", "run_job"]
