"""The reporting commands (overview, sessions, traffic) as a user runs them, over HTTP against a real
server with a secret key: the same figures as the graph."""

from __future__ import annotations

import csv
import json
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from analytics.errors import InvalidArgument
from cli.reporting import resolve_range
from tests.api.test_sessions import SAFARI, STATS, journeys, page
from tests.conftest import GraphQLClient, Servers, cli, report

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2025, 5, 11, 12, 30, tzinfo=UTC)


def test_since_and_until_resolve_in_the_tenant_zone() -> None:
    last_day = resolve_range("24h", None, BERLIN, now=NOW)
    assert (last_day.start, last_day.end, last_day.days) == (
        datetime(2025, 5, 10, 12, tzinfo=UTC), datetime(2025, 5, 11, 13, tzinfo=UTC), None)
    assert resolve_range("7d", None, BERLIN, now=NOW).days == (date(2025, 5, 5), date(2025, 5, 11))
    assert resolve_range("7d", "2025-05-03", BERLIN, now=NOW).days == (date(2025, 4, 27), date(2025, 5, 3))
    hours = resolve_range("1h", "2025-05-03T10:00:00+02:00", BERLIN, now=NOW)
    assert (hours.start, hours.end) == (datetime(2025, 5, 3, 7, tzinfo=UTC), datetime(2025, 5, 3, 8, tzinfo=UTC))
    assert resolve_range("2025-05-10", "2025-05-11", BERLIN, now=NOW).days == (date(2025, 5, 10), date(2025, 5, 11))
    assert resolve_range("2025-05-09", None, BERLIN, now=NOW).days == (date(2025, 5, 9), date(2025, 5, 11))
    since_instant = resolve_range("2025-05-11T09:15:00Z", None, BERLIN, now=NOW)
    assert (since_instant.start, since_instant.end) == (datetime(2025, 5, 11, 9, tzinfo=UTC),
                                                        datetime(2025, 5, 11, 13, tzinfo=UTC))
    for since, until, option in (("yesterday", None, "--since"), ("7d", "soon", "--until"),
                                 ("2025-05-11", "2025-05-10", "--until"), ("0h", None, "--since"),
                                 ("2025-05-12", None, "--since")):
        with pytest.raises(InvalidArgument) as caught:
            resolve_range(since, until, BERLIN, now=NOW)
        assert caught.value.field == option, (since, until)


