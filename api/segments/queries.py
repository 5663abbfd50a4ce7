"""Tenant-level segment fields: ``segments(range)`` and ``segment(id)`` (analytics.segments.service)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import replace

import strawberry

from analytics.errors import InvalidArgument
from analytics.segments import service
from analytics.segments.engagement import Thresholds, load_thresholds, save_thresholds
from api.common import Period, RangeInput, check_limit
from api.context import AppInfo
from api.errors import BadInput
from api.segments.types import (
    SCORE_DOC,
    DefineSegmentInput,
    SegmentEngagement,
    SegmentMember,
    SegmentMemberConnection,
    SegmentMemberEdge,
    SegmentMovement,
    SegmentSummary,
    SegmentThresholds,
    SegmentThresholdsInput,
    rule_of,
)
from api.tours.queries import PageInfo
from workers.queue import enqueue_segments

MAX_MEMBERS = 500


def _cursor(user_key: str) -> str:
    return base64.urlsafe_b64encode(user_key.encode()).decode()


def _after(cursor: str | None) -> str | None:
    if cursor is None:
        return None
    try:
        return base64.b64decode(cursor.encode(), altchars=b"-_", validate=True).decode()
    except (ValueError, binascii.Error):
        raise BadInput("after", "is not a cursor returned by this field") from None


@strawberry.type(description="One segment: built-in (power, regular, new, at_risk) or a rule segment.")
class Segment:
    id: str
    name: str
    built_in: bool
    rule: strawberry.scalars.JSON | None = strawberry.field(description="A rule segment's rule (JSON form).")

    @strawberry.field(description="Members as of the range's end.")
    async def size(self, info: AppInfo, range: RangeInput) -> int:
        return (await _figures(info, self, range)).size

    @strawberry.field(description="size / users in any built-in segment * 100, as of the range's end (now "
                                  "without a range).")
    async def share(self, info: AppInfo, range: RangeInput | None = None) -> float | None:
        return (await _figures(info, self, range)).share

    @strawberry.field(description="Members now, by user key; paginated (first at most 500).")
    async def members(self, info: AppInfo, first: int = 50,
                      after: str | None = None) -> SegmentMemberConnection:
        check_limit("first", first, MAX_MEMBERS)
        async with info.context.read() as conn:
            rows, total = await service.current_members(conn, segment_id=self.id, after=_after(after),
                                                        limit=first + 1)
        page = rows[:first]
        nodes = [SegmentMember(user_key=m.user_key, user_id=m.user_id, anonymous_id=m.anonymous_id,
                               since=m.since, engagement=m.score) for m in page]
        return SegmentMemberConnection(
            edges=[SegmentMemberEdge(cursor=_cursor(n.user_key), node=n) for n in nodes], nodes=nodes,
            total_count=total, page_info=PageInfo(has_next_page=len(rows) > first,
                                                  end_cursor=_cursor(page[-1].user_key) if page else None))

    @strawberry.field(description="Users who joined or left the segment in the range, by where they came "
                                  "from or went (most users first).")
    async def movements(self, info: AppInfo, range: RangeInput) -> list[SegmentMovement]:
        period = range.resolve(info.context.require_secret().timezone)
        async with info.context.read() as conn:
            found = await service.movements(conn, segment_id=self.id, start=period.start, end=period.end)
        return [SegmentMovement(from_=m.from_segment, to=m.to_segment, users=m.users) for m in found]

    @strawberry.field(description="The members' engagement as of the range's end. " + SCORE_DOC)
    async def engagement(self, info: AppInfo, range: RangeInput) -> SegmentEngagement:
        principal = info.context.require_secret()
        period = range.resolve(principal.timezone)
        async with info.context.read() as conn:
            found = await service.engagement(conn, principal.tenant_id, segment_id=self.id, at=period.end)
        return SegmentEngagement(period=Period.of(period), members=found.members, mean=found.mean,
                                 histogram=list(found.histogram))

    @classmethod
    def of(cls, s: service.Segment) -> Segment:
        return cls(id=s.id, name=s.name, built_in=s.built_in, rule=s.rule)  # type: ignore[arg-type]


async def _figures(info: AppInfo, segment: Segment, range: RangeInput | None) -> service.SegmentFigures:
    principal = info.context.require_secret()
    async with info.context.read() as conn:
        at = (range.resolve(principal.timezone).end if range is not None
              else (await conn.execute(service.NOW)).scalar_one())
        return (await service.segment_figures(
            conn, principal.tenant_id, [service.Segment(segment.id, segment.name, segment.built_in, None)],
            at))[0]


async def segments(info: AppInfo, range: RangeInput) -> list[SegmentSummary]:
    principal = info.context.require_secret()
    period = range.resolve(principal.timezone)
    async with info.context.read() as conn:
        found = await service.list_segments(conn, principal.tenant_id)
        figures = await service.segment_figures(conn, principal.tenant_id, found, period.end)
    return [SegmentSummary.of(f) for f in figures]


async def segment(info: AppInfo, id: str) -> Segment | None:
    principal = info.context.require_secret()
    async with info.context.read() as conn:
        found = await service.get_segment(conn, principal.tenant_id, id)
    return Segment.of(found) if found else None


async def segment_thresholds(info: AppInfo) -> SegmentThresholds:
    principal = info.context.require_secret()
    async with info.context.read() as conn:
        return SegmentThresholds.of(await load_thresholds(conn, principal.tenant_id))


@strawberry.type
class SegmentMutation:
    @strawberry.mutation(description="Create or replace a rule segment (secret key); the worker re-evaluates "
                                     "every user, memberships keep their history.")
    async def define_segment(self, info: AppInfo, input: DefineSegmentInput) -> Segment:
        principal = info.context.require_secret()
        try:
            async with info.context.write() as conn:
                found = await service.define_segment(conn, principal.tenant_id, segment_id=input.id,
                                                     name=input.name, rule=rule_of(input.rule))
        except InvalidArgument as exc:
            raise BadInput(f"input.{exc.field}", exc.message) from None
        await _enqueue(info, principal.tenant_id)
        return Segment.of(found)

    @strawberry.mutation(description="Delete a rule segment and its memberships with their history (secret "
                                     "key); false when there was none. Built-in segments cannot be deleted.")
    async def delete_segment(self, info: AppInfo, id: str) -> bool:
        principal = info.context.require_secret()
        try:
            async with info.context.write() as conn:
                return await service.delete_segment(conn, principal.tenant_id, id)
        except InvalidArgument as exc:
            raise BadInput(exc.field, exc.message) from None

    @strawberry.mutation(description="Change the engagement window and built-in thresholds (secret key); the "
                                     "worker re-evaluates every user.")
    async def set_segment_thresholds(self, info: AppInfo, input: SegmentThresholdsInput) -> SegmentThresholds:
        principal = info.context.require_secret()
        changes = {k: v for k, v in vars(input).items() if v is not None}
        try:
            async with info.context.write() as conn:
                current: Thresholds = await load_thresholds(conn, principal.tenant_id)
                saved = await save_thresholds(conn, principal.tenant_id, replace(current, **changes))
        except InvalidArgument as exc:
            raise BadInput(f"input.{exc.field}", exc.message) from None
        await _enqueue(info, principal.tenant_id)
        return SegmentThresholds.of(saved)


async def _enqueue(info: AppInfo, tenant_id: int) -> None:
    """The sweeper queues the job anyway (the marks are in PostgreSQL); this only saves the wait."""
    await enqueue_segments(info.context.resources.redis, tenant_id)
