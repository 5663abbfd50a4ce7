"""Segments in the graph: the list with size, share and mean engagement, one segment's size,
members, movements and engagement, and the inputs of defineSegment and setSegmentThresholds."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry.scalars import JSON

from analytics.matchers import Op
from analytics.segments import service
from analytics.segments.engagement import Thresholds
from api.common import Period
from api.tours.queries import PageInfo

SCORE_DOC = ("Engagement score 0-10 as of the local day D, over a window of W days (default 28): "
             "round(10 * (0.4 * recency + 0.4 * frequency + 0.2 * depth), 1) with recency = "
             "max(0, 1 - (D - last active day) / W), frequency = active days in the window / W, depth = "
             "min(1, events in the window / active days / depth target (default 10)); human activity only "
             "(user_days).")
BUILT_IN_DOC = ("Built-in segments, one per user, in this order: new (first active within newDays = 14 "
                "days), power (score >= powerMin = 7), regular (score >= regularMin = 4), at_risk (below "
                "that and last active within atRiskDays = 56 days); silent longer: none.")


SegmentArgument = Annotated[str | None, strawberry.argument(
    description="Only sessions of this segment's members as of the range's end: a session belongs when its "
                "user id (u:) or its anonymous id (a:) is a member (a compared period's: as of its own "
                "end).")]
MembersArgument = Annotated[str | None, strawberry.argument(
    description="Only this segment's members (a built-in id such as power, or a rule segment's id) as of the "
                "range's end; a compared period's as of its own end.")]


@strawberry.type(description="A segment with its figures as of the range's end. " + SCORE_DOC)
class SegmentSummary:
    id: str
    name: str
    built_in: bool
    size: int = strawberry.field(description="Members as of the range's end.")
    share: float | None = strawberry.field(description="size / users in any built-in segment * 100.")
    mean_engagement: float | None = strawberry.field(description="Mean score of the members (one decimal).")

    @classmethod
    def of(cls, f: service.SegmentFigures) -> SegmentSummary:
        return cls(id=f.segment.id, name=f.segment.name, built_in=f.segment.built_in, size=f.size,
                   share=f.share, mean_engagement=f.mean_engagement)


@strawberry.type(description="A member now: its user id (or anonymous id), since when, and its score at "
                             "its last evaluation.")
class SegmentMember:
    user_key: str = strawberry.field(description="u:<userId> or a:<anonymousId>.")
    user_id: str | None
    anonymous_id: str | None
    since: datetime
    engagement: float | None


@strawberry.type
class SegmentMemberEdge:
    cursor: str
    node: SegmentMember


@strawberry.type
class SegmentMemberConnection:
    edges: list[SegmentMemberEdge]
    nodes: list[SegmentMember]
    total_count: int
    page_info: PageInfo


@strawberry.type(description="Users who moved between segments in the range; from or to null: from or to "
                             "no built-in segment (for a rule segment: joined or left).")
class SegmentMovement:
    from_: str | None = strawberry.field(name="from")
    to: str | None
    users: int


@strawberry.type(description="The members' engagement scores as of the range's end. " + SCORE_DOC)
class SegmentEngagement:
    period: Period
    members: int
    mean: float | None
    histogram: list[int] = strawberry.field(description="Members by whole score: 0 up to 10 (11 buckets).")


@strawberry.type(description="The engagement window and built-in thresholds of the tenant. " + BUILT_IN_DOC)
class SegmentThresholds:
    window_days: int
    depth_target: float
    power_min: float
    regular_min: float
    new_days: int
    at_risk_days: int

    @classmethod
    def of(cls, t: Thresholds) -> SegmentThresholds:
        return cls(window_days=t.window_days, depth_target=t.depth_target, power_min=t.power_min,
                   regular_min=t.regular_min, new_days=t.new_days, at_risk_days=t.at_risk_days)


@strawberry.input(description="Changes to the thresholds (secret key); fields left out keep their values. "
                              + BUILT_IN_DOC)
class SegmentThresholdsInput:
    window_days: int | None = None
    depth_target: float | None = None
    power_min: float | None = None
    regular_min: float | None = None
    new_days: int | None = None
    at_risk_days: int | None = None


@strawberry.enum(description="ALL: every condition holds (and); ANY: at least one (or).")
class SegmentMatch(enum.Enum):
    ALL = "ALL"
    ANY = "ANY"


@strawberry.input(description="Events of this name (a Custom event's name or a catalogue type) in the last "
                              "withinDays local days, the as-of day included: at least atLeast and at most "
                              "atMost (either or both).")
class EventCountInput:
    event: str
    within_days: int
    at_least: int | None = None
    at_most: int | None = None


@strawberry.input(description="First active day within the last withinDays days, or moreThanDays ago "
                              "or more.")
class FirstSeenInput:
    within_days: int | None = None
    more_than_days: int | None = None


@strawberry.input(description="The latest value of a property the user's events carried (MatchOp operators).")
class UserPropertyInput:
    property: str
    op: Op = Op.EQ
    value: JSON = strawberry.field(description="A JSON value; a list for IN, a number for GT..LTE.")


@strawberry.input(description="Exactly one of: an event count, first seen, a user property, or a group.")
class SegmentConditionInput:
    event: EventCountInput | None = None
    first_seen: FirstSeenInput | None = None
    property: UserPropertyInput | None = None
    group: SegmentGroupInput | None = None


@strawberry.input(description="Conditions combined with ALL (and) or ANY (or).")
class SegmentGroupInput:
    match: SegmentMatch = SegmentMatch.ALL
    conditions: list[SegmentConditionInput]


@strawberry.input(description="A rule segment: id (lower-case letters, digits, _ -), name and rule.")
class DefineSegmentInput:
    id: str
    name: str
    rule: SegmentGroupInput


def rule_of(group: SegmentGroupInput) -> dict[str, Any]:
    """The rule's JSON form (analytics.segments.rules), checked there."""
    items: list[dict[str, Any]] = []
    for c in group.conditions:
        given = [x for x in (c.event, c.first_seen, c.property, c.group) if x is not None]
        if len(given) != 1:
            items.append({})  # rejected by the domain with the condition's index
        elif c.event is not None:
            items.append({"event": c.event.event, "withinDays": c.event.within_days,
                          "atLeast": c.event.at_least, "atMost": c.event.at_most})
        elif c.first_seen is not None:
            items.append({"firstSeen": {"withinDays": c.first_seen.within_days,
                                        "moreThanDays": c.first_seen.more_than_days}})
        elif c.property is not None:
            items.append({"property": c.property.property, "op": c.property.op.value,
                          "value": c.property.value})
        elif c.group is not None:
            items.append(rule_of(c.group))
    return {"match": group.match.value, "conditions": items}
