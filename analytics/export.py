"""Exports of raw events and rollups: datasets, formats, and the COPY that streams them out.

PostgreSQL renders every row (CSV quoting, JSON escaping) inside one ``COPY (SELECT ...) TO
STDOUT``: one statement, so one snapshot, and the fastest way out of PostgreSQL (no per-row Python).
A producer task feeds the bytes through a small bounded hand-over to the HTTP response; asyncpg
stops reading the socket while the hand-over is full, so a slow client slows PostgreSQL down
instead of filling memory. Closing the stream makes the COPY's output callback fail, which asyncpg
answers by cancelling the COPY; the transaction rolls back and the connection goes back clean.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from analytics.db import CURRENT_TENANT, tenant_transaction
from analytics.errors import InvalidArgument
from analytics.periods import Period

log = logging.getLogger(__name__)
E = TypeVar("E", bound=enum.Enum)

CHUNK_BYTES = 1 << 20  # bytes handed to the response at a time (a few thousand rows)
BUFFERED_CHUNKS = 4  # chunks waiting for the client at most: memory stays flat
STALL_SECONDS = 300.0  # a client that reads nothing for this long loses its export
STOP_GRACE_SECONDS = 10.0  # after the client left, wait this long for PostgreSQL's next bytes


class ExportFormat(enum.Enum):
    CSV = "csv"  # header row, RFC 4180 quoting (by PostgreSQL), LF line ends
    NDJSON = "ndjson"  # one JSON object a line
    JSON = "json"  # one JSON array of objects

    @property
    def media_type(self) -> str:
        return {ExportFormat.CSV: "text/csv; charset=utf-8; header=present",
                ExportFormat.NDJSON: "application/x-ndjson",
                ExportFormat.JSON: "application/json"}[self]


class Dataset(enum.Enum):
    EVENTS = "events"
    HOURLY = "hourly"
    DAILY = "daily"
    DAILY_USERS = "daily_users"


# Instants as PostgreSQL writes them in JSON (ISO 8601 in the session's zone: the tenant's), so
# every format carries the same text. Columns are qualified: ORDER BY must use the raw column.
def _instant(column: str) -> str:
    return f"to_json(t.{column}) #>> '{{}}'"


_ENTITY = ("t.entity_type", "t.entity_id", "t.metric", "NULLIF(t.step_index, -1) AS step_index", "t.bot")
# CSV has no booleans: PostgreSQL would write t and f there, JSON writes true and false.
_CSV_TEXT = {"t.bot": "CASE WHEN t.bot THEN 'true' ELSE 'false' END AS bot"}


@dataclass(frozen=True)
class DatasetSpec:
    table: str
    columns: tuple[str, ...]  # SQL select items; the output names are the export's columns
    time_column: str
    by_day: bool  # filtered by local days (whole-day periods) rather than instants
    order_by: str
    bot_rows: bool = False  # rows carry the human/bot dimension (``bot``): humans only unless asked


DATASETS: dict[Dataset, DatasetSpec] = {
    Dataset.EVENTS: DatasetSpec(
        "events",
        (f"{_instant('occurred_at')} AS occurred_at", "t.id", f"{_instant('received_at')} AS received_at",
         "t.type", "t.user_id", "t.anonymous_id", "t.session_id", "t.tour_id", "t.step_index",
         "t.step_id", "t.content_id", "t.selector", "t.url", "t.properties"),
        "occurred_at", False, "t.occurred_at, t.id"),
    Dataset.HOURLY: DatasetSpec(
        "counters_hourly", (f"{_instant('bucket')} AS hour", *_ENTITY, "t.value"),
        "bucket", False, "t.bucket, t.entity_type, t.entity_id, t.metric, t.step_index, t.bot", True),
    Dataset.DAILY: DatasetSpec(
        "counters_daily", ("t.day", *_ENTITY, "t.value"),
        "day", True, "t.day, t.entity_type, t.entity_id, t.metric, t.step_index, t.bot", True),
    Dataset.DAILY_USERS: DatasetSpec(
        "daily_users",
        ("t.day", *_ENTITY,
         "CASE WHEN t.user_key LIKE 'u:%' THEN substr(t.user_key, 3) END AS user_id",
         "CASE WHEN t.user_key LIKE 'a:%' THEN substr(t.user_key, 3) END AS anonymous_id"),
        "day", True, "t.day, t.entity_type, t.entity_id, t.metric, t.step_index, t.bot, t.user_key", True),
}


def parse_dataset(raw: str) -> Dataset:
    return _choice(Dataset, raw, "dataset")


def parse_format(raw: str) -> ExportFormat:
    return _choice(ExportFormat, raw, "format")


def _choice(kind: type[E], raw: str, name: str) -> E:
    try:
        return kind(raw)
    except ValueError:
        choices = ", ".join(member.value for member in kind)
        raise InvalidArgument(name, f"{raw!r} is not a {name}; choose one of {choices}") from None


@dataclass(frozen=True)
class ExportRequest:
    """One export: whose rows, which dataset, in which format, over which resolved period, and
    whether the rollups' bot rows come too (as in the graph, only human rows by default)."""

    tenant_id: int
    dataset: Dataset
    format: ExportFormat
    period: Period
    include_bots: bool = False

    def __post_init__(self) -> None:
        if self.include_bots and not DATASETS[self.dataset].bot_rows:
            raise InvalidArgument("includeBots", f"{self.dataset.value} holds every raw event, bots "
                                  "included; includeBots applies to hourly, daily and daily_users")

    @property
    def filename(self) -> str:
        return f"{self.dataset.value}-{self.period.first_day}-{self.period.last_day}.{self.format.value}"

    def query(self) -> tuple[str, list[date | datetime]]:
        """The SELECT to copy out and its arguments: the tenant's rows of the period, in order."""
        spec = DATASETS[self.dataset]
        if spec.by_day:
            bounds: list[date | datetime] = [self.period.first_day, self.period.last_day]
            where = f"t.{spec.time_column} BETWEEN $1 AND $2"
        else:
            bounds = [self.period.start, self.period.end]
            where = f"t.{spec.time_column} >= $1 AND t.{spec.time_column} < $2"
        if spec.bot_rows and not self.include_bots:
            where += " AND NOT t.bot"
        columns = spec.columns
        if self.format is ExportFormat.CSV:
            columns = tuple(_CSV_TEXT.get(column, column) for column in columns)
        select = (f"SELECT {', '.join(columns)} FROM {spec.table} AS t "
                  f"WHERE t.{CURRENT_TENANT} AND {where} ORDER BY {spec.order_by}")
        if self.format is not ExportFormat.CSV:
            select = f"SELECT row_to_json(r) FROM ({select}) AS r"
        return select, bounds

    def copy_options(self) -> dict[str, Any]:
        if self.format is ExportFormat.CSV:
            return {"format": "csv", "header": True}
        # One JSON text per line, verbatim: PostgreSQL escapes every control character inside JSON
        # text, so quote and delimiter characters that can never occur leave it unquoted.
        return {"format": "csv", "quote": "\x01", "delimiter": "\x02"}


