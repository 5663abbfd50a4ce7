"""Sessions end to end: page views and engagement through ``track``, the worker derives sessions, the
graph answers exact figures (Europe/Berlin tenant; a visitor is its userId/anonymousId pair)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import GraphQLClient, TenantKeys, event

SITE = "https://shop.example.com"
CHROME = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/124.0.0.0 Safari/537.36")
FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0"
IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.4 Mobile/15E148 Safari/604.1")
SAFARI = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.4 Safari/605.1.15")
EDGE = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.0.0")
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
GPTBOT = "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)"
LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0"


def page(at: str, path: str, agent: str, *, user: str | None = None, anon: str | None = None,
         kind: str = "PageViewed", **context: Any) -> dict[str, Any]:
    """A page event of one visitor (its user agent) with the session's context."""
    fields: dict[str, Any] = {"url": path if path.startswith("http") else SITE + path,
                              "context": {"userAgent": agent, **context}}
    if anon:
        fields["anonymousId"] = anon
    return event(kind, at, user, **fields)


def engagement(at: str, path: str, agent: str, time_ms: int, scroll: float, **ids: Any) -> dict[str, Any]:
    body = page(at, path, agent, kind="PageEngagement", **ids)
    body["engagement"] = {"timeOnPageMs": time_ms, "scrollDepth": scroll}
    return body


def journeys() -> list[dict[str, Any]]:
    """Six human sessions on 2025-05-10/11 (UTC times; Berlin is UTC+2) and four bot sessions."""
    de = {"country": "DE"}
    return [
        # H1, Chrome: email campaign, three page views (two paths), one engagement report; 300 s.
        page("2025-05-10T08:00:00Z", "/pricing?utm_source=newsletter&utm_medium=email&utm_campaign=spring",
             CHROME, anon="a1", country="DE", region="BE", city="Berlin"),
        page("2025-05-10T08:02:00Z", "/docs", CHROME, anon="a1", country="DE", region="BE", city="Berlin"),
        engagement("2025-05-10T08:03:00Z", "/docs", CHROME, 30_000, 80, anon="a1"),
        page("2025-05-10T08:05:00Z", "/pricing", CHROME, anon="a1"),
        # H2, Chrome again two hours later (a returning visitor): from Google, one page: a bounce.
        page("2025-05-10T10:00:00Z", "/", CHROME, anon="a1", referrer="https://www.google.com/", **de),
        # H3, Firefox, user u1: from Hacker News, one page and its engagement report: a bounce of 30 s.
        page("2025-05-10T09:00:00Z", "/blog", FIREFOX, user="u1", referrer="https://news.ycombinator.com/item?id=1",
             country="US"),
        engagement("2025-05-10T09:00:30Z", "/blog", FIREFOX, 25_000, 60, user="u1"),
        # H4, iPhone, the same user u1 the next day (returning by user id); a tour event: no bounce.
        page("2025-05-11T09:00:00Z", "/pricing", IPHONE, user="u1", referrer="https://www.example.org/post",
             country="US", region="CA"),
        event("TourStarted", "2025-05-11T09:10:00Z", "u1", tourId="t1", context={"userAgent": IPHONE}),
        # H5, Safari: direct, three paths over 20 minutes, no country.
        page("2025-05-11T14:00:00Z", "/", SAFARI, anon="a5"),
        page("2025-05-11T14:01:00Z", "/about", SAFARI, anon="a5"),
        page("2025-05-11T14:20:00Z", "/contact", SAFARI, anon="a5"),
        # H6, Edge: direct, two pages, 240 s.
        page("2025-05-11T16:00:00Z", "/docs", EDGE, anon="a6", **de),
        page("2025-05-11T16:04:00Z", "/docs/start", EDGE, anon="a6", **de),
        # Bots: Googlebot on both days, GPTBot, and a scanner probing /.env with a browser's agent.
        page("2025-05-10T11:00:00Z", "/", GOOGLEBOT, anon="g"),
        page("2025-05-10T11:00:05Z", "/pricing", GOOGLEBOT, anon="g"),
        page("2025-05-11T11:00:00Z", "/", GOOGLEBOT, anon="g"),
        page("2025-05-11T11:30:00Z", "/", GPTBOT, anon="gpt"),
        page("2025-05-11T12:00:00Z", "/.env", LINUX, anon="scan"),
        page("2025-05-11T12:00:01Z", "/wp-login.php", LINUX, anon="scan"),
    ]


