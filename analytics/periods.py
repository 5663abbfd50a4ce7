"""Date ranges in a tenant's time zone: presets, explicit bounds, comparison periods, buckets."""

from __future__ import annotations

import enum
import functools
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import overload
from zoneinfo import ZoneInfo

from analytics.errors import InvalidArgument

MAX_BUCKETS = 2000


class PeriodError(InvalidArgument):
    """A range or granularity the caller asked for cannot be used."""


class Preset(enum.Enum):
    TODAY = "TODAY"
    YESTERDAY = "YESTERDAY"
    LAST_24_HOURS = "LAST_24_HOURS"
    LAST_7_DAYS = "LAST_7_DAYS"
    LAST_30_DAYS = "LAST_30_DAYS"
    LAST_90_DAYS = "LAST_90_DAYS"


class Granularity(enum.Enum):
    HOUR = "HOUR"
    DAY = "DAY"
    WEEK = "WEEK"
    MONTH = "MONTH"


class Compare(enum.Enum):
    PREVIOUS_PERIOD = "PREVIOUS_PERIOD"
    YEAR_OVER_YEAR = "YEAR_OVER_YEAR"


@dataclass(frozen=True)
class RangeSpec:
    """What the caller asked for: exactly one of explicit bounds, a preset, or ``since``."""

    start: str | None = None
    end: str | None = None
    preset: Preset | None = None
    since: str | None = None


@dataclass(frozen=True)
class Period:
    """A resolved half-open interval ``[start, end)``; whole local days when ``days`` is set."""

    start: datetime
    end: datetime
    tz: ZoneInfo
    days: tuple[date, date] | None  # first and last local day, inclusive

    @property
    def first_day(self) -> date:
        return self.days[0] if self.days else self.start.astimezone(self.tz).date()

    @property
    def last_day(self) -> date:
        if self.days:
            return self.days[1]
        return (self.end - timedelta(microseconds=1)).astimezone(self.tz).date()

    def whole_days(self) -> Period:
        """The smallest whole-day period covering this one (for per-day distinct users)."""
        if self.days:
            return self
        return day_period(self.first_day, self.last_day, self.tz)


@functools.lru_cache(maxsize=8192)
def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The UTC instant the local ``day`` starts (cached: every series point asks for one)."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def local_midnight_sql(day: str, tz: str) -> str:
    """SQL for the instant the local ``day`` starts in zone ``tz`` (both SQL expressions), as
    :func:`local_midnight` gives it. PostgreSQL reads a local time that occurs twice as its later
    instant, so a day whose midnight occurs twice (America/Havana on 2025-11-02 goes back from 01:00
    to 00:00) would start an hour late: the earliest of that instant less 2 h, 90, 60 or 30 min still
    on the day is its start (clocks go back by one of these). For reads that need the exact start
    (retention's cutoffs, a range's whole days); the same rule is in the raw cutoff function of
    migration 0038."""
    at = f"(CAST({day} AS timestamp) AT TIME ZONE {tz})"
    cases = " ".join(f"WHEN CAST(({at} - interval '{back}') AT TIME ZONE {tz} AS date) = {day} "
                     f"THEN {at} - interval '{back}'" for back in _CLOCKS_BACK)
    return f"(CASE {cases} ELSE {at} END)"


_CLOCKS_BACK = ("2 hours", "90 minutes", "1 hour", "30 minutes")


def day_period(first: date, last: date, tz: ZoneInfo) -> Period:
    return Period(local_midnight(first, tz), local_midnight(last + timedelta(days=1), tz), tz,
                  (first, last))


def hour_floor(instant: datetime, tz: ZoneInfo) -> datetime:
    """Start of the local hour containing ``instant`` (a UTC instant; DST- and offset-correct)."""
    local = instant.astimezone(tz)
    return instant.astimezone(UTC) - timedelta(
        minutes=local.minute, seconds=local.second, microseconds=local.microsecond)


