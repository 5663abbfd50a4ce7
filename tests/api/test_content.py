"""Content (capsule) analytics through the real pipeline: journeys written as data, tracked over HTTP,
rolled up by the ARQ worker, read through the graph and the CLI with exact numbers."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.rollups.recompute import verify_rollups
from tests.conftest import BROWSER_AGENT, GraphQLClient, Servers, cli, event, report

CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/124.0.0.0 Safari/537.36")
IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.4 Mobile/15E148 Safari/604.1")
EDGE = CHROME + " Edg/124.0.2478.51"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
DAY = {"from": "2025-05-10", "to": "2025-05-10"}


def visit(agent: str, user: str | None, content: str = "cap1", anon: str | None = None) -> Any:
    """An event maker for one visitor (one user agent) on one content item."""
    def make(kind: str, at: str, **fields: Any) -> dict[str, Any]:
        body = event(kind, f"2025-05-{at}Z", user, contentId=content, context={"userAgent": agent}, **fields)
        if anon:
            body["anonymousId"] = anon
        return body
    return make


def said(who: Any, at: str, conversation: str, role: str) -> dict[str, Any]:
    return who("ConversationMessage", at, capsule={"conversationId": conversation, "role": role})


def journeys() -> list[dict[str, Any]]:
    a, b, c = visit(CHROME, "a"), visit(IPHONE, "b"), visit(EDGE, None, anon="anon-c")
    bot, d = visit(GOOGLEBOT, "bot"), visit(BROWSER_AGENT, "d", "cap2")
    return [
        a("ContentViewed", "09T09:00:00"),  # the day before: the comparison period
        # a, 10:00: views, converses (2 turns), opens a document and a video, finishes it, converts.
        a("ContentViewed", "10T10:00:00"),
        said(a, "10T10:00:30", "c1", "assistant"), said(a, "10T10:01:00", "c1", "user"),
        said(a, "10T10:01:10", "c1", "assistant"), said(a, "10T10:02:00", "c1", "user"),
        said(a, "10T10:02:10", "c1", "assistant"),
        a("ContentAssetViewed", "10T10:03:00", capsule={"assetId": "doc1", "assetKind": "document"}),
        a("ContentAssetViewed", "10T10:04:00", capsule={"assetId": "vid1", "assetKind": "video"}),
        a("VideoCompleted", "10T10:06:00", capsule={"assetId": "vid1"}),
        a("ContentCtaClicked", "10T10:07:00", capsule={"ctaId": "demo", "ctaType": "button"}),
        a("ContentConverted", "10T10:08:00", capsule={"ctaId": "demo", "ctaType": "button"}),
        a("ContentEngagement", "10T10:09:00", engagement={"timeOnPageMs": 120_000, "scrollDepth": 80}),
        # b, 11:00: views twice, one turn, two documents and a video, clicks pricing, leaves.
        b("ContentViewed", "10T11:00:00"),
        said(b, "10T11:00:20", "c2", "user"), said(b, "10T11:00:30", "c2", "assistant"),
        b("ContentViewed", "10T11:05:00"),
        b("ContentAssetViewed", "10T11:06:00", capsule={"assetId": "doc1", "assetKind": "document"}),
        b("ContentAssetViewed", "10T11:07:00", capsule={"assetId": "doc2", "assetKind": "document"}),
        b("ContentAssetViewed", "10T11:08:00", capsule={"assetId": "vid1", "assetKind": "video"}),
        b("ContentCtaClicked", "10T11:09:00", capsule={"ctaId": "pricing", "ctaType": "link"}),
        b("ContentEngagement", "10T11:10:00", engagement={"timeOnPageMs": 60_000}),
        b("ContentDismissed", "10T11:11:00"),
        # b again at 15:00 (a new session): three turns, converts without naming a CTA.
        b("ContentViewed", "10T15:00:00"),
        said(b, "10T15:01:00", "c3", "user"), said(b, "10T15:01:30", "c3", "assistant"),
        said(b, "10T15:02:00", "c3", "user"), said(b, "10T15:02:30", "c3", "assistant"),
        said(b, "10T15:03:00", "c3", "user"),
        b("ContentEngagement", "10T15:04:00", engagement={"timeOnPageMs": 30_000}),
        b("ContentConverted", "10T15:20:00"),
        # c (anonymous), 12:00: a greeting nobody answered, a video.
        c("ContentViewed", "10T12:00:00"), said(c, "10T12:00:10", "c4", "assistant"),
        c("ContentAssetViewed", "10T12:01:00", capsule={"assetId": "vid2", "assetKind": "video"}),
        # A crawler, 13:00: left out unless includeBots.
        bot("ContentViewed", "10T13:00:00"),
        bot("ContentCtaClicked", "10T13:00:05", capsule={"ctaId": "demo", "ctaType": "button"}),
        bot("ContentConverted", "10T13:00:06", capsule={"ctaId": "demo", "ctaType": "button"}),
        bot("ContentEngagement", "10T13:00:07", engagement={"timeOnPageMs": 5_000}),
        said(bot, "10T13:00:08", "c5", "user"),
        # d on another capsule: two views and a long read.
        d("ContentViewed", "10T14:00:00"), d("ContentViewed", "10T14:01:00"),
        d("ContentEngagement", "10T14:02:00", engagement={"timeOnPageMs": 400_000}),
    ]


FIGURES = """views uniqueViews dismissals ctaClicks ctaClickThroughRate conversions conversionRate
    viewingSessions totalTimeOnContentSeconds avgTimeOnContentSeconds medianTimeOnContentSeconds
    conversations messages messagesPerConversation sessionsWithConversation conversationTurns turnsPerSession
    convertingSessions avgTimeToConversionSeconds medianTimeToConversionSeconds documentViews videoViews
    videoCompletions videoCompletionRate avgConversationDurationSeconds medianConversationDurationSeconds"""
CAPSULE = f"""query($range: RangeInput!, $bots: Boolean!) {{ tenant {{ capsule(id: "cap1") {{ id
    stats(range: $range, includeBots: $bots) {{ {FIGURES}
        conversionsByCta {{ ctaId ctaType clicks conversions clickThroughRate conversionRate }}
        conversionsByCtaType {{ ctaType clicks conversions conversionRate }}
        documents {{ assetId views sessions completions completionRate }}
        videos {{ assetId views sessions completions completionRate }}
        dropOffPoints {{ turn conversations share }}
        firstDropOff: dropOffPoints(limit: 1) {{ turn conversations share }} }} }} }} }}"""


async def tracked(gql: GraphQLClient, make_tenant: Any, run_worker: Any) -> Any:
    tenant = await make_tenant()
    result = await gql.track(tenant.publishable, journeys())
    assert result["rejected"] == 0, result["rejections"]
    await run_worker()
    return tenant


def figures(names: str, values: list[Any]) -> dict[str, Any]:
    return dict(zip(names.split(), values, strict=True))


# Conversations last 100 s (c1), 10 s (c2), 120 s (c3) and 0 s (c4, one message); the crawler's c5 0 s.
HUMANS = figures(FIGURES, [5, 3, 1, 2, 40.0, 2, 40.0, 4, 210.0, 52.5, 45.0, 4, 13, 3.25, 4, 6, 1.5, 2, 840.0,
                           840.0, 3, 3, 1, 33.33, 57.5, 55.0])
WITH_BOTS = figures(FIGURES, [6, 4, 1, 3, 50.0, 3, 50.0, 5, 215.0, 43.0, 30.0, 5, 14, 2.8, 5, 7, 1.4, 3, 562.0,
                              480.0, 3, 3, 1, 33.33, 46.0, 10.0])


async def test_capsule_stats_exact_and_bots_only_with_include_bots(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any, owner_engine: AsyncEngine) -> None:
    tenant = await tracked(gql, make_tenant, run_worker)
    humans = (await gql.data(tenant.secret, CAPSULE, {"range": DAY, "bots": False}))["tenant"]["capsule"]
    assert humans["id"] == "cap1"
    stats = humans["stats"]
    assert {k: stats[k] for k in HUMANS} == HUMANS
    assert stats["conversionsByCta"] == [
        {"ctaId": "demo", "ctaType": "button", "clicks": 1, "conversions": 1, "clickThroughRate": 20.0,
         "conversionRate": 20.0},
        {"ctaId": None, "ctaType": None, "clicks": 0, "conversions": 1, "clickThroughRate": 0.0,
         "conversionRate": 20.0},
        {"ctaId": "pricing", "ctaType": "link", "clicks": 1, "conversions": 0, "clickThroughRate": 20.0,
         "conversionRate": 0.0}]
    assert stats["conversionsByCtaType"] == [
        {"ctaType": "button", "clicks": 1, "conversions": 1, "conversionRate": 20.0},
        {"ctaType": None, "clicks": 0, "conversions": 1, "conversionRate": 20.0},
        {"ctaType": "link", "clicks": 1, "conversions": 0, "conversionRate": 0.0}]
    assert stats["documents"] == [
        {"assetId": "doc1", "views": 2, "sessions": 2, "completions": 0, "completionRate": 0.0},
        {"assetId": "doc2", "views": 1, "sessions": 1, "completions": 0, "completionRate": 0.0}]
    assert stats["videos"] == [
        {"assetId": "vid1", "views": 2, "sessions": 2, "completions": 1, "completionRate": 50.0},
        {"assetId": "vid2", "views": 1, "sessions": 1, "completions": 0, "completionRate": 0.0}]
    # c2 ended after one turn and c4 after none, neither converting; c1 and c3 converted.
    assert stats["dropOffPoints"] == [{"turn": 0, "conversations": 1, "share": 50.0},
                                      {"turn": 1, "conversations": 1, "share": 50.0}]

    everyone = (await gql.data(tenant.secret, CAPSULE, {"range": DAY, "bots": True}))["tenant"]["capsule"]["stats"]
    assert {k: everyone[k] for k in WITH_BOTS} == WITH_BOTS
    assert everyone["conversionsByCta"][0] == {
        "ctaId": "demo", "ctaType": "button", "clicks": 2, "conversions": 2, "clickThroughRate": 33.33,
        "conversionRate": 33.33}
    # The crawler's conversation began after its conversion: it did not convert.
    assert everyone["dropOffPoints"] == [{"turn": 0, "conversations": 1, "share": 33.33},
                                         {"turn": 1, "conversations": 2, "share": 66.67}]
    # A limit keeps the lowest turns; the share stays one of all unconverted conversations.
    assert everyone["firstDropOff"] == [{"turn": 0, "conversations": 1, "share": 33.33}]
    async with owner_engine.connect() as conn:
        assert await verify_rollups(conn, tenant.id) == []


async def test_unused_content_was_viewed_before_the_range_and_not_in_it(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any) -> None:
    tenant = await tracked(gql, make_tenant, run_worker)
    query = """query($r: RangeInput!, $n: Int!) { tenant { content(range: $r) {
        unused(limit: $n) { contentId lastViewed } } } }"""

    async def unused(first: str, last: str, limit: int = 20) -> list[dict[str, Any]]:
        data = await gql.data(tenant.secret, query, {"r": {"from": first, "to": last}, "n": limit})
        return list(data["tenant"]["content"]["unused"])

    # Both items were viewed on May 10 (cap1 on May 9 too): unused on May 11, not on May 10.
    assert await unused("2025-05-11", "2025-05-12") == [{"contentId": "cap1", "lastViewed": "2025-05-10"},
                                                        {"contentId": "cap2", "lastViewed": "2025-05-10"}]
    assert await unused("2025-05-11", "2025-05-11", limit=1) == [{"contentId": "cap1", "lastViewed": "2025-05-10"}]
    assert await unused("2025-05-10", "2025-05-10") == []
    assert await unused("2025-05-09", "2025-05-09") == []  # cap2 was not known yet
    body = await gql(tenant.secret, '{ tenant { content(range: {since: "7d"}) { unused(limit: 0) { contentId } } } }')
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "limit"}


AUDIENCE = """query($range: RangeInput!, $bots: Boolean!) { tenant { capsule(id: "cap1") {
    sessions(range: $range, compare: PREVIOUS_PERIOD, includeBots: $bots) { sessions visitors users bounceRate
        avgSessionDurationSeconds medianSessionDurationSeconds returningVisitors returnVisitRate botSessions
        previous { sessions visitors avgSessionDurationSeconds returningVisitors }
        change { sessions visitors avgSessionDurationSeconds } }
    traffic(range: $range, includeBots: $bots) { devices { key sessions share }
        bots { totalSessions excludedSessions byReason { code sessions } } } } } }"""


async def test_a_capsules_audience_sessions_and_traffic(gql: GraphQLClient, make_tenant: Any,
                                                         run_worker: Any) -> None:
    tenant = await tracked(gql, make_tenant, run_worker)
    capsule = (await gql.data(tenant.secret, AUDIENCE, {"range": DAY, "bots": False}))["tenant"]["capsule"]
    # cap1's sessions on May 10: a (10:00-10:09), b twice (11:00-11:11, 15:00-15:20), c (12:00-12:01); the
    # crawler's is left out. a returns (user a came on May 9), b returns (b's own first session).
    assert capsule["sessions"] == {
        "sessions": 4, "visitors": 3, "users": 2, "bounceRate": 0.0, "avgSessionDurationSeconds": 615.0,
        "medianSessionDurationSeconds": 600.0, "returningVisitors": 2, "returnVisitRate": 66.67,
        "botSessions": 1,
        "previous": {"sessions": 1, "visitors": 1, "avgSessionDurationSeconds": 0.0, "returningVisitors": 0},
        "change": {"sessions": 300.0, "visitors": 200.0, "avgSessionDurationSeconds": None}}
    assert capsule["traffic"] == {
        "devices": [{"key": "desktop", "sessions": 2, "share": 50.0}, {"key": "mobile", "sessions": 2, "share": 50.0}],
        "bots": {"totalSessions": 5, "excludedSessions": 1, "byReason": [{"code": "ua_crawler", "sessions": 1}]}}
    everyone = (await gql.data(tenant.secret, AUDIENCE, {"range": DAY, "bots": True}))["tenant"]["capsule"]
    assert (everyone["sessions"]["sessions"], everyone["traffic"]["devices"][0]) == (
        5, {"key": "desktop", "sessions": 2, "share": 40.0})


CONTENT = """query($range: RangeInput!, $bots: Boolean!, $granularity: Granularity, $top: Int!, $popular: Int!) {
  tenant { content(range: $range, includeBots: $bots) { period { firstDay lastDay } includeBots
    stats(compare: PREVIOUS_PERIOD) { views uniqueViews ctaClicks ctaClickThroughRate conversions conversionRate
        viewingSessions avgTimeOnContentSeconds medianTimeOnContentSeconds
        previous { period { firstDay } views uniqueViews viewingSessions avgTimeOnContentSeconds }
        change { views uniqueViews ctaClicks viewingSessions avgTimeOnContentSeconds } }
    top(limit: $top) { contentId views uniqueViews ctaClicks ctaClickThroughRate conversions conversionRate
                       dismissals }
    trends(granularity: $granularity) { granularity points { date views ctaClicks conversions } }
    popular(limit: $popular) { contentId engagedSeconds viewingSessions avgTimeOnContentSeconds } } } }"""


async def test_content_stats_compare_top_trends_and_popular(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any, owner_engine: AsyncEngine) -> None:
    tenant = await tracked(gql, make_tenant, run_worker)
    variables = {"range": DAY, "bots": False, "granularity": None, "top": 10, "popular": 20}
    content = (await gql.data(tenant.secret, CONTENT, variables))["tenant"]["content"]
    assert content["period"] == {"firstDay": "2025-05-10", "lastDay": "2025-05-10"}
    assert content["includeBots"] is False
    # All content: cap1's five views and cap2's two; users a, b, anon-c and d; viewing sessions
    # engaged 120 + 60 + 30 + 0 + 400 seconds.
    assert content["stats"] == {
        "views": 7, "uniqueViews": 4, "ctaClicks": 2, "ctaClickThroughRate": 28.57, "conversions": 2,
        "conversionRate": 28.57, "viewingSessions": 5, "avgTimeOnContentSeconds": 122.0,
        "medianTimeOnContentSeconds": 60.0,
        "previous": {"period": {"firstDay": "2025-05-09"}, "views": 1, "uniqueViews": 1, "viewingSessions": 1,
                     "avgTimeOnContentSeconds": 0.0},
        "change": {"views": 600.0, "uniqueViews": 300.0, "ctaClicks": None, "viewingSessions": 400.0,
                   "avgTimeOnContentSeconds": None}}
    overview = (await gql.data(tenant.secret, """query($range: RangeInput!) { tenant {
        overview(range: $range, compare: PREVIOUS_PERIOD) { content { views conversions previous { views } } } } }""",
        {"range": DAY}))["tenant"]["overview"]
    assert overview == {"content": {"views": 7, "conversions": 2, "previous": {"views": 1}}}
    # Counters alone skip the session facts; a session figure asked for only under previous or change
    # is still computed for both periods.
    nested = (await gql.data(tenant.secret, """query($range: RangeInput!) { tenant {
        overview(range: $range, compare: PREVIOUS_PERIOD) { content { views previous { viewingSessions }
        change { viewingSessions uniqueViews } } } } }""", {"range": DAY}))["tenant"]["overview"]
    assert nested == {"content": {"views": 7, "previous": {"viewingSessions": 1},
                                  "change": {"viewingSessions": 400.0, "uniqueViews": 300.0}}}
    assert content["top"] == [
        {"contentId": "cap1", "views": 5, "uniqueViews": 3, "ctaClicks": 2, "ctaClickThroughRate": 40.0,
         "conversions": 2, "conversionRate": 40.0, "dismissals": 1},
        {"contentId": "cap2", "views": 2, "uniqueViews": 1, "ctaClicks": 0, "ctaClickThroughRate": 0.0,
         "conversions": 0, "conversionRate": 0.0, "dismissals": 0}]
    assert content["popular"] == [
        {"contentId": "cap2", "engagedSeconds": 400.0, "viewingSessions": 1, "avgTimeOnContentSeconds": 400.0},
        {"contentId": "cap1", "engagedSeconds": 210.0, "viewingSessions": 4, "avgTimeOnContentSeconds": 52.5}]
    compared = (await gql.data(tenant.secret, """query($range: RangeInput!) { tenant { content(range: $range) {
        top(compare: PREVIOUS_PERIOD) { contentId views previous { views uniqueViews ctaClickThroughRate dismissals }
                                        change { views uniqueViews ctaClicks ctaClickThroughRate } }
        popular(compare: PREVIOUS_PERIOD) { contentId previous { engagedSeconds viewingSessions
            avgTimeOnContentSeconds } change { engagedSeconds viewingSessions avgTimeOnContentSeconds } } } } }""",
        {"range": DAY}))["tenant"]["content"]
    # May 9th: a's one view of cap1 (a content session without engaged time); nothing of cap2.
    assert compared["top"] == [
        {"contentId": "cap1", "views": 5,
         "previous": {"views": 1, "uniqueViews": 1, "ctaClickThroughRate": 0.0, "dismissals": 0},
         "change": {"views": 400.0, "uniqueViews": 200.0, "ctaClicks": None, "ctaClickThroughRate": None}},
        {"contentId": "cap2", "views": 2,
         "previous": {"views": 0, "uniqueViews": 0, "ctaClickThroughRate": None, "dismissals": 0},
         "change": {"views": None, "uniqueViews": None, "ctaClicks": None, "ctaClickThroughRate": None}}]
    assert compared["popular"] == [
        {"contentId": "cap2", "previous": {"engagedSeconds": 0.0, "viewingSessions": 0, "avgTimeOnContentSeconds": None},
         "change": {"engagedSeconds": None, "viewingSessions": None, "avgTimeOnContentSeconds": None}},
        {"contentId": "cap1", "previous": {"engagedSeconds": 0.0, "viewingSessions": 1, "avgTimeOnContentSeconds": 0.0},
         "change": {"engagedSeconds": None, "viewingSessions": 300.0, "avgTimeOnContentSeconds": None}}]
    # One day: hourly buckets by default, every hour present.
    hours = content["trends"]["points"]
    assert content["trends"]["granularity"] == "HOUR" and len(hours) == 24
    assert [p["views"] for p in hours] == [0] * 10 + [1, 2, 1, 0, 2, 1] + [0] * 8

    limited = {**variables, "range": {"from": "2025-05-08", "to": "2025-05-10"}, "granularity": "DAY",
               "top": 1, "popular": 1, "bots": True}
    content = (await gql.data(tenant.secret, CONTENT, limited))["tenant"]["content"]
    assert content["trends"]["points"] == [
        {"date": "2025-05-08", "views": 0, "ctaClicks": 0, "conversions": 0},
        {"date": "2025-05-09", "views": 1, "ctaClicks": 0, "conversions": 0},
        {"date": "2025-05-10", "views": 8, "ctaClicks": 3, "conversions": 3}]
    assert [t["contentId"] for t in content["top"]] == ["cap1"]
    assert content["top"][0]["views"] == 7
    assert [p["contentId"] for p in content["popular"]] == ["cap2"]
    async with owner_engine.connect() as conn:
        assert await verify_rollups(conn, tenant.id) == []


SERIES = """query($id: String!, $bots: Boolean!) { tenant { capsule(id: $id) {
    series(range: {from: "2025-05-10T10:00:00Z", to: "2025-05-10T16:00:00Z"}, includeBots: $bots) {
        granularity points { start views ctaClicks conversions messages assetViews videoCompletions } } } } }"""


async def test_capsule_series_unknown_capsule_and_limits(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any) -> None:
    tenant = await tracked(gql, make_tenant, run_worker)
    series = (await gql.data(tenant.secret, SERIES, {"id": "cap1", "bots": False}))["tenant"]["capsule"]["series"]
    assert series["granularity"] == "HOUR"
    assert [(p["start"][11:16], p["views"], p["ctaClicks"], p["conversions"], p["messages"], p["assetViews"],
             p["videoCompletions"]) for p in series["points"]] == [
        ("10:00", 1, 1, 1, 5, 2, 1), ("11:00", 2, 1, 0, 2, 3, 0), ("12:00", 1, 0, 0, 1, 1, 0),
        ("13:00", 0, 0, 0, 0, 0, 0), ("14:00", 0, 0, 0, 0, 0, 0), ("15:00", 1, 0, 1, 5, 0, 0)]
    with_bots = (await gql.data(tenant.secret, SERIES, {"id": "cap1", "bots": True}))["tenant"]["capsule"]["series"]
    assert [p["views"] for p in with_bots["points"]] == [1, 2, 1, 1, 0, 1]

    assert (await gql.data(tenant.secret, SERIES, {"id": "nope", "bots": False}))["tenant"]["capsule"] is None
    for limit in (0, 501):
        body = await gql(tenant.secret, "query($n: Int!) { tenant { content(range: {preset: LAST_7_DAYS}) { "
                                        "top(limit: $n) { contentId } } } }", {"n": limit})
        assert body["errors"][0]["message"].startswith("limit: must be between 1 and 500"), body
    body = await gql(tenant.secret, """{ tenant { content(range: {from: "2025-05-10", to: "2025-05-10"}) {
        trends(granularity: WEEK) { granularity } } } }""")
    assert "WEEK is longer than the range" in body["errors"][0]["message"]


async def test_content_commands_match_the_graph(
        servers: Servers, gql: GraphQLClient, run_worker: Any, tmp_path: Path) -> None:
    name = f"caps-{uuid.uuid4().hex[:6]}"
    keys = json.loads(cli(servers, "tenants", "create", name, "--retention-days", "760", "--json").stdout)
    assert (await gql.track(keys["publishableKey"], journeys()))["rejected"] == 0
    await run_worker()

    async def run(*args: str) -> Any:
        result = await report(servers, gql.url, keys["secretKey"], "content", *args, "--since", "2025-05-10",
                              "--until", "2025-05-10", "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    stats = await run("stats", "--capsule", "cap1")
    assert {k: stats[k] for k in HUMANS} == HUMANS
    assert (stats["previous"]["views"], stats["change"]["views"]) == (1, 400.0)
    assert [(i["contentId"], i["views"], i["uniqueViews"]) for i in (await run("top", "--limit", "1"))["items"]] == [
        ("cap1", 5, 3)]
    assert [(i["contentId"], i["engagedSeconds"]) for i in (await run("popular"))["items"]] == [("cap2", 400.0),
                                                                                       ("cap1", 210.0)]
    trends = await run("trends", "--group-by", "hour", "--include-bots")
    assert sum(p["views"] for p in trends["points"]) == 8 and len(trends["points"]) == 24
    failed = await report(servers, gql.url, keys["secretKey"], "content", "trends", "--since", "2025-05-10",
                          "--until", "2025-05-10", "--group-by", "fortnight")
    assert failed.returncode == 2 and "--group-by" in failed.stderr
    unknown = await report(servers, gql.url, keys["secretKey"], "content", "stats", "--capsule", "nope")
    assert unknown.returncode == 1 and "--capsule: no content with id 'nope'" in unknown.stderr
    exported = tmp_path / "top.csv"
    await run("top", "--export", str(exported))
    # one header and one row per item (the header and values were written twice)
    assert exported.read_text().splitlines() == [
        "contentId,views,uniqueViews,ctaClicks,ctaClickThroughRate,conversions,conversionRate",
        "cap1,5,3,2,40.0,2,40.0", "cap2,2,1,0,0.0,0,0.0"]


async def test_days_are_the_tenant_s_local_days(gql: GraphQLClient, make_tenant: Any, run_worker: Any) -> None:
    tenant = await make_tenant("America/New_York")
    a = visit(CHROME, "a")
    # 03:00Z is 23:00 on May 9 in New York; 05:00Z is 01:00 on May 10 (two sessions, two hours apart).
    batch = [a("ContentViewed", "10T03:00:00"), a("ContentEngagement", "10T03:01:00", engagement={"timeOnPageMs": 8000}),
             a("ContentViewed", "10T05:00:00"), a("ContentEngagement", "10T05:01:00", engagement={"timeOnPageMs": 2000})]
    assert (await gql.track(tenant.publishable, batch))["accepted"] == 4
    await run_worker()
    query = """{ tenant { content(range: {from: "2025-05-09", to: "2025-05-10"}) {
        trends(granularity: DAY) { points { start views } } }
      capsule(id: "cap1") { stats(range: {from: "2025-05-10", to: "2025-05-10"}) {
        views viewingSessions avgTimeOnContentSeconds } } } }"""
    tenant_data = (await gql.data(tenant.secret, query))["tenant"]
    assert tenant_data["content"]["trends"]["points"] == [{"start": "2025-05-09T00:00:00-04:00", "views": 1},
                                                          {"start": "2025-05-10T00:00:00-04:00", "views": 1}]
    assert tenant_data["capsule"]["stats"] == {"views": 1, "viewingSessions": 1, "avgTimeOnContentSeconds": 2.0}


UNIQUES = """query U($r: RangeInput!) { tenant {
  overview(range: $r, compare: PREVIOUS_PERIOD) { content { views uniqueViews previous { views uniqueViews }
                                                            change { views uniqueViews } } }
  content(range: $r) { top(limit: 5) { contentId views uniqueViews } } } }"""


async def test_unique_views_never_exceed_views_for_part_of_a_day(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any) -> None:
    """Distinct users are kept per local day: over a range shorter than a day, the day's three viewers
    beside the range's one view would read as impossible, so the figure is null there."""
    tenant = await make_tenant(timezone="Europe/Berlin")
    a, b, c = visit(CHROME, "a"), visit(IPHONE, "b"), visit(EDGE, None, anon="anon-c")
    views = [a("ContentViewed", "10T06:00:00"), b("ContentViewed", "10T07:00:00"),
             c("ContentViewed", "10T18:30:00"), c("ContentViewed", "10T18:40:00")]
    assert (await gql.track(tenant.publishable, views))["accepted"] == 4
    await run_worker()

    evening = await gql.data(tenant.secret, UNIQUES, {"r": {"from": "2025-05-10T20:00:00",
                                                             "to": "2025-05-10T21:00:00"}})
    assert evening["tenant"]["overview"]["content"] == {
        "views": 2, "uniqueViews": None, "previous": {"views": 0, "uniqueViews": None},
        "change": {"views": None, "uniqueViews": None}}
    assert evening["tenant"]["content"]["top"] == [{"contentId": "cap1", "views": 2, "uniqueViews": None}]
    last_24_hours = await gql.data(tenant.secret, UNIQUES, {"r": {"preset": "LAST_24_HOURS"}})
    assert last_24_hours["tenant"]["overview"]["content"]["uniqueViews"] is None

    whole_day = await gql.data(tenant.secret, UNIQUES, {"r": {"from": "2025-05-10", "to": "2025-05-10"}})
    assert whole_day["tenant"]["overview"]["content"] == {
        "views": 4, "uniqueViews": 3, "previous": {"views": 0, "uniqueViews": 0},
        "change": {"views": None, "uniqueViews": None}}
    assert whole_day["tenant"]["content"]["top"] == [{"contentId": "cap1", "views": 4, "uniqueViews": 3}]