@pytest.fixture
async def shop(gql: GraphQLClient, make_tenant: Any, run_worker: Any) -> TenantKeys:
    tenant = await make_tenant(timezone="Europe/Berlin")
    events = journeys()
    result = await gql.track(tenant.publishable, events)
    assert (result["accepted"], result["rejected"]) == (len(events), 0), result["rejections"]
    await run_worker()
    return tenant


RANGE = {"from": "2025-05-10", "to": "2025-05-11"}
STATS = """sessions visitors users pageViews pagesPerSession bounceRate avgSessionDurationSeconds
           medianSessionDurationSeconds returningVisitors returnVisitRate botSessions"""


async def test_session_stats_are_exact(gql: GraphQLClient, shop: TenantKeys) -> None:
    data = await gql.data(shop.secret, f"""query($r: RangeInput!) {{ tenant {{
        humans: sessionStats(range: $r) {{ {STATS} period {{ firstDay lastDay timezone }} }}
        everyone: sessionStats(range: $r, includeBots: true) {{ sessions visitors botSessions }} }} }}""",
                          {"r": RANGE})
    humans = data["tenant"]["humans"]
    assert humans.pop("period") == {"firstDay": "2025-05-10", "lastDay": "2025-05-11",
                                    "timezone": "Europe/Berlin"}
    assert humans == {
        # u1's Firefox and iPhone are one visitor: its userId.
        "sessions": 6, "visitors": 4, "users": 1, "pageViews": 11, "pagesPerSession": 1.83,
        "bounceRate": 33.33,  # H2 (one page) and H3 (one page and its engagement report)
        "avgSessionDurationSeconds": 395.0,  # (300 + 0 + 30 + 600 + 1200 + 240) / 6
        "medianSessionDurationSeconds": 270.0,  # between 240 and 300
        "returningVisitors": 2,  # Chrome (H1 before H2) and the iPhone (user u1 had H3)
        "returnVisitRate": 50.0, "botSessions": 4,
    }
    assert data["tenant"]["everyone"] == {"sessions": 10, "visitors": 7, "botSessions": 4}


async def test_returning_visitors_are_computed_only_when_asked_and_the_rest_is_the_same(
        gql: GraphQLClient, shop: TenantKeys) -> None:
    # The overview asks for no returning visitors: its statement leaves them out; the figures it asks
    # for are those of the full selection. Asked for anywhere (in change only, or in a fragment), they
    # are computed.
    answer = await gql.data(shop.secret, f"""query($r: RangeInput!, $day: RangeInput!) {{ tenant {{
        all: sessionStats(range: $r) {{ {STATS} }}
        some: sessionStats(range: $r) {{ sessions visitors bounceRate }}
        spread: sessionStats(range: $r) {{ ...Returning }}
        overview(range: $r) {{ sessions {{ sessions visitors pageViews bounceRate }} }}
        changed: sessionStats(range: $day, compare: PREVIOUS_PERIOD) {{ change {{ returningVisitors }} }}
        }} }}
        fragment Returning on SessionStats {{ returningVisitors }}""",
                            {"r": RANGE, "day": {"from": "2025-05-11", "to": "2025-05-11"}})
    data = answer["tenant"]
    assert data["some"] == {"sessions": 6, "visitors": 4, "bounceRate": 33.33} == {
        k: data["all"][k] for k in ("sessions", "visitors", "bounceRate")}
    assert data["all"]["returningVisitors"] == 2 and data["spread"] == {"returningVisitors": 2}
    assert data["overview"]["sessions"] == {"sessions": 6, "visitors": 4, "pageViews": 11, "bounceRate": 33.33}
    # One returning visitor on each day (test_compare_with_the_previous_day): a change of 0 %, not null.
    assert data["changed"] == {"change": {"returningVisitors": 0.0}}


