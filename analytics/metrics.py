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


def bounce_rate(bounced_sessions: int, sessions: int) -> float | None:
    """bounce_rate = bounced sessions / sessions * 100; a session bounced when it has at most one
    page view and no event besides page views and their engagement reports."""
    return rate(bounced_sessions, sessions)


def pages_per_session(page_views: int, sessions: int) -> float | None:
    """page views / sessions, rounded to two decimals; None without sessions."""
    return _rounded(page_views / sessions) if sessions else None


def seconds(value: float) -> float:
    """A duration in seconds as reported: rounded to two decimals."""
    return _rounded(value)


def average_session_duration(total_seconds: float, sessions: int) -> float | None:
    """Sum of (last event - first event) over the sessions / sessions, in seconds."""
    return _rounded(total_seconds / sessions) if sessions else None


def return_visit_rate(returning_visitors: int, visitors: int) -> float | None:
    """return_visit_rate = returning visitors / visitors * 100."""
    return rate(returning_visitors, visitors)


def share(part: int, whole: int) -> float | None:
    """A group's share of the whole in percent (sessions of one source / all sessions * 100)."""
    return rate(part, whole)
