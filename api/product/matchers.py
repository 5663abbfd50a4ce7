"""The event matcher as a GraphQL input and output (analytics.matchers), shared by funnels,
features, segments and experiments."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.scalars import JSON

from analytics.errors import InvalidArgument
from analytics.matchers import Matcher, Op, parse_matcher
from api.errors import BadInput

strawberry.enum(Op, name="MatchOp", description=(
    "EQ, NEQ: equal or not (a missing property is not equal); IN: one of a list; GT, GTE, LT, LTE: "
    "numeric comparisons (a missing or non-numeric property never matches them)."))


@strawberry.input(description="One condition on the event: all of a matcher's conditions must hold.")
class ConditionInput:
    property: str = strawberry.field(description=(
        "A key of the event's properties (dotted for nested objects: plan.tier), or one of the "
        "event's fields tourId, stepIndex, stepId, contentId, url."))
    op: Op = Op.EQ
    value: JSON = strawberry.field(description="A JSON value; a list for IN, a number for GT..LTE.")


@strawberry.input(description="Which events count: a catalogue type (TourCompleted) or a Custom event's "
                              "name (deploy), with conditions on its properties.")
class MatcherInput:
    event: str
    where: list[ConditionInput] = strawberry.field(default_factory=list)

    def to_matcher(self, field: str) -> Matcher:
        """The domain matcher, or BadInput naming ``field`` and what is wrong."""
        raw: dict[str, Any] = {"event": self.event, "where": [
            {"property": c.property, "op": c.op.value, "value": c.value} for c in self.where]}
        try:
            return parse_matcher(raw, field=field)
        except InvalidArgument as exc:
            raise BadInput(exc.field, exc.message) from None


@strawberry.type(description="One condition of a matcher.")
class MatchCondition:
    property: str
    op: Op
    value: JSON


@strawberry.type(description="Which events count.")
class EventMatcher:
    event: str
    where: list[MatchCondition]

    @classmethod
    def of(cls, matcher: Matcher) -> EventMatcher:
        return cls(event=matcher.event, where=[MatchCondition(property=c.property, op=c.op, value=c.value)
                                               for c in matcher.conditions])
