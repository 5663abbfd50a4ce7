"""``GET /export/{dataset}.{format}``: a tenant's raw events or rollups as a streamed download.

Secret keys only (401 without a live key, 403 for a publishable one). The range parameters are the
graph's ``RangeInput`` as query parameters (``from``/``to``, ``since`` or ``preset``) and resolve
the same way, in the tenant's time zone; ``includeBots=true`` adds the rollups' bot rows (their
``bot`` column says which), as the graph's ``includeBots``. Errors are JSON bodies like GraphQL
errors, with a code.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from analytics import export_jobs, observability, periods
from analytics.db import tenant_transaction
from analytics.errors import InvalidArgument
from analytics.export import ExportRequest, ExportStream, parse_dataset, parse_format
from analytics.tenants.service import KeyKind, Principal
from analytics.users import access, erasure
from api.auth import authenticate
from api.context import Resources
from api.http_request import Problem
from api.ratelimit import Bucket

log = logging.getLogger("api.export")

RANGE_PARAMETERS = ("from", "to", "since", "preset")
PARAMETERS = (*RANGE_PARAMETERS, "includeBots")
# Read-budget tokens an export spends: a query listing a thousand items costs as much. The rows
# themselves are not charged: one export holds one connection however long it runs.
EXPORT_COST = 1_000
# Each running export holds a database connection: a quarter of the pool at most, so that the
# graph keeps answering while exports stream.
POOL_SHARE = 4


class ExportResponse(StreamingResponse):
    """A streamed export whose producer is always stopped, however the response ends."""

    def __init__(self, stream: ExportStream, running: set[ExportStream], **kwargs: Any) -> None:
        super().__init__(stream, **kwargs)
        self.stream, self.running = stream, running

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            try:
                await self.stream.aclose()  # after a disconnect: ends the COPY, releases the connection
            finally:
                self.running.discard(self.stream)


def _error(status: int, message: str, code: str, headers: dict[str, str] | None = None,
           **extensions: Any) -> Response:
    body = {"errors": [{"message": message, "extensions": {"code": code, **extensions}}]}
    return Response(msgspec.json.encode(body), status, headers, media_type="application/json")


async def _secret_principal(request: Request, resources: Resources) -> Principal:
    principal, problem = await authenticate(request, resources.principals)
    if principal is None:
        raise Problem(401, problem or "", "UNAUTHENTICATED", {"WWW-Authenticate": "Bearer"})
    if principal.kind is not KeyKind.SECRET:
        raise Problem(403, "publishable keys can only send events (track); use a secret key to export",
                      "FORBIDDEN")
    return principal


def _period(request: Request, principal: Principal) -> periods.Period:
    query = request.query_params
    for name in query:
        if name not in PARAMETERS:
            raise InvalidArgument(name, "unknown parameter; give from and to, since, or preset, "
                                        "and optionally includeBots")
        if len(query.getlist(name)) > 1:
            raise InvalidArgument(name, "give it at most once")
    preset = None
    if raw_preset := query.get("preset"):
        try:
            preset = periods.Preset(raw_preset.upper())
        except ValueError:
            choices = ", ".join(p.value for p in periods.Preset)
            raise InvalidArgument("preset", f"{raw_preset!r} is not one of {choices}") from None
    spec = periods.RangeSpec(query.get("from") or None, query.get("to") or None, preset,
                             query.get("since") or None)
    try:
        return periods.resolve(spec, principal.timezone)
    except periods.PeriodError as exc:  # the graph's names (range.from) are parameters here
        raise InvalidArgument(exc.field.removeprefix("range."), exc.message.replace("range.", "")) from None


def _include_bots(request: Request) -> bool:
    raw = request.query_params.get("includeBots", "false")
    if raw not in ("true", "false"):
        raise InvalidArgument("includeBots", f"{raw!r} is not true or false")
    return raw == "true"


def _headers(export: ExportRequest) -> dict[str, str]:
    period = export.period
    return {
        "Content-Disposition": f'attachment; filename="{export.filename}"',
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
        "X-Export-From": period.start.astimezone(period.tz).isoformat(),
        "X-Export-To": period.end.astimezone(period.tz).isoformat(),
        "X-Export-Timezone": period.tz.key,
    }


def export_routes(get_resources: Callable[[], Resources]) -> list[BaseRoute]:
    running: set[ExportStream] = set()

    async def export(request: Request) -> Response:
        resources = get_resources()
        try:
            principal = await _secret_principal(request, resources)
            dataset_name, dot, format_name = request.path_params["name"].rpartition(".")
            if not dot:
                raise InvalidArgument("format", "missing; end the path with .csv, .ndjson or .json")
            export = ExportRequest(principal.tenant_id, parse_dataset(dataset_name),
                                   parse_format(format_name), _period(request, principal),
                                   _include_bots(request))
            headers, media_type = _headers(export), export.format.media_type
            if request.method == "HEAD":
                response = Response(None, 200, headers, media_type)
                del response.headers["content-length"]
                return response
            most = max(1, resources.settings.db_pool_size // POOL_SHARE)
            if len(running) >= most:
                raise Problem(503, f"exports: {most} are already running on this server, the most "
                                   "it runs at once; retry shortly", "EXPORTS_BUSY", {"Retry-After": "5"})
            stream = ExportStream(resources.engine, export)
            running.add(stream)  # before any await: concurrent requests see the slot taken
            try:
                verdict = await resources.limiter.spend(Bucket.READ, f"key:{principal.key_id}",
                                                        EXPORT_COST)
                if not verdict.allowed:
                    raise Problem(429, f"rate limit: this key's read budget is spent; retry in "
                                       f"{verdict.retry_after} s", "RATE_LIMITED",
                                  {"Retry-After": str(verdict.retry_after)})
                await stream.start()  # a failure before the first byte still gets a proper status
            except BaseException:
                running.discard(stream)
                raise
        except Problem as problem:
            return _error(problem.status, problem.message, problem.code, problem.headers)
        except InvalidArgument as exc:
            return _error(400, str(exc), "BAD_USER_INPUT", field=exc.field)
        except Exception:
            request_id = observability.request_id.get() or uuid.uuid4().hex
            log.exception("export failed before streaming (request %s)", request_id)
            return _error(500, "Internal server error", "INTERNAL_SERVER_ERROR", requestId=request_id)
        return ExportResponse(stream, running, headers=headers, media_type=media_type)

    async def finished(request: Request, noun: str, load: Callable[[Any, uuid.UUID], Any]
                       ) -> tuple[Principal, Any]:
        """The caller's finished job ``{id}`` of ``noun`` (its tenant's secret key), or a Problem:
        404 unknown, 409 not done yet."""
        resources = get_resources()
        principal = await _secret_principal(request, resources)
        try:
            job_id = uuid.UUID(request.path_params["id"])
        except ValueError:
            raise Problem(404, f"no {noun} with this id", "NOT_FOUND") from None
        async with tenant_transaction(resources.engine, principal.tenant_id) as conn:
            job = await load(conn, job_id)
        if job is None:
            raise Problem(404, f"no {noun} with this id", "NOT_FOUND")
        if job.status != "done":
            raise Problem(409, f"the {noun} is {job.status}; download it once it is done",
                          "EXPORT_NOT_READY", {"Retry-After": "5"})
        return principal, job

    async def download(request: Request) -> Response:
        """``GET /export/jobs/{id}``: the file of a finished export job (secret key of its tenant)."""
        try:
            _, job = await finished(request, "export job", export_jobs.get_job)
            path = export_jobs.job_file(get_resources().settings.data_dir, job)
            if not path.exists():
                raise Problem(410, "the export file is gone from this server's data directory", "GONE")
        except Problem as problem:
            return _error(problem.status, problem.message, problem.code, problem.headers)
        return FileResponse(path, media_type=job.format.media_type, filename=job.request.filename,
                            headers={"Cache-Control": "no-store"})

    async def download_user(request: Request) -> Response:
        """``GET /export/users/{id}``: a person's access export (exportUser), until it expires."""
        try:
            principal, job = await finished(request, "user export", access.get_export)
            path = erasure.user_export_file(get_resources().settings.data_dir, principal.tenant_id, job.id)
            if job.expired or not path.exists():
                raise Problem(410, "the user export has expired", "GONE")
        except Problem as problem:
            return _error(problem.status, problem.message, problem.code, problem.headers)
        return FileResponse(path, media_type="application/json", filename=f"user-{job.id}.json",
                            headers={"Cache-Control": "no-store"})

    return [Route("/export/jobs/{id}", download, methods=["GET", "HEAD"]),
            Route("/export/users/{id}", download_user, methods=["GET", "HEAD"]),
            Route("/export/{name}", export, methods=["GET", "HEAD"])]


__all__ = ["export_routes"]
