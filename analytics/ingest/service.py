"""Write a validated batch: raw events and their outbox row in one statement, one transaction;
concurrent small batches of a tenant share that transaction (``GroupCommit``)."""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.custom_events.definitions import load_rules
from analytics.custom_events.rules import NO_RULES, RULES
from analytics.db import storage_unavailable, tenant_transaction
from analytics.ingest.catalogue import CUSTOM
from analytics.ingest.events import ROW_COLUMNS, EventIn, FieldError, validate_batch
from analytics.ingest.origin import Origin
from analytics.tenants.service import Principal, principal_of


class EventStatus(enum.Enum):
    ACCEPTED = "ACCEPTED"
    DUPLICATE = "DUPLICATE"
    REJECTED = "REJECTED"
    OPTED_OUT = "OPTED_OUT"  # sent with Do Not Track / Global Privacy Control to a tenant honouring it


@dataclass(frozen=True)
class EventOutcome:
    index: int
    id: str
    status: EventStatus


@dataclass(frozen=True)
class IngestOutcome:
    outcomes: list[EventOutcome]
    errors: list[FieldError]
    accepted: int = field(default=0)
    duplicates: int = field(default=0)
    rejected: int = field(default=0)
    opted_out: int = field(default=0)


# Dedup, store and queue in one round trip: only rows actually inserted reach the outbox. Rows go in
# key order, so two requests carrying the same events in different orders take their locks in the
# same order: the second waits for the first and finds duplicates, instead of a deadlock.
_INSERT = text(
    """
    WITH input AS (
        SELECT * FROM unnest(
            CAST(:id AS uuid[]), CAST(:occurred_at AS timestamptz[]), CAST(:type AS text[]),
            CAST(:user_id AS text[]), CAST(:anonymous_id AS text[]), CAST(:session_id AS text[]),
            CAST(:tour_id AS text[]), CAST(:step_index AS integer[]), CAST(:step_id AS text[]),
            CAST(:content_id AS text[]), CAST(:selector AS text[]), CAST(:url AS text[]),
            CAST(:properties AS jsonb[]), CAST(:context AS jsonb[]), CAST(:engagement AS jsonb[]),
            CAST(:capsule AS jsonb[]), CAST(:user_agent AS text[]), CAST(:ip_address AS inet[]),
            CAST(:visitor_id AS text[]), CAST(:visitor_prev AS text[]), CAST(:name AS text[]),
            CAST(:server_source AS boolean[]), CAST(:ai AS jsonb[])
        ) AS t(id, occurred_at, type, user_id, anonymous_id, session_id, tour_id, step_index,
               step_id, content_id, selector, url, properties, context, engagement, capsule,
               user_agent, ip_address, visitor_id, visitor_prev, name, server_source, ai)
    ), inserted AS (
        INSERT INTO events (tenant_id, id, occurred_at, type, user_id, anonymous_id, session_id,
                            tour_id, step_index, step_id, content_id, selector, url, properties,
                            context, engagement, capsule, user_agent, ip_address, visitor_id,
                            visitor_prev, name, server_source, ai)
        SELECT CAST(:tenant_id AS bigint), * FROM input ORDER BY occurred_at, id
        ON CONFLICT DO NOTHING
        RETURNING id, occurred_at
    ), queued AS (
        INSERT INTO outbox (tenant_id, event_ids, occurred_ats)
        SELECT CAST(:tenant_id AS bigint), array_agg(id), array_agg(occurred_at) FROM inserted
        HAVING count(*) > 0
    )
    SELECT id, occurred_at FROM inserted
    """
)


Key = tuple[object, datetime]  # (id, occurred_at): the events primary key within a tenant
Row = tuple[object, ...]  # the values of ROW_COLUMNS
log = logging.getLogger("analytics.ingest")


@dataclass(frozen=True)
class Vouched:
    """A principal the caller kept instead of looking its key up (api.principals): the write reads
    the key again in its own transaction, so a key revoked or a tenant changed before that stops the
    batch there, exactly, instead of a cache's lifetime later."""

    key_hash: bytes
    principal: Principal


class StalePrincipal(Exception):
    """The kept principal is not what the database says now; nothing of the batch was written:
    look the key up again and send the batch again."""


@dataclass(frozen=True)
class _Batch:
    keys: list[Key]
    rows: list[Row]
    vouched: Vouched | None = None


