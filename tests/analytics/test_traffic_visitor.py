"""Cookieless visitor ids: daily salt rotation, midnight continuity and no raw IP."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from analytics.traffic.visitor import VisitorCandidates, daily_salt, visitor_candidates, visitor_id

SECRET = "s3cret-from-settings"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
SAFARI = ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/18.1 Mobile/15E148 Safari/604.1")
IP = "203.0.113.9"


def test_ids_are_stable_across_releases() -> None:
    """Changing the derivation would turn every returning visitor into a new one."""
    salt = daily_salt(SECRET, date(2025, 3, 1))
    assert salt.hex() == "8844b4ee4cb90c0d168903249b4ada034de20a410a7e6690153639171f4476ba"
    assert visitor_id(42, IP, FIREFOX, salt) == "1151a5d4c8ef4d53467906871cc9f086"


def test_the_salt_rotates_daily_and_depends_on_the_secret() -> None:
    day = date(2025, 3, 1)
    assert daily_salt(SECRET, day) == daily_salt(SECRET.encode(), day)
    assert daily_salt(SECRET, day) != daily_salt(SECRET, day + timedelta(days=1))
    assert daily_salt(SECRET, day) != daily_salt(SECRET + "x", day)
    with pytest.raises(ValueError, match="secret is empty"):
        daily_salt("", day)


def test_the_id_is_32_hex_characters_and_separates_tenants_addresses_agents_and_days() -> None:
    salt = daily_salt(SECRET, date(2025, 3, 1))
    base = visitor_id(42, IP, FIREFOX, salt)
    assert re.fullmatch(r"[0-9a-f]{32}", base)
    others = {visitor_id(43, IP, FIREFOX, salt), visitor_id(42, "203.0.113.10", FIREFOX, salt),
              visitor_id(42, IP, SAFARI, salt), visitor_id(42, IP, FIREFOX, daily_salt(SECRET, date(2025, 3, 2)))}
    assert base not in others and len(others) == 4


@pytest.mark.parametrize(("first", "second"), [
    ("203.0.113.9", "::ffff:203.0.113.9"),
    ("203.0.113.9", " 203.0.113.9 "),
    ("2001:db8::1", "2001:0DB8:0000:0000:0000:0000:0000:0001"),
])
def test_one_address_written_two_ways_is_one_visitor(first: str, second: str) -> None:
    salt = daily_salt(SECRET, date(2025, 3, 1))
    assert visitor_id(42, first, FIREFOX, salt) == visitor_id(42, second, FIREFOX, salt)


def test_a_visit_across_midnight_is_recognised_by_yesterdays_id() -> None:
    before = visitor_candidates(42, IP, FIREFOX, secret=SECRET, at=datetime(2025, 2, 28, 23, 50, tzinfo=UTC))
    after = visitor_candidates(42, IP, FIREFOX, secret=SECRET, at=datetime(2025, 3, 1, 0, 10, tzinfo=UTC))
    two_days_on = visitor_candidates(42, IP, FIREFOX, secret=SECRET, at=datetime(2025, 3, 2, 0, 10, tzinfo=UTC))
    assert after.yesterday == before.today
    assert after.today != before.today
    assert before.today not in (two_days_on.today, two_days_on.yesterday)


def test_the_salt_day_is_the_utc_day() -> None:
    berlin_just_after_midnight = datetime(2025, 3, 1, 0, 30, tzinfo=timezone(timedelta(hours=1)))
    assert visitor_candidates(42, IP, FIREFOX, secret=SECRET, at=berlin_just_after_midnight) == \
        visitor_candidates(42, IP, FIREFOX, secret=SECRET, at=datetime(2025, 2, 28, 23, 30, tzinfo=UTC))
    with pytest.raises(ValueError, match="aware datetime"):
        visitor_candidates(42, IP, FIREFOX, secret=SECRET, at=datetime(2025, 3, 1))


def test_the_raw_address_is_never_returned() -> None:
    candidates = visitor_candidates(42, IP, FIREFOX, secret=SECRET, at=datetime(2025, 3, 1, tzinfo=UTC))
    assert [field.name for field in dataclasses.fields(VisitorCandidates)] == ["today", "yesterday"]
    assert IP not in repr(candidates)
