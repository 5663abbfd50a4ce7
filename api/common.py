"""Types every analytic field shares: range input, period echo, granularity and compare enums."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any, NewType, TypeVar
from zoneinfo import ZoneInfo

import strawberry
from strawberry.types.scalar import ScalarDefinition

from analytics import metrics, periods
from analytics.periods import Compare, Granularity
from analytics.periods import Preset as RangePreset
from api.errors import BadInput

# The domain enums are the schema's enums (strawberry.enum registers the class itself).
strawberry.enum(RangePreset, name="RangePreset", description="Relative ranges in the tenant's time zone.")
strawberry.enum(
    Granularity,
    description="Bucket size of a series; the default follows the range (≤2 days HOUR, ≤92 days "
                "DAY, ≤2 years WEEK, else MONTH). A granularity longer than the range is an error, "
                "except HOUR: a range under an hour has one hourly bucket.",
)
strawberry.enum(
    Compare,
    description="PREVIOUS_PERIOD: the same length just before; YEAR_OVER_YEAR: the same dates a "
                "year earlier.",
)


# GraphQL's Int is 32-bit: a month of tokens (or any sum that can pass 2^31 - 1) is a BigInt, serialized as
# a JSON number (exact up to 2^53 in JavaScript clients, beyond any token sum this API keeps).
if TYPE_CHECKING:  # an int to the code that fills the fields
    BigInt = int
else:
    BigInt = NewType("BigInt", int)


def _parse_big_int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"BigInt cannot represent {value!r}")
    return int(value)


BIG_INT = strawberry.scalar(
    name="BigInt",
    description="A whole number of 64 bits (GraphQL's Int has 32), as a JSON number: token sums.",
    serialize=int,
    parse_value=_parse_big_int,
)
SCALARS: dict[object, ScalarDefinition] = {BigInt: BIG_INT}  # the schema's scalar_map


# Every analytic field takes this argument: sessions flagged as bots (any tier) are left out unless
# it is true.
IncludeBots = Annotated[bool, strawberry.argument(
    description="Include sessions flagged as bots (user agent, scanner or behaviour); false by "
                "default, so every figure counts humans only.")]


@strawberry.input(description="A date range: exactly one of from/to, preset or since.")
class RangeInput:
    from_: str | None = strawberry.field(
        default=None, name="from",
        description="First day (YYYY-MM-DD, tenant time zone) or an ISO 8601 date-time.")
    to: str | None = strawberry.field(
        default=None,
        description="Last day, inclusive (YYYY-MM-DD), or an exclusive ISO 8601 date-time.")
    preset: RangePreset | None = None
    since: str | None = strawberry.field(
        default=None, description="A duration back from now: 30m, 24h, 7d, 2w.")

    def resolve(self, tz: ZoneInfo) -> periods.Period:
        try:
            return periods.resolve(periods.RangeSpec(self.from_, self.to, self.preset, self.since), tz)
        except periods.PeriodError as exc:
            raise BadInput(exc.field, exc.message) from None


@strawberry.type(description="The period an answer covers, as resolved in the tenant's time zone.")
class Period:
    from_: datetime = strawberry.field(name="from", description="Start instant (inclusive).")
    to: datetime = strawberry.field(description="End instant (exclusive).")
    first_day: date = strawberry.field(description="First local day touched.")
    last_day: date = strawberry.field(description="Last local day touched (inclusive).")
    timezone: str

    @classmethod
    def of(cls, period: periods.Period) -> Period:
        return cls(from_=period.start.astimezone(period.tz), to=period.end.astimezone(period.tz),
                   first_day=period.first_day, last_day=period.last_day, timezone=period.tz.key)


def check_granularity(period: periods.Period, granularity: Granularity | None
                      ) -> tuple[Granularity, list[datetime]]:
    chosen = granularity or periods.default_granularity(period)
    try:
        return chosen, periods.bucket_starts(period, chosen)
    except periods.PeriodError as exc:
        raise BadInput(exc.field, exc.message) from None


def compared(figures: Callable[..., object], change: Callable[..., object], now: Mapping[str, Any],
             then: Mapping[str, Any] | None) -> dict[str, object]:
    """``previous`` (the comparison period's ``then`` as ``figures``) and ``change`` (each value's
    percentage change, as ``change``) of a compared item; both None without a comparison."""
    if then is None:
        return {"previous": None, "change": None}
    return {"previous": figures(**then),
            "change": change(**{k: metrics.percent_change(now[k], then[k]) for k in now})}


T = TypeVar("T")
CHANGE_NOTE = ("Relative change in percent against the comparison period (null when the previous value is 0 "
               "or missing).")


def change_of(figures: type) -> Callable[[type[T]], type[T]]:
    """Declare the ``change`` type of a compared ``figures`` type: each numeric field of it as a
    nullable percentage (metrics.percent_change), so the pair is written once::

        @change_of(CostFigures)
        class CostChange: ...
    """
    fields = [f.python_name for f in figures.__strawberry_definition__.fields  # type: ignore[attr-defined]
              if f.type in (int, float, int | None, float | None, BigInt, BigInt | None)]

    def declare(cls: type[T]) -> type[T]:
        cls.__annotations__ = dict.fromkeys(fields, float | None)
        return strawberry.type(cls, description=CHANGE_NOTE)

    return declare


def selected_names(info: Any, *, nested: bool = True, under: frozenset[str] | None = None) -> set[str]:
    """The field names selected under the resolving field (fragments included): at any depth, or with
    ``nested=False`` its own fields only; with ``under``, only names selected (at any depth) inside a
    field of one of those names. What a resolver may leave uncomputed when an answer nobody asked for
    costs a statement."""
    from strawberry.types.nodes import SelectedField

    names: set[str] = set()
    pending = [(selection, under is None) for field in info.selected_fields for selection in field.selections]
    while pending:
        selection, inside = pending.pop()
        if isinstance(selection, SelectedField):  # not a fragment spread, whose name is the fragment's
            if inside:
                names.add(selection.name)
            if not nested:
                continue
            inside = inside or selection.name in (under or ())
        pending.extend((child, inside) for child in selection.selections)
    return names


def check_limit(field: str, value: int, maximum: int) -> int:
    if not 1 <= value <= maximum:
        raise BadInput(field, f"must be between 1 and {maximum}")
    return value


__all__ = ["BIG_INT", "SCALARS", "BigInt", "Compare", "Granularity", "IncludeBots", "Period", "RangeInput",
           "RangePreset", "change_of", "check_granularity", "check_limit", "compared"]
