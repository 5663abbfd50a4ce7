"""The ``track`` mutation: validate, store once, queue the rollup, report every event."""

from __future__ import annotations

import strawberry

from analytics.ingest.events import EventIn
from analytics.ingest.service import ingest_batch
from api.context import AppInfo, Context
from api.errors import BadInput, BatchTooLarge
from api.ingest.types import TrackEvent, TrackResult
from api.ingest.visitors import request_origin, todays_salts
from api.telemetry import count_ingest


@strawberry.type
class IngestMutation:
    @strawberry.mutation(
        description="Send 1 to 1000 events (at most 1 MB a request) with a publishable or secret "
                    "key. Valid events are stored even when others in the batch are rejected.")
    async def track(self, info: AppInfo, events: list[TrackEvent]) -> TrackResult:
        context = info.context
        batch = context.decoded_events
        if batch is None:
            batch = [event.to_event() for event in events]
        return await record_track(context, batch)


async def record_track(context: Context, batch: list[EventIn]) -> TrackResult:
    """What ``track`` does with its decoded events: the resolver above and the fast path
    (api.ingest.fast_track) both call it, so both answer the same."""
    principal = context.require_key()
    settings = context.resources.settings
    if not batch:
        raise BadInput("events", "at least 1 event is required")
    if len(batch) > settings.max_batch_events:
        raise BatchTooLarge(
            f"events: {len(batch)} events in one request; the limit is "
            f"{settings.max_batch_events}. Nothing was stored.",
            limit=settings.max_batch_events,
        )
    resources = context.resources
    salts = await todays_salts(resources)
    outcome = await ingest_batch(
        resources.engine, resources.partitions,
        tenant_id=principal.tenant_id, events=batch,
        retention_days=principal.raw_retention_days,
        max_future_seconds=settings.max_future_seconds,
        origin=request_origin(context.request, principal, settings, salts),
        honour_privacy=principal.honour_privacy_signals,
        group=resources.group_commit, vouched=getattr(context.request.state, "vouched", None),
    )
    count_ingest(accepted=outcome.accepted, duplicates=outcome.duplicates, rejected=outcome.rejected)
    if outcome.accepted:
        resources.rollups.notify(principal.tenant_id)
    return TrackResult(accepted=outcome.accepted, duplicates=outcome.duplicates,
                       rejected=outcome.rejected, opted_out=outcome.opted_out, outcome=outcome)
