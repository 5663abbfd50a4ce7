"""Cookieless visitor ids: per-day salts, midnight continuity and no raw IP; the salts themselves are
random, stored one per UTC day and forgotten once older than yesterday."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.ingest.origin import load_salts
from analytics.traffic.visitor import DailySalts, VisitorCandidates, visitor_candidates, visitor_id

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
SAFARI = ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/18.1 Mobile/15E148 Safari/604.1")
IP = "203.0.113.9"
MONDAY, TUESDAY, WEDNESDAY = b"m" * 32, b"t" * 32, b"w" * 32


def test_the_id_is_a_keyed_hash_that_does_not_drift() -> None:
    """Changing the derivation would split every visit in progress when a release is deployed."""
    assert visitor_id(42, IP, FIREFOX, MONDAY) == "ca5ed3135f49a358658c67c9494f7e59"  # HMAC-SHA256, 128 bits


def test_the_id_is_32_hex_characters_and_separates_tenants_addresses_agents_and_days() -> None:
    base = visitor_id(42, IP, FIREFOX, MONDAY)
    assert re.fullmatch(r"[0-9a-f]{32}", base)
    others = {visitor_id(43, IP, FIREFOX, MONDAY), visitor_id(42, "203.0.113.10", FIREFOX, MONDAY),
              visitor_id(42, IP, SAFARI, MONDAY), visitor_id(42, IP, FIREFOX, TUESDAY)}
    assert base not in others and len(others) == 4


@pytest.mark.parametrize(("first", "second"), [
    ("203.0.113.9", "::ffff:203.0.113.9"),
    ("203.0.113.9", " 203.0.113.9 "),
    ("2001:db8::1", "2001:0DB8:0000:0000:0000:0000:0000:0001"),
])
def test_one_address_written_two_ways_is_one_visitor(first: str, second: str) -> None:
    assert visitor_id(42, first, FIREFOX, MONDAY) == visitor_id(42, second, FIREFOX, MONDAY)


def test_a_visit_across_midnight_is_recognised_by_yesterdays_id() -> None:
    before = visitor_candidates(42, IP, FIREFOX, salts=DailySalts(today=MONDAY, yesterday=b"s" * 32))
    after = visitor_candidates(42, IP, FIREFOX, salts=DailySalts(today=TUESDAY, yesterday=MONDAY))
    two_days_on = visitor_candidates(42, IP, FIREFOX, salts=DailySalts(today=WEDNESDAY, yesterday=TUESDAY))
    assert after.yesterday == before.today
    assert after.today != before.today
    assert before.today not in (two_days_on.today, two_days_on.yesterday)
    with pytest.raises(ValueError, match="salt is empty"):
        DailySalts(today=b"", yesterday=MONDAY)


def test_the_raw_address_is_never_returned() -> None:
    candidates = visitor_candidates(42, IP, FIREFOX, salts=DailySalts(today=MONDAY, yesterday=TUESDAY))
    assert [field.name for field in dataclasses.fields(VisitorCandidates)] == ["today", "yesterday"]
    assert IP not in repr(candidates)


async def test_salts_are_random_per_day_kept_two_days_and_then_forgotten(
        app_engine: AsyncEngine, owner_engine: AsyncEngine, settings: Any) -> None:
    today = datetime.now(UTC).date()
    first = await load_salts(app_engine, today)  # the API's role may call it (SECURITY DEFINER)
    assert first == await load_salts(app_engine, today)  # stable through the day
    assert len(first.today) == len(first.yesterday) == 32 and first.today != first.yesterday
    assert (await load_salts(app_engine, today + timedelta(days=1))).yesterday == first.today  # at midnight
    async with owner_engine.begin() as conn:
        await conn.execute(text("INSERT INTO visitor_salts (day, salt) VALUES (:d, :s) ON CONFLICT DO NOTHING"),
                           {"d": today - timedelta(days=5), "s": b"x" * 32})
        assert (await conn.execute(text("SELECT analytics_forget_salts()"))).scalar_one() >= 1
        kept = (await conn.execute(text("SELECT day FROM visitor_salts ORDER BY day"))).scalars().all()
        assert min(kept) >= today - timedelta(days=1)
        # nothing left to derive an old salt from: the instance secret of the old scheme is gone
        assert (await conn.execute(text("SELECT count(*) FROM instance_secrets WHERE name = 'visitor_salt'"))
                ).scalar_one() == 0
    async with app_engine.connect() as conn:  # the app role cannot read the salts table itself
        with pytest.raises(Exception, match="permission denied"):
            await conn.execute(text("SELECT * FROM visitor_salts"))
