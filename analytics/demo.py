"""Realistic demo tours: several weeks of users moving through steps, with a visible drop-off."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from analytics.ingest.events import EventIn

_NAMESPACE = uuid.UUID("6f1d7c0e-2a53-4a4e-9b0f-6b7a1c2d3e4f")


@dataclass(frozen=True)
class DemoTour:
    id: str
    title: str
    steps: tuple[tuple[str, str], ...]  # (title, selector)
    continue_rates: tuple[float, ...]  # chance to go on from step i to i+1
    daily_starters: int
    broken_step: int | None = None  # a step whose target is sometimes missing


DEMO_TOURS = (
    DemoTour("onboarding-welcome", "Welcome to the workspace",
             (("Welcome", "#welcome"), ("Navigate to settings", "nav .settings"),
              ("Click the integrations tab", "#integrations-tab"), ("Configure a webhook", "#webhook-form"),
              ("Complete", "#done")),
             (0.90, 0.89, 0.56, 0.78), 60, broken_step=3),
    DemoTour("reports-tour", "Build your first report",
             (("Open reports", "#reports"), ("Pick a metric", ".metric-picker"),
              ("Save the report", "button.save")), (0.82, 0.74), 35),
    DemoTour("billing-setup", "Set up billing",
             (("Billing overview", "#billing"), ("Add a card", "#card-form"),
              ("Choose a plan", ".plans"), ("Confirm", "#confirm")), (0.7, 0.4, 0.9), 20, broken_step=1),
    DemoTour("new-dashboard", "What's new in dashboards",
             (("Intro", "#intro"), ("Filters", ".filters"), ("Sharing", "#share")), (0.95, 0.9), 45),
)


def _event(key: str, kind: str, at: datetime, user: str, tour: DemoTour, **extra: object) -> EventIn:
    return EventIn(id=str(uuid.uuid5(_NAMESPACE, key)), type=kind,
                   timestamp=at.isoformat(), user_id=user, tour_id=tour.id,
                   url="https://app.example.com/" + tour.id, **extra)  # type: ignore[arg-type]


def demo_events(*, days: int, tz: ZoneInfo, now: datetime | None = None, seed: int = 7) -> Iterator[EventIn]:
    """Deterministic events for ``days`` local days up to now.

    Every journey draws from its own generator seeded by its key, so an event has the same id and
    timestamp on every run: reloading later adds only the events that have happened since.
    """
    now = now or datetime.now(UTC)
    today = now.astimezone(tz).date()
    for offset in range(days, -1, -1):
        day = today - timedelta(days=offset)
        weekday_factor = 0.55 if day.weekday() >= 5 else 1.0
        for tour in DEMO_TOURS:
            day_rng = random.Random(f"{seed}:{day.isoformat()}:{tour.id}")
            starters = int(tour.daily_starters * weekday_factor * day_rng.uniform(0.8, 1.2))
            for n in range(starters):
                key = f"{day}:{tour.id}:{n}"
                yield from (e for e in _journey(key, random.Random(f"{seed}:{key}"), day, tz, tour)
                            if datetime.fromisoformat(e.timestamp) <= now)


def _journey(key: str, rng: random.Random, day: date, tz: ZoneInfo, tour: DemoTour) -> Iterator[EventIn]:
    """One person's way through a tour: steps until they finish, give up or restart."""
    user = f"user-{rng.randrange(5000)}"
    at = datetime.combine(day, time(8), tzinfo=tz) + timedelta(minutes=rng.randrange(12 * 60))
    yield _event(key + ":start", "TourStarted", at, user, tour)
    step = 0
    while True:
        at += timedelta(seconds=rng.randrange(5, 90))
        _, selector = tour.steps[step]
        if step == tour.broken_step and rng.random() < 0.08:
            yield _event(f"{key}:miss:{step}", "target_not_found", at, user, tour,
                         step_index=step, selector=selector)
        yield _event(f"{key}:view:{step}", "StepViewed", at, user, tour, step_index=step)
        if step == len(tour.steps) - 1:
            yield _event(f"{key}:done:{step}", "StepCompleted", at, user, tour, step_index=step)
            yield _event(f"{key}:complete", "TourCompleted", at, user, tour)
            break
        if rng.random() > tour.continue_rates[step]:
            if rng.random() < 0.7:
                yield _event(f"{key}:dismiss", "TourDismissed", at, user, tour, step_index=step)
            if rng.random() < 0.1:
                yield _event(f"{key}:restart", "TourRestarted",
                             at + timedelta(minutes=5), user, tour)
            break
        yield _event(f"{key}:done:{step}", "StepCompleted", at, user, tour, step_index=step)
        step += 1
