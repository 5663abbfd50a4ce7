"""Latency percentiles from a mergeable sketch: DDSketch's logarithmic bins (the ``ddsketch``
package's mapping), kept as (bin, count) rows so that days, models and agents merge by adding counts.

A quantile read back is within ``RELATIVE_ACCURACY`` (1 %) of the exact lower-rank quantile of the
same values (the value at rank floor(q * (n - 1)) of the sorted values).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from ddsketch.mapping import LogarithmicMapping

RELATIVE_ACCURACY = 0.01
MAPPING = LogarithmicMapping(RELATIVE_ACCURACY)
ZERO_BIN = -(2**31)  # values of 0 ms: below every logarithmic bin


@lru_cache(maxsize=1 << 16)  # the worker bins whole milliseconds: most values repeat
def bin_of(value: float) -> int:
    return ZERO_BIN if value <= 0 else MAPPING.key(value)


def bin_sql(column: str) -> str:
    """The same bin in SQL (float8 ln is the same libm log as Python's math.log)."""
    return (
        f"CASE WHEN {column} <= 0 THEN {ZERO_BIN} ELSE "
        f"ceil(ln(CAST({column} AS float8)) / ln(CAST(2 AS float8)) * "
        f"CAST({MAPPING._multiplier!r} AS float8))::int END"
    )


def quantile(bins: Iterable[tuple[int, int]], q: float) -> float | None:
    """The q-quantile (0..1) of the values counted in ``bins`` (bin, count), None when empty."""
    ordered = sorted((b, c) for b, c in bins if c > 0)
    total = sum(c for _, c in ordered)
    if total == 0:
        return None
    rank = q * (total - 1)
    seen = 0
    for key, count in ordered:
        seen += count
        if seen > rank:
            return 0.0 if key == ZERO_BIN else round(MAPPING.value(key), 3)
    return None  # unreachable: the last bin holds the highest rank
