"""Event matchers: names, fields, property paths and every operator, and their errors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from analytics.errors import InvalidArgument
from analytics.matchers import parse_matcher
from analytics.rollups.aggregate import RawEvent

AT = datetime(2025, 5, 1, tzinfo=UTC)


def custom(name: str, **properties: object) -> RawEvent:
    return RawEvent("Custom", AT, "u1", None, None, None, None, None, None, None, name=name,
                    properties=dict(properties))


def test_names_fields_and_operators() -> None:
    deploy = custom("deploy", env="prod", n=3, plan={"tier": "pro"}, flag=True)
    assert parse_matcher({"event": "deploy"}).matches(deploy)
    assert not parse_matcher({"event": "deploys"}).matches(deploy)
    tour = RawEvent("TourCompleted", AT, "u1", None, "t1", None, None, None, None, None)
    assert parse_matcher({"event": "TourCompleted", "where": [
        {"property": "tourId", "op": "EQ", "value": "t1"}]}).matches(tour)
    cases = [("env", "EQ", "prod", True), ("env", "NEQ", "prod", False), ("missing", "NEQ", 1, True),
             ("missing", "EQ", None, False), ("env", "IN", ["dev", "prod"], True), ("n", "GT", 3, False),
             ("n", "GTE", 3, True), ("n", "LT", 3.5, True), ("n", "LTE", 2, False), ("env", "GT", 1, False),
             ("flag", "GT", 0, False), ("plan.tier", "EQ", "pro", True), ("plan.tier.x", "EQ", "pro", False)]
    for prop, op, value, expected in cases:
        matcher = parse_matcher({"event": "deploy", "where": [{"property": prop, "op": op, "value": value}]})
        assert matcher.matches(deploy) is expected, (prop, op, value)


@pytest.mark.parametrize(("raw", "field", "reason"), [
    ({}, "m.event", "is required"),
    ({"event": "Custom"}, "m.event", "name the Custom event itself"),
    ({"event": "bad!"}, "m.event", "is neither a catalogue type"),
    ({"event": "x", "where": [{"property": "p", "op": "LIKE", "value": 1}]}, "m.where[0].op", "must be one of"),
    ({"event": "x", "where": [{"property": "p", "op": "IN", "value": 1}]}, "m.where[0].value", "a list"),
    ({"event": "x", "where": [{"property": "p", "op": "GT", "value": "1"}]}, "m.where[0].value", "a number"),
    ({"event": "x", "where": [{"property": "", "op": "EQ", "value": 1}]}, "m.where[0].property", "required"),
])
def test_errors_name_the_field(raw: dict[str, object], field: str, reason: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_matcher(raw, field="m")
    assert caught.value.field == field and reason in str(caught.value)
