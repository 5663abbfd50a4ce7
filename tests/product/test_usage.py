"""Usage trends: users from user_days (total, active, DAU / WAU / MAU, stickiness) and the session
figures sessionStats defines, as figures, compared and per day, from events written as data."""

from __future__ import annotations

from typing import Any

from tests.conftest import GraphQLClient, TenantKeys, event

USAGE = """query($range: RangeInput!, $granularity: Granularity, $compare: Compare) { tenant {
    usage(range: $range, granularity: $granularity, compare: $compare) {
        period { firstDay lastDay } granularity comparisonPeriod { firstDay lastDay }
        totalUsers activeUsers dau wau mau stickiness pageViews uniqueVisitors avgSessionDurationSeconds bounceRate
        previous { totalUsers activeUsers dau wau mau stickiness pageViews }
        change { totalUsers activeUsers }
        series { date totalUsers activeUsers dau wau mau stickiness pageViews bounceRate }
        topPages(limit: 5) { key sessions } topSources { key sessions } }
    sessionStats(range: $range) { visitors pageViews avgSessionDurationSeconds bounceRate } } }"""
FIGURES = ("totalUsers", "activeUsers", "dau", "wau", "mau", "stickiness", "pageViews", "uniqueVisitors",
           "avgSessionDurationSeconds", "bounceRate")


def _journeys() -> list[dict[str, Any]]:
    """u1 every day of 8-14 June, u2 on the 8th and 10th, u3 on the 14th, u4 on 20 May (in the month,
    not the week), u5 on 1 April (counted in total users only); two page-view sessions."""
    days = [f"2026-06-{d:02d}" for d in range(8, 15)]
    active = [("u1", day) for day in days] + [("u2", "2026-06-08"), ("u2", "2026-06-10"), ("u3", "2026-06-14"),
                                             ("u4", "2026-05-20"), ("u5", "2026-04-01")]
    events = [event("Custom", f"{day}T{9 + n % 8:02d}:00:00Z", user, name="open", sessionId=f"{user}-{day}")
              for n, (user, day) in enumerate(active)]
    page = "https://shop.example.com"
    events += [event("PageViewed", "2026-06-09T10:00:00Z", None, url=f"{page}/home",
                     sessionId="pv1"),
               event("PageViewed", "2026-06-09T10:01:00Z", None, url=f"{page}/docs",
                     sessionId="pv1"),
               event("PageViewed", "2026-06-09T10:05:00Z", None, url=f"{page}/home",
                     sessionId="pv1"),
               event("PageViewed", "2026-06-12T10:00:00Z", None, url=f"{page}/pricing",
                     sessionId="pv2")]
    return events


