"""Funnels in the graph: defineFunnel / removeFunnel (secret key), tenant { funnels funnel(id) } and a
funnel's result (analytics.funnels)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

import strawberry
from sqlalchemy import text

from analytics import metrics, periods
from analytics.errors import InvalidArgument
from analytics.funnels import result as funnel_result
from analytics.funnels import store
from analytics.funnels.definition import (
    DEFAULT_WINDOW_SECONDS,
    MAX_FUNNELS,
    Counting,
    FunnelDefinition,
    OrderMode,
    parse_definition,
)
from analytics.funnels.result import Dimension, FunnelFigures, StepFigures
from analytics.segments.service import MEMBERS_AT_SQL
from api.common import Compare, IncludeBots, Period, RangeInput, check_limit
from api.context import AppInfo
from api.errors import BadInput
from api.product.matchers import EventMatcher, MatcherInput
from api.segments.types import MembersArgument
from workers.queue import enqueue_funnel_backfill

strawberry.enum(
    OrderMode,
    name="FunnelOrder",
    description=(
        "ORDERED: the steps in order, other events may come between; STRICT: in order with no other event "
        "of the actor in between (any event of the person, or of the session when counting per session, "
        "except a repeat of the step just reached and the SDK's own PageEngagement and ContentEngagement "
        "measurements); UNORDERED: in any order (step k = k different steps done)."
    ),
)
strawberry.enum(
    Counting,
    name="FunnelCounting",
    description=(
        "USER: one actor per person (userId, else anonymousId); SESSION: one per session, an attempt "
        "never spans two sessions."
    ),
)
strawberry.enum(
    Dimension,
    name="FunnelDimension",
    description=(
        "SOURCE, DEVICE, COUNTRY: of the session of the first step's event; PROPERTY: a property of the "
        "first step's event (dotted path in breakdown.property); DIMENSION: a dimension declared "
        "(defineEvent) on the event of the funnel's first step, named in breakdown.property, valued as "
        "the event counters value it; SEGMENT: the person's built-in segment (power, regular, new, "
        "at_risk) at the range's end, (none) when in none."
    ),
)


@strawberry.input(description="One step: which events reach it, and optionally its own window.")
class FunnelStepInput:
    matcher: MatcherInput
    within_seconds: int | None = strawberry.field(
        default=None,
        description=("The longest time from the step before (inclusive); the funnel's window still applies."),
    )
    label: str | None = None


@strawberry.input(
    description="A funnel: without id a new one, with id a replacement of that funnel's "
    "definition (its progress is rebuilt)."
)
class DefineFunnelInput:
    name: str
    steps: list[FunnelStepInput]
    id: strawberry.ID | None = None
    window_seconds: int = strawberry.field(
        default=DEFAULT_WINDOW_SECONDS,
        description=(
            "Conversion window from the first step, in seconds (inclusive; default 14 days, at most 90)."
        ),
    )
    order: OrderMode = OrderMode.ORDERED
    exclusions: list[MatcherInput] = strawberry.field(
        default_factory=list,
        description=(
            "Events that void an attempt when they come after its first step and before it completes: a "
            "voided attempt counts nowhere."
        ),
    )
    counting: Counting = Counting.USER


@strawberry.input(
    description="Split the result by one dimension (top 20 values by entered actors, then "
    "(other); (none) when the value is unknown)."
)
class FunnelBreakdownInput:
    by: Dimension
    property: str | None = strawberry.field(
        default=None, description="For PROPERTY: the property's path; for DIMENSION: the declared dimension.")


@strawberry.type
class ProductFunnelStep:
    index: int
    title: str
    matcher: EventMatcher
    within_seconds: int | None


@strawberry.type(
    description="How far the worker has built a new or changed funnel from the retained raw "
    "events: status pending, running or done; persons processed of total."
)
class FunnelBackfill:
    status: str
    processed: int
    total: int | None
    finished_at: datetime | None


@strawberry.type(description="One step's figures; drop-off is counted at the step that was not reached.")
class FunnelStepResult:
    index: int
    title: str
    actors: int = strawberry.field(description="Actors whose best attempt reached this step.")
    conversion_from_first: float | None = strawberry.field(description="actors / first step's actors * 100.")
    conversion_from_previous: float | None = strawberry.field(
        description="actors / previous step's actors * 100."
    )
    dropped: int = strawberry.field(
        description="Previous step's actors who did not reach this one and can "
        "no longer (window over, broken off)."
    )
    in_progress: int = strawberry.field(
        description="Previous step's actors still inside their window at the "
        "range's end (not counted as dropped)."
    )
    drop_off_rate: float | None = strawberry.field(description="dropped / previous step's actors * 100.")
    median_seconds_from_previous: float | None
    p90_seconds_from_previous: float | None

    @classmethod
    def of(cls, figures: StepFigures, title: str) -> FunnelStepResult:
        return cls(
            index=figures.index,
            title=title,
            actors=figures.actors,
            conversion_from_first=figures.conversion_from_first,
            conversion_from_previous=figures.conversion_from_previous,
            dropped=figures.dropped,
            in_progress=figures.in_progress,
            drop_off_rate=figures.drop_off_rate,
            median_seconds_from_previous=figures.median_seconds,
            p90_seconds_from_previous=figures.p90_seconds,
        )


@strawberry.type(
    description="A funnel's figures: the whole funnel, a comparison period or one breakdown value."
)
class FunnelFiguresResult:
    value: str | None = strawberry.field(description="The breakdown value; null for the whole funnel.")
    steps: list[FunnelStepResult]
    entered: int = strawberry.field(description="Actors at the first step.")
    converted: int = strawberry.field(description="Actors at the last step.")
    overall_conversion: float | None = strawberry.field(description="converted / entered * 100.")
    in_progress: int = strawberry.field(description="Actors not converted but still inside their window.")
    dropped: int = strawberry.field(description="Actors not converted whose attempt ended.")
    biggest_drop_off: FunnelStepResult | None = strawberry.field(
        description="The step with the highest dropOffRate."
    )

    @classmethod
    def of(cls, figures: FunnelFigures, titles: list[str]) -> FunnelFiguresResult:
        steps = [FunnelStepResult.of(s, titles[s.index]) for s in figures.steps]
        biggest = figures.biggest_drop_off
        return cls(
            value=figures.value,
            steps=steps,
            entered=figures.steps[0].actors,
            converted=figures.steps[-1].actors,
            overall_conversion=figures.overall_conversion,
            in_progress=sum(s.in_progress for s in figures.steps),
            dropped=sum(s.dropped for s in figures.steps),
            biggest_drop_off=steps[biggest.index] if biggest else None,
        )


@strawberry.type(description="A funnel over a range: attempts that started in it, as they stood at its end.")
class FunnelResult(FunnelFiguresResult):
    period: Period
    previous_period: Period | None
    previous: FunnelFiguresResult | None = strawberry.field(
        description="The same figures for the comparison period."
    )
    overall_conversion_change: float | None = strawberry.field(
        description="Percentage change of overallConversion against the comparison period."
    )
    breakdown: list[FunnelFiguresResult] | None = strawberry.field(description="Per value, with breakdown.")


@strawberry.type(description="A tenant-defined funnel (defineFunnel).")
class ProductFunnel:
    id: strawberry.ID
    name: str
    steps: list[ProductFunnelStep]
    window_seconds: int
    order: OrderMode
    counting: Counting
    exclusions: list[EventMatcher]
    created_at: datetime
    updated_at: datetime
    backfill: FunnelBackfill
    domain: strawberry.Private[store.Funnel]

    @classmethod
    def of(cls, funnel: store.Funnel) -> ProductFunnel:
        d = funnel.definition
        return cls(
            id=strawberry.ID(str(funnel.id)),
            name=d.name,
            steps=[
                ProductFunnelStep(
                    index=i,
                    title=s.title,
                    matcher=EventMatcher.of(s.matcher),
                    within_seconds=s.within_seconds,
                )
                for i, s in enumerate(d.steps)
            ],
            window_seconds=d.window_seconds,
            order=d.order,
            counting=d.counting,
            exclusions=[EventMatcher.of(m) for m in d.exclusions],
            created_at=funnel.created_at,
            updated_at=funnel.updated_at,
            backfill=FunnelBackfill(
                status=funnel.backfill.status,
                processed=funnel.backfill.processed,
                total=funnel.backfill.total,
                finished_at=funnel.backfill.finished_at,
            ),
            domain=funnel,
        )

    @strawberry.field(
        description="Per step actors, conversion, drop-off (dropped apart from in progress) and "
        "times; overall conversion, the biggest drop-off, optionally a breakdown "
        "(limit at most 20 values plus (other)) and a comparison. Reads progress "
        "rows only."
    )
    async def result(
        self,
        info: AppInfo,
        range: RangeInput,
        compare: Compare | None = None,
        breakdown: FunnelBreakdownInput | None = None,
        limit: int = 20,
        include_bots: IncludeBots = False,
        segment: MembersArgument = None,
    ) -> FunnelResult:
        return await funnel_result_of(info, self.domain, range, compare, breakdown, limit, include_bots,
                                      segment)


def _members(segment: str | None, period: periods.Period) -> funnel_result.Restriction | None:
    if segment is None:
        return None
    return funnel_result.Restriction(MEMBERS_AT_SQL, {"segment": segment, "segment_at": period.end})


async def funnel_result_of(
    info: AppInfo,
    funnel: store.Funnel,
    range: RangeInput,
    compare: Compare | None,
    breakdown: FunnelBreakdownInput | None,
    limit: int,
    include_bots: bool,
    segment: str | None = None,
) -> FunnelResult:
    """The result field's answer; a ``segment`` limits the persons to its members as of each period's
    end."""
    principal = info.context.require_secret()
    check_limit("limit", limit, funnel_result.BREAKDOWN_LIMIT)
    if (breakdown is not None and breakdown.by in (Dimension.PROPERTY, Dimension.DIMENSION)
            and not breakdown.property):
        raise BadInput("breakdown.property", f"is required to break down by {breakdown.by.value}")
    period = range.resolve(principal.timezone)
    before = periods.comparison(period, compare)
    restriction = _members(segment, period)
    titles = [s.title for s in funnel.definition.steps]
    async with info.context.read() as conn:
        if breakdown is not None and breakdown.by is Dimension.DIMENSION:
            first = funnel.definition.steps[0].matcher.event
            declared = await conn.execute(text(
                "SELECT 1 FROM event_dimensions WHERE tenant_id = :tenant AND name = :name "
                "AND dimension = :dimension"), {"tenant": principal.tenant_id, "name": first,
                                                "dimension": breakdown.property})
            if declared.first() is None:
                raise BadInput("breakdown.property", f"is not a declared dimension of {first!r}")
        whole = (
            await funnel_result.funnel_figures(
                conn, principal.tenant_id, funnel, period, include_bots=include_bots, restriction=restriction
            )
        )[0]
        then = (
            None
            if before is None
            else (
                await funnel_result.funnel_figures(
                    conn,
                    principal.tenant_id,
                    funnel,
                    before,
                    include_bots=include_bots,
                    restriction=_members(segment, before),
                )
            )[0]
        )
        split = (
            None
            if breakdown is None
            else await funnel_result.funnel_figures(
                conn,
                principal.tenant_id,
                funnel,
                period,
                include_bots=include_bots,
                dimension=breakdown.by,
                prop=breakdown.property,
                restriction=restriction,
                limit=limit,
            )
        )
    now = FunnelFiguresResult.of(whole, titles)
    previous = None if then is None else FunnelFiguresResult.of(replace(then, value=None), titles)
    return FunnelResult(
        **vars(now),
        period=Period.of(period),
        previous_period=Period.of(before) if before else None,
        previous=previous,
        overall_conversion_change=None
        if previous is None
        else metrics.percent_change(now.overall_conversion, previous.overall_conversion),
        breakdown=None if split is None else [FunnelFiguresResult.of(f, titles) for f in split],
    )


def _funnel_id(raw: str, field: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise BadInput(field, "is not a funnel id") from None


async def funnels_of(info: AppInfo) -> list[ProductFunnel]:
    principal = info.context.require_secret()
    async with info.context.read() as conn:
        return [ProductFunnel.of(f) for f in await store.list_funnels(conn, principal.tenant_id)]


async def funnel_by_id(info: AppInfo, id: strawberry.ID) -> ProductFunnel | None:
    principal = info.context.require_secret()
    try:
        funnel_id = int(id)
    except ValueError:
        return None
    async with info.context.read() as conn:
        found = await store.get_funnel(conn, principal.tenant_id, funnel_id)
    return ProductFunnel.of(found) if found else None


def _definition(input: DefineFunnelInput) -> FunnelDefinition:
    raw: dict[str, Any] = {
        "name": input.name,
        "window_seconds": input.window_seconds,
        "order": input.order.value,
        "counting": input.counting.value,
        "steps": [
            {
                "matcher": s.matcher.to_matcher(f"input.steps[{i}].matcher").to_json(),
                "within_seconds": s.within_seconds,
                "label": s.label,
            }
            for i, s in enumerate(input.steps)
        ],
        "exclusions": [
            m.to_matcher(f"input.exclusions[{i}]").to_json() for i, m in enumerate(input.exclusions)
        ],
    }
    try:
        return parse_definition(raw)
    except InvalidArgument as exc:
        raise BadInput(
            exc.field if exc.field.startswith("input") else f"input.{exc.field}", exc.message
        ) from None


@strawberry.type
class FunnelMutation:
    @strawberry.mutation(
        description="Create a funnel, or replace one's definition with input.id (secret key; "
        f"at most {MAX_FUNNELS} per tenant). A worker job builds its progress from "
        "the retained raw events: poll funnel(id) { backfill }."
    )
    async def define_funnel(self, info: AppInfo, input: DefineFunnelInput) -> ProductFunnel:
        principal = info.context.require_secret()
        definition = _definition(input)
        funnel_id = None if input.id is None else _funnel_id(input.id, "input.id")
        try:
            async with info.context.write() as conn:
                funnel = await store.define_funnel(
                    conn, principal.tenant_id, funnel_id=funnel_id, definition=definition
                )
        except InvalidArgument as exc:
            raise BadInput(exc.field, exc.message) from None
        await enqueue_funnel_backfill(info.context.resources.redis, principal.tenant_id, funnel.id)
        return ProductFunnel.of(funnel)

    @strawberry.mutation(
        description="Remove a funnel and its progress (secret key); false when there was none."
    )
    async def remove_funnel(self, info: AppInfo, id: strawberry.ID) -> bool:
        principal = info.context.require_secret()
        funnel_id = _funnel_id(id, "id")
        async with info.context.write() as conn:
            return await store.remove_funnel(conn, principal.tenant_id, funnel_id)


__all__ = [
    "DefineFunnelInput",
    "FunnelMutation",
    "FunnelResult",
    "ProductFunnel",
    "funnel_by_id",
    "funnels_of",
]
