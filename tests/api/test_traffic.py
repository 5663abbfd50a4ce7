"""Traffic breakdowns and the bot report over the sessions of tests.api.test_sessions (exact figures)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.api.test_sessions import GOOGLEBOT, GPTBOT, LINUX, RANGE, SAFARI, page, shop
from tests.conftest import GraphQLClient, TenantKeys

__all__ = ["shop"]  # the fixture: six human sessions and four bot sessions on 2025-05-10/11

CHROME_LINUX = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
                "Safari/537.36")
ROW = "sessions visitors share bounceRate avgSessionDurationSeconds"


def row(key: str | None, sessions: int, visitors: int, share: float, bounce: float | None,
        duration: float | None) -> dict[str, Any]:
    return {"key": key, "sessions": sessions, "visitors": visitors, "share": share, "bounceRate": bounce,
            "avgSessionDurationSeconds": duration}


async def test_breakdowns_rank_sessions(gql: GraphQLClient, shop: TenantKeys) -> None:
    data = await gql.data(shop.secret, f"""query($r: RangeInput!) {{ tenant {{ traffic(range: $r) {{
        period {{ firstDay lastDay }} includeBots
        sources {{ key {ROW} }} top: sources(limit: 2) {{ key }}
        referrers {{ key {ROW} }}
        campaigns {{ utmSource utmMedium utmCampaign sessions share }}
        countries {{ key {ROW} }}
        regions {{ country region sessions }}
        devices {{ key sessions share }}
        browsers {{ key sessions }}
        operatingSystems {{ key sessions visitors }} }} }} }}""", {"r": RANGE})
    traffic = data["tenant"]["traffic"]
    assert traffic["period"] == {"firstDay": "2025-05-10", "lastDay": "2025-05-11"}
    assert traffic["includeBots"] is False
    assert traffic["sources"] == [
        row("direct", 2, 2, 33.33, 0.0, 720.0),  # Safari (1200 s) and Edge (240 s)
        row("email", 1, 1, 16.67, 0.0, 300.0),
        row("organic_search", 1, 1, 16.67, 100.0, 0.0),
        row("referral", 1, 1, 16.67, 0.0, 600.0),
        row("social", 1, 1, 16.67, 100.0, 30.0),
    ]
    assert traffic["top"] == [{"key": "direct"}, {"key": "email"}]
    assert traffic["referrers"] == [  # hosts without www.; direct sessions have none
        row("example.org", 1, 1, 16.67, 0.0, 600.0),
        row("google.com", 1, 1, 16.67, 100.0, 0.0),
        row("news.ycombinator.com", 1, 1, 16.67, 100.0, 30.0),
    ]
    assert traffic["campaigns"] == [{"utmSource": "newsletter", "utmMedium": "email", "utmCampaign": "spring",
                                     "sessions": 1, "share": 16.67}]
    assert traffic["countries"] == [
        row("DE", 3, 2, 50.0, 33.33, 180.0),  # Chrome twice (one bounce), Edge
        row("US", 2, 1, 33.33, 50.0, 315.0),  # Firefox (bounce, 30 s), iPhone (600 s): both user u1
        row(None, 1, 1, 16.67, 0.0, 1200.0),  # Safari sent no country
    ]
    assert traffic["regions"] == [{"country": "DE", "region": "BE", "sessions": 1},
                                  {"country": "US", "region": "CA", "sessions": 1}]
    assert traffic["devices"] == [{"key": "desktop", "sessions": 5, "share": 83.33},
                                  {"key": "mobile", "sessions": 1, "share": 16.67}]
    assert traffic["browsers"] == [{"key": "Chrome", "sessions": 2}, {"key": "Edge", "sessions": 1},
                                   {"key": "Firefox", "sessions": 1}, {"key": "Mobile Safari", "sessions": 1},
                                   {"key": "Safari", "sessions": 1}]
    assert traffic["operatingSystems"] == [{"key": "Mac OS X", "sessions": 3, "visitors": 2},
                                           {"key": "Windows", "sessions": 2, "visitors": 2},
                                           {"key": "iOS", "sessions": 1, "visitors": 1}]


async def test_include_bots_brings_them_back(gql: GraphQLClient, shop: TenantKeys) -> None:
    data = await gql.data(shop.secret, """query($r: RangeInput!) { tenant { traffic(range: $r, includeBots: true) {
        includeBots devices { key sessions share } sources(limit: 1) { key sessions visitors }
        bots { totalSessions excludedSessions } } } }""", {"r": RANGE})
    traffic = data["tenant"]["traffic"]
    assert traffic["devices"] == [{"key": "desktop", "sessions": 6, "share": 60.0},  # the scanner's browser agent
                                  {"key": "bot", "sessions": 3, "share": 30.0},
                                  {"key": "mobile", "sessions": 1, "share": 10.0}]
    assert traffic["sources"] == [{"key": "direct", "sessions": 6, "visitors": 5}]
    assert traffic["bots"] == {"totalSessions": 10, "excludedSessions": 4}


def figures(sessions: float | None, visitors: float | None, share: float | None, bounce: float | None,
            duration: float | None) -> dict[str, Any]:
    return {"sessions": sessions, "visitors": visitors, "share": share, "bounceRate": bounce,
            "avgSessionDurationSeconds": duration}


async def test_rows_compare_with_the_same_keys_in_the_previous_period(gql: GraphQLClient,
                                                                       shop: TenantKeys) -> None:
    data = await gql.data(shop.secret, f"""{{ tenant {{
        traffic(range: {{from: "2025-05-11", to: "2025-05-11"}}, compare: PREVIOUS_PERIOD) {{
        comparisonPeriod {{ firstDay lastDay }}
        countries {{ key {ROW} previous {{ {ROW} }} change {{ {ROW} }} }} }} }} }}""")
    traffic = data["tenant"]["traffic"]
    assert traffic["comparisonPeriod"] == {"firstDay": "2025-05-10", "lastDay": "2025-05-10"}
    # May 11: Edge (DE, 240 s), iPhone (US, 600 s), Safari (no country, 1200 s). May 10: Chrome twice
    # (DE, one visitor, 300 s and a bounce), Firefox (US, a bounce of 30 s), nothing without a country.
    assert traffic["countries"] == [
        {**row("DE", 1, 1, 33.33, 0.0, 240.0), "previous": figures(2, 1, 66.67, 50.0, 150.0),
         "change": figures(-50.0, 0.0, -50.01, -100.0, 60.0)},
        {**row("US", 1, 1, 33.33, 0.0, 600.0), "previous": figures(1, 1, 33.33, 100.0, 30.0),
         "change": figures(0.0, 0.0, 0.0, -100.0, 1900.0)},
        {**row(None, 1, 1, 33.33, 0.0, 1200.0), "previous": figures(0, 0, 0.0, None, None),
         "change": figures(None, None, None, None, None)},
    ]
    # Without compare there is nothing to compare with.
    plain = await gql.data(shop.secret, """{ tenant { traffic(range: {from: "2025-05-11", to: "2025-05-11"}) {
        comparisonPeriod { firstDay } sources(limit: 1) { key previous { sessions } change { sessions } } } } }""")
    assert plain["tenant"]["traffic"] == {"comparisonPeriod": None, "sources": [
        {"key": "direct", "previous": None, "change": None}]}


BOTS = """bots { period { firstDay lastDay } totalSessions excludedSessions excludedShare
    byTier { tier name sessions } byReason { tier code sessions }
    byDay { date sessions userAgent scanner behavioural }
    byUserAgent { userAgent sessions tiers } top: byUserAgent(limit: 1) { userAgent } }"""


async def test_bots_report_what_the_filter_removed(gql: GraphQLClient, shop: TenantKeys) -> None:
    data = await gql.data(shop.secret, f"""{{ tenant {{
        traffic(range: {{from: "2025-05-09", to: "2025-05-11"}}) {{ {BOTS} }} }} }}""")
    bots = data["tenant"]["traffic"]["bots"]
    assert bots == {
        "period": {"firstDay": "2025-05-09", "lastDay": "2025-05-11"},
        "totalSessions": 10, "excludedSessions": 4, "excludedShare": 40.0,
        "byTier": [{"tier": 1, "name": "user_agent", "sessions": 3},
                   {"tier": 2, "name": "scanner", "sessions": 1},
                   {"tier": 3, "name": "behavioural", "sessions": 0}],
        "byReason": [{"tier": 1, "code": "ua_crawler", "sessions": 2},
                     {"tier": 1, "code": "ua_ai_crawler", "sessions": 1},
                     {"tier": 2, "code": "scan_path", "sessions": 1}],
        "byDay": [{"date": "2025-05-09", "sessions": 0, "userAgent": 0, "scanner": 0, "behavioural": 0},
                  {"date": "2025-05-10", "sessions": 1, "userAgent": 1, "scanner": 0, "behavioural": 0},
                  {"date": "2025-05-11", "sessions": 3, "userAgent": 2, "scanner": 1, "behavioural": 0}],
        "byUserAgent": [{"userAgent": GOOGLEBOT, "sessions": 2, "tiers": [1]},
                        {"userAgent": LINUX, "sessions": 1, "tiers": [2]},
                        {"userAgent": GPTBOT, "sessions": 1, "tiers": [1]}],
        "top": [{"userAgent": GOOGLEBOT}],
    }


async def test_behavioural_flags_are_excluded_and_explained(gql: GraphQLClient, shop: TenantKeys,
                                                            owner_engine: AsyncEngine) -> None:
    # What the tier-3 scorer writes (analytics.traffic.behaviour), on the Edge session.
    async with owner_engine.begin() as conn:
        updated = await conn.execute(text(
            """UPDATE sessions SET behavioural_bot_score = 80, is_behavioural_bot = true, scored_at = now(),
               behaviour_signals = '{"page_coverage": 30, "request_velocity": 50}'
               WHERE tenant_id = :t AND browser = 'Edge'"""), {"t": shop.id})
        assert updated.rowcount == 1
    data = await gql.data(shop.secret, """query($r: RangeInput!) { tenant {
        sessionStats(range: $r) { sessions botSessions }
        flagged: sessions(range: $r, filter: {isBehaviouralBot: true}, includeBots: true) { nodes {
            browser excluded behaviouralBotScore behaviourSignals { signal points } } }
        traffic(range: $r) { sources(limit: 1) { key sessions } bots { excludedSessions
            byTier { tier sessions } byReason { tier code sessions } } } } }""", {"r": RANGE})
    tenant = data["tenant"]
    assert tenant["sessionStats"] == {"sessions": 5, "botSessions": 5}
    assert tenant["flagged"]["nodes"] == [{"browser": "Edge", "excluded": True, "behaviouralBotScore": 80,
                                           "behaviourSignals": [{"signal": "request_velocity", "points": 50},
                                                                {"signal": "page_coverage", "points": 30}]}]
    assert tenant["traffic"]["sources"] == [{"key": "direct", "sessions": 1}]
    bots = tenant["traffic"]["bots"]
    assert bots["excludedSessions"] == 5
    assert bots["byTier"] == [{"tier": 1, "sessions": 3}, {"tier": 2, "sessions": 1}, {"tier": 3, "sessions": 1}]
    assert bots["byReason"] == [{"tier": 1, "code": "ua_crawler", "sessions": 2},
                                {"tier": 1, "code": "ua_ai_crawler", "sessions": 1},
                                {"tier": 2, "code": "scan_path", "sessions": 1},
                                {"tier": 3, "code": "page_coverage", "sessions": 1},
                                {"tier": 3, "code": "request_velocity", "sessions": 1}]


async def test_empty_range_and_bad_limits(gql: GraphQLClient, make_tenant: Any) -> None:
    tenant = await make_tenant()
    data = await gql.data(tenant.secret, """{ tenant { traffic(range: {from: "2025-01-01", to: "2025-01-02"}) {
        sources { key } countries { key } bots { totalSessions excludedShare byReason { code }
        byDay { date sessions } byUserAgent { userAgent } } } } }""")
    assert data["tenant"]["traffic"] == {"sources": [], "countries": [], "bots": {
        "totalSessions": 0, "excludedShare": None, "byReason": [],
        "byDay": [{"date": "2025-01-01", "sessions": 0}, {"date": "2025-01-02", "sessions": 0}],
        "byUserAgent": []}}
    for field in ("sources(limit: 0) { key }", "regions(limit: 501) { region }",
                  "bots { byUserAgent(limit: 0) { sessions } }"):
        body = await gql(tenant.secret, f'{{ tenant {{ traffic(range: {{since: "7d"}}) {{ {field} }} }} }}')
        assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "limit"}, field
    body = await gql(tenant.secret, '{ tenant { traffic(range: {from: "2000-01-01", to: "2025-12-31"}) { '
                                    'bots { totalSessions byDay { date } } } } }')
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "range"}
    assert "at most 2000 days" in body["errors"][0]["message"]
    body = await gql(tenant.secret, '{ tenant { traffic(range: {since: "7x"}) { sources { key } } } }')
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "range.since"}


async def test_a_script_is_flagged_by_behaviour(gql: GraphQLClient, make_tenant: Any, run_worker: Any) -> None:
    tenant = await make_tenant()
    script = [page(f"2025-06-10T10:{i // 60:02d}:{i % 60:02d}Z", f"/p/{i}", CHROME_LINUX, anon="bot")
              for i in range(61)]  # 61 pages in 60 s, one a second: fast, broad and regular
    await gql.track(tenant.publishable, [*script, page("2025-06-10T11:00:00Z", "/", SAFARI, anon="human")])
    await run_worker()
    data = await gql.data(tenant.secret, """query($r: RangeInput!) { tenant {
        sessionStats(range: $r) { sessions pageViews botSessions }
        sessions(range: $r, filter: {isBehaviouralBot: true}, includeBots: true) { nodes {
            pageViews uniquePages isBot behaviouralBotScore behaviourSignals { signal points } } }
        traffic(range: $r) { bots { byTier { tier sessions } byReason { tier code sessions } } } } }""",
                          {"r": {"from": "2025-06-10", "to": "2025-06-10"}})
    tenant_data = data["tenant"]
    assert tenant_data["sessionStats"] == {"sessions": 1, "pageViews": 1, "botSessions": 1}
    assert tenant_data["sessions"]["nodes"] == [{
        "pageViews": 61, "uniquePages": 61, "isBot": False, "behaviouralBotScore": 100,
        "behaviourSignals": [{"signal": "request_velocity", "points": 50}, {"signal": "page_coverage", "points": 30},
                             {"signal": "regular_intervals", "points": 30}]}]
    bots = tenant_data["traffic"]["bots"]
    assert bots["byTier"] == [{"tier": 1, "sessions": 0}, {"tier": 2, "sessions": 0}, {"tier": 3, "sessions": 1}]
    assert bots["byReason"] == [{"tier": 3, "code": "page_coverage", "sessions": 1},
                                {"tier": 3, "code": "regular_intervals", "sessions": 1},
                                {"tier": 3, "code": "request_velocity", "sessions": 1}]
