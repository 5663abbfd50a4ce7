"""``eraseUser`` and ``exportUser`` (secret key) and their jobs under ``tenant { erasure erasures
userExport }``: GDPR articles 17 and 15 as worker jobs (analytics.users.erasure, .access)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import strawberry

from analytics.errors import InvalidArgument
from analytics.users import access, erasure
from analytics.users.subjects import Subject, SubjectKind, subject_of
from api.context import AppInfo
from api.errors import BadInput
from api.export_jobs import ExportStatus
from workers.queue import enqueue_erasure, enqueue_user_export

REQUEUE_AFTER = timedelta(seconds=30)  # a job still queued this long is queued again when polled
MAX_ERASURES = 200

strawberry.enum(SubjectKind, name="PersonIdKind", description="Which id named the person: USER (userId) or "
                                                             "ANONYMOUS (anonymousId).")


@strawberry.type(description="Rows an erasure deleted, of one kind (events, sessions, content_facts, "
                             "each per-person table such as daily_users and user_days, user_exports), "
                             "or days_corrected: local days whose counters were recomputed.")
class ErasureCount:
    kind: str
    rows: int


@strawberry.type(description="An erasure request and its audit record. The person's id is held only until "
                             "the job is done and never shown here.")
class Erasure:
    id: strawberry.ID
    id_kind: SubjectKind = strawberry.field(description="Whether a userId or an anonymousId was erased.")
    status: ExportStatus
    counts: list[ErasureCount] = strawberry.field(description="Rows deleted per kind, once DONE.")
    requested_by_key_id: strawberry.ID | None = strawberry.field(description="The secret key that asked.")
    requested_by_key_name: str | None = strawberry.field(description="Its name when it asked.")
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, job: erasure.Erasure) -> Erasure:
        key = job.requested_by_key_id
        return cls(id=strawberry.ID(str(job.id)), id_kind=job.subject_kind, status=ExportStatus(job.status),
                   counts=[ErasureCount(kind=k, rows=v) for k, v in sorted(job.counts.items())],
                   requested_by_key_id=strawberry.ID(str(key)) if key is not None else None,
                   requested_by_key_name=job.requested_by_key_name, error=job.error,
                   created_at=job.created_at, started_at=job.started_at, finished_at=job.finished_at)


@strawberry.type(description="A person's data as one JSON file (GDPR article 15), written by a worker.")
class UserExport:
    id: strawberry.ID
    id_kind: SubjectKind
    status: ExportStatus
    bytes: float = strawberry.field(description="The file size once DONE.")
    rows: float | None = strawberry.field(description="Rows in the file, once DONE.")
    error: str | None
    created_at: datetime
    finished_at: datetime | None
    expires_at: datetime = strawberry.field(description="The file can be downloaded until then.")
    download_url: str | None = strawberry.field(
        description="Path of the file (GET with the secret key), once DONE and until it expires.")

    @classmethod
    def of(cls, job: access.UserExport) -> UserExport:
        ready = job.status == "done" and not job.expired
        return cls(id=strawberry.ID(str(job.id)), id_kind=job.subject_kind, status=ExportStatus(job.status),
                   bytes=job.bytes, rows=job.rows, error=job.error, created_at=job.created_at,
                   finished_at=job.finished_at, expires_at=job.expires_at,
                   download_url=f"/export/users/{job.id}" if ready else None)


def _uuid(id: strawberry.ID) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(id))
    except ValueError:
        return None


def _stale(created_at: datetime, status: str) -> bool:
    return status == "queued" and datetime.now(UTC) - created_at > REQUEUE_AFTER


async def erasure_by_id(info: AppInfo, id: strawberry.ID) -> Erasure | None:
    job_id = _uuid(id)
    if job_id is None:
        return None
    async with info.context.read() as conn:
        job = await erasure.get_erasure(conn, job_id)
    if job is None:
        return None
    if _stale(job.created_at, job.status):  # a flushed Redis lost it (the sweeper would too)
        tenant_id = info.context.require_secret().tenant_id
        await enqueue_erasure(info.context.resources.redis, tenant_id, str(job.id))
    return Erasure.of(job)


async def erasures(info: AppInfo, first: int) -> list[Erasure]:
    if not 1 <= first <= MAX_ERASURES:
        raise BadInput("first", f"must be between 1 and {MAX_ERASURES}")
    async with info.context.read() as conn:
        return [Erasure.of(job) for job in await erasure.list_erasures(conn, limit=first)]


async def user_export_by_id(info: AppInfo, id: strawberry.ID) -> UserExport | None:
    job_id = _uuid(id)
    if job_id is None:
        return None
    async with info.context.read() as conn:
        job = await access.get_export(conn, job_id)
    if job is None:
        return None
    if _stale(job.created_at, job.status):
        await enqueue_user_export(info.context.resources.redis, job.tenant_id, str(job.id))
    return UserExport.of(job)


def _subject(user_id: str | None, anonymous_id: str | None) -> Subject:
    try:
        return subject_of(user_id, anonymous_id)
    except InvalidArgument as exc:
        raise BadInput(exc.field, exc.message) from None


@strawberry.type
class PrivacyMutation:
    @strawberry.mutation(description="Erase one person (secret key; exactly one of userId and anonymousId): "
                                     "a worker deletes their raw events, sessions, content facts and "
                                     "per-person rows and recomputes the counters of the days they were "
                                     "active. Poll tenant { erasure(id) }. Erasing twice is harmless.")
    async def erase_user(self, info: AppInfo, user_id: str | None = None,
                         anonymous_id: str | None = None) -> Erasure:
        principal = info.context.require_secret()
        subject = _subject(user_id, anonymous_id)
        async with info.context.write() as conn:
            job = await erasure.request_erasure(conn, tenant_id=principal.tenant_id, subject=subject,
                                                key_id=principal.key_id)
        await enqueue_erasure(info.context.resources.redis, principal.tenant_id, str(job.id))
        return Erasure.of(job)

    @strawberry.mutation(description="Export one person's data as JSON (secret key; exactly one of userId "
                                     "and anonymousId): a worker writes the file; poll "
                                     "tenant { userExport(id) } and download it before it expires.")
    async def export_user(self, info: AppInfo, user_id: str | None = None,
                          anonymous_id: str | None = None) -> UserExport:
        principal = info.context.require_secret()
        subject = _subject(user_id, anonymous_id)
        async with info.context.write() as conn:
            job = await access.request_export(conn, tenant_id=principal.tenant_id, subject=subject,
                                              key_id=principal.key_id)
        await enqueue_user_export(info.context.resources.redis, principal.tenant_id, str(job.id))
        return UserExport.of(job)
