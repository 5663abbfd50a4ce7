"""Rule segments: conditions on a user's event counts in a window, first-seen age and latest
properties, combined with ALL (and) / ANY (or), nested groups allowed.

JSON form (what ``segment_definitions.rule`` keeps)::

    {"match": "ALL", "conditions": [
        {"event": "deploy", "atLeast": 3, "withinDays": 7},           # human events of that name,
        {"firstSeen": {"withinDays": 30}},                            #   days D-6 .. D
        {"property": "plan", "op": "EQ", "value": "pro"},             # latest value (analytics.matchers)
        {"match": "ANY", "conditions": [...]}]}

An event condition counts a Custom event's name or a catalogue type (``user_event_days``); property
conditions use the operators of analytics.matchers on the user's latest properties
(analytics.segments.inputs). ``firstSeen.withinDays: n`` holds when D - first active day < n,
``firstSeen.moreThanDays: n`` when it is >= n.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from analytics.errors import InvalidArgument
from analytics.matchers import Condition, parse_matcher
from analytics.rollups.aggregate import RawEvent

MAX_CONDITIONS = 20
MAX_DEPTH = 3
MAX_WINDOW_DAYS = 365


@dataclass(frozen=True)
class EventCount:
    event: str
    within_days: int
    at_least: int | None = None
    at_most: int | None = None


@dataclass(frozen=True)
class FirstSeen:
    within_days: int | None = None
    more_than_days: int | None = None


@dataclass(frozen=True)
class Rule:
    match_all: bool
    conditions: tuple[EventCount | FirstSeen | Condition | Rule, ...]

    def event_counts(self) -> set[EventCount]:
        found: set[EventCount] = set()
        for c in self.conditions:
            if isinstance(c, EventCount):
                found.add(c)
            elif isinstance(c, Rule):
                found |= c.event_counts()
        return found


@dataclass(frozen=True)
class UserFacts:
    """What a rule looks at for one user as of a day."""

    age_days: int  # D - first active day
    counts: Mapping[EventCount, int]
    properties: Mapping[str, Any]


def holds(rule: Rule, user: UserFacts) -> bool:
    results = (_holds(c, user) for c in rule.conditions)
    return all(results) if rule.match_all else any(results)


def _holds(condition: EventCount | FirstSeen | Condition | Rule, user: UserFacts) -> bool:
    if isinstance(condition, Rule):
        return holds(condition, user)
    if isinstance(condition, EventCount):
        n = user.counts.get(condition, 0)
        return ((condition.at_least is None or n >= condition.at_least)
                and (condition.at_most is None or n <= condition.at_most))
    if isinstance(condition, FirstSeen):
        return ((condition.within_days is None or user.age_days < condition.within_days)
                and (condition.more_than_days is None or user.age_days >= condition.more_than_days))
    probe = RawEvent("Custom", None, None, None, None, None, None, None, None, None,  # type: ignore[arg-type]
                     properties=dict(user.properties))
    return condition.holds(probe)


def _days(raw: Any, field: str) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= MAX_WINDOW_DAYS:
        raise InvalidArgument(field, f"must be a whole number of days from 1 to {MAX_WINDOW_DAYS}")
    return raw


def _count(raw: Any, field: str) -> int | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
        raise InvalidArgument(field, "must be a whole number, 0 or more")
    return raw


def parse_rule(raw: Mapping[str, Any], *, field: str = "rule", depth: int = 1,
               budget: list[int] | None = None) -> Rule:
    """A rule from its JSON form, or InvalidArgument naming the field."""
    budget = budget if budget is not None else [MAX_CONDITIONS]
    match = raw.get("match", "ALL")
    if match not in ("ALL", "ANY"):
        raise InvalidArgument(f"{field}.match", "must be ALL or ANY")
    items = raw.get("conditions")
    if not isinstance(items, list) or not items:
        raise InvalidArgument(f"{field}.conditions", "needs at least one condition")
    conditions: list[EventCount | FirstSeen | Condition | Rule] = []
    for i, item in enumerate(items):
        at = f"{field}.conditions[{i}]"
        budget[0] -= 1
        if budget[0] < 0:
            raise InvalidArgument(at, f"a rule takes at most {MAX_CONDITIONS} conditions in all")
        if not isinstance(item, Mapping):
            raise InvalidArgument(at, "must be an object")
        if "conditions" in item:
            if depth >= MAX_DEPTH:
                raise InvalidArgument(at, f"groups nest at most {MAX_DEPTH} deep")
            conditions.append(parse_rule(item, field=at, depth=depth + 1, budget=budget))
        elif "event" in item:
            name = parse_matcher({"event": item["event"]}, field=at).event
            count = EventCount(name, _days(item.get("withinDays"), f"{at}.withinDays"),
                               _count(item.get("atLeast"), f"{at}.atLeast"),
                               _count(item.get("atMost"), f"{at}.atMost"))
            if count.at_least is None and count.at_most is None:
                raise InvalidArgument(f"{at}.atLeast", "give atLeast, atMost or both")
            conditions.append(count)
        elif "firstSeen" in item:
            seen = item["firstSeen"] or {}
            within, more = seen.get("withinDays"), seen.get("moreThanDays")
            if within is None and more is None:
                raise InvalidArgument(f"{at}.firstSeen", "give withinDays, moreThanDays or both")
            conditions.append(FirstSeen(
                None if within is None else _days(within, f"{at}.firstSeen.withinDays"),
                None if more is None else _days(more, f"{at}.firstSeen.moreThanDays")))
        elif "property" in item:
            matcher = parse_matcher({"event": "property", "where": [item]}, field=at)
            conditions.append(matcher.conditions[0])
        else:
            raise InvalidArgument(at, "must be an event count, firstSeen, a property condition or a group")
    return Rule(match == "ALL", tuple(conditions))


def rule_json(rule: Rule) -> dict[str, Any]:
    """The JSON form of a parsed rule (what is stored and shown)."""
    items: list[dict[str, Any]] = []
    for c in rule.conditions:
        if isinstance(c, Rule):
            items.append(rule_json(c))
        elif isinstance(c, EventCount):
            items.append({"event": c.event, "withinDays": c.within_days, "atLeast": c.at_least,
                          "atMost": c.at_most})
        elif isinstance(c, FirstSeen):
            items.append({"firstSeen": {"withinDays": c.within_days, "moreThanDays": c.more_than_days}})
        else:
            items.append(c.to_json())
    return {"match": "ALL" if rule.match_all else "ANY", "conditions": items}