async def test_compare_with_the_previous_day(gql: GraphQLClient, shop: TenantKeys) -> None:
    data = await gql.data(shop.secret, """{ tenant { sessionStats(range: {from: "2025-05-11", to: "2025-05-11"},
        compare: PREVIOUS_PERIOD) { sessions visitors bounceRate returningVisitors
        previous { sessions visitors bounceRate returningVisitors period { firstDay } }
        change { sessions visitors bounceRate returningVisitors botSessions } } } }""")
    stats = data["tenant"]["sessionStats"]
    assert (stats["sessions"], stats["visitors"], stats["bounceRate"], stats["returningVisitors"]) == (3, 3, 0.0, 1)
    assert stats["previous"] == {"sessions": 3, "visitors": 2, "bounceRate": 66.67, "returningVisitors": 1,
                                 "period": {"firstDay": "2025-05-10"}}
    # bots: 3 on the 11th, 1 on the 10th.
    assert stats["change"] == {"sessions": 0.0, "visitors": 50.0, "bounceRate": -100.0,
                               "returningVisitors": 0.0, "botSessions": 200.0}


async def test_daily_series_is_zero_filled(gql: GraphQLClient, shop: TenantKeys) -> None:
    data = await gql.data(shop.secret, """{ tenant { sessionSeries(range: {from: "2025-05-09", to: "2025-05-12"},
        granularity: DAY) { granularity points { start date sessions visitors pageViews bounceRate } } } }""")
    series = data["tenant"]["sessionSeries"]
    assert series["granularity"] == "DAY"
    assert series["points"] == [
        {"start": "2025-05-09T00:00:00+02:00", "date": "2025-05-09", "sessions": 0, "visitors": 0,
         "pageViews": 0, "bounceRate": None},
        {"start": "2025-05-10T00:00:00+02:00", "date": "2025-05-10", "sessions": 3, "visitors": 2,
         "pageViews": 5, "bounceRate": 66.67},
        {"start": "2025-05-11T00:00:00+02:00", "date": "2025-05-11", "sessions": 3, "visitors": 3,
         "pageViews": 6, "bounceRate": 0.0},
        {"start": "2025-05-12T00:00:00+02:00", "date": "2025-05-12", "sessions": 0, "visitors": 0,
         "pageViews": 0, "bounceRate": None},
    ]
    weekly = await gql.data(shop.secret, """{ tenant { sessionSeries(range: {from: "2025-05-07", to: "2025-05-13"},
        granularity: WEEK) { points { start sessions pageViews } } } }""")
    assert weekly["tenant"]["sessionSeries"]["points"] == [  # Saturday and Sunday fall in the clipped first week
        {"start": "2025-05-07T00:00:00+02:00", "sessions": 6, "pageViews": 11},
        {"start": "2025-05-12T00:00:00+02:00", "sessions": 0, "pageViews": 0}]
    hourly = await gql.data(shop.secret, """{ tenant { sessionSeries(range: {from: "2025-05-10", to: "2025-05-10"},
        includeBots: true) { granularity points { start sessions } } } }""")
    points = hourly["tenant"]["sessionSeries"]["points"]
    assert hourly["tenant"]["sessionSeries"]["granularity"] == "HOUR" and len(points) == 24
    assert {p["start"]: p["sessions"] for p in points if p["sessions"]} == {
        "2025-05-10T10:00:00+02:00": 1, "2025-05-10T11:00:00+02:00": 1, "2025-05-10T12:00:00+02:00": 1,
        "2025-05-10T13:00:00+02:00": 1}


SESSION_FIELDS = """visitorId userId anonymousId startedAt lastSeenAt durationSeconds requestCount pageViews
    uniquePages bounced landingPage entryUrl exitPage referrerUrl referrerSource utmSource utmMedium utmCampaign
    country region city deviceType browser os ipAddress engagementEvents engagedMs isBot isScanner
    isBehaviouralBot excluded botReasons { tier code detail }"""