async def test_usage_figures_and_series(gql: GraphQLClient, make_tenant: Any, run_worker: Any) -> None:
    tenant: TenantKeys = await make_tenant()
    events = _journeys()
    assert (await gql.track(tenant.publishable, events))["accepted"] == len(events)
    await run_worker()
    data = (await gql.data(tenant.secret, USAGE, {"range": {"from": "2026-06-08", "to": "2026-06-14"},
                                                  "granularity": "DAY", "compare": "PREVIOUS_PERIOD"}))["tenant"]
    usage, sessions = data["usage"], data["sessionStats"]
    # 10 (person, day) pairs over 7 days: DAU 1.43; MAU (16 May - 14 June) u1-u4; stickiness 10/7/4.
    assert {k: usage[k] for k in FIGURES} == {
        "totalUsers": 5, "activeUsers": 3, "dau": 1.43, "wau": 3, "mau": 4, "stickiness": 35.71,
        "pageViews": 4, "uniqueVisitors": sessions["visitors"],
        "avgSessionDurationSeconds": sessions["avgSessionDurationSeconds"], "bounceRate": sessions["bounceRate"]}
    # 12 sessions: 10 of one Custom event (0 s, not bounces), pv1 (3 pages, 300 s), pv2 (a bounce).
    assert (sessions["pageViews"], sessions["avgSessionDurationSeconds"], sessions["bounceRate"]) == (4, 25.0, 8.33)
    assert usage["comparisonPeriod"] == {"firstDay": "2026-06-01", "lastDay": "2026-06-07"}
    assert usage["previous"] == {"totalUsers": 2, "activeUsers": 0, "dau": 0.0, "wau": 0, "mau": 1,
                                 "stickiness": 0.0, "pageViews": 0}
    assert usage["change"] == {"totalUsers": 150.0, "activeUsers": None}
    series = [(p["date"], p["totalUsers"], p["activeUsers"], p["dau"], p["wau"], p["mau"], p["stickiness"],
               p["pageViews"], p["bounceRate"]) for p in usage["series"]]
    assert series == [
        ("2026-06-08", 4, 2, 2.0, 2, 3, 66.67, 0, 0.0),
        ("2026-06-09", 4, 1, 1.0, 2, 3, 33.33, 3, 0.0),
        ("2026-06-10", 4, 2, 2.0, 2, 3, 66.67, 0, 0.0),
        ("2026-06-11", 4, 1, 1.0, 2, 3, 33.33, 0, 0.0),
        ("2026-06-12", 4, 1, 1.0, 2, 3, 33.33, 1, 50.0),
        ("2026-06-13", 4, 1, 1.0, 2, 3, 33.33, 0, 0.0),
        ("2026-06-14", 5, 2, 2.0, 3, 4, 50.0, 0, 0.0),
    ]
    assert usage["topPages"] == [{"key": "/home", "sessions": 1}, {"key": "/pricing", "sessions": 1}]
    assert usage["topSources"] == [{"key": "direct", "sessions": 12}]
    weekly = (await gql.data(tenant.secret, USAGE, {"range": {"from": "2026-06-01", "to": "2026-06-14"},
                                                    "granularity": "WEEK", "compare": None}))["tenant"]["usage"]
    assert [(p["date"], p["activeUsers"], p["dau"], p["wau"], p["mau"]) for p in weekly["series"]] == [
        ("2026-06-01", 0, 0.0, 0, 1), ("2026-06-08", 3, 1.43, 3, 4)]
    assert weekly["previous"] is None


async def test_usage_is_counted_per_day(gql: GraphQLClient, make_tenant: Any) -> None:
    tenant: TenantKeys = await make_tenant()
    body = await gql(tenant.secret, USAGE, {"range": {"preset": "LAST_24_HOURS"}, "granularity": "HOUR",
                                            "compare": None})
    assert body["errors"][0]["extensions"]["field"] == "granularity"
    short = await gql.data(tenant.secret, USAGE, {"range": {"preset": "LAST_24_HOURS"}, "granularity": None,
                                                  "compare": None})
    assert short["tenant"]["usage"]["granularity"] == "DAY"
    assert all(p["activeUsers"] == 0 for p in short["tenant"]["usage"]["series"])


async def test_breakdowns_alone_compute_no_figures_and_answer_the_same(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any) -> None:
    tenant: TenantKeys = await make_tenant()
    events = _journeys()
    assert (await gql.track(tenant.publishable, events))["accepted"] == len(events)
    await run_worker()
    variables = {"range": {"from": "2026-06-08", "to": "2026-06-14"}, "granularity": "DAY",
                 "compare": "PREVIOUS_PERIOD"}
    full = (await gql.data(tenant.secret, USAGE, variables))["tenant"]["usage"]
    # What the overview asks: top pages alone (no figure is computed); then with one figure through a
    # fragment (every figure is computed again).
    alone = (await gql.data(tenant.secret, """query($range: RangeInput!, $compare: Compare) { tenant {
        usage(range: $range, compare: $compare) { period { firstDay } topPages(limit: 5) { key sessions }
            topSources { key sessions } } } }""", {k: variables[k] for k in ("range", "compare")}))
    assert alone["tenant"]["usage"] == {"period": {"firstDay": "2026-06-08"}, "topPages": full["topPages"],
                                        "topSources": full["topSources"]}
    spread = (await gql.data(tenant.secret, """query($range: RangeInput!, $compare: Compare) { tenant {
        usage(range: $range, compare: $compare) { topPages(limit: 5) { key sessions } ...F } } }
        fragment F on Usage { mau previous { totalUsers } }""", {k: variables[k] for k in ("range", "compare")}))
    assert spread["tenant"]["usage"] == {"topPages": full["topPages"], "mau": 4,
                                         "previous": {"totalUsers": full["previous"]["totalUsers"]}}
