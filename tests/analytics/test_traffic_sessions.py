"""Sessionization: the 30-minute idle boundary, the 24-hour cap and SDK session ids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from analytics.traffic.sessions import CONTINUED, OpenSession, VisitorEvent, assign_sessions

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def at(hours: int = 0, minutes: int = 0, seconds: int = 0) -> datetime:
    return T0 + timedelta(hours=hours, minutes=minutes, seconds=seconds)


def key(moment: datetime, sdk_id: str | None = None) -> str:
    return moment.isoformat() + (f"/{sdk_id}" if sdk_id else "")


@pytest.mark.parametrize(("gap", "same_session"), [
    (timedelta(minutes=29, seconds=59), True),
    (timedelta(minutes=29, seconds=59, microseconds=999_999), True),
    (timedelta(minutes=30), False),
    (timedelta(minutes=45), False),
])
def test_thirty_minutes_idle_starts_a_new_session(gap: timedelta, same_session: bool) -> None:
    keys = assign_sessions([VisitorEvent(T0), VisitorEvent(T0 + gap)])
    assert keys == [key(T0), key(T0) if same_session else key(T0 + gap)]


def test_idle_time_counts_from_the_last_event_not_the_first() -> None:
    events = [VisitorEvent(at(minutes=m)) for m in (0, 20, 40, 60, 80)]
    assert assign_sessions(events) == [key(T0)] * 5


def test_a_session_never_spans_24_hours() -> None:
    # An event every 15 minutes all day: never idle, so only the cap can split it.
    moments = [at(minutes=15 * n) for n in range(96)] + [at(hours=23, minutes=59, seconds=59), at(hours=24),
                                                         at(hours=24, minutes=10)]
    keys = assign_sessions([VisitorEvent(moment) for moment in moments])
    assert keys == [key(T0)] * 97 + [key(at(hours=24))] * 2


def test_events_with_one_sdk_id_stay_together_and_two_ids_stay_apart() -> None:
    events = [
        VisitorEvent(at(minutes=0), "tab-a"),
        VisitorEvent(at(minutes=2), "tab-b"),
        VisitorEvent(at(minutes=3), "tab-a"),
        VisitorEvent(at(minutes=5), "tab-b"),
        VisitorEvent(at(minutes=6), None),  # no id: joins the most recently active session
        VisitorEvent(at(minutes=9), "tab-a"),
    ]
    a, b = key(at(minutes=0), "tab-a"), key(at(minutes=2), "tab-b")
    assert assign_sessions(events) == [a, b, a, b, b, a]


def test_an_sdk_session_is_split_by_its_own_idle_time_even_while_another_tab_is_active() -> None:
    events = [VisitorEvent(at(minutes=0), "tab-a")] + [
        VisitorEvent(at(minutes=m), "tab-b") for m in (10, 20, 30, 40)] + [VisitorEvent(at(minutes=35), "tab-a")]
    events.sort(key=lambda event: event.at)
    b = key(at(minutes=10), "tab-b")
    assert assign_sessions(events) == [key(T0, "tab-a"), b, b, b, key(at(minutes=35), "tab-a"), b]


def test_the_limits_split_an_sdk_session_into_sessions_with_the_same_id() -> None:
    events = [VisitorEvent(at(minutes=0), "s-1"), VisitorEvent(at(minutes=29, seconds=59), "s-1"),
              VisitorEvent(at(minutes=59, seconds=59), "s-1"), VisitorEvent(at(minutes=70), "s-1")]
    assert assign_sessions(events) == [key(T0, "s-1"), key(T0, "s-1"), key(at(minutes=59, seconds=59), "s-1"),
                                       key(at(minutes=59, seconds=59), "s-1")]


def test_an_sdk_id_adopts_the_anonymous_session_it_continues() -> None:
    events = [VisitorEvent(at(minutes=0)),  # server-rendered page view, before the SDK loads
              VisitorEvent(at(minutes=0, seconds=2), "s-1"),
              VisitorEvent(at(minutes=4), None),
              VisitorEvent(at(minutes=5), "s-2"),  # a second id never joins s-1's session
              VisitorEvent(at(minutes=6), "s-1")]
    assert assign_sessions(events) == [key(T0)] * 3 + [key(at(minutes=5), "s-2"), key(T0)]


def test_an_sdk_id_does_not_adopt_an_expired_session() -> None:
    events = [VisitorEvent(at(minutes=0)), VisitorEvent(at(minutes=30), "s-1")]
    assert assign_sessions(events) == [key(T0), key(at(minutes=30), "s-1")]


def test_blank_sdk_ids_count_as_none() -> None:
    events = [VisitorEvent(at(minutes=0), ""), VisitorEvent(at(minutes=1), "  "), VisitorEvent(at(minutes=2))]
    assert assign_sessions(events) == [key(T0)] * 3


def test_events_must_be_sorted() -> None:
    assert assign_sessions([]) == []
    with pytest.raises(ValueError, match="event 1 is earlier than the one before"):
        assign_sessions([VisitorEvent(at(minutes=5)), VisitorEvent(at(minutes=1))])


@pytest.mark.parametrize("sdk_id", [None, "tab-1"])
def test_continuing_an_open_session_gives_the_keys_of_all_events_at_once(sdk_id: str | None) -> None:
    """Events after a known open session: the same sessions as the whole history split at once, the
    open one's events keyed ``CONTINUED`` (how the rollup folds appended batches)."""
    history = [VisitorEvent(at(minutes=m), sdk_id) for m in (0, 20)]
    appended = [VisitorEvent(at(minutes=45)), VisitorEvent(at(minutes=50), "tab-2"), VisitorEvent(at(hours=2)),
                VisitorEvent(at(hours=2, minutes=1), sdk_id)]
    whole = assign_sessions(history + appended)
    keys = assign_sessions(appended, OpenSession(at(), at(minutes=20), sdk_id))
    assert keys == [CONTINUED if k == whole[0] else k for k in whole[len(history):]]
    assert keys[0] == CONTINUED and keys[2] == key(at(hours=2))


def test_a_continued_session_keeps_its_24_hour_cap_and_order() -> None:
    keys = assign_sessions([VisitorEvent(at(hours=23, minutes=59)), VisitorEvent(at(hours=24))],
                           OpenSession(at(), at(hours=23, minutes=40), None))
    assert keys == [CONTINUED, key(at(hours=24))]
    with pytest.raises(ValueError, match="sorted"):
        assign_sessions([VisitorEvent(at(minutes=5))], OpenSession(at(), at(minutes=10), None))