async def test_returning_visitors_by_each_identity(gql: GraphQLClient, make_tenant: Any,
                                                   run_worker: Any) -> None:
    tenant = await make_tenant()
    await gql.track(tenant.publishable, [
        page("2025-06-01T10:00:00Z", "/", CHROME, anon="x"),
        page("2025-06-02T10:00:00Z", "/", FIREFOX, anon="x"),  # another device, the same anonymous id
        page("2025-06-02T11:00:00Z", "/", SAFARI, anon="y"),  # new
        page("2025-06-01T12:00:00Z", "/", GOOGLEBOT, anon="z"),
        page("2025-06-02T12:00:00Z", "/", IPHONE, anon="z"),  # returning only if the bot session counts
        page("2025-06-02T13:00:00Z", "/", EDGE, anon="w"),
        page("2025-06-02T14:00:00Z", "/", EDGE, anon="w"),  # the same visitor id an hour later
    ])
    await run_worker()
    data = await gql.data(tenant.secret, """{ tenant {
        humans: sessionStats(range: {from: "2025-06-02", to: "2025-06-02"}) { sessions visitors returningVisitors returnVisitRate }
        everyone: sessionStats(range: {from: "2025-06-02", to: "2025-06-02"}, includeBots: true) { returningVisitors } } }""")
    assert data["tenant"]["humans"] == {"sessions": 5, "visitors": 4, "returningVisitors": 2, "returnVisitRate": 50.0}
    assert data["tenant"]["everyone"] == {"returningVisitors": 3}


async def test_session_list_pages_newest_first(gql: GraphQLClient, shop: TenantKeys) -> None:
    query = """query($r: RangeInput!, $after: String) { tenant { sessions(range: $r, first: 2, after: $after) {
        totalCount edges { cursor node { startedAt browser } } nodes { startedAt }
        pageInfo { hasNextPage endCursor } } } }"""
    seen, after, pages = [], None, 0
    while True:
        page_ = (await gql.data(shop.secret, query, {"r": RANGE, "after": after}))["tenant"]["sessions"]
        assert page_["totalCount"] == 6
        assert [e["node"]["startedAt"] for e in page_["edges"]] == [n["startedAt"] for n in page_["nodes"]]
        seen += [(e["node"]["startedAt"], e["node"]["browser"]) for e in page_["edges"]]
        pages += 1
        if not page_["pageInfo"]["hasNextPage"]:
            break
        after = page_["pageInfo"]["endCursor"]
        assert after == page_["edges"][-1]["cursor"]
    assert pages == 3
    assert seen == [("2025-05-11T18:00:00+02:00", "Edge"), ("2025-05-11T16:00:00+02:00", "Safari"),
                    ("2025-05-11T11:00:00+02:00", "Mobile Safari"), ("2025-05-10T12:00:00+02:00", "Chrome"),
                    ("2025-05-10T11:00:00+02:00", "Firefox"), ("2025-05-10T10:00:00+02:00", "Chrome")]


async def test_one_session_in_full(gql: GraphQLClient, shop: TenantKeys) -> None:
    data = await gql.data(shop.secret, f"""{{ tenant {{ sessions(range: {{from: "2025-05-10", to: "2025-05-10"}},
        filter: {{country: "DE", browser: "Chrome"}}) {{ nodes {{ {SESSION_FIELDS} }} }} }} }}""")
    nodes = data["tenant"]["sessions"]["nodes"]
    assert len(nodes) == 2
    returning, first = nodes
    visitor = first.pop("visitorId")
    assert len(visitor) == 32 and returning["visitorId"] == visitor  # one visitor, two sessions
    assert first == {
        "userId": None, "anonymousId": "a1", "startedAt": "2025-05-10T10:00:00+02:00",
        "lastSeenAt": "2025-05-10T10:05:00+02:00", "durationSeconds": 300.0, "requestCount": 4, "pageViews": 3,
        "uniquePages": 2, "bounced": False, "landingPage": "/pricing",
        "entryUrl": SITE + "/pricing?utm_source=newsletter&utm_medium=email&utm_campaign=spring",
        "exitPage": "/pricing", "referrerUrl": None, "referrerSource": "email", "utmSource": "newsletter",
        "utmMedium": "email", "utmCampaign": "spring", "country": "DE", "region": "BE", "city": "Berlin",
        "deviceType": "desktop", "browser": "Chrome", "os": "Mac OS X", "ipAddress": None,
        "engagementEvents": 1, "engagedMs": 30000, "isBot": False, "isScanner": False,
        "isBehaviouralBot": False, "excluded": False, "botReasons": [],
    }
    assert (returning["landingPage"], returning["referrerSource"], returning["bounced"],
            returning["durationSeconds"]) == ("/", "organic_search", True, 0.0)