class ExportStalled(TimeoutError):
    """The client stopped reading; the export was abandoned to release its transaction."""


class _ClientGone(Exception):
    """Raised inside the COPY's output callback: asyncpg then cancels the COPY cleanly."""


class _Handover:
    """Chunks from the producer to the response, at most ``limit`` waiting; then the end or an error."""

    def __init__(self, limit: int) -> None:
        self._items: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue()
        self._space = asyncio.Semaphore(limit)
        self._stopped = False

    async def put(self, chunk: bytes) -> None:
        if not self._stopped:
            try:
                await asyncio.wait_for(self._space.acquire(), STALL_SECONDS)
            except TimeoutError:
                raise ExportStalled(f"the client read nothing for {STALL_SECONDS:.0f} s") from None
        if self._stopped:
            raise _ClientGone
        self._items.put_nowait(chunk)

    def close(self, error: BaseException | None = None) -> None:
        self._items.put_nowait(error)  # the end marker never waits for space

    def stop(self) -> None:
        self._stopped = True
        self._space.release()  # wakes a producer waiting for space

    async def get(self) -> bytes | None:
        item = await self._items.get()
        if isinstance(item, BaseException):
            raise item
        if item is not None:
            self._space.release()
        return item


# Instants are written in the tenant's zone. Rows stream in index order from the first byte: a
# sort (picked when statistics are stale, e.g. after a bulk load) would read every row first.
_SESSION = text("SELECT set_config('TimeZone', :tz, true), set_config('enable_sort', 'off', true)")
_RUNNING: set[asyncio.Task[None]] = set()  # producers still stopping after their stream closed


