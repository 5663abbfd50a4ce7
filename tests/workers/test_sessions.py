"""Sessions, bot flags and counter corrections through the real pipeline: track over HTTP, the ARQ
worker on Redis, PostgreSQL; exact numbers from events written as data."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.db import tenant_transaction
from analytics.ingest.events import EventIn
from analytics.ingest.origin import Origin
from analytics.ingest.service import PartitionCache, ingest_batch
from analytics.rollups.recompute import verify_rollups
from analytics.rollups.service import roll_up, roll_up_once
from analytics.sessions.correction import correct_dirty_days, mark_days
from analytics.sessions.derive import DERIVATION
from analytics.sessions.service import maintain_sessions, pending_session_work
from analytics.traffic.visitor import DailySalts
from tests.conftest import GraphQLClient, TenantKeys, event

CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/124.0.0.0 Safari/537.36")
IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.4 Mobile/15E148 Safari/604.1")
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
EDGE = CHROME + " Edg/124.0.2478.51"
QA_AGENT = CHROME + " InternalQA/3.1"
STATS = """query($bots: Boolean!) { tenant { tour(id: "t1") {
    stats(range: {from: "2025-05-01", to: "2025-05-10"}, includeBots: $bots) { starts } } } }"""


def page(at: str, url: str, agent: str = CHROME, user: str | None = None, **context: Any) -> dict[str, Any]:
    return event("PageViewed", at, user, url=url, context={"userAgent": agent, **context})


def tour_start(at: str, agent: str, user: str) -> dict[str, Any]:
    return event("TourStarted", at, user, tourId="t1", context={"userAgent": agent})


async def sessions_of(engine: AsyncEngine, tenant_id: int) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(text(
            "SELECT * FROM sessions WHERE tenant_id = :t ORDER BY started_at"), {"t": tenant_id})).all())


async def starts(gql: GraphQLClient, tenant: TenantKeys) -> tuple[int, int]:
    humans, everyone = [(await gql.data(tenant.secret, STATS, {"bots": b}))["tenant"]["tour"]["stats"]["starts"]
                        for b in (False, True)]
    return humans, everyone


async def assert_counters_match_raw_events(engine: AsyncEngine, tenant_id: int) -> None:
    async with engine.connect() as conn:
        assert await verify_rollups(conn, tenant_id) == []


async def test_sessions_split_at_30_minutes_idle_and_24_hours_and_late_events_merge(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any, owner_engine: AsyncEngine) -> None:
    tenant = await make_tenant()
    late = page("2025-05-01T10:29:59Z", "https://shop.example/b")
    first = [page("2025-05-01T10:00:00Z", "https://shop.example/a"),
             page("2025-05-01T10:59:58Z", "https://shop.example/c"),
             page("2025-05-01T11:29:58Z", "https://shop.example/d")]  # exactly 30:00 after 10:59:58
    # Every 25 minutes from midnight for a day and a bit: the 24-hour cap ends the session.
    long_day = [page(f"2025-05-02T{m // 60:02d}:{m % 60:02d}:00Z" if m < 1440 else
                     f"2025-05-03T{(m - 1440) // 60:02d}:{m % 60:02d}:00Z", f"https://shop.example/p{m}")
                for m in range(0, 1451, 25)]
    result = await gql.track(tenant.publishable, first + long_day)
    assert result["accepted"] == 62, result["rejections"][:3]
    await run_worker()
    before = await sessions_of(owner_engine, tenant.id)
    # Without the 10:29:59 event, 10:00 and 10:59:58 are 59:58 apart: two sessions. With it, the
    # gaps are 29:59 each: one session.
    assert [s.request_count for s in before] == [1, 1, 1, 58, 1]

    assert (await gql.track(tenant.publishable, [late]))["accepted"] == 1
    await run_worker()
    sessions = await sessions_of(owner_engine, tenant.id)
    assert [(s.started_at.isoformat(), s.last_seen_at.isoformat(), s.request_count) for s in sessions] == [
        ("2025-05-01T10:00:00+00:00", "2025-05-01T10:59:58+00:00", 3),
        ("2025-05-01T11:29:58+00:00", "2025-05-01T11:29:58+00:00", 1),
        ("2025-05-02T00:00:00+00:00", "2025-05-02T23:45:00+00:00", 58),
        ("2025-05-03T00:10:00+00:00", "2025-05-03T00:10:00+00:00", 1),
    ]
    merged = sessions[0]
    assert (merged.page_views, merged.unique_pages, merged.landing_page, merged.exit_page) == (3, 3, "/a", "/c")
    assert (merged.device_type, merged.browser, merged.os) == ("desktop", "Chrome", "Windows")
    assert not merged.excluded
    async with owner_engine.connect() as conn:
        keys = (await conn.execute(text(
            "SELECT count(*) FILTER (WHERE session_key IS NULL), count(DISTINCT session_key) FROM events "
            "WHERE tenant_id = :t"), {"t": tenant.id})).one()
    assert tuple(keys) == (0, 4)


async def test_session_facts_source_utm_geo_device_and_engagement(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any, owner_engine: AsyncEngine) -> None:
    tenant = await make_tenant()
    batch = [
        page("2025-05-01T09:00:00Z", "https://shop.example/landing?utm_source=newsletter&utm_medium=email"
             "&utm_campaign=spring", IPHONE, "u7", referrer="https://mail.google.com/", country="DE"),
        page("2025-05-01T09:01:00Z", "https://shop.example/pricing", IPHONE, "u7"),
        event("PageEngagement", "2025-05-01T09:02:00Z", "u7", url="https://shop.example/pricing",
              engagement={"scrollDepth": 80, "timeOnPageMs": 45000}, context={"userAgent": IPHONE}),
        page("2025-05-01T12:00:00Z", "https://shop.example/", CHROME,
             referrer="https://www.google.com/search?q=shop"),
    ]
    assert (await gql.track(tenant.publishable, batch))["accepted"] == 4
    await run_worker()
    phone, desktop = await sessions_of(owner_engine, tenant.id)
    assert (phone.referrer_source, phone.utm_source, phone.utm_medium, phone.utm_campaign) == (
        "email", "newsletter", "email", "spring")
    assert (phone.country, phone.device_type, phone.os, phone.user_id) == ("DE", "mobile", "iOS", "u7")
    assert (phone.request_count, phone.page_views, phone.engagement_events, phone.engaged_ms) == (3, 2, 1, 45000)
    assert (phone.reading_patterns, desktop.reading_patterns) == ({"engaged": 1}, {})
    assert phone.entry_url.endswith("utm_campaign=spring") and phone.landing_page == "/landing"
    assert (desktop.referrer_source, desktop.referrer_url) == ("organic_search",
                                                              "https://www.google.com/search?q=shop")
    assert phone.visitor_id != desktop.visitor_id
    assert phone.ip_address is None and desktop.ip_address is None


async def test_bot_tiers_are_flagged_and_excluded_from_counters_unless_included(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any, owner_engine: AsyncEngine) -> None:
    tenant = await make_tenant()
    human = [tour_start("2025-05-01T10:00:00Z", CHROME, "human"),
             page("2025-05-01T10:00:01Z", "https://shop.example/", CHROME, "human")]
    crawler = [tour_start("2025-05-01T10:00:00Z", GOOGLEBOT, "crawler")]
    scanner = [tour_start("2025-05-01T11:00:00Z", CHROME + " A", "scanner"),
               page("2025-05-01T11:00:01Z", "https://shop.example/wp-admin/install.php", CHROME + " A", "scanner")]
    # 70 page views half a second apart: 70 requests a minute, with machine-regular gaps.
    fast = [tour_start("2025-05-01T12:00:00Z", CHROME + " B", "fast")] + [
        page(f"2025-05-01T12:00:{i // 2:02d}.{5 * (i % 2)}Z", f"https://shop.example/x{i % 5}", CHROME + " B",
             "fast") for i in range(1, 71)]
    assert (await gql.track(tenant.publishable, human + crawler + scanner + fast))["accepted"] == 76
    # A session counted as human first, whose later request is a scanner's: its start moves sides.
    late_scanner = [tour_start("2025-05-02T08:00:00Z", CHROME + " C", "late")]
    assert (await gql.track(tenant.publishable, late_scanner))["accepted"] == 1
    await run_worker()
    assert await starts(gql, tenant) == (2, 5)
    assert (await gql.track(tenant.publishable, [
        page("2025-05-02T08:05:00Z", "https://shop.example/.env", CHROME + " C", "late")]))["accepted"] == 1
    await run_worker()

    flags = {s.user_id: s for s in await sessions_of(owner_engine, tenant.id)}
    assert not flags["human"].excluded and flags["human"].behavioural_bot_score == 0
    assert flags["crawler"].is_bot and flags["crawler"].agent_reasons == [
        {"tier": 1, "code": "ua_crawler", "detail": "device-detector: Googlebot"}]
    assert flags["crawler"].device_type == "bot"
    assert flags["scanner"].is_scanner and not flags["scanner"].is_bot
    # One reason per scanner rule the session's paths met, each with its first path.
    assert flags["scanner"].agent_reasons == [{"tier": 2, "code": "scan_path", "detail": "wordpress: wp-admin"},
                                              {"tier": 2, "code": "scan_path", "detail": "php: install.php"}]
    assert flags["late"].is_scanner and flags["late"].agent_reasons[0]["detail"] == "secrets: .env"
    assert flags["fast"].is_behavioural_bot and not flags["fast"].is_bot
    assert flags["fast"].agent_reasons == [{"tier": 2, "code": "scan_velocity", "detail": "70 page views in 60 s"}]
    assert flags["fast"].behavioural_bot_score == 80
    assert flags["fast"].behaviour_signals == {"request_velocity": 50, "regular_intervals": 30}
    assert await starts(gql, tenant) == (1, 5)
    await assert_counters_match_raw_events(owner_engine, tenant.id)


async def test_a_bare_product_name_is_a_behavioural_suspicion_not_a_verdict(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any, owner_engine: AsyncEngine) -> None:
    tenant = await make_tenant()
    calm = [page("2025-05-01T10:00:00Z", "https://shop.example/", "AcmeSync/2.1", "calm"),
            page("2025-05-01T10:02:00Z", "https://shop.example/a", "AcmeSync/2.1", "calm")]
    # Six requests 50 ms apart (request_interval, 35) from a bare name (no_browser_token, 20): 55.
    rapid = [page(f"2025-05-01T11:00:00.{5 * i:02d}Z", f"https://shop.example/r{i}", "AcmeSync/2.2", "rapid")
             for i in range(6)]
    assert (await gql.track(tenant.publishable, calm + rapid))["accepted"] == 8
    await run_worker()
    flags = {s.user_id: s for s in await sessions_of(owner_engine, tenant.id)}
    assert not flags["calm"].is_bot and not flags["calm"].is_behavioural_bot
    assert flags["calm"].behaviour_signals == {"no_browser_token": 20}
    assert flags["rapid"].is_behavioural_bot and not flags["rapid"].is_bot
    assert flags["rapid"].behaviour_signals == {"request_interval": 35, "no_browser_token": 20}


async def test_a_retroactive_bot_rule_flags_existing_sessions_and_corrects_every_counter(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any, owner_engine: AsyncEngine) -> None:
    tenant = await make_tenant()
    batch = [tour_start("2025-05-01T10:00:00Z", CHROME, "human"),
             tour_start("2025-05-01T10:00:00Z", QA_AGENT, "qa1"),
             tour_start("2025-05-03T10:00:00Z", QA_AGENT, "qa2"),
             event("StepViewed", "2025-05-03T10:00:05Z", "qa2", tourId="t1", stepIndex=0,
                   context={"userAgent": QA_AGENT})]
    assert (await gql.track(tenant.publishable, batch))["accepted"] == 4
    await run_worker()
    assert await starts(gql, tenant) == (3, 3)

    bad = await gql(tenant.secret, 'mutation { addBotRule(pattern: "Chrome") { id } }')
    assert bad["errors"][0]["extensions"]["field"] == "pattern"
    assert "ordinary browsers" in bad["errors"][0]["message"]
    added = await gql.data(tenant.secret, 'mutation { addBotRule(pattern: "internalqa", note: "our QA") '
                                          '{ id pattern status } }')
    assert added["addBotRule"]["status"] == "queued"
    await run_worker()
    rules = (await gql.data(tenant.secret, "{ tenant { botRules { pattern status sessionsFlagged "
                                           "daysCorrected note } } }"))["tenant"]["botRules"]
    assert rules == [{"pattern": "internalqa", "status": "done", "sessionsFlagged": 2, "daysCorrected": 2,
                      "note": "our QA"}]
    assert await starts(gql, tenant) == (1, 3)
    funnel = """{ tenant { tour(id: "t1") { funnel(range: {from: "2025-05-01", to: "2025-05-10"}) {
        steps { users } } } } }"""
    assert (await gql.data(tenant.secret, funnel))["tenant"]["tour"]["funnel"]["steps"] == [{"users": 0}]
    await assert_counters_match_raw_events(owner_engine, tenant.id)

    # The rule stays: a new session with that agent is a bot from its first event.
    assert (await gql.track(tenant.publishable, [tour_start("2025-05-04T10:00:00Z", QA_AGENT, "qa3")]))[
        "accepted"] == 1
    await run_worker()
    assert await starts(gql, tenant) == (1, 4)
    await assert_counters_match_raw_events(owner_engine, tenant.id)


async def test_no_raw_ip_address_in_any_table_by_default(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any, owner_engine: AsyncEngine) -> None:
    tenant = await make_tenant()
    assert (await gql.track(tenant.publishable, [page("2025-05-01T10:00:00Z", "https://shop.example/")]))[
        "accepted"] == 1
    await run_worker()
    async with owner_engine.connect() as conn:
        tables = [r[0] for r in await conn.execute(text(
            "SELECT DISTINCT table_name FROM information_schema.columns WHERE table_schema = 'public' "
            "AND column_name = 'tenant_id'"))]
        assert "sessions" in tables and "events" in tables
        for table in tables:
            found = (await conn.execute(text(
                f"SELECT count(*) FROM {table} t WHERE tenant_id = :t AND t::text LIKE '%127.0.0.1%'"),
                {"t": tenant.id})).scalar_one()
            assert found == 0, table


def salts_of(at: datetime) -> DailySalts:
    """Salts as the API holds them on ``at``'s UTC day: that day's, and the day before's."""
    day = at.astimezone(UTC).date()
    return DailySalts(today=f"salt-{day}".encode(), yesterday=f"salt-{day - timedelta(days=1)}".encode())


