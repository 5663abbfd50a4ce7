"""A declared dimension's value of one event, as text: the one rule the rollup (Python) and its
recomputation (SQL, ``VALUE_SQL``) share.

Strings are cut to ``MAX_VALUE_LENGTH`` characters; booleans are ``true``/``false``; whole numbers
below 2^53 are written as integers (``12.0`` and ``1e3`` are ``12`` and ``1000``), other numbers as
PostgreSQL writes a float8 (shortest round trip, exponent form below 1e-4 and from 1e15; a decimal
exactly halfway between two doubles, such as 1e23, is the one spelling on which they part). A missing
or null property, an object or an array is ``(none)``; values beyond the day's cap count as
``(other)``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

NONE = "(none)"
OTHER = "(other)"
MAX_VALUE_LENGTH = 100
DIMENSION_CAP = 1000  # distinct values a day per (event name, dimension); the first to arrive win
_EXACT = 2**53


def float8_text(number: float) -> str:
    """``number`` as PostgreSQL's float8 output spells it."""
    sign, digits, exponent = Decimal(repr(number)).normalize().as_tuple()
    assert isinstance(exponent, int)
    spelled = "".join(map(str, digits))
    power = len(spelled) + exponent - 1
    if -4 <= power < 15:
        return format(Decimal(repr(number)).normalize(), "f")
    mantissa = spelled[0] + ("." + spelled[1:] if len(spelled) > 1 else "")
    return f"{'-' if sign else ''}{mantissa}e{'+' if power >= 0 else '-'}{abs(power):02d}"


def number_text(number: int | float) -> str:
    if isinstance(number, int) and abs(number) < _EXACT:
        return str(number)
    as_float = float(number)
    if as_float.is_integer() and abs(as_float) < _EXACT:
        return str(int(as_float))
    return float8_text(as_float)


def dimension_value(properties: dict[str, Any] | None, dimension: str) -> str:
    value = properties.get(dimension) if properties else None
    if value is None or isinstance(value, (dict, list)):
        return NONE
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value[:MAX_VALUE_LENGTH]
    return number_text(value)


def value_sql(properties: str, dimension: str) -> str:
    """The same rule in SQL, over a jsonb column and a text expression naming the property. The float8
    comes from the number's text (strtod rounds correctly; numeric to float8 does not always)."""
    item = f"({properties} -> {dimension})"
    number = f"(({properties} ->> {dimension})::numeric)"
    return (f"CASE jsonb_typeof({item}) "
            f"WHEN 'string' THEN left({properties} ->> {dimension}, {MAX_VALUE_LENGTH}) "
            f"WHEN 'boolean' THEN {properties} ->> {dimension} "
            f"WHEN 'number' THEN CASE WHEN {number} = trunc({number}) AND abs({number}) < {_EXACT} "
            f"THEN trunc({number})::text ELSE ({properties} ->> {dimension})::float8::text END "
            f"ELSE '{NONE}' END")
