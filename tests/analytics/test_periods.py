"""Ranges, comparisons and buckets in a tenant's time zone (no database needed)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from analytics.periods import (
    Compare,
    Granularity,
    Period,
    PeriodError,
    Preset,
    RangeSpec,
    bucket_starts,
    comparison,
    day_period,
    default_granularity,
    hour_floor,
    resolve,
)

BERLIN = ZoneInfo("Europe/Berlin")
KOLKATA = ZoneInfo("Asia/Kolkata")
NOW = datetime(2025, 10, 27, 9, 45, tzinfo=UTC)  # 10:45 in Berlin


def test_dates_are_local_days_and_to_is_inclusive() -> None:
    period = resolve(RangeSpec("2025-10-25", "2025-10-27"), BERLIN)
    assert period.start == datetime(2025, 10, 24, 22, tzinfo=UTC)
    assert period.end == datetime(2025, 10, 27, 23, tzinfo=UTC)  # 00:00 CET on the 28th
    assert period.days == (date(2025, 10, 25), date(2025, 10, 27))


def test_date_times_are_exclusive_instants() -> None:
    period = resolve(RangeSpec("2025-10-25T10:00:00+02:00", "2025-10-25T12:00:00Z"), BERLIN)
    assert (period.start, period.end, period.days) == (
        datetime(2025, 10, 25, 8, tzinfo=UTC), datetime(2025, 10, 25, 12, tzinfo=UTC), None)
    assert period.whole_days().days == (date(2025, 10, 25), date(2025, 10, 25))


@pytest.mark.parametrize(("preset", "first", "last"), [
    (Preset.TODAY, date(2025, 10, 27), date(2025, 10, 27)),
    (Preset.YESTERDAY, date(2025, 10, 26), date(2025, 10, 26)),
    (Preset.LAST_7_DAYS, date(2025, 10, 21), date(2025, 10, 27)),
    (Preset.LAST_30_DAYS, date(2025, 9, 28), date(2025, 10, 27)),
])
def test_day_presets_end_today(preset: Preset, first: date, last: date) -> None:
    assert resolve(RangeSpec(preset=preset), BERLIN, NOW).days == (first, last)


def test_hour_ranges_start_at_a_local_hour() -> None:
    period = resolve(RangeSpec(preset=Preset.LAST_24_HOURS), BERLIN, NOW)
    # Counters are hourly: the range is widened to whole local hours, and the period says so.
    assert (period.start, period.end) == (datetime(2025, 10, 26, 9, tzinfo=UTC),
                                          datetime(2025, 10, 27, 10, tzinfo=UTC))
    assert resolve(RangeSpec("2025-10-25T10:20:00Z", "2025-10-25T10:40:00Z"), BERLIN).start == datetime(
        2025, 10, 25, 10, tzinfo=UTC)
    assert resolve(RangeSpec(since="24h"), BERLIN, NOW) == period
    assert resolve(RangeSpec(since="7d"), BERLIN, NOW).days == (date(2025, 10, 21), date(2025, 10, 27))
    # India is UTC+05:30: its hours start at half past in UTC.
    assert hour_floor(datetime(2025, 1, 1, 10, 10, tzinfo=UTC), KOLKATA) == datetime(2025, 1, 1, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(("spec", "field"), [
    (RangeSpec(), "range"),
    (RangeSpec("2025-01-01", "2025-01-02", since="1d"), "range"),
    (RangeSpec("2025-01-01", None), "range"),
    (RangeSpec("01/02/2025", "2025-01-03"), "range.from"),
    (RangeSpec("2025-01-03", "2025-01-02"), "range.to"),
    (RangeSpec(since="3 fortnights"), "range.since"),
    (RangeSpec(since="800000d"), "range.since"),
    (RangeSpec("0001-01-01", "0001-01-02"), "range.from"),
    (RangeSpec("2025-01-01", "9999-12-31"), "range.to"),
    (RangeSpec("2025-01-01T00:00:00Z", "9999-12-31T00:00:00Z"), "range.to"),
])
def test_bad_ranges_name_the_field(spec: RangeSpec, field: str) -> None:
    with pytest.raises(PeriodError) as caught:
        resolve(spec, BERLIN, NOW)
    assert caught.value.field == field


def test_comparison_periods() -> None:
    week = day_period(date(2025, 10, 21), date(2025, 10, 27), BERLIN)
    assert comparison(week, Compare.PREVIOUS_PERIOD).days == (date(2025, 10, 14), date(2025, 10, 20))
    leap = day_period(date(2024, 2, 29), date(2024, 2, 29), BERLIN)
    assert comparison(leap, Compare.YEAR_OVER_YEAR).days == (date(2023, 2, 28), date(2023, 2, 28))
    hours = resolve(RangeSpec(since="6h"), BERLIN, NOW)
    before = comparison(hours, Compare.PREVIOUS_PERIOD)
    assert before.end == hours.start and before.end - before.start == hours.end - hours.start
    feb29 = resolve(RangeSpec("2024-02-29T10:00:00Z", "2024-02-29T12:00:00Z"), BERLIN)
    assert comparison(feb29, Compare.YEAR_OVER_YEAR).start == datetime(2023, 2, 28, 10, tzinfo=UTC)


def test_a_range_under_an_hour_has_one_hourly_bucket() -> None:
    """An explicit 10-minute range (a client's own from/to): the default granularity (HOUR) answers
    with one bucket, clipped to the range, instead of refusing HOUR as longer than the range."""
    period = Period(NOW, NOW + timedelta(minutes=10), BERLIN, None)
    assert default_granularity(period) is Granularity.HOUR
    assert bucket_starts(period, Granularity.HOUR) == [NOW]


def test_local_days_have_23_and_25_hours_at_dst_changes() -> None:
    spring = day_period(date(2025, 3, 30), date(2025, 3, 30), BERLIN)
    autumn = day_period(date(2025, 10, 26), date(2025, 10, 26), BERLIN)
    assert len(bucket_starts(spring, Granularity.HOUR)) == 23
    assert len(bucket_starts(autumn, Granularity.HOUR)) == 25
    assert len(bucket_starts(autumn, Granularity.DAY)) == 1


def test_week_and_month_buckets_clip_the_first_bucket_to_the_range() -> None:
    period = day_period(date(2025, 10, 1), date(2025, 11, 30), BERLIN)  # starts on a Wednesday
    weeks = [b.astimezone(BERLIN).date() for b in bucket_starts(period, Granularity.WEEK)]
    assert weeks[:3] == [date(2025, 10, 1), date(2025, 10, 6), date(2025, 10, 13)]
    months = [b.astimezone(BERLIN).date() for b in bucket_starts(period, Granularity.MONTH)]
    assert months == [date(2025, 10, 1), date(2025, 11, 1)]


def test_default_and_impossible_granularities() -> None:
    assert default_granularity(day_period(date(2025, 1, 1), date(2025, 1, 2), BERLIN)) is Granularity.HOUR
    assert default_granularity(day_period(date(2025, 1, 1), date(2025, 3, 31), BERLIN)) is Granularity.DAY
    assert default_granularity(day_period(date(2025, 1, 1), date(2025, 12, 31), BERLIN)) is Granularity.WEEK
    assert default_granularity(day_period(date(2020, 1, 1), date(2025, 12, 31), BERLIN)) is Granularity.MONTH
    with pytest.raises(PeriodError, match="WEEK is longer than the range"):
        bucket_starts(day_period(date(2025, 1, 1), date(2025, 1, 3), BERLIN), Granularity.WEEK)
    with pytest.raises(PeriodError, match="more than 2000 buckets"):
        bucket_starts(day_period(date(2020, 1, 1), date(2025, 1, 3), BERLIN), Granularity.HOUR)


@pytest.mark.parametrize("raw", ["1900-01-01", "1900-01-01T00:00:00", "2300-01-01"])
def test_years_out_of_range_say_the_limit(raw: str) -> None:
    with pytest.raises(PeriodError, match="between the years 1970 and 2200"):
        resolve(RangeSpec(raw, "2025-01-01"), ZoneInfo("UTC"))