async def test_a_visit_across_midnight_stays_one_session_although_the_salt_changed(
        make_tenant: Any, run_worker: Any, app_engine: AsyncEngine, owner_engine: AsyncEngine) -> None:
    tenant = await make_tenant()
    partitions = PartitionCache()

    async def send_at(at: datetime, *events: dict[str, Any]) -> None:
        origin = Origin(tenant_id=tenant.id, ip="198.51.100.7", user_agent=CHROME, store_ip=False,
                        salts=salts_of(at))
        outcome = await ingest_batch(app_engine, partitions, tenant_id=tenant.id,
                                     events=[msgspec.convert(e, EventIn) for e in events],
                                     retention_days=3650, max_future_seconds=86400, origin=origin)
        assert outcome.accepted == len(events)

    # Sent as they happen: the first request on May 1st, the second after midnight UTC.
    await send_at(datetime(2025, 5, 1, 23, 55, tzinfo=UTC), page("2025-05-01T23:55:00Z", "https://shop.example/a"))
    await send_at(datetime(2025, 5, 2, 0, 5, tzinfo=UTC), page("2025-05-02T00:05:00Z", "https://shop.example/b"))
    # Another visitor behind the same address, with another browser, stays apart.
    await send_at(datetime(2025, 5, 2, 0, 6, tzinfo=UTC),
                  page("2025-05-02T00:06:00Z", "https://shop.example/c", IPHONE))
    await run_worker()
    async with owner_engine.connect() as conn:
        ids = (await conn.execute(text("SELECT count(DISTINCT visitor_id) FROM events WHERE tenant_id = :t"),
                                  {"t": tenant.id})).scalar_one()
    assert ids == 3  # two salts for the first visitor, one for the second
    sessions = await sessions_of(owner_engine, tenant.id)
    assert [(s.request_count, s.landing_page, s.exit_page) for s in sessions] == [(2, "/a", "/b"), (1, "/c", "/c")]


