"""Export jobs in the graph: ``startExport`` and ``tenant { exportJob(id) }`` (secret key).

For exports too large to hold an HTTP response open: a worker writes the file (progress in
``bytes``); when ``status`` is DONE, ``downloadUrl`` serves it with the same secret key.
"""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, datetime, timedelta

import strawberry

from analytics import export_jobs
from analytics.errors import InvalidArgument
from analytics.export import Dataset, ExportFormat, ExportRequest
from api.common import Period, RangeInput
from api.context import AppInfo
from api.errors import BadInput
from workers.queue import enqueue_export

REQUEUE_AFTER = timedelta(seconds=30)  # a job still queued this long is queued again when polled

strawberry.enum(Dataset, name="ExportDataset", description="events (raw), hourly and daily (counters), "
                                                           "daily_users.")
strawberry.enum(ExportFormat, name="ExportFormat")


@strawberry.enum(description="QUEUED, RUNNING, then DONE (download it) or FAILED (see error).")
class ExportStatus(enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


@strawberry.type(description="A file export written by a worker.")
class ExportJob:
    id: strawberry.ID
    dataset: Dataset
    format: ExportFormat
    period: Period
    include_bots: bool = strawberry.field(description="Whether the rollups' bot rows are exported too "
                                                      "(their bot column says which).")
    status: ExportStatus
    bytes: float = strawberry.field(description="Bytes written so far (the file size once DONE).")
    rows: float | None = strawberry.field(description="Rows exported, once DONE.")
    error: str | None
    created_at: datetime
    finished_at: datetime | None
    download_url: str | None = strawberry.field(
        description="Path of the file (GET with the secret key), once DONE.")

    @classmethod
    def of(cls, job: export_jobs.ExportJob) -> ExportJob:
        done = job.status == "done"
        return cls(id=strawberry.ID(str(job.id)), dataset=job.dataset, format=job.format,
                   period=Period.of(job.period), include_bots=job.include_bots,
                   status=ExportStatus(job.status), bytes=job.bytes, rows=job.rows, error=job.error,
                   created_at=job.created_at, finished_at=job.finished_at,
                   download_url=f"/export/jobs/{job.id}" if done else None)


async def export_job(info: AppInfo, id: strawberry.ID) -> ExportJob | None:
    try:
        job_id = uuid.UUID(str(id))
    except ValueError:
        return None
    async with info.context.read() as conn:
        job = await export_jobs.get_job(conn, job_id)
    if job is None:
        return None
    if job.status == "queued" and datetime.now(UTC) - job.created_at > REQUEUE_AFTER:
        # A flushed Redis lost the job: queue it again (a no-op while it is still queued).
        await enqueue_export(info.context.resources.redis, job.tenant_id, str(job.id))
    return ExportJob.of(job)


@strawberry.type
class ExportMutation:
    @strawberry.mutation(description="Export a range to a file in the background (secret key); poll "
                                     "tenant { exportJob(id) } for progress, then download it. The "
                                     "rollups (hourly, daily, daily_users) hold human rows only unless "
                                     "includeBots is true; events are every raw event.")
    async def start_export(self, info: AppInfo, dataset: Dataset, format: ExportFormat,
                           range: RangeInput, include_bots: bool = False) -> ExportJob:
        principal = info.context.require_secret()
        try:
            request = ExportRequest(principal.tenant_id, dataset, format, range.resolve(principal.timezone),
                                    include_bots)
        except InvalidArgument as exc:
            raise BadInput(exc.field, exc.message) from None
        async with info.context.write() as conn:
            job = await export_jobs.create_job(conn, request)
        await enqueue_export(info.context.resources.redis, principal.tenant_id, str(job.id))
        return ExportJob.of(job)
