"""Demo data is deterministic: a later reload only adds events that have happened since."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from analytics.demo import demo_events, demo_traffic
from analytics.ingest.events import validate_batch


def test_reloading_later_adds_only_new_events() -> None:
    tz = ZoneInfo("Europe/Berlin")
    morning = {(e.id, e.timestamp) for e in demo_events(days=3, tz=tz, now=datetime(2025, 6, 4, 9, tzinfo=UTC))}
    evening = {(e.id, e.timestamp) for e in demo_events(days=3, tz=tz, now=datetime(2025, 6, 4, 17, tzinfo=UTC))}
    assert morning < evening  # same ids with the same timestamps, plus the afternoon's
    assert len({event_id for event_id, _ in evening}) == len(evening)
    kinds = {e.type for e in demo_events(days=3, tz=tz, now=datetime(2025, 6, 4, 17, tzinfo=UTC))}
    assert {"TourStarted", "StepViewed", "StepCompleted", "TourCompleted", "TourDismissed"} <= kinds


def test_demo_traffic_is_deterministic_and_holds_visitors_and_bots() -> None:
    tz = ZoneInfo("UTC")
    when = datetime(2025, 6, 4, 17, tzinfo=UTC)  # a Wednesday: the script runs late, after `when`
    first = [(at, [(e.id, e.timestamp) for e in events]) for at, events in demo_traffic(days=2, tz=tz, now=when)]
    again = [(at, [(e.id, e.timestamp) for e in events]) for at, events in demo_traffic(days=2, tz=tz, now=when)]
    assert first == again and [at.day for at, _ in first] == [2, 3, 4]
    events = [e for _, day in demo_traffic(days=2, tz=tz, now=when) for e in day]
    agents = {e.context.user_agent for e in events if e.context}
    assert {"PageViewed", "PageEngagement", "ContentViewed", "ContentDismissed", "ContentCtaClicked",
            "ContentConverted", "ConversationMessage", "ContentAssetViewed", "VideoCompleted",
            "ContentEngagement"} == {e.type for e in events}
    assert any("Googlebot" in (a or "") for a in agents) and any("zgrab" in (a or "") for a in agents)
    assert len(agents) > 100  # visitors differ by browser build


def test_every_demo_event_is_valid() -> None:
    tz, when = ZoneInfo("UTC"), datetime(2025, 6, 4, 23, tzinfo=UTC)
    events = [*demo_events(days=2, tz=tz, now=when), *(e for _, day in demo_traffic(days=2, tz=tz, now=when)
                                                        for e in day)]
    checked = validate_batch(events, retention_days=3650, max_future_seconds=86400, now=when)
    assert checked.errors == [] and len(checked.valid) == len(events)


def test_demo_product_events_are_valid_deterministic_and_follow_the_funnels() -> None:
    from analytics.demo_product import demo_product_events

    tz = ZoneInfo("Europe/Berlin")
    morning = {(e.id, e.timestamp) for e in demo_product_events(days=5, tz=tz, now=datetime(2025, 6, 4, 9, tzinfo=UTC))}
    evening = list(demo_product_events(days=5, tz=tz, now=datetime(2025, 6, 4, 17, tzinfo=UTC)))
    assert morning < {(e.id, e.timestamp) for e in evening}
    checked = validate_batch(evening, retention_days=3650, max_future_seconds=86400,
                             now=datetime(2025, 6, 4, 17, tzinfo=UTC))
    assert checked.errors == [] and len(checked.valid) == len(evening)
    names = {e.name for e in evening}
    assert {"sign_up", "profile_setup", "template_selected", "deployment_started", "deployment_succeeded",
            "service_activated", "docs_viewed", "pipeline_run"} <= names
    by_user: dict[str, list[str]] = {}
    for e in sorted(evening, key=lambda e: e.timestamp):
        by_user.setdefault(e.user_id or "", []).append(e.name or "")
    assert all(names[0] == "sign_up" for names in by_user.values())  # everyone starts by signing up