async def test_a_day_correction_leaves_events_still_in_the_outbox_to_their_own_rollup(
        gql: GraphQLClient, make_tenant: Any, app_engine: AsyncEngine, owner_engine: AsyncEngine) -> None:
    tenant = await make_tenant()
    for user in ("a", "b", "c"):  # three batches, three outbox rows
        assert (await gql.track(tenant.publishable, [tour_start("2025-05-01T10:00:00Z", CHROME, user)]))[
            "accepted"] == 1
    assert (await roll_up_once(app_engine, tenant.id, claim_batches=1)).events == 1
    async with tenant_transaction(app_engine, tenant.id) as conn:
        await conn.execute(text("INSERT INTO dirty_days (tenant_id, day) VALUES (:t, '2025-05-01')"),
                           {"t": tenant.id})
        assert await correct_dirty_days(conn, tenant.id, ZoneInfo("UTC")) == [date(2025, 5, 1)]
    await roll_up(app_engine, tenant.id, claim_batches=10)
    assert await starts(gql, tenant) == (3, 3)
    await assert_counters_match_raw_events(owner_engine, tenant.id)


async def test_sessions_whose_events_did_not_change_keep_their_rows_unless_derived_by_older_code(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any, owner_engine: AsyncEngine) -> None:
    tenant = await make_tenant()

    async def visit(at: str, path: str) -> list[Any]:
        assert (await gql.track(tenant.publishable, [page(at, f"https://shop.example{path}")]))["accepted"] == 1
        await run_worker()
        return await sessions_of(owner_engine, tenant.id)

    (first,) = await visit("2025-05-01T10:00:00Z", "/pricing")
    assert first.scored_at is not None and first.derivation == DERIVATION
    # Two hours later, the same visitor: a second session; the first one's row stands as it was.
    again, second = await visit("2025-05-01T12:00:00Z", "/docs")
    assert (again.id, again.updated_at, again.scored_at) == (first.id, first.updated_at, first.scored_at)
    # A row written by older derivation code is derived again on the visitor's next events.
    async with owner_engine.begin() as conn:
        await conn.execute(text("UPDATE sessions SET derivation = 1, unique_pages = 99 WHERE id = :id"),
                           {"id": first.id})
    rederived, kept, _ = await visit("2025-05-01T14:00:00Z", "/about")
    assert (rederived.id, rederived.unique_pages, rederived.derivation) == (first.id, 1, DERIVATION)
    assert rederived.updated_at > first.updated_at
    assert (kept.id, kept.updated_at) == (second.id, second.updated_at)


