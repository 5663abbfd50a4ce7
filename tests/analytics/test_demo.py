"""Demo data is deterministic: a later reload only adds events that have happened since."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from analytics.demo import demo_events


def test_reloading_later_adds_only_new_events() -> None:
    tz = ZoneInfo("Europe/Berlin")
    morning = {(e.id, e.timestamp) for e in demo_events(days=3, tz=tz, now=datetime(2025, 6, 4, 9, tzinfo=UTC))}
    evening = {(e.id, e.timestamp) for e in demo_events(days=3, tz=tz, now=datetime(2025, 6, 4, 17, tzinfo=UTC))}
    assert morning < evening  # same ids with the same timestamps, plus the afternoon's
    assert len({event_id for event_id, _ in evening}) == len(evening)
    kinds = {e.type for e in demo_events(days=3, tz=tz, now=datetime(2025, 6, 4, 17, tzinfo=UTC))}
    assert {"TourStarted", "StepViewed", "StepCompleted", "TourCompleted", "TourDismissed"} <= kinds