async def _write(engine: AsyncEngine, tenant_id: int,
                 batches: Sequence[_Batch]) -> list[set[Key] | Exception]:
    """Insert the batches' rows and queue the new ones in one transaction; per batch, the keys it
    inserted (an event sent by two batches goes to the first), or StalePrincipal."""
    async with tenant_transaction(engine, tenant_id) as conn:
        current: dict[bytes, Principal | None] = {}
        for vouched in {b.vouched for b in batches if b.vouched is not None}:
            if vouched.key_hash not in current:
                current[vouched.key_hash] = await principal_of(conn, vouched.key_hash)
        live = [b.vouched is None or current[b.vouched.key_hash] == b.vouched.principal for b in batches]
        rows = [row for batch, ok in zip(batches, live, strict=True) if ok for row in batch.rows]
        inserted: set[Key] = set()
        if rows:
            params: dict[str, object] = {name: list(values) for name, values
                                         in zip(ROW_COLUMNS, zip(*rows, strict=True), strict=True)}
            params["tenant_id"] = tenant_id
            inserted = {(row[0], row[1]) for row in await conn.execute(_INSERT, params)}
    answers: list[set[Key] | Exception] = []
    for batch, ok in zip(batches, live, strict=True):
        mine = {key for key in batch.keys if key in inserted} if ok else set()
        inserted -= mine
        answers.append(mine if ok else StalePrincipal())
    return answers


@dataclass
class _Group:
    """Batches of one tenant waiting for the same transaction, in the order they joined."""

    batches: list[_Batch] = field(default_factory=list)
    events: int = 0
    done: asyncio.Future[list[set[Key] | Exception]] | None = None