async def test_filters_and_bots_in_the_list(gql: GraphQLClient, shop: TenantKeys) -> None:
    query = """query($f: SessionFilter, $bots: Boolean!) { tenant {
        sessions(range: {from: "2025-05-10", to: "2025-05-11"}, first: 12, filter: $f, includeBots: $bots) {
        totalCount nodes { browser referrerSource country deviceType botReasons { tier code detail } } } } }"""

    async def listed(f: dict[str, Any] | None, bots: bool = False) -> list[dict[str, Any]]:
        result = (await gql.data(shop.secret, query, {"f": f, "bots": bots}))["tenant"]["sessions"]
        assert result["totalCount"] == len(result["nodes"])
        return list(result["nodes"])

    assert [n["browser"] for n in await listed({"source": "direct"})] == ["Edge", "Safari"]
    assert [n["browser"] for n in await listed({"country": "US"})] == ["Mobile Safari", "Firefox"]
    assert [n["browser"] for n in await listed({"deviceType": "mobile"})] == ["Mobile Safari"]
    assert len(await listed(None)) == 6
    assert len(await listed(None, bots=True)) == 10
    crawlers = await listed({"isBot": True}, bots=True)
    assert [(n["browser"], n["deviceType"], n["botReasons"]) for n in crawlers] == [
        ("GPTBot", "bot", [{"tier": 1, "code": "ua_ai_crawler", "detail": "analytics: GPTBot"}]),
        ("Googlebot", "bot", [{"tier": 1, "code": "ua_crawler", "detail": "device-detector: Googlebot"}]),
        ("Googlebot", "bot", [{"tier": 1, "code": "ua_crawler", "detail": "device-detector: Googlebot"}]),
    ]
    scanners = await listed({"isScanner": True}, bots=True)
    # The first path under each rule the scanner met (/wp-login.php is a WordPress and a PHP path).
    assert [n["botReasons"] for n in scanners] == [[
        {"tier": 2, "code": "scan_path", "detail": "secrets: .env"},
        {"tier": 2, "code": "scan_path", "detail": "wordpress: wp-login.php"},
        {"tier": 2, "code": "scan_path", "detail": "php: wp-login.php"}]]
    assert await listed({"excluded": False}) == await listed(None)


async def test_live_sessions(gql: GraphQLClient, make_tenant: Any, run_worker: Any) -> None:
    tenant = await make_tenant()
    now = datetime.now(UTC)

    def ago(minutes: float) -> str:
        return (now - timedelta(minutes=minutes)).isoformat()

    await gql.track(tenant.publishable, [
        page(ago(12), "/old", FIREFOX, anon="gone"),  # last seen 12 minutes ago: not live
        page(ago(20), "/", CHROME, anon="c"), page(ago(2), "/pricing", CHROME, anon="c"),
        page(ago(1), "/", SAFARI, anon="s"),
        page(ago(0.5), "/", GOOGLEBOT, anon="g"),
    ])
    await run_worker()
    data = await gql.data(tenant.secret, """{ tenant { humans: liveSessions { browser pageViews }
        everyone: liveSessions(limit: 2, includeBots: true) { browser isBot } } }""")
    assert data["tenant"]["humans"] == [{"browser": "Safari", "pageViews": 1},
                                        {"browser": "Chrome", "pageViews": 2}]
    assert data["tenant"]["everyone"] == [{"browser": "Googlebot", "isBot": True},
                                          {"browser": "Safari", "isBot": False}]


