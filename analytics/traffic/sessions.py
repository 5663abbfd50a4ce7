"""Sessionization: which session each of one visitor's time-ordered events belongs to.

Limits (what Plausible, PostHog and Matomo do), both strict:

- Idle: an event 30 minutes or more after its session's last event starts a new session
  (29:59 later continues it, 30:00 later does not).
- Length: an event 24 hours or more after its session's first event starts a new session, so no
  session spans 24 hours.

SDK session ids are respected within those limits:

- Events with the same SDK id share a session, even with another id's events in between (two
  tabs); idle time is measured from that session's own last event.
- Events with different SDK ids never share a session.
- An event without an SDK id joins the visitor's most recently active session, whatever its id.
- An SDK id seen for the first time adopts the most recently active session if that session has
  no SDK id yet (a server-rendered page view, then the SDK's first event); otherwise it opens one.
- When a limit ends an SDK id's session, its later events open a new session under the same id.

Keys are ``<first event's ISO timestamp>`` or ``<first event's ISO timestamp>/<SDK id>`` when the
session starts with an SDK id: unique per visitor and the same on every run over the same events.
Events that continue a visitor's known open session (``continuing``) get the key ``CONTINUED``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

IDLE_LIMIT = timedelta(minutes=30)
LENGTH_LIMIT = timedelta(hours=24)


CONTINUED = ""


class VisitorEvent(NamedTuple):
    at: datetime
    sdk_session_id: str | None = None


class OpenSession(NamedTuple):
    """The visitor's latest session before the events: the only one that may still admit them
    (every other one ended 30 minutes or more before the first event)."""

    started: datetime
    last: datetime
    sdk_session_id: str | None


@dataclass(slots=True)
class _OpenSession:
    key: str
    started: datetime
    last: datetime
    sdk_session_id: str | None

    def admits(self, at: datetime) -> bool:
        return at - self.last < IDLE_LIMIT and at - self.started < LENGTH_LIMIT


def assign_sessions(events: Sequence[VisitorEvent], continuing: OpenSession | None = None) -> list[str]:
    """One session key per event, in order; ``ValueError`` if the events are not sorted by time (and
    after ``continuing``'s last event, when given)."""
    by_sdk_id: dict[str, _OpenSession] = {}
    latest: _OpenSession | None = None
    if continuing is not None:
        latest = _OpenSession(CONTINUED, continuing.started, continuing.last, continuing.sdk_session_id)
        if continuing.sdk_session_id:
            by_sdk_id[continuing.sdk_session_id] = latest
    keys: list[str] = []
    for index, event in enumerate(events):
        if (index and event.at < events[index - 1].at) or (latest is not None and event.at < latest.last):
            raise ValueError(f"events must be sorted by time; event {index} is earlier than the one before")
        sdk_id = (event.sdk_session_id or "").strip() or None
        session = _session_for(event.at, sdk_id, by_sdk_id, latest)
        if session is None:
            session = _OpenSession(key=event.at.isoformat() + (f"/{sdk_id}" if sdk_id else ""),
                                   started=event.at, last=event.at, sdk_session_id=sdk_id)
        if sdk_id is not None:
            session.sdk_session_id = sdk_id
            by_sdk_id[sdk_id] = session
        session.last = event.at
        latest = session
        keys.append(session.key)
    return keys


def _session_for(at: datetime, sdk_id: str | None, by_sdk_id: dict[str, _OpenSession],
                 latest: _OpenSession | None) -> _OpenSession | None:
    """The open session this event continues, or None when it starts one."""
    if sdk_id is not None:
        own = by_sdk_id.get(sdk_id)
        if own is not None and own.admits(at):
            return own
        if latest is not None and latest.sdk_session_id is None and latest.admits(at):
            return latest  # adopt: the session had no SDK id yet
        return None
    if latest is not None and latest.admits(at):
        return latest
    return None
