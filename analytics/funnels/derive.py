"""A person's attempts at a funnel, derived from that person's events (pure: no I/O).

An actor (the person, or one of its sessions when counting per session) has at most one attempt
open at a time. An attempt starts at an event that matches the first step (any step when
UNORDERED) while none is open, and ends when it completes, when an exclusion event voids it, when
a STRICT attempt meets another event (analytics.funnels.definition), or when the time for its next
step runs out (``ended_at`` is then that deadline). The next attempt starts with a later event.

The same events always give the same attempts, whatever order they arrived in: the incremental
consumer, the backfill and the verification all call :func:`derive_attempts`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from analytics.funnels.definition import STRICT_IGNORED, Counting, FunnelDefinition, OrderMode
from analytics.ingest.catalogue import CUSTOM
from analytics.rollups.aggregate import RawEvent, user_key


@dataclass(frozen=True)
class Attempt:
    person: str  # user key: u:<userId> else a:<anonymousId>
    first_event: UUID
    actor: str  # what the funnel counts: the person, or s:<session key> per session
    started_at: datetime
    step_ats: tuple[datetime, ...]  # when each step was reached; its length is the furthest step
    ended_at: datetime  # completion, void, break, or the deadline of the next step
    voided: bool
    session_key: UUID | None  # the first step's session: its bot flag and breakdown dimensions
    properties: dict[str, Any] | None  # the first step's event properties (breakdown by property)

    def row(self) -> tuple[Any, ...]:
        return (
            self.person,
            self.first_event,
            self.actor,
            self.started_at,
            self.step_ats,
            self.ended_at,
            self.voided,
            self.session_key,
        )


@dataclass
class _Open:
    first: RawEvent
    step_ats: list[datetime]
    done: set[int] = field(default_factory=set)  # steps matched (UNORDERED)

    @property
    def reached(self) -> int:
        return len(self.step_ats)


def _named(event: RawEvent) -> str | None:
    return event.name if event.type == CUSTOM else event.type


def relevant(funnel: FunnelDefinition, event: RawEvent) -> bool:
    """Whether the event can change the funnel's attempts of its person: any event can when other events
    matter (STRICT) or when it may join or split the person's sessions (per-session counting)."""
    if funnel.counting is Counting.SESSION:
        return True
    if funnel.order is OrderMode.STRICT:
        return event.type not in STRICT_IGNORED
    return _named(event) in funnel.event_names


def derive_attempts(funnel: FunnelDefinition, person: str, events: Sequence[RawEvent]) -> list[Attempt]:
    """Every attempt of one person (events of that person only, any order)."""
    ordered = sorted((e for e in events if e.id is not None), key=lambda e: (e.occurred_at, str(e.id)))
    if funnel.counting is Counting.USER:
        return _chain(funnel, person, person, ordered)
    by_session: dict[UUID, list[RawEvent]] = {}
    for event in ordered:
        if event.session_key is not None:
            by_session.setdefault(event.session_key, []).append(event)
    return [
        a for key in sorted(by_session, key=str) for a in _chain(funnel, person, f"s:{key}", by_session[key])
    ]


def _chain(funnel: FunnelDefinition, person: str, actor: str, events: Iterable[RawEvent]) -> list[Attempt]:
    steps = funnel.steps
    total = len(steps)
    window = timedelta(seconds=funnel.window_seconds)
    attempts: list[Attempt] = []
    current: _Open | None = None

    def deadline(attempt: _Open) -> datetime:
        limit = attempt.first.occurred_at + window
        if attempt.reached < total:  # UNORDERED: a step's window applies to the k-th step reached
            within = steps[attempt.reached].within_seconds
            if within is not None:
                limit = min(limit, attempt.step_ats[-1] + timedelta(seconds=within))
        return limit

    def close(attempt: _Open, ended: datetime, voided: bool = False) -> None:
        attempts.append(
            Attempt(
                person,
                attempt.first.id or UUID(int=0),
                actor,
                attempt.first.occurred_at,
                tuple(attempt.step_ats),
                ended,
                voided,
                attempt.first.session_key,
                attempt.first.properties,
            )
        )

    for event in events:
        if current is not None and event.occurred_at > deadline(current):
            close(current, deadline(current))
            current = None
        if current is not None:
            if any(m.matches(event) for m in funnel.exclusions):
                close(current, event.occurred_at, voided=True)
                current = None
                continue
            if _advance(funnel, current, event):
                if current.reached == total:
                    close(current, event.occurred_at)
                    current = None
                continue
            if funnel.order is OrderMode.STRICT and _breaks(funnel, current, event):
                close(current, event.occurred_at)
                current = None
            else:
                continue
        first = _starting_step(funnel, event)
        if first is not None:
            current = _Open(event, [event.occurred_at], {first})
    if current is not None:
        close(current, deadline(current))
    return attempts


def _starting_step(funnel: FunnelDefinition, event: RawEvent) -> int | None:
    if funnel.order is OrderMode.UNORDERED:
        return next((i for i, s in enumerate(funnel.steps) if s.matcher.matches(event)), None)
    return 0 if funnel.steps[0].matcher.matches(event) else None


def _advance(funnel: FunnelDefinition, attempt: _Open, event: RawEvent) -> bool:
    if funnel.order is OrderMode.UNORDERED:
        step = next(
            (i for i, s in enumerate(funnel.steps) if i not in attempt.done and s.matcher.matches(event)),
            None,
        )
        if step is None:
            return False
        attempt.done.add(step)
    elif not funnel.steps[attempt.reached].matcher.matches(event):
        return False
    attempt.step_ats.append(event.occurred_at)
    return True


def _breaks(funnel: FunnelDefinition, attempt: _Open, event: RawEvent) -> bool:
    """STRICT: whether the event is another event than the next step (which _advance took)."""
    if event.type in STRICT_IGNORED:
        return False
    return not funnel.steps[attempt.reached - 1].matcher.matches(event)


def person_of(event: RawEvent) -> str | None:
    if event.user_id is None and event.anonymous_id is None:
        return None
    return user_key(event.user_id, event.anonymous_id)
