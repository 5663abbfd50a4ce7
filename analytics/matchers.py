"""Event matchers: which events a funnel step, a feature, a segment rule or an experiment metric
means. A matcher names an event (a catalogue type such as ``TourCompleted``, or a Custom event's
own name such as ``deploy``) and optionally conditions on its properties, all of which must hold.

A condition's ``property`` is a key of the event's ``properties`` (a dotted path reaches into
nested objects: ``plan.tier``), or one of the event's own fields: ``tourId``, ``stepIndex``,
``stepId``, ``contentId``, ``url``. Operators: ``EQ``, ``NEQ``, ``IN`` (value is a list), and the
numeric ``GT``, ``GTE``, ``LT``, ``LTE`` (a non-number never matches them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from analytics.errors import InvalidArgument
from analytics.ingest.catalogue import CATALOGUE, CUSTOM
from analytics.ingest.events import MAX_NAME_LENGTH, NAME_PATTERN
from analytics.rollups.aggregate import RawEvent

MAX_CONDITIONS = 10
MAX_IN_VALUES = 100
_FIELDS = {"tourId": "tour_id", "stepIndex": "step_index", "stepId": "step_id", "contentId": "content_id",
           "url": "url"}
_MISSING = object()


class Op(Enum):
    EQ = "EQ"
    NEQ = "NEQ"
    IN = "IN"
    GT = "GT"
    GTE = "GTE"
    LT = "LT"
    LTE = "LTE"


_NUMERIC = {Op.GT: float.__gt__, Op.GTE: float.__ge__, Op.LT: float.__lt__, Op.LTE: float.__le__}


@dataclass(frozen=True)
class Condition:
    property: str
    op: Op
    value: Any

    def holds(self, event: RawEvent) -> bool:
        found = _value(event, self.property)
        if self.op is Op.EQ:
            return found is not _MISSING and found == self.value
        if self.op is Op.NEQ:
            return found is _MISSING or found != self.value
        if self.op is Op.IN:
            return found is not _MISSING and found in self.value
        if isinstance(found, bool) or not isinstance(found, (int, float)):
            return False
        return _NUMERIC[self.op](float(found), float(self.value))

    def to_json(self) -> dict[str, Any]:
        return {"property": self.property, "op": self.op.value, "value": self.value}


@dataclass(frozen=True)
class Matcher:
    event: str  # a catalogue type, or a Custom event's name
    conditions: tuple[Condition, ...] = ()

    def matches(self, event: RawEvent) -> bool:
        named = event.name if event.type == CUSTOM else event.type
        return named == self.event and all(c.holds(event) for c in self.conditions)

    def to_json(self) -> dict[str, Any]:
        return {"event": self.event, "where": [c.to_json() for c in self.conditions]}


def _value(event: RawEvent, path: str) -> Any:
    if path in _FIELDS:
        found = getattr(event, _FIELDS[path])
        return _MISSING if found is None else found
    current: Any = event.properties or {}
    for part in path.split("."):
        if not isinstance(current, dict) or part not in current:
            return _MISSING
        current = current[part]
    return current


def parse_matcher(raw: Mapping[str, Any], *, field: str = "matcher") -> Matcher:
    """A matcher from its JSON form ``{"event": ..., "where": [{"property", "op", "value"}]}``
    (what the store keeps and the graph's input gives), or InvalidArgument naming the field."""
    name = raw.get("event")
    if not isinstance(name, str) or not name:
        raise InvalidArgument(f"{field}.event", "is required: a catalogue type or a Custom event's name")
    if name == CUSTOM:
        raise InvalidArgument(f"{field}.event", f"name the Custom event itself (such as deploy), "
                                                f"not {CUSTOM}")
    if name not in CATALOGUE and (len(name) > MAX_NAME_LENGTH or not NAME_PATTERN.fullmatch(name)):
        raise InvalidArgument(f"{field}.event", f"{name[:60]!r} is neither a catalogue type nor a valid "
                              "event name (letters, digits, spaces and _ . : - /, at most "
                              f"{MAX_NAME_LENGTH})")
    where = raw.get("where") or []
    if not isinstance(where, Sequence) or len(where) > MAX_CONDITIONS:
        raise InvalidArgument(f"{field}.where", f"takes at most {MAX_CONDITIONS} conditions")
    conditions = []
    for i, item in enumerate(where):
        at = f"{field}.where[{i}]"
        prop, op_name, value = item.get("property"), item.get("op"), item.get("value")
        if not isinstance(prop, str) or not prop or len(prop) > 200:
            raise InvalidArgument(f"{at}.property", "is required (at most 200 characters)")
        try:
            op = Op(op_name)
        except ValueError:
            raise InvalidArgument(f"{at}.op", f"must be one of {', '.join(o.value for o in Op)}") from None
        if op is Op.IN and (not isinstance(value, list) or not 1 <= len(value) <= MAX_IN_VALUES):
            raise InvalidArgument(f"{at}.value", f"must be a list of 1 to {MAX_IN_VALUES} values for IN")
        if op in _NUMERIC and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise InvalidArgument(f"{at}.value", f"must be a number for {op.value}")
        conditions.append(Condition(prop, op, value))
    return Matcher(name, tuple(conditions))
