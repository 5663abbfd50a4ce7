"""A funnel's definition: ordered steps (event matchers), windows, order mode, exclusions and what
counts as one actor; validated here, stored as JSON.

Order modes (how a person's events make an attempt, analytics.funnels.derive):

- ``ORDERED``: the steps in order; any other events may come between them.
- ``STRICT``: the steps in order with no other event of the actor in between. "Other" means any
  event of the actor (the person; the session when counting per session) of any type, Custom or
  catalogue, page views included, except (a) a repeat of the step just reached and (b) the
  measurement events the SDK sends by itself while a page or capsule is open (``PageEngagement``,
  ``ContentEngagement``). An other event ends the attempt at the step reached (dropped there); the
  same event may start the next attempt if it matches the first step.
- ``UNORDERED``: the steps in any order; step *k* is reached when *k* different steps are done,
  the attempt starting at the first event that matches any step.

Windows: the whole attempt must be done within ``window_seconds`` of its first step (inclusive: a
step exactly at the window's end counts, one second later does not). A step may add its own
``within_seconds``: the longest time from the step before it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from analytics.errors import InvalidArgument
from analytics.matchers import Matcher, parse_matcher

MIN_STEPS, MAX_STEPS = 2, 20
MAX_EXCLUSIONS = 10
MAX_FUNNELS = 50
MAX_NAME = 100
DEFAULT_WINDOW_SECONDS = 14 * 86400
MAX_WINDOW_SECONDS = 90 * 86400  # raw events are kept 90 days by default: a longer window could not rebuild
STRICT_IGNORED = frozenset({"PageEngagement", "ContentEngagement"})


class OrderMode(enum.Enum):
    ORDERED = "ORDERED"
    STRICT = "STRICT"
    UNORDERED = "UNORDERED"


class Counting(enum.Enum):
    USER = "USER"  # one actor per person (user id, else anonymous id)
    SESSION = "SESSION"  # one actor per session: an attempt never spans two sessions


@dataclass(frozen=True)
class Step:
    matcher: Matcher
    within_seconds: int | None = None  # longest time from the previous step (None: the funnel window)
    label: str | None = None

    @property
    def title(self) -> str:
        return self.label or self.matcher.event


@dataclass(frozen=True)
class FunnelDefinition:
    name: str
    steps: tuple[Step, ...]
    window_seconds: int = DEFAULT_WINDOW_SECONDS
    order: OrderMode = OrderMode.ORDERED
    exclusions: tuple[Matcher, ...] = ()
    counting: Counting = Counting.USER

    @cached_property
    def event_names(self) -> frozenset[str]:  # asked once per claimed event by the consumer
        return frozenset(m.event for m in (*(s.matcher for s in self.steps), *self.exclusions))

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "window_seconds": self.window_seconds,
            "order": self.order.value,
            "counting": self.counting.value,
            "steps": [
                {"matcher": s.matcher.to_json(), "within_seconds": s.within_seconds, "label": s.label}
                for s in self.steps
            ],
            "exclusions": [m.to_json() for m in self.exclusions],
        }


def _seconds(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_WINDOW_SECONDS:
        raise InvalidArgument(
            field, f"must be a whole number of seconds from 1 to {MAX_WINDOW_SECONDS} (90 days)"
        )
    return value


def parse_definition(raw: Mapping[str, Any]) -> FunnelDefinition:
    """A definition from its JSON form (the store's, or the mutation's input turned into it), or
    InvalidArgument naming the field."""
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        raise InvalidArgument("name", f"is required (at most {MAX_NAME} characters)")
    raw_steps = raw.get("steps") or []
    if not isinstance(raw_steps, Sequence) or not MIN_STEPS <= len(raw_steps) <= MAX_STEPS:
        raise InvalidArgument("steps", f"must have {MIN_STEPS} to {MAX_STEPS} steps")
    steps = []
    for i, item in enumerate(raw_steps):
        within = item.get("within_seconds")
        if within is not None:
            if i == 0:
                raise InvalidArgument("steps[0].withinSeconds", "the first step has no step before it")
            within = _seconds(within, f"steps[{i}].withinSeconds")
        label = item.get("label")
        if label is not None and (not isinstance(label, str) or len(label) > MAX_NAME):
            raise InvalidArgument(f"steps[{i}].label", f"is at most {MAX_NAME} characters")
        steps.append(
            Step(parse_matcher(item.get("matcher") or {}, field=f"steps[{i}].matcher"), within, label)
        )
    window = _seconds(raw.get("window_seconds", DEFAULT_WINDOW_SECONDS), "windowSeconds")
    raw_exclusions = raw.get("exclusions") or []
    if len(raw_exclusions) > MAX_EXCLUSIONS:
        raise InvalidArgument("exclusions", f"takes at most {MAX_EXCLUSIONS} matchers")
    exclusions = tuple(parse_matcher(m, field=f"exclusions[{i}]") for i, m in enumerate(raw_exclusions))
    for i, exclusion in enumerate(exclusions):
        if any(exclusion == s.matcher for s in steps):
            raise InvalidArgument(f"exclusions[{i}]", "is also a step: an attempt would void itself")
    try:
        order = OrderMode(raw.get("order", OrderMode.ORDERED.value))
        counting = Counting(raw.get("counting", Counting.USER.value))
    except ValueError as exc:
        raise InvalidArgument("order", str(exc)) from None
    return FunnelDefinition(name.strip(), tuple(steps), window, order, exclusions, counting)