def hour_ceil(instant: datetime, tz: ZoneInfo) -> datetime:
    """Start of the next local hour, unless ``instant`` already starts one."""
    floor = hour_floor(instant, tz)
    return floor if floor == instant else floor + timedelta(hours=1)


def hour_period(start: datetime, end: datetime, tz: ZoneInfo) -> Period:
    """Date-time bounds widened to whole local hours: counters are kept per hour."""
    return Period(hour_floor(start, tz), hour_ceil(end, tz), tz, None)


MAX_SINCE = timedelta(days=3660)
MIN_YEAR, MAX_YEAR = 1970, 2200
_SINCE = re.compile(r"^\s*(\d+)\s*(m|h|d|w)\s*$")
_SINCE_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1),
                "w": timedelta(weeks=1)}


def _parse_bound(field: str, raw: str, tz: ZoneInfo, *, is_end: bool) -> tuple[datetime, date | None]:
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
        else:
            parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise PeriodError(field, f"{raw!r} is not a date (YYYY-MM-DD) or an ISO 8601 date-time") from None
    if len(raw) == 10:
        _check_year(field, day.year)
        return local_midnight(day + timedelta(days=1) if is_end else day, tz), day
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    _check_year(field, parsed.year)
    return parsed.astimezone(UTC), None


def _check_year(field: str, year: int) -> None:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise PeriodError(field, f"must be between the years {MIN_YEAR} and {MAX_YEAR}")


def resolve(spec: RangeSpec, tz: ZoneInfo, now: datetime | None = None) -> Period:
    """Turn a range argument into a period in ``tz``; ``to`` dates are inclusive, date-times are
    widened to whole local hours (the echoed period says so)."""
    try:
        return _resolve(spec, tz, (now or datetime.now(UTC)).astimezone(UTC))
    except (OverflowError, ValueError) as exc:
        if isinstance(exc, PeriodError):
            raise
        raise PeriodError("range", "is outside the dates this server can count") from None


def _resolve(spec: RangeSpec, tz: ZoneInfo, now: datetime) -> Period:
    chosen = sum(x is not None for x in ((spec.start or spec.end), spec.preset, spec.since))
    if chosen != 1:
        raise PeriodError("range", "give exactly one of from/to, preset or since")
    today = now.astimezone(tz).date()
    if spec.preset is not None:
        if spec.preset is Preset.LAST_24_HOURS:
            return hour_period(now - timedelta(hours=24), now, tz)
        if spec.preset is Preset.TODAY:
            return day_period(today, today, tz)
        if spec.preset is Preset.YESTERDAY:
            return day_period(today - timedelta(days=1), today - timedelta(days=1), tz)
        length = {Preset.LAST_7_DAYS: 7, Preset.LAST_30_DAYS: 30, Preset.LAST_90_DAYS: 90}[spec.preset]
        return day_period(today - timedelta(days=length - 1), today, tz)
    if spec.since is not None:
        match = _SINCE.match(spec.since)
        if not match:
            raise PeriodError("range.since",
                              f"{spec.since!r} is not a duration such as 30m, 24h, 7d or 2w")
        if int(match.group(1)) == 0:
            raise PeriodError("range.since", "must be longer than 0")
        if int(match.group(1)) > MAX_SINCE / _SINCE_UNITS[match.group(2)]:
            raise PeriodError("range.since", f"must be at most {MAX_SINCE.days} days")
        amount = int(match.group(1)) * _SINCE_UNITS[match.group(2)]
        if match.group(2) in "dw":
            return day_period(today - timedelta(days=amount.days - 1), today, tz)
        return hour_period(now - amount, now, tz)
    if not spec.start or not spec.end:
        raise PeriodError("range", "from and to are both required")
    start, first = _parse_bound("range.from", spec.start, tz, is_end=False)
    end, last = _parse_bound("range.to", spec.end, tz, is_end=True)
    if end <= start:
        raise PeriodError("range.to", "must be after range.from")
    if first is not None and last is not None:
        return Period(start, end, tz, (first, last))
    return hour_period(start, end, tz)


