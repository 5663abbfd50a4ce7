"""Every derived metric, defined once: the graph, the CLI and exports all call these."""

from __future__ import annotations


def _rounded(value: float) -> float:
    return round(value, 2)


def rate(part: int, whole: int) -> float | None:
    """``part / whole * 100`` rounded to two decimals; None when there is nothing to divide by."""
    return _rounded(part / whole * 100) if whole else None


def completion_rate(completions: int, starts: int) -> float | None:
    """completion_rate = completions / starts * 100 (tour-analytics reference)."""
    return rate(completions, starts)


def dismissal_rate(dismissals: int, starts: int) -> float | None:
    """dismissal_rate = dismissals / starts * 100."""
    return rate(dismissals, starts)


def percent_change(current: float | None, previous: float | None) -> float | None:
    """Relative change from ``previous`` to ``current`` in percent; None when the base is 0."""
    if current is None or previous is None or previous == 0:
        return None
    return _rounded((current - previous) / previous * 100)


def percent_of_first(users: int, first_step_users: int) -> float:
    """Share of the funnel's first step that reached this step, in percent."""
    return rate(users, first_step_users) or 0.0
