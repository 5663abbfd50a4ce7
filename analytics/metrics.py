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


# Content (capsule) metrics: capsule engagement reference. Per-session figures (time on capsule,
# conversations, time to conversion, assets) come from analytics.content's session facts.

def cta_click_through_rate(cta_clicks: int, views: int) -> float | None:
    """cta_click_through_rate = ContentCtaClicked events / ContentViewed events * 100."""
    return rate(cta_clicks, views)


def conversion_rate(conversions: int, views: int) -> float | None:
    """conversion_rate = ContentConverted events / ContentViewed events * 100 (by CTA: that CTA's
    conversions / the content's views * 100)."""
    return rate(conversions, views)


def video_completion_rate(video_completions: int, video_views: int) -> float | None:
    """video_completion_rate = VideoCompleted events / ContentAssetViewed events of videos * 100."""
    return rate(video_completions, video_views)


def messages_per_conversation(messages: int, conversations: int) -> float | None:
    """ConversationMessage events / conversations (a conversation id within one session)."""
    return _rounded(messages / conversations) if conversations else None


def turns_per_session(user_messages: int, sessions_with_conversation: int) -> float | None:
    """Conversation turns per session = messages with role user / sessions with a conversation."""
    return _rounded(user_messages / sessions_with_conversation) if sessions_with_conversation else None


def average_conversation_duration(total_seconds: float, conversations: int) -> float | None:
    """Seconds: the sum over conversations of (last message - first message) / conversations (a
    conversation is a capsule.conversationId within one session; a one-message one lasts 0 s)."""
    return _rounded(total_seconds / conversations) if conversations else None


def average_time_on_capsule(engaged_ms: int, viewing_sessions: int) -> float | None:
    """Seconds: the sum of ContentEngagement timeOnPageMs of the sessions that viewed the content /
    those sessions (a viewing session without engagement reports counts as 0 s)."""
    return _rounded(engaged_ms / 1000 / viewing_sessions) if viewing_sessions else None


def average_time_to_conversion(total_seconds: float, converting_sessions: int) -> float | None:
    """Seconds: the sum over converting sessions of (first ContentConverted - first ContentViewed of
    that content in the session) / those sessions; a converting session is one whose first
    conversion is at or after its first view."""
    return _rounded(total_seconds / converting_sessions) if converting_sessions else None


def drop_off_share(conversations_ended: int, unconverted_conversations: int) -> float | None:
    """Conversations that ended after turn N without converting / all unconverted conversations * 100."""
    return rate(conversations_ended, unconverted_conversations)


# Product usage (reference 001): feature adoption and stickiness.

def adoption_rate(feature_users: int, active_users: int) -> float | None:
    """adoption_rate = distinct users of the feature in the range / active users in the range * 100
    (active: any event naming the person that day; analytics.users.activity)."""
    return rate(feature_users, active_users)


def mean_daily_active_users(user_days: int, days: int) -> float | None:
    """DAU = (distinct users of each local day, summed over the range's days) / its days."""
    return _rounded(user_days / days) if days else None


def stickiness(user_days: int, days: int, mau: int) -> float | None:
    """stickiness = DAU / MAU * 100, with the unrounded DAU (user_days / days: the range's mean) and MAU
    (distinct users of the 30 days up to its last day)."""
    return _rounded(user_days / days / mau * 100) if days and mau else None