def _shift_year(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def _year_earlier(moment: datetime) -> datetime:
    return datetime.combine(_shift_year(moment.date(), -1), moment.timetz())


@overload
def comparison(period: Period, compare: Compare) -> Period: ...
@overload
def comparison(period: Period, compare: None) -> None: ...
@overload
def comparison(period: Period, compare: Compare | None) -> Period | None: ...


def comparison(period: Period, compare: Compare | None) -> Period | None:
    """The period to compare with: the same length just before, or the same dates a year back; None
    when nothing is compared."""
    if compare is None:
        return None
    if compare is Compare.YEAR_OVER_YEAR:
        if period.days:
            return day_period(_shift_year(period.days[0], -1), _shift_year(period.days[1], -1),
                              period.tz)
        start, end = period.start.astimezone(period.tz), period.end.astimezone(period.tz)
        return hour_period(_year_earlier(start).astimezone(UTC), _year_earlier(end).astimezone(UTC),
                           period.tz)
    if period.days:
        length = (period.days[1] - period.days[0]).days + 1
        return day_period(period.days[0] - timedelta(days=length),
                          period.days[0] - timedelta(days=1), period.tz)
    return Period(period.start - (period.end - period.start), period.start, period.tz, None)


def default_granularity(period: Period) -> Granularity:
    length = (timedelta(days=(period.days[1] - period.days[0]).days + 1) if period.days
              else period.end - period.start)
    if length <= timedelta(days=2):
        return Granularity.HOUR
    if length <= timedelta(days=92):
        return Granularity.DAY
    if length <= timedelta(days=731):
        return Granularity.WEEK
    return Granularity.MONTH


def bucket_starts(period: Period, granularity: Granularity) -> list[datetime]:
    """Local bucket starts covering the period, as UTC instants; the first may be clipped. Built once
    per (period, time zone, granularity) and cached: a dashboard asks for the same ones all day."""
    return list(_bucket_starts(period, granularity))


@functools.lru_cache(maxsize=1024)
def _bucket_starts(period: Period, granularity: Granularity) -> tuple[datetime, ...]:
    length = period.end - period.start
    if granularity is Granularity.HOUR:
        # HOUR is the finest bucket: a range under an hour gets one,
        # clipped to the range, rather than an error the default granularity would walk into.
        if length <= timedelta(0):
            raise PeriodError("granularity", "HOUR needs a range that is not empty")
        starts, cursor = [], hour_floor(period.start, period.tz)
        while cursor < period.end:
            starts.append(max(cursor, period.start))
            cursor += timedelta(hours=1)
            if len(starts) > MAX_BUCKETS:
                break
    else:
        if period.days is None:
            period = period.whole_days()
        assert period.days is not None
        first, last = period.days
        span = (last - first).days + 1
        minimum = {Granularity.DAY: 1, Granularity.WEEK: 7, Granularity.MONTH: 28}[granularity]
        if span < minimum:
            raise PeriodError("granularity", f"{granularity.value} is longer than the range ({span} days)")
        days: list[date] = []
        cursor_day = first
        while cursor_day <= last:
            days.append(cursor_day)
            if granularity is Granularity.DAY:
                cursor_day += timedelta(days=1)
            elif granularity is Granularity.WEEK:
                cursor_day += timedelta(days=7 - cursor_day.weekday())
            else:
                cursor_day = (cursor_day.replace(day=1) + timedelta(days=32)).replace(day=1)
            if len(days) > MAX_BUCKETS:
                break
        starts = [local_midnight(d, period.tz) for d in days]
    if len(starts) > MAX_BUCKETS:
        raise PeriodError("granularity", f"{granularity.value} gives more than {MAX_BUCKETS} "
                                         "buckets for this range; choose a coarser one")
    return tuple(starts)


def bucket_day(day: date, granularity: Granularity) -> date:
    """The first day of the DAY/WEEK/MONTH bucket holding ``day`` (before clipping)."""
    if granularity is Granularity.WEEK:
        return day - timedelta(days=day.weekday())
    if granularity is Granularity.MONTH:
        return day.replace(day=1)
    return day