class ExportStream:
    """The bytes of one export. ``start()`` runs the query and waits for the first bytes (errors
    before anything was sent surface there); iterate for the rest; ``aclose()`` always."""

    def __init__(self, engine: AsyncEngine, request: ExportRequest) -> None:
        self.engine, self.request = engine, request
        self.rows: int | None = None  # known once the COPY has finished
        self.bytes = 0
        self._handover = _Handover(BUFFERED_CHUNKS)
        self._pending = bytearray()
        self._json_tail = b""
        self._first: bytes | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._produce(), name=f"export {self.request.filename}")
        _RUNNING.add(self._task)
        self._task.add_done_callback(_RUNNING.discard)
        try:
            self._first = await self._handover.get()
        except BaseException:
            self._stop()
            raise

    async def __aiter__(self) -> AsyncIterator[bytes]:
        chunk = self._first
        while chunk is not None:
            yield chunk
            chunk = await self._handover.get()

    async def aclose(self) -> None:
        """Stop the producer (if still running) and wait until its connection is released."""
        self._stop()
        if self._task is not None:
            await asyncio.wait([self._task])

    def _stop(self) -> None:
        task = self._task
        if task is None or task.done():
            return
        # The producer stops at its next bytes, from inside the COPY's callback, which asyncpg
        # handles cleanly. Cancelling it while it awaits PostgreSQL would break the connection's
        # protocol state, so that is only the fallback for a server that sends nothing for long.
        self._handover.stop()
        fallback = asyncio.get_running_loop().call_later(STOP_GRACE_SECONDS, task.cancel)
        task.add_done_callback(lambda _: fallback.cancel())

    async def _produce(self) -> None:
        request, started = self.request, time.perf_counter()
        try:
            if request.format is ExportFormat.JSON:
                await self._emit(b"[\n")
            async with tenant_transaction(self.engine, request.tenant_id) as conn:
                # No statement timeout: the whole export is one COPY statement.
                await conn.execute(_SESSION, {"tz": request.period.tz.key})
                status = await self._copy(conn)
            self.rows = int(status.rsplit(" ", 1)[-1])
            if request.format is ExportFormat.JSON:
                self._pending += b"\n]\n" if self._json_tail else b"]\n"
            await self._emit(b"", flush=True)
        except _ClientGone:
            log.info("export %s of tenant %s stopped: the client left after %d bytes",
                     request.filename, request.tenant_id, self.bytes)
            return
        except asyncio.CancelledError:
            log.warning("export %s of tenant %s cancelled after %d bytes", request.filename,
                        request.tenant_id, self.bytes)
            raise
        except Exception as exc:
            log.exception("export %s of tenant %s failed after %d bytes", request.filename,
                          request.tenant_id, self.bytes)
            self._handover.close(exc)
            return
        log.info("export %s of tenant %s: %d rows, %d bytes in %.1f s", request.filename,
                 request.tenant_id, self.rows, self.bytes, time.perf_counter() - started)
        self._handover.close()

    async def _copy(self, conn: AsyncConnection) -> str:
        select, bounds = self.request.query()
        raw = await conn.get_raw_connection()
        try:
            status = await raw.driver_connection.copy_from_query(  # type: ignore[union-attr]
                select, *bounds, output=self._receive, **self.request.copy_options())
        except asyncio.CancelledError:
            await conn.invalidate()  # stopped mid-protocol: close the connection, never reuse it
            raise
        return str(status)

    async def _receive(self, data: bytes) -> None:
        if self.request.format is ExportFormat.JSON:
            # Every line ends in "\n" (none occurs inside JSON text): each becomes ",\n", and the
            # last two bytes wait, since the final row must not end with a comma.
            data = self._json_tail + data.replace(b"\n", b",\n")
            data, self._json_tail = data[:-2], data[-2:]
        await self._emit(data, flush=self.bytes == 0)  # the first bytes go at once

    async def _emit(self, data: bytes, *, flush: bool = False) -> None:
        self._pending += data
        if self._pending and (flush or len(self._pending) >= CHUNK_BYTES):
            chunk = bytes(self._pending)
            self._pending.clear()
            self.bytes += len(chunk)
            await self._handover.put(chunk)


__all__ = ["DATASETS", "Dataset", "ExportFormat", "ExportRequest", "ExportStalled", "ExportStream",
           "parse_dataset", "parse_format"]
