"""Exports over HTTP: exact rows in every format, key kinds, parameters, tenant-local ranges,
isolation, a million rows with flat memory, and a client that leaves mid-stream.

Tenant A counts days in Europe/Berlin; 2025-10-26 is the day clocks go back (25 hours), so the
local hour 02:00 happens twice (+02:00, then +01:00).
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import hashlib
import io
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics import export as exports
from analytics import periods
from analytics.tenants import service as tenants
from tests.conftest import GraphQLClient, TenantKeys, event

FORMATS = ("csv", "ndjson", "json")
NOTE = 'line 1\nline 2, "quoted"\t\\ é € \u2028'


def uid(n: int) -> str:
    return str(uuid.UUID(int=n))


def events_a() -> list[dict[str, Any]]:
    return [
        event("TourStarted", "2025-10-25T21:59:59Z", "u1", id=uid(1), tourId="tour_x",
              properties={"plan": "pro", "note": NOTE, "n": [1, 2.5, None, True]}),
        event("TourStarted", "2025-10-25T22:00:00Z", "u2", id=uid(2), tourId="tour_x", sessionId="s-1"),
        event("StepViewed", "2025-10-26T00:30:00Z", "u2", id=uid(3), tourId="tour_x", stepIndex=0,
              stepId="welcome"),
        event("StepViewed", "2025-10-26T01:30:00Z", "u2", id=uid(4), tourId="tour_x", stepIndex=1),
        event("ContentViewed", "2025-10-26T10:00:00Z", None, id=uid(5), anonymousId="a-1",
              contentId='banner, "spring"', properties={"variant": "B"}),
        event("target_not_found", "2025-10-26T12:00:00Z", "u2", id=uid(6), tourId="tour_x", stepIndex=2,
              selector='#save, .btn[data-x="1"]', url='https://app.example.com/a,b?q="x"'),
        event("TourCompleted", "2025-10-26T22:59:59.5Z", "u2", id=uid(7), tourId="tour_x"),
        event("TourStarted", "2025-10-26T23:00:00Z", "u3", id=uid(8), tourId="tour_x"),
    ]


def row(occurred_at: str, n: int, kind: str, **fields: Any) -> dict[str, Any]:
    base = {"occurred_at": occurred_at, "id": uid(n), "type": kind, "user_id": None, "anonymous_id": None,
            "session_id": None, "tour_id": None, "step_index": None, "step_id": None, "content_id": None,
            "selector": None, "url": None, "properties": None}
    return {**base, **fields}


# Tenant A's events as exported: instants in Berlin time, in time order.
ROWS_A = [
    row("2025-10-25T23:59:59+02:00", 1, "TourStarted", user_id="u1", tour_id="tour_x",
        properties={"plan": "pro", "note": NOTE, "n": [1, 2.5, None, True]}),
    row("2025-10-26T00:00:00+02:00", 2, "TourStarted", user_id="u2", tour_id="tour_x", session_id="s-1"),
    row("2025-10-26T02:30:00+02:00", 3, "StepViewed", user_id="u2", tour_id="tour_x", step_index=0,
        step_id="welcome"),
    row("2025-10-26T02:30:00+01:00", 4, "StepViewed", user_id="u2", tour_id="tour_x", step_index=1),
    row("2025-10-26T11:00:00+01:00", 5, "ContentViewed", anonymous_id="a-1", content_id='banner, "spring"',
        properties={"variant": "B"}),
    row("2025-10-26T13:00:00+01:00", 6, "target_not_found", user_id="u2", tour_id="tour_x", step_index=2,
        selector='#save, .btn[data-x="1"]', url='https://app.example.com/a,b?q="x"'),
    row("2025-10-26T23:59:59.5+01:00", 7, "TourCompleted", user_id="u2", tour_id="tour_x"),
    row("2025-10-27T00:00:00+01:00", 8, "TourStarted", user_id="u3", tour_id="tour_x"),
]

INTEGERS = {"step_index", "value"}


def parse(response: httpx.Response) -> list[dict[str, Any]]:
    """Rows of any format in one shape: CSV's empty fields are nulls, its numbers and JSON decoded."""
    media = response.headers["content-type"]
    if media.startswith("text/csv"):
        rows: list[dict[str, Any]] = []
        for record in csv.DictReader(io.StringIO(response.text, newline="")):
            values: dict[str, Any] = {k: (v if v != "" else None) for k, v in record.items()}
            for key in INTEGERS & values.keys():
                values[key] = None if values[key] is None else int(values[key])
            if "bot" in values:
                values["bot"] = {"true": True, "false": False}[values["bot"]]
            if values.get("properties") is not None:
                values["properties"] = json.loads(values["properties"])
            rows.append(values)
        return rows
    if media == "application/x-ndjson":
        # Lines end at "\n" only: U+2028 and friends may occur raw inside JSON strings.
        return [json.loads(line) for line in response.text.split("\n")[:-1]]
    assert media == "application/json", media
    parsed: list[dict[str, Any]] = json.loads(response.text)
    return parsed