async def run(servers: Servers, url: str, key: str, *args: str) -> Any:
    result = await report(servers, url, key, *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture
async def shop(servers: Servers, gql: GraphQLClient, run_worker: Any) -> tuple[str, str]:
    """A tenant made with the CLI (secret key, name): the sessions of test_sessions and one live one."""
    name = f"shop-{uuid.uuid4().hex[:6]}"
    keys = json.loads(cli(servers, "tenants", "create", name, "--timezone", "Europe/Berlin",
                          "--retention-days", "760", "--json").stdout)
    live = page((datetime.now(UTC) - timedelta(minutes=1)).isoformat(), "/now", SAFARI, anon="live")
    result = await gql.track(keys["publishableKey"], [*journeys(), live])
    assert result["rejected"] == 0, result["rejections"]
    await run_worker()
    return keys["secretKey"], name


RANGE = ("--since", "2025-05-10", "--until", "2025-05-11")


async def test_session_commands_match_the_graph(servers: Servers, gql: GraphQLClient, shop: tuple[str, str]) -> None:
    secret, _ = shop
    stats = await run(servers, gql.url, secret, "sessions", "stats", *RANGE)
    graph = (await gql.data(secret, f"""{{ tenant {{ sessionStats(range: {{from: "2025-05-10", to: "2025-05-11"}},
        compare: PREVIOUS_PERIOD) {{ {STATS} previous {{ sessions }} }} }} }}"""))["tenant"]["sessionStats"]
    assert stats["period"] == {"from": "2025-05-10T00:00:00+02:00", "to": "2025-05-12T00:00:00+02:00",
                               "timezone": "Europe/Berlin"}
    assert {k: stats[k] for k in STATS.split()} == {k: graph[k] for k in STATS.split()}
    assert (stats["sessions"], stats["bounceRate"], stats["returningVisitors"], stats["botSessions"]) == (6, 33.33, 2, 4)
    assert stats["previous"]["sessions"] == graph["previous"]["sessions"] == 0
    assert stats["change"]["sessions"] is None
    with_bots = await run(servers, gql.url, secret, "sessions", "stats", *RANGE, "--include-bots", "--compare", "none")
    assert (with_bots["sessions"], with_bots["previous"]) == (10, None)

    trends = await run(servers, gql.url, secret, "sessions", "trends", "--group-by", "day", "--since", "2025-05-09",
                 "--until", "2025-05-12")
    assert trends["groupBy"] == "day"
    assert [(p["start"][:10], p["sessions"], p["visitors"], p["pageViews"], p["bounceRate"]) for p in trends["points"]] == [
        ("2025-05-09", 0, 0, 0, None), ("2025-05-10", 3, 2, 5, 66.67), ("2025-05-11", 3, 3, 6, 0.0),
        ("2025-05-12", 0, 0, 0, None)]

    live = await run(servers, gql.url, secret, "sessions", "live", "--limit", "5")
    assert [(s["landingPage"], s["browser"], s["source"]) for s in live["sessions"]] == [("/now", "Safari", "direct")]


async def test_traffic_commands(servers: Servers, gql: GraphQLClient, shop: tuple[str, str]) -> None:
    secret, _ = shop
    sources = await run(servers, gql.url, secret, "traffic", "sources", *RANGE, "--limit", "2")
    assert [(s["source"], s["sessions"], s["share"]) for s in sources["sources"]] == [("direct", 2, 33.33),
                                                                                       ("email", 1, 16.67)]
    assert [r["referrer"] for r in sources["referrers"]] == ["example.org", "google.com"]
    assert sources["campaigns"] == [{"utmSource": "newsletter", "utmMedium": "email", "utmCampaign": "spring",
                                     "sessions": 1, "visitors": 1, "share": 16.67, "bounceRate": 0.0,
                                     "avgSessionDurationSeconds": 300.0}]
    geo = await run(servers, gql.url, secret, "traffic", "geo", *RANGE)
    assert [(c["country"], c["sessions"]) for c in geo["countries"]] == [("DE", 3), ("US", 2), (None, 1)]
    assert [(r["country"], r["region"]) for r in geo["regions"]] == [("DE", "BE"), ("US", "CA")]
    devices = await run(servers, gql.url, secret, "traffic", "devices", *RANGE, "--include-bots")
    assert [(d["deviceType"], d["sessions"]) for d in devices["devices"]] == [("desktop", 6), ("bot", 3), ("mobile", 1)]
    assert devices["operatingSystems"][0]["os"] == "Mac OS X"
    bots = await run(servers, gql.url, secret, "traffic", "bots", *RANGE)
    assert (bots["totalSessions"], bots["excludedSessions"], bots["excludedShare"]) == (10, 4, 40.0)
    assert [(t["name"], t["sessions"]) for t in bots["byTier"]] == [("user_agent", 3), ("scanner", 1),
                                                                   ("behavioural", 0)]
    assert [(r["code"], r["sessions"]) for r in bots["byReason"]] == [("ua_crawler", 2), ("ua_ai_crawler", 1),
                                                                     ("scan_path", 1)]
    assert [(d["date"], d["sessions"]) for d in bots["byDay"]] == [("2025-05-10", 1), ("2025-05-11", 3)]
    assert bots["byUserAgent"][0]["sessions"] == 2 and "Googlebot" in bots["byUserAgent"][0]["userAgent"]


async def test_overview_tables_json_and_csv(servers: Servers, gql: GraphQLClient, shop: tuple[str, str],
                                            tmp_path: Path) -> None:
    secret, _ = shop
    exported = tmp_path / "overview.csv"
    overview = await run(servers, gql.url, secret, "overview", *RANGE, "--export", str(exported))
    # u1's Firefox and iPhone sessions are one visitor (its userId).
    assert overview["sessions"]["sessions"] == 6 and overview["sessions"]["visitors"] == 4
    assert overview["topSources"][0]["source"] == "direct"
    assert overview["tours"] == {"activeTours": 1, "starts": 1, "completions": 0, "completionRate": 0.0}
    with exported.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows[0] == {"table": "sessions", "metric": "sessions", "value": "6", "previous": "0", "change %": "",
                       "source": "", "sessions": "", "visitors": "", "share": "", "bounceRate": "",
                       "avgSessionDurationSeconds": ""}
    assert {r["table"] for r in rows} == {"sessions", "top sources", "tours", "content"}
    assert overview["content"] == {"views": 0, "uniqueViews": 0, "ctaClicks": 0, "conversions": 0,
                                   "conversionRate": None}
    everyone = await run(servers, gql.url, secret, "overview", *RANGE, "--include-bots")
    assert everyone["sessions"]["sessions"] == 10 and everyone["tours"]["starts"] == 1
    assert [r["source"] for r in rows if r["table"] == "top sources"] == [
        "direct", "email", "organic_search", "referral", "social"]

    table = await report(servers, gql.url, secret, "traffic", "sources", *RANGE)
    assert table.returncode == 0, table.stderr
    assert "organic_search" in table.stdout and "news.ycombinator.com" in table.stdout


async def test_csv_export_has_one_header_and_each_row_once(servers: Servers, gql: GraphQLClient,
                                                          shop: tuple[str, str], tmp_path: Path) -> None:
    secret, _ = shop
    exported = tmp_path / "sources.csv"
    sources = await run(servers, gql.url, secret, "traffic", "sources", *RANGE, "--export", str(exported))
    lines = exported.read_text().splitlines()
    # the header and the values were repeated once per column that a later row seemed to add
    assert lines[0] == ("table,source,sessions,visitors,share,bounceRate,avgSessionDurationSeconds,referrer,"
                        "utmSource,utmMedium,utmCampaign")
    assert len(lines) == 1 + len(sources["sources"]) + len(sources["referrers"]) + len(sources["campaigns"])
    assert lines[1:3] == ["sources,direct,2,2,33.33,0.0,720.0,,,,", "sources,email,1,1,16.67,0.0,300.0,,,,"]


def test_bad_options_are_named_before_any_request(servers: Servers) -> None:
    nowhere = {"ANALYTICS_URL": "http://127.0.0.1:9", "ANALYTICS_KEY": "sk_none"}
    for args, message in ((["sessions", "stats", "--since", "yesterday"],
                           "--since: 'yesterday' is not a duration back from --until or now (30m, 24h, 7d, 2w), "
                           "an ISO date"),
                          (["sessions", "trends", "--group-by", "fortnight"], "--group-by: must be hour"),
                          (["overview", "--compare", "last"], "--compare: must be previous, year or none"),
                          (["traffic", "bots", "--since", "2025-05-11", "--until", "2025-05-10"], "--until:"),
                          (["traffic", "geo", "--since", "2099-01-01"], "--since: 2099-01-01 is in the future"),
                          (["content", "top", "--since", "0d"], "--since: must be longer than 0")):
        result = cli(servers, *args, env=nowhere)
        assert result.returncode == 2, (args, result.stderr)
        assert message in " ".join(result.stderr.split()), (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert cli(servers, "traffic", "geo", "--limit", "0", env=nowhere).returncode == 2  # typer's own check


def test_every_reporting_command_has_help(servers: Servers) -> None:
    for command in (["overview"], ["sessions"], ["sessions", "stats"], ["sessions", "trends"],
                    ["sessions", "live"], ["traffic"], ["traffic", "sources"], ["traffic", "geo"],
                    ["traffic", "devices"], ["traffic", "bots"], ["content", "stats"], ["content", "top"],
                    ["content", "trends"], ["content", "popular"], ["login"], ["logout"]):
        result = cli(servers, *command, "--help")
        assert result.returncode == 0, command
        assert "Usage:" in result.stdout, command
        if command[-1] not in ("sessions", "traffic", "login", "logout"):
            assert all(o in result.stdout for o in ("--json", "--url", "--key", "--profile")), command
