"""Demo product events: people signing up, onboarding, deploying, creating services, reading the
docs, running pipelines and configuring monitoring (the product of reference 001), with the drop-offs
of its three funnels and users of every engagement level, including some who stop coming back.

Custom event names (what the demo's funnels, features and segments match):

- onboarding: ``sign_up`` (properties: plan) -> ``profile_setup`` -> ``template_selected``
  (template) -> ``deployment_succeeded``
- deployment: ``deployment_started`` (environment) -> ``deployment_configured`` -> ``build_completed``
  -> ``deployment_succeeded`` (environment, durationMs)
- service creation: ``template_selected`` -> ``service_configured`` -> ``service_reviewed`` ->
  ``service_activated``
- features: ``deployment_succeeded`` (Deploy Application), ``service_activated`` (Create Service),
  ``docs_viewed`` (View Documentation, page), ``pipeline_run`` (Run Pipeline, status),
  ``monitoring_configured`` (Configure Monitoring)

Ids and timestamps are the same on every run (a generator seeded per person and day), like
analytics.demo.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from analytics.ingest.catalogue import CUSTOM
from analytics.ingest.events import EventIn

_NAMESPACE = uuid.UUID("0b8f3f52-6c1e-4d7a-a3f5-2c9d8e7b6a14")
TEMPLATES = ("python-api", "node-web", "static-site", "worker")
ENVIRONMENTS = ("production", "staging")
DOCS = ("/docs/getting-started", "/docs/deploy", "/docs/pipelines", "/docs/monitoring")


@dataclass(frozen=True)
class Habit:
    """How often someone comes back: the chance of a visit on a given day, and for how long."""

    name: str
    share: float
    daily_visit: float
    active_days: int | None = None  # stops coming back after this many days (at risk later)


HABITS = (Habit("power", 0.2, 0.8), Habit("regular", 0.5, 0.3), Habit("casual", 0.15, 0.08),
          Habit("fading", 0.15, 0.5, active_days=10))


@dataclass
class _Clock:
    at: datetime

    def step(self, rng: random.Random, low: float, high: float) -> datetime:
        self.at += timedelta(seconds=rng.uniform(low, high))
        return self.at


def _event(key: str, name: str, at: datetime, user: str, session: str, **properties: Any) -> EventIn:
    return EventIn(id=str(uuid.uuid5(_NAMESPACE, key)), type=CUSTOM, name=name, timestamp=at.isoformat(),
                   user_id=user, session_id=session, properties=properties or None)


def demo_product_events(*, days: int, tz: ZoneInfo, now: datetime | None = None, seed: int = 11,
                        daily_signups: int = 12) -> Iterator[EventIn]:
    """Deterministic product events for ``days`` local days up to now (none after ``now``)."""
    now = now or datetime.now(UTC)
    today = now.astimezone(tz).date()
    for offset in range(days, -1, -1):
        signup_day = today - timedelta(days=offset)
        day_rng = random.Random(f"{seed}:{signup_day}")
        weekday = 0.6 if signup_day.weekday() >= 5 else 1.0
        for n in range(int(daily_signups * weekday * day_rng.uniform(0.7, 1.3))):
            user = f"demo-{signup_day:%m%d}-{n}"
            rng = random.Random(f"{seed}:{user}")
            habit = rng.choices(HABITS, weights=[h.share for h in HABITS])[0]
            for event in _life(user, rng, habit, signup_day, today, tz):
                if datetime.fromisoformat(event.timestamp) <= now:
                    yield event


def _life(user: str, rng: random.Random, habit: Habit, first: date, today: date, tz: ZoneInfo
          ) -> Iterator[EventIn]:
    """Sign-up and onboarding on the first day, then visits on the days the habit brings them."""
    day = first
    visit = 0
    while day <= today:
        age = (day - first).days
        if age == 0 or (rng.random() < habit.daily_visit
                        and (habit.active_days is None or age <= habit.active_days)):
            start = datetime.combine(day, time(8), tz) + timedelta(minutes=rng.uniform(0, 11 * 60))
            clock = _Clock(start)
            session = f"{user}:{visit}"
            key = f"{user}:{visit}"
            yield from (_onboarding if age == 0 else _work)(key, rng, user, session, clock)
            visit += 1
        day += timedelta(days=1)


def _onboarding(key: str, rng: random.Random, user: str, session: str, clock: _Clock) -> Iterator[EventIn]:
    yield _event(f"{key}:sign_up", "sign_up", clock.at, user, session,
                 plan=rng.choices(("free", "pro", "team"), weights=(6, 3, 1))[0])
    for name, rate in (("profile_setup", 0.9), ("template_selected", 0.844), ("deployment_succeeded", 0.75)):
        if rng.random() >= rate:
            return
        at = clock.step(rng, 60, 900)
        extra: dict[str, Any] = {}
        if name == "template_selected":
            extra = {"template": rng.choice(TEMPLATES)}
        elif name == "deployment_succeeded":
            extra = {"environment": "staging", "durationMs": rng.randint(20_000, 240_000)}
        yield _event(f"{key}:{name}", name, at, user, session, **extra)


def _work(key: str, rng: random.Random, user: str, session: str, clock: _Clock) -> Iterator[EventIn]:
    """One visit of a returning user: some docs, a deployment, a service, pipelines, monitoring."""
    if rng.random() < 0.45:
        for i in range(rng.randint(1, 3)):
            yield _event(f"{key}:docs:{i}", "docs_viewed", clock.step(rng, 5, 120), user, session,
                         page=rng.choice(DOCS))
    if rng.random() < 0.5:
        environment = rng.choices(ENVIRONMENTS, weights=(2, 3))[0]
        yield _event(f"{key}:deploy:0", "deployment_started", clock.step(rng, 10, 300), user, session,
                     environment=environment)
        for name, rate in (("deployment_configured", 0.965), ("build_completed", 0.957),
                           ("deployment_succeeded", 0.962)):
            if rng.random() >= rate:
                break
            extra: dict[str, Any] = {"environment": environment}
            if name == "deployment_succeeded":
                extra["durationMs"] = rng.randint(20_000, 240_000)
            yield _event(f"{key}:deploy:{name}", name, clock.step(rng, 30, 600), user, session, **extra)
    if rng.random() < 0.25:
        yield _event(f"{key}:service:0", "template_selected", clock.step(rng, 10, 300), user, session,
                     template=rng.choice(TEMPLATES))
        for name, rate in (("service_configured", 0.96), ("service_reviewed", 0.908),
                           ("service_activated", 0.944)):
            if rng.random() >= rate:
                break
            yield _event(f"{key}:service:{name}", name, clock.step(rng, 30, 900), user, session)
    if rng.random() < 0.35:
        for i in range(rng.randint(1, 4)):
            yield _event(f"{key}:pipeline:{i}", "pipeline_run", clock.step(rng, 30, 900), user, session,
                         status=rng.choices(("passed", "failed"), weights=(9, 1))[0])
    if rng.random() < 0.06:
        yield _event(f"{key}:monitoring", "monitoring_configured", clock.step(rng, 30, 600), user, session,
                     alerts=rng.randint(1, 5))