async def test_overview_covers_sessions_and_sources(gql: GraphQLClient, shop: TenantKeys) -> None:
    data = await gql.data(shop.secret, """query($r: RangeInput!) { tenant {
        overview(range: $r, compare: PREVIOUS_PERIOD) {
            activeTours starts sessions { sessions bounceRate botSessions previous { sessions } change { sessions } }
            topSources(limit: 2) { key sessions share } content { views previous { views } } }
        withBots: overview(range: $r, includeBots: true) { sessions { sessions } topSources(limit: 1) { key sessions } }
    } }""", {"r": RANGE})
    assert data["tenant"]["overview"] == {
        "activeTours": 1, "starts": 1,
        "sessions": {"sessions": 6, "bounceRate": 33.33, "botSessions": 4, "previous": {"sessions": 0},
                     "change": {"sessions": None}},
        "topSources": [{"key": "direct", "sessions": 2, "share": 33.33},
                       {"key": "email", "sessions": 1, "share": 16.67}],
        "content": {"views": 0, "previous": {"views": 0}},
    }
    assert data["tenant"]["withBots"] == {"sessions": {"sessions": 10},
                                          "topSources": [{"key": "direct", "sessions": 6}]}


async def test_bad_arguments_name_the_field(gql: GraphQLClient, make_tenant: Any) -> None:
    tenant = await make_tenant()
    r = '{from: "2025-05-10", to: "2025-05-11"}'
    cases = {
        f"{{ tenant {{ sessions(range: {r}, first: 501) {{ totalCount }} }} }}": "first",
        f"{{ tenant {{ sessions(range: {r}, first: 0) {{ totalCount }} }} }}": "first",
        f'{{ tenant {{ sessions(range: {r}, after: "@@@") {{ totalCount }} }} }}': "after",
        f'{{ tenant {{ sessions(range: {r}, filter: {{source: "google"}}) {{ totalCount }} }} }}': "filter.source",
        f'{{ tenant {{ sessions(range: {r}, filter: {{deviceType: "phone"}}) {{ totalCount }} }} }}': "filter.deviceType",
        f"{{ tenant {{ sessions(range: {r}, filter: {{isBot: true}}) {{ totalCount }} }} }}": "includeBots",
        '{ tenant { sessionStats(range: {preset: TODAY, since: "2h"}) { sessions } } }': "range",
        '{ tenant { sessionStats(range: {from: "2025-05-11", to: "2025-05-10"}) { sessions } } }': "range.to",
        f"{{ tenant {{ sessionSeries(range: {r}, granularity: WEEK) {{ granularity }} }} }}": "granularity",
        "{ tenant { liveSessions(limit: 0) { id } } }": "limit",
        "{ tenant { liveSessions(limit: 501) { id } } }": "limit",
    }
    for query, field in cases.items():
        body = await gql(tenant.secret, query)
        error = body["errors"][0]
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": field}, (query, error)
        assert error["message"].startswith(f"{field}: ")


async def test_publishable_key_cannot_read_sessions_traffic_content_or_add_bot_rules(
        gql: GraphQLClient, make_tenant: Any) -> None:
    tenant = await make_tenant()
    week = '(range: {since: "7d"})'
    for query in ("{ tenant { liveSessions { id } } }", f"{{ tenant {{ sessions{week} {{ totalCount }} }} }}",
                  f"{{ tenant {{ sessionStats{week} {{ sessions }} }} }}",
                  f"{{ tenant {{ traffic{week} {{ bots {{ excludedSessions }} }} }} }}",
                  f"{{ tenant {{ readingPatterns{week} {{ patterns {{ pageViews }} }} }} }}",
                  f"{{ tenant {{ content{week} {{ stats {{ views }} }} }} }}",
                  f'{{ tenant {{ capsule(id: "c") {{ stats{week} {{ views }} }} }} }}',
                  f"{{ tenant {{ overview{week} {{ sessions {{ sessions }} }} }} }}",
                  "{ tenant { botRules { pattern } } }",
                  'mutation { addBotRule(pattern: "python-httpx") { id } }'):
        body = await gql(tenant.publishable, query)
        assert body.get("data") in (None, {"tenant": None}), query
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", (query, body)