class GroupCommit:
    """Concurrent small batches of one tenant written in one transaction with one outbox row.

    A batch joins the tenant's open group, or opens one; a group is written as soon as one of the
    tenant's ``IN_FLIGHT`` transaction slots is free, so batches arriving while earlier ones commit
    are gathered (for about one commit's time, never longer) and an idle tenant waits for nothing.
    Every batch is answered after its group committed, with the keys that it inserted: when two
    batches of a group carry the same event, the one that joined first gets it. A batch of
    ``max_events`` or more is written alone. If a group fails for another reason than the database
    being unreachable, its batches are written one by one, so one batch cannot fail another.
    """

    IN_FLIGHT = 2  # transactions per tenant at once: one commits while the next group gathers

    def __init__(self, engine: AsyncEngine, *, max_events: int) -> None:
        self.engine, self.max_events = engine, max_events
        self._open: dict[int, _Group] = {}
        self._slots: dict[int, asyncio.Semaphore] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def write(self, tenant_id: int, batch: _Batch) -> set[Key]:
        if len(batch.rows) >= self.max_events:
            return _answer((await _write(self.engine, tenant_id, [batch]))[0])
        group = self._open.get(tenant_id)
        if group is None or group.events + len(batch.rows) > self.max_events:
            group = _Group(done=asyncio.get_running_loop().create_future())
            self._open[tenant_id] = group
            task = asyncio.create_task(self._commit(tenant_id, group))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        position = len(group.batches)
        group.batches.append(batch)
        group.events += len(batch.rows)
        assert group.done is not None
        return _answer((await asyncio.shield(group.done))[position])  # a cancelled request leaves its group

    async def _commit(self, tenant_id: int, group: _Group) -> None:
        assert group.done is not None
        slots = self._slots.setdefault(tenant_id, asyncio.Semaphore(self.IN_FLIGHT))
        try:
            async with slots:
                if self._open.get(tenant_id) is group:
                    del self._open[tenant_id]  # later batches gather in a new group
                group.done.set_result(await self._write_group(tenant_id, group))
        except Exception as exc:
            group.done.set_exception(exc)
        finally:
            group.done.cancel()  # cancelled (shutdown) before an answer: the requests fail, unacknowledged

    async def _write_group(self, tenant_id: int, group: _Group) -> list[set[Key] | Exception]:
        try:
            return await _write(self.engine, tenant_id, group.batches)
        except Exception as exc:
            if len(group.batches) == 1 or storage_unavailable(exc):
                raise
            log.warning("a group of %d batches failed (%s); writing them one by one", len(group.batches), exc)
            return [await self._write_alone(tenant_id, batch) for batch in group.batches]

    async def _write_alone(self, tenant_id: int, batch: _Batch) -> set[Key] | Exception:
        try:
            return (await _write(self.engine, tenant_id, [batch]))[0]
        except Exception as exc:
            return exc

    async def drain(self) -> None:
        """Wait for the groups being written (at shutdown)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


def _answer(answer: set[Key] | Exception) -> set[Key]:
    if isinstance(answer, Exception):
        raise answer
    return answer


class PartitionCache:
    """Months whose raw-event partition is known to exist in this process."""

    def __init__(self) -> None:
        self.months: set[tuple[int, int]] = set()

    async def ensure(self, engine: AsyncEngine, tenant_id: int, instants: Sequence[datetime]) -> None:
        missing = {(ts.year, ts.month) for ts in instants} - self.months
        if not missing:
            return
        async with tenant_transaction(engine, tenant_id) as conn:
            for year, month in sorted(missing):
                await conn.execute(
                    text("SELECT analytics_ensure_event_partition(:at)"),
                    {"at": datetime(year, month, 1, tzinfo=UTC)},
                )
        self.months |= missing


async def ingest_batch(
    engine: AsyncEngine,
    partitions: PartitionCache,
    *,
    tenant_id: int,
    events: Sequence[EventIn],
    retention_days: int,
    max_future_seconds: int,
    now: datetime | None = None,
    origin: Origin | None = None,
    honour_privacy: bool = False,
    group: GroupCommit | None = None,
    vouched: Vouched | None = None,
) -> IngestOutcome:
    """Validate ``events``, store the valid ones once, and say what happened to each.
    ``origin`` is the request that sent them (user agent, address, proxy geo, visitor ids). With
    ``honour_privacy`` (the tenant's setting), events whose request or own context carries the
    privacy signal are dropped unread and reported as OPTED_OUT. Custom events also meet the
    tenant's event definitions (cached per process: analytics.custom_events.rules). With ``group``
    the batch may share its transaction with concurrent batches of the tenant; either way it is
    answered once its events are committed. With ``vouched`` (a principal the caller kept) the
    key is read again in that transaction: StalePrincipal when it changed, and nothing written."""
    opted = frozenset(opted_out(events, origin)) if honour_privacy else frozenset()
    rules = NO_RULES
    if any(event.type == CUSTOM for event in events):
        rules = await RULES.get(tenant_id, lambda tenant: load_rules(engine, tenant))
    batch = validate_batch(events, retention_days=retention_days, max_future_seconds=max_future_seconds,
                           now=now, origin=origin, skip=opted, rules=rules)
    inserted: set[Key] = set()
    if batch.valid:
        await partitions.ensure(engine, tenant_id, [v.occurred_at for v in batch.valid])
        written = _Batch([(v.id, v.occurred_at) for v in batch.valid], [v.row for v in batch.valid], vouched)
        if group is None:
            inserted = _answer((await _write(engine, tenant_id, [written]))[0])
        else:
            inserted = await group.write(tenant_id, written)
    elif vouched is not None:  # nothing to write: the answer still needs a live key
        async with tenant_transaction(engine, tenant_id) as conn:
            if await principal_of(conn, vouched.key_hash) != vouched.principal:
                raise StalePrincipal()
    rejected_indexes = {error.index for error in batch.errors}
    outcomes: list[EventOutcome] = []
    valid_by_index = {v.index: v for v in batch.valid}
    for index, event in enumerate(events):
        if index in opted:
            outcomes.append(EventOutcome(index, event.id, EventStatus.OPTED_OUT))
            continue
        if index in rejected_indexes:
            outcomes.append(EventOutcome(index, event.id, EventStatus.REJECTED))
            continue
        valid = valid_by_index[index]
        key = (valid.id, valid.occurred_at)
        if key in inserted:
            inserted.discard(key)  # a second copy in the same batch is a duplicate
            outcomes.append(EventOutcome(index, event.id, EventStatus.ACCEPTED))
        else:
            outcomes.append(EventOutcome(index, event.id, EventStatus.DUPLICATE))
    accepted = sum(1 for o in outcomes if o.status is EventStatus.ACCEPTED)
    duplicates = sum(1 for o in outcomes if o.status is EventStatus.DUPLICATE)
    return IngestOutcome(outcomes, batch.errors, accepted, duplicates, len(rejected_indexes), len(opted))


def opted_out(events: Sequence[EventIn], origin: Origin | None) -> list[int]:
    """Positions of the events sent with Do Not Track / Global Privacy Control: all of them when the
    request itself said so (a browser's own request), else those whose context says so (a relay)."""
    if origin is not None and origin.privacy_signal:
        return list(range(len(events)))
    return [i for i, e in enumerate(events) if e.context is not None and e.context.privacy_signal]