SCANNER_EXEMPTIONS = """mutation($rules: [String!]!) { setScannerExemptions(rules: $rules) {
    rules sessionsLifted daysMarked } }"""


async def test_scanner_exemptions_lift_a_php_sites_visitors_and_correct_their_counters(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any, owner_engine: AsyncEngine) -> None:
    tenant = await make_tenant()
    php_visitor = [page("2025-05-01T10:00:00Z", "https://shop.example/index.php?page=home", CHROME, "php"),
                   tour_start("2025-05-01T10:01:00Z", CHROME, "php")]
    prober = [page("2025-05-03T10:00:00Z", "https://shop.example/admin.php", IPHONE, "prober"),
              page("2025-05-03T10:00:05Z", "https://shop.example/.env", IPHONE, "prober"),
              tour_start("2025-05-03T10:00:06Z", IPHONE, "prober")]
    assert (await gql.track(tenant.publishable, php_visitor + prober))["accepted"] == 5
    await run_worker()
    assert await starts(gql, tenant) == (0, 2)

    bad = await gql(tenant.secret, SCANNER_EXEMPTIONS, {"rules": ["php", "wp"]})
    assert bad["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "rules"}
    assert "unknown scanner rule 'wp'" in bad["errors"][0]["message"]
    done = (await gql.data(tenant.secret, SCANNER_EXEMPTIONS, {"rules": ["php"]}))["setScannerExemptions"]
    # The prober also asked for .env: it stays a scanner, and its day needs no correction.
    assert done == {"rules": ["php"], "sessionsLifted": 1, "daysMarked": 1}
    await run_worker()
    assert await starts(gql, tenant) == (1, 2)
    flags = {s.user_id: s for s in await sessions_of(owner_engine, tenant.id)}
    assert not flags["php"].is_scanner and flags["php"].agent_reasons == []
    assert flags["prober"].is_scanner and flags["prober"].agent_reasons == [
        {"tier": 2, "code": "scan_path", "detail": "secrets: .env"}]
    # New sessions on PHP pages are people from now on.
    assert (await gql.track(tenant.publishable, [
        page("2025-05-05T10:00:00Z", "https://shop.example/cart.php", EDGE, "later"),
        tour_start("2025-05-05T10:00:30Z", EDGE, "later")]))["accepted"] == 2
    await run_worker()
    assert await starts(gql, tenant) == (2, 3)
    assert (await gql.data(tenant.secret, "{ tenant { scannerExemptions } }"))["tenant"] == {
        "scannerExemptions": ["php"]}
    # Setting the same rules again lifts nothing more; [] clears them for new sessions.
    assert (await gql.data(tenant.secret, SCANNER_EXEMPTIONS, {"rules": ["php"]}))["setScannerExemptions"][
        "sessionsLifted"] == 0
    assert (await gql.data(tenant.secret, SCANNER_EXEMPTIONS, {"rules": []}))["setScannerExemptions"][
        "rules"] == []
    await assert_counters_match_raw_events(owner_engine, tenant.id)


async def test_exemptions_leave_rows_of_older_derivations_to_their_next_derivation(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any, owner_engine: AsyncEngine) -> None:
    tenant = await make_tenant()
    assert (await gql.track(tenant.publishable, [
        page("2025-05-01T10:00:00Z", "https://shop.example/index.php", CHROME, "php"),
        tour_start("2025-05-01T10:01:00Z", CHROME, "php")]))["accepted"] == 2
    await run_worker()
    async with owner_engine.begin() as conn:  # as if written before reasons named every rule
        await conn.execute(text("UPDATE sessions SET derivation = 1 WHERE tenant_id = :t"), {"t": tenant.id})
    done = (await gql.data(tenant.secret, SCANNER_EXEMPTIONS, {"rules": ["php"]}))["setScannerExemptions"]
    assert done == {"rules": ["php"], "sessionsLifted": 0, "daysMarked": 0}
    assert await starts(gql, tenant) == (0, 1)
    # The visitor's next request derives the session again, with the exemption, and corrects the day.
    assert (await gql.track(tenant.publishable, [
        page("2025-05-01T10:20:00Z", "https://shop.example/cart.php", CHROME, "php")]))["accepted"] == 1
    await run_worker()
    assert await starts(gql, tenant) == (1, 1)
    await assert_counters_match_raw_events(owner_engine, tenant.id)


async def test_a_marked_day_waits_for_the_correction_delay_and_later_marks_share_one_correction(
        gql: GraphQLClient, make_tenant: Any, app_engine: AsyncEngine, owner_engine: AsyncEngine) -> None:
    tenant = await make_tenant()
    delay = timedelta(seconds=60)
    await gql.track(tenant.publishable, [tour_start("2025-05-01T10:00:00Z", CHROME, "a")])
    await roll_up(app_engine, tenant.id, claim_batches=10)
    assert (await maintain_sessions(app_engine, tenant.id, correction_delay=delay)).scored == 1
    assert await starts(gql, tenant) == (1, 1)

    async def flag_later() -> None:  # what the scorer does when a session turns out to be a bot
        async with owner_engine.begin() as conn:
            await conn.execute(text("UPDATE sessions SET is_behavioural_bot = true WHERE tenant_id = :t"),
                               {"t": tenant.id})
            await mark_days(conn, tenant.id, [date(2025, 5, 1)])

    async def due() -> list[int]:
        return [t for t, work, _ in await pending_session_work(app_engine, correction_delay=delay) if work]

    await flag_later()
    assert tenant.id not in await due()  # the sweeper has nothing to queue yet
    assert (await maintain_sessions(app_engine, tenant.id, correction_delay=delay)).corrected_days == ()
    assert await starts(gql, tenant) == (1, 1)  # not corrected yet
    async with owner_engine.begin() as conn:
        await conn.execute(text("UPDATE dirty_days SET marked_at = marked_at - interval '61 seconds' "
                                "WHERE tenant_id = :t"), {"t": tenant.id})
    await flag_later()  # marked again meanwhile: the first mark's time stands
    assert tenant.id in await due()
    done = await maintain_sessions(app_engine, tenant.id, correction_delay=delay)
    assert done.corrected_days == (date(2025, 5, 1),)
    assert await starts(gql, tenant) == (0, 1)
    assert tenant.id not in await due()
    await assert_counters_match_raw_events(owner_engine, tenant.id)


async def test_reading_patterns_per_page_view_with_each_threshold_on_both_sides(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any) -> None:
    tenant = await make_tenant()
    cases = [  # (seconds on page, scroll %, expected pattern)
        (9.999, 24, "bounce"), (10, 24, "skimmer"), (9, 25, "skimmer"),
        (19.999, 31, "scanner"), (20, 31, "skimmer"), (5, 30, "skimmer"),
        (15.001, 51, "reader"), (15, 51, "scanner"), (21, 50, "skimmer"),
        (30.001, 76, "engaged"), (30, 76, "reader"), (31, 75, "reader"),
    ]
    batch = [event("PageEngagement", f"2025-05-01T10:{i:02d}:00Z", None, url=f"https://shop.example/p{i}",
                   engagement={"timeOnPageMs": int(seconds * 1000), "scrollDepth": scroll},
                   context={"userAgent": CHROME})
             for i, (seconds, scroll, _) in enumerate(cases)]
    # A crawler's page views are classified too, but counted only with includeBots.
    batch.append(event("PageEngagement", "2025-05-01T11:00:00Z", None, url="https://shop.example/",
                       engagement={"timeOnPageMs": 0, "scrollDepth": 0}, context={"userAgent": GOOGLEBOT}))
    assert (await gql.track(tenant.publishable, batch))["accepted"] == 13
    await run_worker()
    query = """query($bots: Boolean!) { tenant { readingPatterns(range: {from: "2025-05-01", to: "2025-05-01"},
        includeBots: $bots) { period { firstDay } patterns { pattern pageViews share } } } }"""
    humans = (await gql.data(tenant.secret, query, {"bots": False}))["tenant"]["readingPatterns"]["patterns"]
    expected = {p: sum(1 for *_, want in cases if want == p) for p in ("bounce", "scanner", "reader", "engaged",
                                                                       "skimmer")}
    assert [(r["pattern"], r["pageViews"]) for r in humans] == list(expected.items())
    assert expected == {"bounce": 1, "scanner": 2, "reader": 3, "engaged": 1, "skimmer": 5}
    assert humans[0]["share"] == 8.33
    everyone = (await gql.data(tenant.secret, query, {"bots": True}))["tenant"]["readingPatterns"]["patterns"]
    assert everyone[0] == {"pattern": "bounce", "pageViews": 2, "share": 15.38}
    # The next day, compared with this one: nothing now, every pattern's page views down 100 %.
    compared = (await gql.data(tenant.secret, """{ tenant { readingPatterns(
        range: {from: "2025-05-02", to: "2025-05-02"}, compare: PREVIOUS_PERIOD) { comparisonPeriod { firstDay }
        patterns { pattern pageViews share previous { pageViews share } change { pageViews share } } } } }"""))[
        "tenant"]["readingPatterns"]
    assert compared["comparisonPeriod"] == {"firstDay": "2025-05-01"}
    assert compared["patterns"][0] == {"pattern": "bounce", "pageViews": 0, "share": None,
                                       "previous": {"pageViews": 1, "share": 8.33},
                                       "change": {"pageViews": -100.0, "share": None}}
    assert [(p["previous"]["pageViews"], p["change"]["pageViews"]) for p in compared["patterns"]] == [
        (n, -100.0) for n in expected.values()]


async def test_a_return_the_next_night_keeps_the_midnight_session_whole_and_counters_exact(
        make_tenant: Any, run_worker: Any, app_engine: AsyncEngine, owner_engine: AsyncEngine) -> None:
    tenant = await make_tenant()
    partitions = PartitionCache()

    async def send_at(at: datetime, *events: dict[str, Any]) -> None:
        origin = Origin(tenant_id=tenant.id, ip="198.51.100.7", user_agent=CHROME, store_ip=False,
                        salts=salts_of(at))
        outcome = await ingest_batch(app_engine, partitions, tenant_id=tenant.id,
                                     events=[msgspec.convert(e, EventIn) for e in events],
                                     retention_days=3650, max_future_seconds=86400, origin=origin)
        assert outcome.accepted == len(events)

    # A scanner's request before midnight, a tour start after it: one session, on the bot side (one
    # visitor by its userId; cookieless ids across midnight are the test above).
    await send_at(datetime(2025, 5, 1, 23, 55, tzinfo=UTC),
                  page("2025-05-01T23:55:00Z", "https://shop.example/.env", user="u1"))
    await send_at(datetime(2025, 5, 2, 0, 10, tzinfo=UTC), tour_start("2025-05-02T00:10:00Z", CHROME, "u1"))
    await run_worker()
    # The same visitor the next night: its window starts after the first session did.
    await send_at(datetime(2025, 5, 3, 0, 5, tzinfo=UTC),
                  page("2025-05-03T00:05:00Z", "https://shop.example/", user="u1"))
    await run_worker()
    sessions = await sessions_of(owner_engine, tenant.id)
    assert [(s.request_count, s.is_scanner) for s in sessions] == [(2, True), (1, False)]
    await assert_counters_match_raw_events(owner_engine, tenant.id)


async def test_bot_rules_are_limited_per_tenant_and_a_bad_stored_rule_never_stops_rollups(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any, owner_engine: AsyncEngine) -> None:
    tenant = await make_tenant()
    async with owner_engine.begin() as conn:
        await conn.execute(text("INSERT INTO bot_rules (tenant_id, pattern, status) "
                                "SELECT :t, 'agent-' || i, 'done' FROM generate_series(1, 100) i"), {"t": tenant.id})
        # Stored before a rule change made it invalid: it matches ordinary browsers.
        await conn.execute(text("INSERT INTO bot_rules (tenant_id, pattern, status) VALUES (:t, 'Mozilla', 'done')"),
                           {"t": tenant.id})
    full = await gql(tenant.secret, 'mutation { addBotRule(pattern: "one-more") { id } }')
    assert full["errors"][0]["message"] == "pattern: a tenant has at most 100 bot rules"
    assert (await gql.track(tenant.publishable, [tour_start("2025-05-01T10:00:00Z", CHROME, "u"),
                                                 tour_start("2025-05-01T10:00:00Z", "agent-7/1.0", "v")]))[
        "accepted"] == 2
    await run_worker()
    assert await starts(gql, tenant) == (1, 2)
