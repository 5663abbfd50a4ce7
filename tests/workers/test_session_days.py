"""The per-day session rollup (analytics.sessions.days): exact rows from the sessions of
tests.api.test_sessions, kept through later changes of the session rows, and its recomputation."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.db import tenant_transaction
from analytics.periods import RangeSpec, resolve
from analytics.rollups.consumers import Difference
from analytics.rollups.recompute import verify_rollups
from analytics.sessions import stats
from tests.api.test_sessions import RANGE, shop
from tests.conftest import GraphQLClient, TenantKeys

__all__ = ["shop"]  # six human sessions, four bot sessions on 2025-05-10/11 (Europe/Berlin)


async def select(engine: AsyncEngine, sql: str, **values: Any) -> list[tuple[Any, ...]]:
    async with engine.connect() as conn:
        return [tuple(r) for r in await conn.execute(text(sql), values)]


async def rows(engine: AsyncEngine, tenant_id: int, dimension: str) -> list[tuple[Any, ...]]:
    return await select(engine, "SELECT CAST(day AS text), bot, key, sessions, page_views, bounced, "
                                "duration_seconds FROM session_days WHERE tenant_id = :t AND dimension = :d "
                                "ORDER BY day, bot, key", t=tenant_id, d=dimension)


async def people(engine: AsyncEngine, tenant_id: int) -> list[tuple[Any, ...]]:
    return await select(engine, "SELECT CAST(day AS text), bot, kind, count(*), sum(sessions) "
                                "FROM session_people_days WHERE tenant_id = :t GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
                        t=tenant_id)


async def key_visitors(engine: AsyncEngine, tenant_id: int, dimension: str) -> list[tuple[Any, ...]]:
    return await select(engine, "SELECT CAST(day AS text), bot, key, count(*), sum(sessions) "
                                "FROM session_key_visitors WHERE tenant_id = :t AND dimension = :d "
                                "GROUP BY 1, 2, 3 ORDER BY 1, 2, 3", t=tenant_id, d=dimension)


async def differences(engine: AsyncEngine, tenant_id: int) -> list[Difference]:
    async with engine.connect() as conn:
        return [d for d in await verify_rollups(conn, tenant_id) if d.table.startswith("session_")]


async def test_days_hold_each_days_sessions_by_side_and_dimension(owner_engine: AsyncEngine,
                                                                   shop: TenantKeys) -> None:
    # Humans, May 10: H1 (3 page views, 300 s), H2 and H3 (bounces, 0 s and 30 s); May 11: H4 (600 s,
    # a tour event: no bounce), H5 (3 pages, 1,200 s), H6 (2 pages, 240 s). Bots, May 10: Googlebot (2
    # pages, 5 s); May 11: Googlebot and GPTBot (one page each: bounces), the scanner (2 pages, 1 s).
    assert await rows(owner_engine, shop.id, "all") == [
        ("2025-05-10", False, [], 3, 5, 2, Decimal(330)),
        ("2025-05-10", True, [], 1, 2, 0, Decimal(5)),
        ("2025-05-11", False, [], 3, 6, 0, Decimal(2040)),
        ("2025-05-11", True, [], 3, 4, 2, Decimal(1)),
    ]
    assert await rows(owner_engine, shop.id, "sources") == [
        ("2025-05-10", False, ["email"], 1, 3, 0, Decimal(300)),
        ("2025-05-10", False, ["organic_search"], 1, 1, 1, Decimal(0)),
        ("2025-05-10", False, ["social"], 1, 1, 1, Decimal(30)),
        ("2025-05-10", True, ["direct"], 1, 2, 0, Decimal(5)),
        ("2025-05-11", False, ["direct"], 2, 5, 0, Decimal(1440)),
        ("2025-05-11", False, ["referral"], 1, 1, 0, Decimal(600)),
        ("2025-05-11", True, ["direct"], 3, 4, 2, Decimal(1)),
    ]
    # Visitors: a1 (twice on May 10), u1 (May 10 and 11; its only user), a5, a6; bots g (both days),
    # gpt, scan.
    assert await people(owner_engine, shop.id) == [
        ("2025-05-10", False, "user", 1, 1), ("2025-05-10", False, "visitor", 2, 3),
        ("2025-05-10", True, "visitor", 1, 1),
        ("2025-05-11", False, "user", 1, 1), ("2025-05-11", False, "visitor", 3, 3),
        ("2025-05-11", True, "visitor", 3, 3),
    ]
    # Per source and day, (visitors, sessions): a1's two May 10 sessions came from different sources;
    # u1 (H5) and a6 (H6) both came direct on May 11, the bots g, gpt and scan too.
    assert await key_visitors(owner_engine, shop.id, "sources") == [
        ("2025-05-10", False, ["email"], 1, 1), ("2025-05-10", False, ["organic_search"], 1, 1),
        ("2025-05-10", False, ["social"], 1, 1), ("2025-05-10", True, ["direct"], 1, 1),
        ("2025-05-11", False, ["direct"], 2, 2), ("2025-05-11", False, ["referral"], 1, 1),
        ("2025-05-11", True, ["direct"], 3, 3),
    ]
    flags = await select(owner_engine, "SELECT CAST(day AS text), tier, code, sessions FROM session_bot_days "
                                       "WHERE tenant_id = :t ORDER BY 1, 2, 3", t=shop.id)
    assert flags == [("2025-05-10", 1, "", 1), ("2025-05-10", 1, "ua_crawler", 1),
                     ("2025-05-11", 1, "", 2), ("2025-05-11", 1, "ua_ai_crawler", 1),
                     ("2025-05-11", 1, "ua_crawler", 1), ("2025-05-11", 2, "", 1),
                     ("2025-05-11", 2, "scan_path", 1)]
    assert await differences(owner_engine, shop.id) == []


async def test_days_follow_flag_changes_and_deletions_and_the_check_finds_drift(
        owner_engine: AsyncEngine, shop: TenantKeys) -> None:
    async with owner_engine.begin() as conn:  # flag H3 (Firefox) as a bot, then delete H6 (Edge)
        await conn.execute(text("UPDATE sessions SET is_bot = true WHERE tenant_id = :t AND user_agent LIKE "
                                "'%Firefox/125.0'"), {"t": shop.id})
        await conn.execute(text("DELETE FROM sessions WHERE tenant_id = :t AND user_agent LIKE '%Edg/%'"),
                           {"t": shop.id})
    assert await rows(owner_engine, shop.id, "all") == [
        ("2025-05-10", False, [], 2, 4, 1, Decimal(300)),
        ("2025-05-10", True, [], 2, 3, 1, Decimal(35)),
        ("2025-05-11", False, [], 2, 4, 0, Decimal(1800)),
        ("2025-05-11", True, [], 3, 4, 2, Decimal(1)),
    ]
    # The emptied Edge rows are gone, not left at zero.
    assert [r for r in await rows(owner_engine, shop.id, "browsers") if r[2] == ["Edge"]] == []
    assert [r for r in await key_visitors(owner_engine, shop.id, "browsers") if r[2] == ["Edge"]] == []
    # H3's visitor moved to the bot side (beside a May 11 bot on Firefox); no person is left on Firefox.
    assert [r for r in await key_visitors(owner_engine, shop.id, "browsers") if r[2] == ["Firefox"]] == [
        ("2025-05-10", True, ["Firefox"], 1, 1), ("2025-05-11", True, ["Firefox"], 1, 1)]
    assert await differences(owner_engine, shop.id) == []

    async with owner_engine.begin() as conn:  # drift no trigger made: the check reports it
        await conn.execute(text("UPDATE session_days SET page_views = page_views + 1 WHERE tenant_id = :t "
                                "AND dimension = 'devices' AND NOT bot AND day = '2025-05-10'"), {"t": shop.id})
        await conn.execute(text("DELETE FROM session_people_days WHERE tenant_id = :t AND kind = 'user'"),
                           {"t": shop.id})
        await conn.execute(text("UPDATE session_key_visitors SET visitor = visitor || 'x' WHERE tenant_id = :t "
                                "AND dimension = 'countries' AND bot"), {"t": shop.id})  # 5 bot visitor-days
    assert await differences(owner_engine, shop.id) == [Difference("session_days", 1, 1),
                                                        Difference("session_people_days", 2, 0),
                                                        Difference("session_key_visitors", 5, 5)]


# From 11:00 local on May 10 (H3 at 11:00, H2 at 12:00, Googlebot at 13:00; H1 at 10:00 is before it)
# to the end of May 11: the rest of May 10 is read from the session rows, May 11 from its day rows.
CUT = {"from": "2025-05-10T11:00:00", "to": "2025-05-12T00:00:00"}
FIGURES = "sessions visitors users pageViews bounceRate avgSessionDurationSeconds botSessions"


async def test_a_range_that_cuts_a_day_reads_its_edge_hours_from_the_sessions(
        gql: GraphQLClient, shop: TenantKeys) -> None:
    data = await gql.data(shop.secret, f"""query($r: RangeInput!) {{ tenant {{
        sessionStats(range: $r) {{ {FIGURES} }}
        traffic(range: $r) {{ sources {{ key sessions share bounceRate }}
            bots {{ totalSessions excludedSessions unknownAgentSessions byTier {{ tier sessions }}
                    byReason {{ tier code sessions }} }} }} }} }}""", {"r": CUT})
    # H2, H3 (bounces of 0 and 30 s), H4 (600 s), H5 (1,200 s), H6 (240 s): visitors a1, u1, a5, a6.
    assert data["tenant"]["sessionStats"] == {
        "sessions": 5, "visitors": 4, "users": 1, "pageViews": 8, "bounceRate": 40.0,
        "avgSessionDurationSeconds": 414.0, "botSessions": 4}
    assert data["tenant"]["traffic"]["sources"] == [
        {"key": "direct", "sessions": 2, "share": 40.0, "bounceRate": 0.0},
        {"key": "organic_search", "sessions": 1, "share": 20.0, "bounceRate": 100.0},
        {"key": "referral", "sessions": 1, "share": 20.0, "bounceRate": 0.0},
        {"key": "social", "sessions": 1, "share": 20.0, "bounceRate": 100.0},
    ]
    # Googlebot at 13:00 on May 10 (from the session rows), on May 11 Googlebot, GPTBot and the scanner.
    assert data["tenant"]["traffic"]["bots"] == {
        "totalSessions": 9, "excludedSessions": 4, "unknownAgentSessions": 0,
        "byTier": [{"tier": 1, "sessions": 3}, {"tier": 2, "sessions": 1}, {"tier": 3, "sessions": 0}],
        "byReason": [{"tier": 1, "code": "ua_crawler", "sessions": 2},
                     {"tier": 1, "code": "ua_ai_crawler", "sessions": 1},
                     {"tier": 2, "code": "scan_path", "sessions": 1}]}


async def test_rows_from_the_rollup_equal_rows_from_the_sessions(app_engine: AsyncEngine,
                                                                 shop: TenantKeys) -> None:
    # Every dimension, whole days and a cut day, bots in and out, visitors included: the rollup's rows
    # (session_days, session_key_visitors and the edge hours) equal the statement over the session rows.
    tz = ZoneInfo("Europe/Berlin")
    for where in (RANGE, CUT):
        period = resolve(RangeSpec(start=where["from"], end=where["to"]), tz)
        for dimension, spec in stats.DIMENSIONS.items():
            for bots in (False, True):
                async with tenant_transaction(app_engine, shop.id) as conn:
                    rolled = await stats.breakdown(conn, dimension=dimension, period=period, include_bots=bots,
                                                   limit=50)
                    of = await stats.breakdown_of(conn, dimension=dimension, period=period, include_bots=bots,
                                                  keys=[r.keys for r in rolled] + [("nowhere",) * len(spec.keys)])
                    direct = [stats._breakdown_row(spec, r) for r in await conn.execute(text(
                        stats._breakdown_sql(spec, bots, "ORDER BY sessions DESC, k0 NULLS LAST")),
                        stats._range(period))]
                # Users are not kept per key (0 from the rollup).
                want = [replace(r, counts=replace(r.counts, users=0)) for r in direct]
                assert rolled == want, (where, dimension, bots)
                assert {k: v for k, v in of.items() if v.counts.sessions} == {r.keys: r for r in want}
    assert any(r.counts.visitors for r in rolled)


async def test_previous_visitors_are_counted_when_a_previous_figure_or_a_change_shows_them(
        gql: GraphQLClient, shop: TenantKeys) -> None:
    # May 11 with bots: direct has u1, a6, Googlebot, GPTBot and the scanner, referral a5; the day
    # before, direct had Googlebot only and referral nothing.
    data = await gql.data(shop.secret, """query($r: RangeInput!) { tenant {
        traffic(range: $r, compare: PREVIOUS_PERIOD, includeBots: true) {
            a: sources { key visitors previous { visitors sessions } change { visitors } }
            b: sources { key previous { ...F } }
            c: sources { key change { visitors } } } } }
        fragment F on TrafficFigures { visitors }""", {"r": {"from": "2025-05-11", "to": "2025-05-11"}})
    traffic = data["tenant"]["traffic"]
    assert traffic["a"] == [
        {"key": "direct", "visitors": 5, "previous": {"visitors": 1, "sessions": 1}, "change": {"visitors": 400.0}},
        {"key": "referral", "visitors": 1, "previous": {"visitors": 0, "sessions": 0}, "change": {"visitors": None}}]
    assert traffic["b"] == [{"key": "direct", "previous": {"visitors": 1}},
                            {"key": "referral", "previous": {"visitors": 0}}]
    assert traffic["c"] == [{"key": "direct", "change": {"visitors": 400.0}},
                            {"key": "referral", "change": {"visitors": None}}]


async def test_the_migrations_fill_from_stored_sessions_equals_the_recomputation(
        owner_engine: AsyncEngine, shop: TenantKeys) -> None:
    import importlib

    stored = f"SELECT 1 AS sign, * FROM sessions WHERE tenant_id = {shop.id}"
    fills = [importlib.import_module(f"migrations.versions.{name}")._fold(stored)
             for name in ("0036_session_days", "0040_session_key_days")]

    async def kept() -> tuple[list[tuple[Any, ...]], ...]:
        return (await rows(owner_engine, shop.id, "sources"), await people(owner_engine, shop.id),
                await key_visitors(owner_engine, shop.id, "countries"))

    before = await kept()
    async with owner_engine.begin() as conn:  # as if the sessions were stored before the migrations
        for table in ("session_days", "session_people_days", "session_key_visitors", "session_bot_days"):
            await conn.execute(text(f"DELETE FROM {table} WHERE tenant_id = :t"), {"t": shop.id})
        for fill in fills:
            await conn.execute(text(f"DO $$ DECLARE tenants bigint[]; BEGIN {fill} END $$"))
    assert await kept() == before
    assert all(before) and await differences(owner_engine, shop.id) == []
