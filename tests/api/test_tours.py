"""End to end over HTTP: ingest known tour journeys for two tenants, run the worker, read exact numbers.

Tenant A counts days in Europe/Berlin; 2025-10-26 is the day clocks go back (25 hours).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import GraphQLClient, TenantKeys, event

TOUR = "tour_123"


def journeys_a() -> list[dict[str, Any]]:
    """UTC timestamps; local Berlin time in the comments."""
    e: list[dict[str, Any]] = []
    # u1, 2025-10-25 10:00 CEST: the whole tour.
    e.append(event("TourStarted", "2025-10-25T08:00:00Z", "u1", tourId=TOUR))
    for step in range(5):
        e.append(event("StepViewed", f"2025-10-25T08:0{step + 1}:00Z", "u1", tourId=TOUR, stepIndex=step))
        e.append(event("StepCompleted", f"2025-10-25T08:0{step + 1}:30Z", "u1", tourId=TOUR, stepIndex=step))
    e.append(event("TourCompleted", "2025-10-25T08:10:00Z", "u1", tourId=TOUR))
    # u2, 2025-10-25 23:30 CEST: two steps, then dismissed at step 1.
    e.append(event("TourStarted", "2025-10-25T21:30:00Z", "u2", tourId=TOUR))
    e.append(event("StepViewed", "2025-10-25T21:31:00Z", "u2", tourId=TOUR, stepIndex=0))
    e.append(event("StepViewed", "2025-10-25T21:32:00Z", "u2", tourId=TOUR, stepIndex=1))
    e.append(event("TourDismissed", "2025-10-25T21:40:00Z", "u2", tourId=TOUR, stepIndex=1))
    # u3 on the DST day: 02:30 CEST (first 02:00 hour), then 02:30 CET (second 02:00 hour).
    e.append(event("TourStarted", "2025-10-26T00:30:00Z", "u3", tourId=TOUR))
    e.append(event("StepViewed", "2025-10-26T00:31:00Z", "u3", tourId=TOUR, stepIndex=0))
    e.append(event("StepViewed", "2025-10-26T01:30:00Z", "u3", tourId=TOUR, stepIndex=1))
    e.append(event("target_not_found", "2025-10-26T01:35:00Z", "u3", tourId=TOUR, stepIndex=2,
                   selector="#missing", url="https://app.example.com/settings"))
    # u4: 23:59 CET on the DST day, finishing after local midnight (2025-10-27 00:05 CET).
    e.append(event("TourStarted", "2025-10-26T22:59:00Z", "u4", tourId=TOUR))
    e.append(event("StepViewed", "2025-10-26T22:59:30Z", "u4", tourId=TOUR, stepIndex=0))
    e.append(event("StepViewed", "2025-10-26T23:05:00Z", "u4", tourId=TOUR, stepIndex=1))
    e.append(event("TourCompleted", "2025-10-26T23:06:00Z", "u4", tourId=TOUR))
    # u5, 2025-10-27 10:00 CET: restarts; the target of step 0 and another go missing.
    e.append(event("TourStarted", "2025-10-27T09:00:00Z", "u5", tourId=TOUR))
    e.append(event("StepViewed", "2025-10-27T09:00:10Z", "u5", tourId=TOUR, stepIndex=0))
    e.append(event("TourRestarted", "2025-10-27T09:01:00Z", "u5", tourId=TOUR))
    e.append(event("target_not_found", "2025-10-27T09:02:00Z", "u5", tourId=TOUR, stepIndex=0,
                   selector="#missing", url="https://app.example.com/home"))
    e.append(event("target_not_found", "2025-10-27T09:03:00Z", "u5", tourId=TOUR, stepIndex=0,
                   selector="#missing", url="https://app.example.com/home"))
    e.append(event("target_not_found", "2025-10-27T09:04:00Z", "u5", tourId=TOUR, stepIndex=0,
                   selector="#other"))
    # An anonymous visitor on 2025-10-27.
    e.append(event("TourStarted", "2025-10-27T12:00:00Z", None, anonymousId="a-1", tourId=TOUR))
    e.append(event("StepViewed", "2025-10-27T12:00:05Z", None, anonymousId="a-1", tourId=TOUR,
                   stepIndex=0))
    # A second, short tour that everyone finishes.
    e.append(event("TourStarted", "2025-10-25T09:00:00Z", "u9", tourId="tour_b2"))
    e.append(event("TourCompleted", "2025-10-25T09:05:00Z", "u9", tourId="tour_b2"))
    return e


def journeys_b() -> list[dict[str, Any]]:
    return [
        event("TourStarted", "2025-10-26T12:00:00Z", "b1", tourId=TOUR),
        event("TourCompleted", "2025-10-26T12:05:00Z", "b1", tourId=TOUR),
        event("TourStarted", "2025-10-26T13:00:00Z", "b2", tourId=TOUR),
    ]


STEPS = [{"index": i, "title": t, "selector": s} for i, (t, s) in enumerate(
    [("Welcome", "#welcome"), ("Navigate to settings", "#nav"), ("Click the tab", "#missing"),
     ("Configure", "#cfg"), ("Complete", "#done")])]

DEFINE = """mutation Define($input: DefineTourInput!) { defineTour(input: $input) { id title } }"""

COUNTS = "starts completions dismissals restarts stepViews stepCompletions targetFailures completionRate"


@pytest.fixture
async def loaded(gql: GraphQLClient, make_tenant: Any, run_worker: Any) -> tuple[TenantKeys, TenantKeys]:
    a = await make_tenant(timezone="Europe/Berlin")
    b = await make_tenant(timezone="UTC")
    defined = await gql.data(a.secret, DEFINE, {"input": {"id": TOUR, "title": "Onboarding", "steps": STEPS}})
    assert defined["defineTour"] == {"id": TOUR, "title": "Onboarding"}
    events_a = journeys_a()
    result = await gql.track(a.publishable, events_a)
    assert (result["accepted"], result["duplicates"], result["rejected"]) == (len(events_a), 0, 0)
    assert (await gql.track(b.publishable, journeys_b()))["accepted"] == 3
    await run_worker()
    return a, b


RANGE = {"from": "2025-10-25", "to": "2025-10-27"}


async def test_stats_are_exact(gql: GraphQLClient, loaded: tuple[TenantKeys, TenantKeys]) -> None:
    a, _ = loaded
    data = await gql.data(a.secret, f"""query($r: RangeInput!) {{ tenant {{ tour(id: "{TOUR}") {{
        id title stats(range: $r) {{ {COUNTS} dismissalRate period {{ from to firstDay lastDay timezone }} }} }} }} }}""",
                          {"r": RANGE})
    tour = data["tenant"]["tour"]
    assert tour["title"] == "Onboarding"
    stats = tour["stats"]
    assert {k: stats[k] for k in COUNTS.split()} == {
        "starts": 6, "completions": 2, "dismissals": 1, "restarts": 1, "stepViews": 13,
        "stepCompletions": 5, "targetFailures": 4, "completionRate": 33.33,
    }
    assert stats["dismissalRate"] == 16.67
    assert stats["period"] == {"from": "2025-10-25T00:00:00+02:00", "to": "2025-10-28T00:00:00+01:00",
                               "firstDay": "2025-10-25", "lastDay": "2025-10-27",
                               "timezone": "Europe/Berlin"}


async def test_compare_previous_period(gql: GraphQLClient, loaded: tuple[TenantKeys, TenantKeys]) -> None:
    a, _ = loaded
    data = await gql.data(a.secret, f"""{{ tenant {{ tour(id: "{TOUR}") {{
        stats(range: {{from: "2025-10-26", to: "2025-10-27"}}, compare: PREVIOUS_PERIOD) {{
          starts completions completionRate
          previous {{ starts completions completionRate period {{ firstDay lastDay }} }}
          change {{ starts completions completionRate dismissals }} }} }} }} }}""")
    stats = data["tenant"]["tour"]["stats"]
    assert (stats["starts"], stats["completions"], stats["completionRate"]) == (4, 1, 25.0)
    assert stats["previous"] == {"starts": 2, "completions": 1, "completionRate": 50.0,
                                 "period": {"firstDay": "2025-10-24", "lastDay": "2025-10-25"}}
    # dismissals: 0 now, 1 before -> -100 %; a base of 0 would give null.
    assert stats["change"] == {"starts": 100.0, "completions": 0.0, "completionRate": -50.0,
                               "dismissals": -100.0}


async def test_daily_series_in_tenant_time_zone(gql: GraphQLClient,
                                                loaded: tuple[TenantKeys, TenantKeys]) -> None:
    a, _ = loaded
    data = await gql.data(a.secret, f"""{{ tenant {{ tour(id: "{TOUR}") {{
        series(range: {{from: "2025-10-24", to: "2025-10-28"}}, granularity: DAY) {{
          granularity points {{ start date starts completions stepViews targetFailures }} }} }} }} }}""")
    series = data["tenant"]["tour"]["series"]
    assert series["granularity"] == "DAY"
    assert series["points"] == [
        {"start": "2025-10-24T00:00:00+02:00", "date": "2025-10-24", "starts": 0, "completions": 0,
         "stepViews": 0, "targetFailures": 0},
        {"start": "2025-10-25T00:00:00+02:00", "date": "2025-10-25", "starts": 2, "completions": 1,
         "stepViews": 7, "targetFailures": 0},
        {"start": "2025-10-26T00:00:00+02:00", "date": "2025-10-26", "starts": 2, "completions": 0,
         "stepViews": 3, "targetFailures": 1},
        {"start": "2025-10-27T00:00:00+01:00", "date": "2025-10-27", "starts": 2, "completions": 1,
         "stepViews": 3, "targetFailures": 3},
        {"start": "2025-10-28T00:00:00+01:00", "date": "2025-10-28", "starts": 0, "completions": 0,
         "stepViews": 0, "targetFailures": 0},
    ]


async def test_hourly_series_on_the_25_hour_day(gql: GraphQLClient,
                                                loaded: tuple[TenantKeys, TenantKeys]) -> None:
    a, _ = loaded
    data = await gql.data(a.secret, f"""{{ tenant {{ tour(id: "{TOUR}") {{
        series(range: {{from: "2025-10-26", to: "2025-10-26"}}) {{
          granularity points {{ start starts stepViews targetFailures }} }} }} }} }}""")
    series = data["tenant"]["tour"]["series"]
    assert series["granularity"] == "HOUR"  # the default for a one-day range
    points = series["points"]
    assert len(points) == 25
    assert [p["start"] for p in points[:5]] == [
        "2025-10-26T00:00:00+02:00", "2025-10-26T01:00:00+02:00", "2025-10-26T02:00:00+02:00",
        "2025-10-26T02:00:00+01:00", "2025-10-26T03:00:00+01:00"]
    assert points[-1]["start"] == "2025-10-26T23:00:00+01:00"
    non_zero = {p["start"]: (p["starts"], p["stepViews"], p["targetFailures"])
                for p in points if p["starts"] or p["stepViews"] or p["targetFailures"]}
    assert non_zero == {
        "2025-10-26T02:00:00+02:00": (1, 1, 0),
        "2025-10-26T02:00:00+01:00": (0, 1, 1),
        "2025-10-26T23:00:00+01:00": (1, 1, 0),
    }


async def test_funnel_by_distinct_users(gql: GraphQLClient, loaded: tuple[TenantKeys, TenantKeys]) -> None:
    a, _ = loaded
    data = await gql.data(a.secret, f"""query($r: RangeInput!) {{ tenant {{ tour(id: "{TOUR}") {{
        funnel(range: $r) {{ steps {{ index title users percentOfFirst dropOff }}
                             biggestDropOff {{ index title dropOff }} }}
        userStatus(range: $r) {{ started completed dismissed inProgress }} }} }} }}""", {"r": RANGE})
    funnel = data["tenant"]["tour"]["funnel"]
    assert funnel["steps"] == [
        {"index": 0, "title": "Welcome", "users": 6, "percentOfFirst": 100.0, "dropOff": 0.0},
        {"index": 1, "title": "Navigate to settings", "users": 4, "percentOfFirst": 66.67, "dropOff": 33.33},
        {"index": 2, "title": "Click the tab", "users": 1, "percentOfFirst": 16.67, "dropOff": 50.0},
        {"index": 3, "title": "Configure", "users": 1, "percentOfFirst": 16.67, "dropOff": 0.0},
        {"index": 4, "title": "Complete", "users": 1, "percentOfFirst": 16.67, "dropOff": 0.0},
    ]
    assert funnel["biggestDropOff"] == {"index": 2, "title": "Click the tab", "dropOff": 50.0}
    assert data["tenant"]["tour"]["userStatus"] == {"started": 6, "completed": 2, "dismissed": 1,
                                                    "inProgress": 3}


async def test_selector_health(gql: GraphQLClient, loaded: tuple[TenantKeys, TenantKeys]) -> None:
    a, _ = loaded
    data = await gql.data(a.secret, """query($r: RangeInput!) { tenant {
        selectorHealth(range: $r) { totalFailures selectors { selector failures lastSeen urls tourIds } } } }""",
                          {"r": RANGE})
    assert data["tenant"]["selectorHealth"] == {"totalFailures": 4, "selectors": [
        {"selector": "#missing", "failures": 3, "lastSeen": "2025-10-27T10:03:00+01:00",
         "urls": ["https://app.example.com/home", "https://app.example.com/settings"],
         "tourIds": [TOUR]},
        {"selector": "#other", "failures": 1, "lastSeen": "2025-10-27T10:04:00+01:00", "urls": [],
         "tourIds": [TOUR]},
    ]}


async def test_overview_and_tour_list(gql: GraphQLClient, loaded: tuple[TenantKeys, TenantKeys]) -> None:
    a, _ = loaded
    data = await gql.data(a.secret, """query($r: RangeInput!) { tenant {
        tours(first: 1) { totalCount nodes { id stats(range: $r) { starts } } pageInfo { hasNextPage endCursor } }
        overview(range: $r) { activeTours starts completions combinedCompletionRate
            topTour { tour { id } completionRate starts }
            needsAttention { tour { id } stepIndex stepTitle dropOff } } } }""", {"r": RANGE})
    tours = data["tenant"]["tours"]
    assert tours["totalCount"] == 2
    assert tours["nodes"] == [{"id": TOUR, "stats": {"starts": 6}}]
    assert tours["pageInfo"]["hasNextPage"] is True
    rest = await gql.data(a.secret, """query($after: String) { tenant { tours(first: 5, after: $after) {
        nodes { id } pageInfo { hasNextPage } } } }""", {"after": tours["pageInfo"]["endCursor"]})
    assert rest["tenant"]["tours"] == {"nodes": [{"id": "tour_b2"}], "pageInfo": {"hasNextPage": False}}
    assert data["tenant"]["overview"] == {
        "activeTours": 2, "starts": 7, "completions": 3, "combinedCompletionRate": 42.86,
        "topTour": {"tour": {"id": "tour_b2"}, "completionRate": 100.0, "starts": 1},
        "needsAttention": {"tour": {"id": TOUR}, "stepIndex": 2, "stepTitle": "Click the tab",
                           "dropOff": 50.0},
    }


async def test_tenants_see_only_their_own_data(gql: GraphQLClient,
                                               loaded: tuple[TenantKeys, TenantKeys]) -> None:
    a, b = loaded
    query = f"""{{ tenant {{ tours {{ totalCount }} tour(id: "{TOUR}") {{ stats(range: {{from: "2025-10-25", to: "2025-10-27"}}) {{ starts completions completionRate }} }}
                  other: tour(id: "tour_b2") {{ id }} selectorHealth(range: {{from: "2025-10-25", to: "2025-10-27"}}) {{ totalFailures }} }} }}"""
    seen_by_b = (await gql.data(b.secret, query))["tenant"]
    assert seen_by_b == {"tours": {"totalCount": 1},
                         "tour": {"stats": {"starts": 2, "completions": 1, "completionRate": 50.0}},
                         "other": None, "selectorHealth": {"totalFailures": 0}}
    seen_by_a = (await gql.data(a.secret, query))["tenant"]
    assert seen_by_a["tour"]["stats"]["starts"] == 6


async def test_unknown_tour_is_null(gql: GraphQLClient, make_tenant: Any) -> None:
    tenant = await make_tenant()
    data = await gql.data(tenant.secret, '{ tenant { tour(id: "nope") { id } } }')
    assert data == {"tenant": {"tour": None}}


async def test_bad_arguments_name_the_field(gql: GraphQLClient, make_tenant: Any) -> None:
    tenant = await make_tenant()
    cases = {
        '{ tenant { tour(id: "x") { id } overview(range: {preset: TODAY, since: "2h"}) { activeTours } } }': "range",
        '{ tenant { tourSeries(range: {from: "2025-01-01", to: "2025-01-03"}, granularity: WEEK) { granularity } } }': "granularity",
        '{ tenant { tourSeries(range: {from: "2025-01-03", to: "2025-01-01"}) { granularity } } }': "range.to",
        '{ tenant { tourSeries(range: {from: "1st of May", to: "2025-01-01"}) { granularity } } }': "range.from",
        '{ tenant { tours(first: 501) { totalCount } } }': "first",
        '{ tenant { tours(after: "@@@") { totalCount } } }': "after",
        '{ tenant { selectorHealth(range: {since: "7d"}, limit: 0) { totalFailures } } }': "limit",
    }
    for query, field in cases.items():
        body = await gql(tenant.secret, query)
        error = body["errors"][0]
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": field}, (query, error)
        assert error["message"].startswith(f"{field}: ")