def without_received(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for r in rows:
        received = datetime.fromisoformat(r.pop("received_at"))
        assert abs(datetime.now(UTC) - received) < timedelta(minutes=10), received
    return rows


async def export(http: httpx.AsyncClient, base_url: str, key: str | None, path: str,
                 **params: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return await http.get(f"{base_url}/export/{path}", params=params, headers=headers)


@pytest.fixture
async def two_tenants(gql: GraphQLClient, make_tenant: Any) -> tuple[TenantKeys, TenantKeys]:
    a = await make_tenant(timezone="Europe/Berlin")
    b = await make_tenant(timezone="UTC")
    assert (await gql.track(a.publishable, events_a()))["accepted"] == 8
    # The same ids and tour in tenant B: they must never show up in A's export.
    b_events = [event("TourStarted", "2025-10-26T12:00:00Z", "b1", id=uid(1), tourId="tour_x"),
                event("TourStarted", "2025-10-26T12:30:00Z", "b2", id=uid(2), tourId="tour_x")]
    assert (await gql.track(b.publishable, b_events))["accepted"] == 2
    return a, b


@pytest.mark.parametrize("fmt", FORMATS)
async def test_raw_events_round_trip_in_every_format(http: httpx.AsyncClient, base_url: str, fmt: str,
                                                     two_tenants: tuple[TenantKeys, TenantKeys]) -> None:
    a, _ = two_tenants
    response = await export(http, base_url, a.secret, f"events.{fmt}", **{"from": "2025-10-25", "to": "2025-10-27"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == {
        "csv": "text/csv; charset=utf-8; header=present", "ndjson": "application/x-ndjson",
        "json": "application/json"}[fmt]
    assert response.headers["content-disposition"] == f'attachment; filename="events-2025-10-25-2025-10-27.{fmt}"'
    assert response.headers["x-export-from"] == "2025-10-25T00:00:00+02:00"
    assert response.headers["x-export-to"] == "2025-10-28T00:00:00+01:00"
    assert without_received(parse(response)) == ROWS_A
    if fmt == "csv":
        lines = response.text.split("\n")
        assert lines[0] == ("occurred_at,id,received_at,type,user_id,anonymous_id,session_id,tour_id,"
                            "step_index,step_id,content_id,selector,url,properties")
        # RFC 4180: fields with commas, quotes or line breaks are quoted, quotes doubled.
        assert ',"banner, ""spring""",,,"{""variant"": ""B""}"' in response.text
    if fmt == "json":
        assert response.text.startswith("[\n{") and response.text.endswith("}\n]\n")


@pytest.mark.parametrize("fmt", FORMATS)
async def test_an_empty_range_is_a_valid_empty_file(http: httpx.AsyncClient, base_url: str, fmt: str,
                                                    two_tenants: tuple[TenantKeys, TenantKeys]) -> None:
    a, _ = two_tenants
    response = await export(http, base_url, a.secret, f"events.{fmt}", **{"from": "2024-01-01", "to": "2024-01-02"})
    assert response.status_code == 200
    assert response.text == {"csv": ("occurred_at,id,received_at,type,user_id,anonymous_id,session_id,"
                                     "tour_id,step_index,step_id,content_id,selector,url,properties\n"),
                             "ndjson": "", "json": "[\n]\n"}[fmt]
    assert parse(response) == []


async def test_ranges_are_local_days_and_hours(http: httpx.AsyncClient, base_url: str,
                                               two_tenants: tuple[TenantKeys, TenantKeys]) -> None:
    a, _ = two_tenants

    async def ids(**params: str) -> list[str]:
        response = await export(http, base_url, a.secret, "events.ndjson", **params)
        assert response.status_code == 200, response.text
        return [r["id"] for r in parse(response)]

    # The 25-hour local day: 22:00 UTC the day before up to 23:00 UTC, the end excluded.
    assert await ids(**{"from": "2025-10-26", "to": "2025-10-26"}) == [uid(n) for n in range(2, 8)]
    # Date-times are widened to whole local hours (as in the graph); the second 02:00 hour only.
    assert await ids(**{"from": "2025-10-26T02:45:00+01:00", "to": "2025-10-26T11:00:00+01:00"}) == [uid(4)]
    # A date-time without an offset is local time.
    assert await ids(**{"from": "2025-10-26T11:00:00", "to": "2025-10-26T13:00:01"}) == [uid(5), uid(6)]
    response = await export(http, base_url, a.secret, "events.csv", **{"from": "2025-10-26T02:45:00+01:00",
                                                                       "to": "2025-10-26T11:00:00+01:00"})
    assert (response.headers["x-export-from"], response.headers["x-export-to"]) == (
        "2025-10-26T02:00:00+01:00", "2025-10-26T11:00:00+01:00")


async def test_relative_ranges(http: httpx.AsyncClient, base_url: str, gql: GraphQLClient,
                               make_tenant: Any) -> None:
    t = await make_tenant(timezone="America/New_York")
    now = datetime.now(UTC)
    old = now - timedelta(days=5)
    stamp = "%Y-%m-%dT%H:%M:%S.%fZ"
    tracked = [event("TourStarted", old.strftime(stamp), "u1", id=uid(1), tourId="t"),
               event("TourStarted", now.strftime(stamp), "u1", id=uid(2), tourId="t")]
    assert (await gql.track(t.publishable, tracked))["accepted"] == 2
    recent = await export(http, base_url, t.secret, "events.json", since="2d")
    assert [r["id"] for r in parse(recent)] == [uid(2)]
    week = await export(http, base_url, t.secret, "events.json", preset="last_7_days")
    assert [r["id"] for r in parse(week)] == [uid(1), uid(2)]
    assert week.headers["x-export-timezone"] == "America/New_York"


async def test_tenants_see_only_their_own_rows(http: httpx.AsyncClient, base_url: str,
                                               two_tenants: tuple[TenantKeys, TenantKeys]) -> None:
    a, b = two_tenants
    for fmt in FORMATS:
        rows_b = parse(await export(http, base_url, b.secret, f"events.{fmt}", **{"from": "2025-10-01", "to": "2025-10-31"}))
        assert [(r["occurred_at"], r["id"], r["user_id"]) for r in rows_b] == [
            ("2025-10-26T12:00:00+00:00", uid(1), "b1"), ("2025-10-26T12:30:00+00:00", uid(2), "b2")]
        rows_a = parse(await export(http, base_url, a.secret, f"events.{fmt}", **{"from": "2025-10-01", "to": "2025-10-31"}))
        assert [r["user_id"] for r in rows_a] == ["u1", "u2", "u2", "u2", None, "u2", "u2", "u3"]


async def test_key_kinds(http: httpx.AsyncClient, base_url: str,
                         two_tenants: tuple[TenantKeys, TenantKeys]) -> None:
    a, _ = two_tenants
    day = {"from": "2025-10-26", "to": "2025-10-26"}
    cases: list[tuple[dict[str, str], int, str | None]] = [
        ({}, 401, "UNAUTHENTICATED"),
        ({"Authorization": "Bearer sk_unknown"}, 401, "UNAUTHENTICATED"),
        ({"X-API-Key": a.publishable}, 403, "FORBIDDEN"),
        ({"Authorization": f"Bearer {a.publishable}"}, 403, "FORBIDDEN"),
        ({"X-API-Key": a.secret}, 200, None),
        ({"Authorization": f"bearer {a.secret}"}, 200, None),
    ]
    for headers, status, code in cases:
        response = await http.get(f"{base_url}/export/events.csv", params=day, headers=headers)
        assert response.status_code == status, (headers, response.text)
        if code is not None:
            assert response.headers["content-type"] == "application/json"
            assert response.json()["errors"][0]["extensions"]["code"] == code
        else:
            assert len(parse(response)) == 6


BAD = [
    ("nope.csv", {"from": "2025-10-26", "to": "2025-10-26"}, "dataset",
     "'nope' is not a dataset; choose one of events, hourly, daily, daily_users"),
    ("events.xml", {"from": "2025-10-26", "to": "2025-10-26"}, "format",
     "'xml' is not a format; choose one of csv, ndjson, json"),
    ("events", {"from": "2025-10-26", "to": "2025-10-26"}, "format", "missing"),
    ("events.csv", {}, "range", "give exactly one of from/to, preset or since"),
    ("events.csv", {"from": "2025-10-26"}, "range", "from and to are both required"),
    ("events.csv", {"from": "2025-10-26", "since": "7d"}, "range", "give exactly one of"),
    ("events.csv", {"from": "2025-13-01", "to": "2025-10-26"}, "from", "is not a date (YYYY-MM-DD)"),
    ("events.csv", {"from": "2025-10-26", "to": "2025-10-25"}, "to", "to: must be after from"),
    ("events.csv", {"from": "1900-01-01T00:00:00", "to": "2025-10-25"}, "from", "between the years 1970 and 2200"),
    ("events.csv", {"since": "0d"}, "since", "must be longer than 0"),
    ("events.csv", {"since": "99999d"}, "since", "must be at most 3660 days"),
    ("events.csv", {"since": "7 years"}, "since", "is not a duration such as 30m, 24h, 7d or 2w"),
    ("events.csv", {"preset": "LAST_YEAR"}, "preset",
     "is not one of TODAY, YESTERDAY, LAST_24_HOURS, LAST_7_DAYS, LAST_30_DAYS, LAST_90_DAYS"),
    ("events.csv", {"from": "2025-10-26", "to": "2025-10-26", "limit": "10"}, "limit", "unknown parameter"),
]


async def test_bad_parameters_are_named(http: httpx.AsyncClient, base_url: str, make_tenant: Any) -> None:
    t = await make_tenant()
    for path, params, field, message in BAD:
        response = await export(http, base_url, t.secret, path, **params)
        assert response.status_code == 400, (path, params, response.text)
        error = response.json()["errors"][0]
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": field}, (path, params, error)
        assert error["message"].startswith(f"{field}: ") and message in error["message"], error
    twice = await http.get(f"{base_url}/export/events.csv?since=1d&since=2d",
                           headers={"Authorization": f"Bearer {t.secret}"})
    assert twice.status_code == 400 and twice.json()["errors"][0]["message"] == "since: give it at most once"


async def test_head_answers_headers_without_running_the_export(http: httpx.AsyncClient, base_url: str,
                                                                make_tenant: Any) -> None:
    t = await make_tenant()
    response = await http.head(f"{base_url}/export/daily.ndjson", params={"preset": "TODAY"},
                               headers={"Authorization": f"Bearer {t.secret}"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-ndjson"
    assert response.headers["content-disposition"].startswith('attachment; filename="daily-')


# --- rollups ------------------------------------------------------------------------------------

HOURLY = [
    {"hour": "2025-10-26T02:00:00+02:00", "entity_type": "tour", "entity_id": "t1", "metric": "starts",
     "step_index": None, "bot": False, "value": 1},
    {"hour": "2025-10-26T02:00:00+01:00", "entity_type": "tour", "entity_id": "t1", "metric": "starts",
     "step_index": None, "bot": False, "value": 2},
    {"hour": "2025-10-26T02:00:00+01:00", "entity_type": "tour", "entity_id": "t1", "metric": "step_views",
     "step_index": None, "bot": False, "value": 1},
    {"hour": "2025-10-26T02:00:00+01:00", "entity_type": "tour", "entity_id": "t1", "metric": "step_views",
     "step_index": 0, "bot": False, "value": 1},
]
DAILY = [
    {"day": "2025-10-25", "entity_type": "content", "entity_id": "c1", "metric": "views", "step_index": None,
     "bot": False, "value": 1},
    {"day": "2025-10-26", "entity_type": "tour", "entity_id": "t1", "metric": "starts", "step_index": None,
     "bot": False, "value": 3},
    {"day": "2025-10-26", "entity_type": "tour", "entity_id": "t1", "metric": "step_views", "step_index": None,
     "bot": False, "value": 1},
    {"day": "2025-10-26", "entity_type": "tour", "entity_id": "t1", "metric": "step_views", "step_index": 0,
     "bot": False, "value": 1},
    {"day": "2025-10-27", "entity_type": "tour", "entity_id": "t1", "metric": "starts", "step_index": None,
     "bot": False, "value": 1},
]


def user_row(day: str, entity: tuple[str, str], metric: str, step: int | None, user: str | None,
             anonymous: str | None = None) -> dict[str, Any]:
    return {"day": day, "entity_type": entity[0], "entity_id": entity[1], "metric": metric,
            "step_index": step, "bot": False, "user_id": user, "anonymous_id": anonymous}


DAILY_USERS = [
    user_row("2025-10-25", ("content", "c1"), "views", None, None, "a-1"),
    user_row("2025-10-26", ("tour", "t1"), "starts", None, "u1"),
    user_row("2025-10-26", ("tour", "t1"), "starts", None, "u2"),
    user_row("2025-10-26", ("tour", "t1"), "step_views", None, "u1"),
    user_row("2025-10-26", ("tour", "t1"), "step_views", 0, "u1"),
    user_row("2025-10-27", ("tour", "t1"), "starts", None, "u3"),
]


@pytest.fixture
async def rolled_up(gql: GraphQLClient, make_tenant: Any, run_worker: Any) -> TenantKeys:
    t: TenantKeys = await make_tenant(timezone="Europe/Berlin")
    tracked = [
        event("ContentViewed", "2025-10-25T21:30:00Z", None, anonymousId="a-1", contentId="c1"),  # 23:30 CEST
        event("TourStarted", "2025-10-26T00:30:00Z", "u1", tourId="t1"),  # 02:30 CEST
        event("TourStarted", "2025-10-26T01:15:00Z", "u2", tourId="t1"),  # 02:15 CET
        event("TourStarted", "2025-10-26T01:45:00Z", "u2", tourId="t1"),  # 02:45 CET, same user
        event("StepViewed", "2025-10-26T01:20:00Z", "u1", tourId="t1", stepIndex=0),  # 02:20 CET
        event("TourStarted", "2025-10-26T23:10:00Z", "u3", tourId="t1"),  # 00:10 CET on the 27th
    ]
    assert (await gql.track(t.publishable, tracked))["accepted"] == 6
    await run_worker()
    return t


GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


@pytest.mark.parametrize("fmt", FORMATS)
async def test_bot_rows_only_with_include_bots_and_told_apart(
        http: httpx.AsyncClient, base_url: str, gql: GraphQLClient, make_tenant: Any, run_worker: Any,
        fmt: str) -> None:
    """The counters keep humans and bots apart under the same key: by default the export holds the
    human rows only (as the graph counts); with includeBots both, told apart by their bot column."""
    t = await make_tenant(timezone="UTC")
    tracked = [event("TourStarted", "2025-06-02T10:05:00Z", "u1", tourId="t1"),
               event("TourStarted", "2025-06-02T10:20:00Z", "u2", tourId="t1"),
               event("TourStarted", "2025-06-02T10:30:00Z", "crawler", tourId="t1",
                     context={"userAgent": GOOGLEBOT})]
    assert (await gql.track(t.publishable, tracked))["accepted"] == 3
    await run_worker()
    day = {"from": "2025-06-02", "to": "2025-06-02"}

    def starts(when: dict[str, str], bot: bool, value: int) -> dict[str, Any]:
        return {**when, "entity_type": "tour", "entity_id": "t1", "metric": "starts", "step_index": None,
                "bot": bot, "value": value}

    hour = {"hour": "2025-06-02T10:00:00+00:00"}
    hourly = await export(http, base_url, t.secret, f"hourly.{fmt}", **day)
    assert hourly.status_code == 200, hourly.text
    assert parse(hourly) == [starts(hour, False, 2)]
    explicit = await export(http, base_url, t.secret, f"hourly.{fmt}", **day, includeBots="false")
    assert parse(explicit) == [starts(hour, False, 2)]
    both = await export(http, base_url, t.secret, f"hourly.{fmt}", **day, includeBots="true")
    assert parse(both) == [starts(hour, False, 2), starts(hour, True, 1)]
    daily = await export(http, base_url, t.secret, f"daily.{fmt}", **day)
    assert parse(daily) == [starts({"day": "2025-06-02"}, False, 2)]
    daily_both = await export(http, base_url, t.secret, f"daily.{fmt}", **day, includeBots="true")
    assert parse(daily_both) == [starts({"day": "2025-06-02"}, False, 2), starts({"day": "2025-06-02"}, True, 1)]
    users = await export(http, base_url, t.secret, f"daily_users.{fmt}", **day)
    assert [(r["user_id"], r["bot"]) for r in parse(users)] == [("u1", False), ("u2", False)]
    users_both = await export(http, base_url, t.secret, f"daily_users.{fmt}", **day, includeBots="true")
    assert [(r["user_id"], r["bot"]) for r in parse(users_both)] == [("u1", False), ("u2", False),
                                                                       ("crawler", True)]
    if fmt == "csv":
        assert both.text.split("\n")[:3] == ["hour,entity_type,entity_id,metric,step_index,bot,value",
                                             "2025-06-02T10:00:00+00:00,tour,t1,starts,,false,2",
                                             "2025-06-02T10:00:00+00:00,tour,t1,starts,,true,1"]


async def test_include_bots_is_true_or_false_and_only_for_rollups(http: httpx.AsyncClient, base_url: str,
                                                                  make_tenant: Any) -> None:
    t = await make_tenant()
    day = {"from": "2025-06-02", "to": "2025-06-02"}
    for path, value, message in [
            ("daily.csv", "yes", "includeBots: 'yes' is not true or false"),
            ("events.csv", "true", "includeBots: events holds every raw event, bots included; "
                                   "includeBots applies to hourly, daily and daily_users")]:
        response = await export(http, base_url, t.secret, path, **day, includeBots=value)
        assert response.status_code == 400, response.text
        assert response.json()["errors"][0] == {
            "message": message, "extensions": {"code": "BAD_USER_INPUT", "field": "includeBots"}}
    assert (await export(http, base_url, t.secret, "events.csv", **day, includeBots="false")).status_code == 200


@pytest.mark.parametrize("fmt", FORMATS)
async def test_rollups_round_trip(http: httpx.AsyncClient, base_url: str, rolled_up: TenantKeys, fmt: str) -> None:
    key = rolled_up.secret
    hourly = await export(http, base_url, key, f"hourly.{fmt}", **{"from": "2025-10-26", "to": "2025-10-26"})
    assert hourly.status_code == 200, hourly.text
    assert parse(hourly) == HOURLY
    # Date-times select whole local hours: the second 02:00 only.
    second = await export(http, base_url, key, f"hourly.{fmt}",
                          **{"from": "2025-10-26T02:10:00+01:00", "to": "2025-10-26T02:50:00+01:00"})
    assert parse(second) == HOURLY[1:]
    daily = await export(http, base_url, key, f"daily.{fmt}", **{"from": "2025-10-25", "to": "2025-10-27"})
    assert parse(daily) == DAILY
    # Day datasets widen an hour range to its local days.
    one_day = await export(http, base_url, key, f"daily.{fmt}",
                           **{"from": "2025-10-26T12:00:00", "to": "2025-10-26T13:00:00"})
    assert parse(one_day) == DAILY[1:4]
    assert one_day.headers["content-disposition"] == f'attachment; filename="daily-2025-10-26-2025-10-26.{fmt}"'
    users = await export(http, base_url, key, f"daily_users.{fmt}", **{"from": "2025-10-25", "to": "2025-10-27"})
    assert parse(users) == DAILY_USERS


# --- a million rows ------------------------------------------------------------------------------

MILLION = 1_000_000
MILLION_FROM = datetime(2025, 1, 5, tzinfo=UTC)  # one second apart: 11.6 days inside January 2025


def million_row(n: int) -> list[str]:
    """A row as the CSV export writes it, without received_at."""
    at = (MILLION_FROM + timedelta(seconds=n)).isoformat()
    return [at, str(uuid.UUID(hashlib.md5(str(n).encode()).hexdigest())), "StepViewed", f"user-{n % 1000}", "", "",
            f"tour_{n % 20}", str(n % 5), "", "", "", f"https://app.example.com/page/{n}", ""]


@pytest.fixture(scope="module")
async def million(owner_engine: AsyncEngine) -> TenantKeys:
    async with owner_engine.begin() as conn:
        tenant = await tenants.create_tenant(conn, name=f"t-{uuid.uuid4().hex[:10]}", timezone="UTC",
                                             raw_retention_days=3650)
        _, sk = await tenants.create_key(conn, tenant_id=tenant.id, kind=tenants.KeyKind.SECRET)
        partition = (await conn.execute(text("SELECT analytics_ensure_event_partition(:at)"),
                                        {"at": MILLION_FROM})).scalar_one()
        assert partition == "events_2025_01"
        assert (await conn.execute(text("SELECT to_regclass('events_2025_01') IS NOT NULL"))).scalar_one()
        await conn.execute(text(
            "INSERT INTO events (tenant_id, occurred_at, id, type, user_id, tour_id, step_index, url) "
            "SELECT :tenant, CAST(:start AS timestamptz) + g * interval '1 second', md5(g::text)::uuid, 'StepViewed', "
            "'user-' || (g % 1000), 'tour_' || (g % 20), g % 5, 'https://app.example.com/page/' || g "
            "FROM generate_series(0, :n - 1) AS g"), {"tenant": tenant.id, "start": MILLION_FROM, "n": MILLION})
    return TenantKeys(tenant.id, tenant.name, "", sk)


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


async def test_a_million_rows_stream_in_flat_memory(http: httpx.AsyncClient, base_url: str,
                                                     million: TenantKeys) -> None:
    """The server runs in this process: its memory is ours. A buffered export (about 190 MB of CSV)
    could not stay under the bound."""
    baseline = peak = rss_mb()
    lines, size, head, tail = 0, 0, b"", b""
    started = time.perf_counter()
    async with http.stream("GET", f"{base_url}/export/events.csv", params={"from": "2025-01-01", "to": "2025-01-31"},
                           headers={"Authorization": f"Bearer {million.secret}"}, timeout=120) as response:
        assert response.status_code == 200
        async for chunk in response.aiter_raw():
            lines += chunk.count(b"\n")
            size += len(chunk)
            if len(head) < 1000:
                head += chunk[:1000]
            tail = (tail + chunk)[-1000:]
            if lines % 16 == 0:
                peak = max(peak, rss_mb())
    seconds = time.perf_counter() - started
    peak = max(peak, rss_mb())
    assert lines == MILLION + 1  # and the header
    first = next(csv.reader(io.StringIO(head.decode().split("\n")[1])))
    last = next(csv.reader(io.StringIO(tail.decode().rstrip("\n").rsplit("\n", 1)[1])))
    assert first[:2] + first[3:] == million_row(0)
    assert last[:2] + last[3:] == million_row(MILLION - 1)
    assert peak - baseline < 60, f"RSS grew {peak - baseline:.0f} MB (from {baseline:.0f} MB)"
    print(f"\n1M rows: {size / 1e6:.0f} MB in {seconds:.1f} s, RSS {baseline:.0f} -> peak {peak:.0f} MB")


async def copies_running(owner_engine: AsyncEngine) -> int:
    async with owner_engine.connect() as conn:
        return int((await conn.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
            "AND query LIKE 'COPY (SELECT %' AND state <> 'idle'"))).scalar_one())


async def until_no_copy_runs(owner_engine: AsyncEngine) -> None:
    """A stopped export's COPY ends on the server soon after; on a loaded machine (CI saw load 9) its
    backend can take seconds to notice, so this waits up to 30 s."""
    for _ in range(600):
        if await copies_running(owner_engine) == 0:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("an export's COPY is still running")


async def test_a_client_leaving_mid_stream_releases_the_transaction(
        http: httpx.AsyncClient, base_url: str, million: TenantKeys, owner_engine: AsyncEngine) -> None:
    async with http.stream("GET", f"{base_url}/export/events.ndjson", params={"from": "2025-01-01", "to": "2025-01-31"},
                           headers={"Authorization": f"Bearer {million.secret}"}) as response:
        assert response.status_code == 200
        async for _ in response.aiter_raw():
            break
        assert await copies_running(owner_engine) == 1  # held back by this client, not finished
    await until_no_copy_runs(owner_engine)
    # The pool is healthy afterwards.
    response = await export(http, base_url, million.secret, "events.csv",
                            **{"from": "2025-01-05T00:00:00Z", "to": "2025-01-05T01:00:00Z"})
    assert response.status_code == 200 and response.text.count("\n") == 3601


class SlowRequest(exports.ExportRequest):
    def query(self) -> tuple[str, list[Any]]:
        return "SELECT pg_sleep(60)", []


async def test_a_server_sending_nothing_is_stopped_too(app_engine: AsyncEngine, owner_engine: AsyncEngine,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The client leaves while PostgreSQL computes and sends nothing: after the grace period the
    producer is cancelled, PostgreSQL's statement with it, and the connection is dropped."""
    monkeypatch.setattr(exports, "STOP_GRACE_SECONDS", 0.2)
    period = periods.resolve(periods.RangeSpec(since="1d"), ZoneInfo("UTC"))
    stream = exports.ExportStream(app_engine, SlowRequest(0, exports.Dataset.EVENTS, exports.ExportFormat.CSV, period))
    starting = asyncio.create_task(stream.start())
    for _ in range(100):
        if await copies_running(owner_engine) == 1:
            break
        await asyncio.sleep(0.05)
    starting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await starting
    await stream.aclose()
    await until_no_copy_runs(owner_engine)
    async with app_engine.connect() as conn:  # the pool still hands out working connections
        assert (await conn.execute(text("SELECT 1"))).scalar_one() == 1


async def test_a_quarter_of_the_pool_at_most_runs_exports(http: httpx.AsyncClient, base_url: str,
                                                           million: TenantKeys, settings: Any,
                                                           owner_engine: AsyncEngine) -> None:
    most = settings.db_pool_size // 4
    await until_no_copy_runs(owner_engine)  # what an earlier test stopped has ended (it is counted below)
    params = {"from": "2025-01-01", "to": "2025-01-31"}
    headers = {"Authorization": f"Bearer {million.secret}"}
    async with contextlib.AsyncExitStack() as held:
        for _ in range(most):
            response = await held.enter_async_context(
                http.stream("GET", f"{base_url}/export/events.csv", params=params, headers=headers))
            assert response.status_code == 200
        busy = await http.get(f"{base_url}/export/events.csv", params=params, headers=headers)
        assert busy.status_code == 503 and busy.headers["retry-after"] == "5"
        assert busy.json()["errors"][0]["extensions"]["code"] == "EXPORTS_BUSY"
        assert await copies_running(owner_engine) == most
    await until_no_copy_runs(owner_engine)
    # A minute is widened to its whole hour.
    small = await export(http, base_url, million.secret, "events.ndjson",
                         **{"from": "2025-01-05T00:00:00Z", "to": "2025-01-05T00:01:00Z"})
    assert small.status_code == 200 and small.text.count("\n") == 3600