QA_AGENT = CHROME + " InternalQA/3.1"
PARTS = """query($bots: Boolean!) { tenant { content(range: {from: "2025-05-10", to: "2025-05-10"},
    includeBots: $bots) { stats { viewingSessions avgTimeOnContentSeconds conversations documentViews } } } }"""


async def test_a_session_flagged_later_moves_its_content_sessions_to_the_bots_after_the_correction(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any, owner_engine: AsyncEngine) -> None:
    tenant = await make_tenant()
    a, qa = visit(CHROME, "a"), visit(QA_AGENT, "qa")
    result = await gql.track(tenant.publishable, [
        a("ContentViewed", "10T10:00:00"), a("ContentEngagement", "10T10:01:00", engagement={"timeOnPageMs": 30_000}),
        qa("ContentViewed", "10T11:00:00"), said(qa, "10T11:00:10", "q1", "user"),
        qa("ContentAssetViewed", "10T11:00:20", capsule={"assetId": "doc1", "assetKind": "document"}),
        qa("ContentEngagement", "10T11:01:00", engagement={"timeOnPageMs": 90_000}),
        a("ContentViewed", "11T10:00:00"), a("ContentEngagement", "11T10:00:30", engagement={"timeOnPageMs": 10_000})])
    assert result["rejected"] == 0, result["rejections"]
    await run_worker()

    # The time figures take whole days from the per-day sums and cut days from the content sessions:
    # May 10 from 11:00 (qa's session, 90 s) and the whole of May 11 (a's second session, 10 s).
    mixed = """{ tenant { content(range: {from: "2025-05-10T11:00:00Z", to: "2025-05-12T00:00:00Z"}) {
        stats { viewingSessions avgTimeOnContentSeconds totalTimeOnContentSeconds } } } }"""
    assert (await gql.data(tenant.secret, mixed))["tenant"]["content"]["stats"] == {
        "viewingSessions": 2, "avgTimeOnContentSeconds": 50.0, "totalTimeOnContentSeconds": 100.0}

    async def stats(bots: bool) -> dict[str, Any]:
        return (await gql.data(tenant.secret, PARTS, {"bots": bots}))["tenant"]["content"]["stats"]

    both = {"viewingSessions": 2, "avgTimeOnContentSeconds": 60.0, "conversations": 1, "documentViews": 1}
    assert await stats(False) == both
    # Each figure asked alone reads only its part of the facts, and gives the same number.
    for name, value in both.items():
        alone = f"{{ tenant {{ content(range: {{from: \"2025-05-10\", to: \"2025-05-10\"}}) {{ stats {{ {name} }} }} }} }}"
        assert (await gql.data(tenant.secret, alone))["tenant"]["content"]["stats"] == {name: value}

    await gql.data(tenant.secret, 'mutation { addBotRule(pattern: "internalqa") { id } }')
    await run_worker()  # the rule flags qa's session and corrects its day: the stored side follows
    assert await stats(False) == {"viewingSessions": 1, "avgTimeOnContentSeconds": 30.0, "conversations": 0,
                                  "documentViews": 0}
    assert await stats(True) == both
    async with owner_engine.connect() as conn:
        assert await verify_rollups(conn, tenant.id) == []

    # A stored side that is not its session's is a difference the check names.
    async with owner_engine.begin() as conn:
        await conn.execute(text("UPDATE content_sessions SET bot = NOT bot WHERE tenant_id = :t"), {"t": tenant.id})
    async with owner_engine.connect() as conn:
        assert [d.table for d in await verify_rollups(conn, tenant.id)] == ["content_sessions"]
