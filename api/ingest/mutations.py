"""The ``track`` mutation: validate, store once, queue the rollup, report every event."""

from __future__ import annotations

import logging

import strawberry
from redis.exceptions import RedisError

from analytics.ingest.service import ingest_batch
from api.context import AppInfo
from api.errors import BadInput, BatchTooLarge
from api.ingest.types import EventRejection, EventResult, EventStatus, TrackEvent, TrackResult
from workers.queue import enqueue_rollup

log = logging.getLogger("analytics.api")


@strawberry.type
class IngestMutation:
    @strawberry.mutation(
        description="Send 1 to 1000 events (at most 1 MB a request) with a publishable or secret "
                    "key. Valid events are stored even when others in the batch are rejected.")
    async def track(self, info: AppInfo, events: list[TrackEvent]) -> TrackResult:
        context = info.context
        principal = context.require_key()
        settings = context.resources.settings
        batch = context.decoded_events
        if batch is None:
            batch = [event.to_event() for event in events]
        if not batch:
            raise BadInput("events", "at least 1 event is required")
        if len(batch) > settings.max_batch_events:
            raise BatchTooLarge(
                f"events: {len(batch)} events in one request; the limit is "
                f"{settings.max_batch_events}. Nothing was stored.",
                limit=settings.max_batch_events,
            )
        outcome = await ingest_batch(
            context.resources.engine, context.resources.partitions,
            tenant_id=principal.tenant_id, events=batch,
            retention_days=principal.raw_retention_days,
            max_future_seconds=settings.max_future_seconds,
        )
        if outcome.accepted:
            try:
                await enqueue_rollup(context.resources.redis, principal.tenant_id)
            except (OSError, RedisError) as exc:  # the outbox keeps the work; the sweeper finds it
                log.warning("could not enqueue rollup for tenant %s: %s", principal.tenant_id, exc)
        return TrackResult(
            accepted=outcome.accepted, duplicates=outcome.duplicates, rejected=outcome.rejected,
            results=[EventResult(index=o.index, id=o.id, status=EventStatus(o.status.value))
                     for o in outcome.outcomes],
            rejections=[EventRejection(index=e.index, field=e.field, reason=e.reason)
                        for e in outcome.errors],
        )
