"""A session's facts folded event by event, and resumed from the stored JSON state at any point, equal
the facts derived from all of its events at once (tests/analytics/session_reference.py)."""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from analytics.rollups.aggregate import RawEvent
from analytics.sessions.derive import folded_facts, session_facts
from analytics.sessions.fold import MAX_FOLDED_PATHS, SessionFold
from tests.analytics.session_reference import reference_facts

SITE = "https://shop.example"
PATHS = ["/", "/a", "/a?x=1", "/b/", "/pricing", "/wp-login.php", "/.env", "/admin/config.php", "/c%20d"]
AGENTS = [None, "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/120.0 Safari/537.36", "Googlebot/2.1 (+http://www.google.com/bot.html)", "sqlmap/1.7",
          "python-requests/2.31"]
CONTEXTS = [None, {}, {"referrer": "https://www.google.com/", "country": "DE"},
            {"utmSource": "news", "utmMedium": "email", "city": "Berlin"}]


def _events(rng: random.Random, count: int) -> list[RawEvent]:
    at = datetime(2026, 3, 1, 10, tzinfo=UTC) + timedelta(microseconds=rng.randrange(10**6))
    agent = rng.choice(AGENTS)
    server = rng.random() < 0.3
    events = []
    for _ in range(count):
        at += timedelta(milliseconds=rng.choice([0, 1, 333, 900, 4_000, 61_000, rng.randrange(10**6)]))
        kind = rng.choice(["PageViewed", "PageViewed", "PageEngagement", "PageEngagement", "TourStarted"])
        url = rng.choice([None, *(SITE + p for p in PATHS)]) if kind != "PageViewed" or rng.random() < 0.9 \
            else None
        if kind == "PageViewed" and url is None and rng.random() < 0.5:
            url = SITE + rng.choice(PATHS)
        engagement: dict[str, Any] | None = None
        if kind == "PageEngagement":
            engagement = rng.choice([{}, {"clicks": 2}, {"timeOnPageMs": rng.choice([0, 1_500, 40_000])},
                                     {"timeOnPageMs": rng.choice([0, 9_000]), "scrollDepth": rng.choice([0, 35, 90])}])
        events.append(RawEvent(
            kind, at, rng.choice([None, None, "u1"]), rng.choice([None, "a1"]), "t" if kind == "TourStarted" else None,
            None, None, None, None, url, id=uuid.UUID(int=rng.getrandbits(128)),
            sdk_session_id=rng.choice([None, None, "s1"]), visitor_id="v1", context=rng.choice(CONTEXTS),
            engagement=engagement, user_agent=agent if rng.random() < 0.7 else None,
            ip_address=rng.choice([None, "203.0.113.9"]), server_source=server))
    return events


def _resumed(events: list[RawEvent], cut: int) -> SessionFold:
    """Fold ``events[:cut]``, store and load the state as the upkeep does, fold the rest."""
    fold = SessionFold.of(events[:cut])
    state = fold.dump()
    assert state is not None
    loaded = SessionFold.load(json.loads(json.dumps(state)))
    assert loaded is not None
    for event in events[cut:]:
        loaded.add(event)
    return loaded


@pytest.mark.parametrize("seed", range(40))
def test_folded_facts_equal_the_facts_of_all_events(seed: int) -> None:
    rng = random.Random(seed)
    events = _events(rng, rng.choice([1, 2, 5, 30, 90]))
    key = uuid.uuid4()
    patterns, exempt = rng.choice([((), ()), (("python-requests",), ("php",)), ((), ("wordpress", "secrets"))])
    unknown = rng.random() < 0.5
    expected = asdict(reference_facts(key, events, patterns, exempt, unknown))
    assert asdict(session_facts(key, events, patterns, exempt, unknown)) == expected
    for cut in sorted({1, len(events) // 2, len(events) - 1, len(events)} - {0}):
        assert asdict(folded_facts(key, _resumed(events, cut), patterns, exempt, unknown)) == expected


def test_velocity_and_interval_spread_resume_exactly() -> None:
    start = datetime(2026, 3, 1, 10, tzinfo=UTC)
    events = [RawEvent("PageViewed", start + timedelta(milliseconds=700 * i + (i % 7) * 13), None, None, None,
                       None, None, None, None, f"{SITE}/p{i % 3}", id=uuid.UUID(int=i), visitor_id="v1")
              for i in range(150)]
    expected = reference_facts(uuid.UUID(int=1), events)
    assert expected.is_scanner and expected.interval_stddev_ms is not None
    for cut in (1, 61, 100, 149):
        facts = folded_facts(uuid.UUID(int=1), _resumed(events, cut))
        assert (facts.agent_reasons, facts.interval_stddev_ms) == (expected.agent_reasons,
                                                                    expected.interval_stddev_ms)


def test_a_fold_with_too_many_distinct_paths_is_not_kept() -> None:
    start = datetime(2026, 3, 1, 10, tzinfo=UTC)
    events = [RawEvent("PageViewed", start + timedelta(seconds=i), None, None, None, None, None, None, None,
                       f"{SITE}/p{i}", visitor_id="v1") for i in range(MAX_FOLDED_PATHS + 1)]
    assert SessionFold.of(events[:-1]).dump() is not None
    assert SessionFold.of(events).dump() is None
