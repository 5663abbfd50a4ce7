"""Demo experiments on the product demo's own people (analytics.demo_product), so that they change none
of the demo's other figures (active users, funnels, feature adoption):

- ``onboarding-checklist``, a clear winner: 20 % of the control's exposed people complete the
  getting-started checklist, 45 % of the checklist variant's (``checklist_completed``, a name of its
  own, in the session of the exposure); secondary metric: deployments per person (the product demo's
  ``deployment_succeeded``, no difference built in);
- ``pricing-page``, a sample ratio mismatch: a redirect loses 60 % of the ``annual-first`` variant's
  exposures (conversion: ``plan_upgraded``, 10 % and 11 %).

Everyone the product demo brings back in the last two weeks is exposed at their first product event
there, to the variant the assignment gives them (the experiment's hash), in that event's session.
Event ids are the same on every run; the variants follow the experiment's salt (new on each load).
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.db import tenant_transaction
from analytics.demo_product import demo_product_events
from analytics.experiments.assignment import assign, exposure_event
from analytics.experiments.definitions import (
    Definition,
    Experiment,
    ExperimentStatus,
    MetricKind,
    Variant,
    define_experiment,
    parse_metric,
    save_metric,
)
from analytics.ingest.catalogue import CUSTOM
from analytics.ingest.events import EventIn

_NAMESPACE = uuid.UUID("3c0b3e0e-7d59-4a8f-9a57-5f3b8f1d2c77")
DAYS = 14
PRODUCT_DAYS = 42  # what analytics dev --demo loads of the product demo
# experiment -> (conversion event, {variant: conversion rate}, {variant: share of exposures lost})
_ARMS: dict[str, tuple[str, dict[str, float], dict[str, float]]] = {
    "onboarding-checklist": ("checklist_completed", {"control": 0.20, "checklist": 0.45}, {}),
    "pricing-page": ("plan_upgraded", {"control": 0.10, "annual-first": 0.11}, {"annual-first": 0.6}),
}


def demo_experiment_events(
    experiments: list[Experiment], *, now: datetime, tz: ZoneInfo, product_days: int = PRODUCT_DAYS
) -> list[EventIn]:
    """Exposures of the product demo's people active since the experiments' start, and the conversions
    that followed (before ``now``)."""
    start = now - timedelta(days=DAYS)
    first: dict[str, tuple[datetime, str | None]] = {}  # person -> first product event since start
    for event in demo_product_events(days=product_days, tz=tz, now=now):
        at = datetime.fromisoformat(event.timestamp)
        if at >= start and event.user_id is not None and event.user_id not in first:
            first[event.user_id] = (at, event.session_id)
    events = []
    for experiment in experiments:
        conversion, rates, lost = _ARMS[experiment.key]
        for user, (seen, session) in sorted(first.items()):
            rng = random.Random(f"{experiment.key}:{user}")
            variant = assign(experiment, f"u:{user}")
            if rng.random() < lost.get(variant.key, 0.0):
                continue
            exposure = exposure_event(experiment, variant, user_id=user, anonymous_id=None, at=seen)
            events.append(msgspec.structs.replace(exposure, session_id=session))
            converted = seen + timedelta(seconds=rng.uniform(30, 900))
            if rng.random() < rates[variant.key] and converted <= now:
                events.append(
                    EventIn(
                        id=str(uuid.uuid5(_NAMESPACE, f"{experiment.key}:{user}:conversion")),
                        type=CUSTOM,
                        name=conversion,
                        timestamp=converted.astimezone(UTC).isoformat(),
                        user_id=user,
                        session_id=session,
                        properties={"experiment": experiment.key},
                    )
                )
    return events


async def define_demo_experiments(
    engine: AsyncEngine, tenant_id: int, *, tz: ZoneInfo, now: datetime | None = None
) -> list[EventIn]:
    """Declare the demo metrics and experiments (running since two weeks ago); their events to send."""
    now = now or datetime.now(UTC)
    started = now - timedelta(days=DAYS, hours=1)
    experiments = []
    async with tenant_transaction(engine, tenant_id) as conn:
        for key, event, kind in (
            ("checklist_done", "checklist_completed", MetricKind.CONVERSION),
            ("deploys", "deployment_succeeded", MetricKind.COUNT),
            ("upgraded", "plan_upgraded", MetricKind.CONVERSION),
        ):
            await save_metric(
                conn,
                parse_metric(
                    key=key,
                    kind=kind,
                    matcher={"event": event},
                    property=None,
                    window_hours=None,
                    higher_is_better=True,
                    description=None,
                ),
            )
        for key, variants, primary, secondary, description in (
            (
                "onboarding-checklist",
                ("control", "checklist"),
                "checklist_done",
                ("deploys",),
                "A getting-started checklist on the dashboard",
            ),
            (
                "pricing-page",
                ("control", "annual-first"),
                "upgraded",
                (),
                "Annual plans shown first on the pricing page",
            ),
        ):
            saved = await define_experiment(
                conn,
                Definition(
                    key=key,
                    description=description,
                    variants=(Variant(variants[0], 1.0, True), Variant(variants[1], 1.0)),
                    primary_metric=primary,
                    secondary_metrics=secondary,
                    guardrail_metrics=(),
                    status=ExperimentStatus.RUNNING,
                    sequential=False,
                    min_actors=100,
                    min_conversions=10,
                    planned_start=started,
                    planned_stop=None,
                ),
                now=now,
            )
            experiments.append(saved.experiment)
    return demo_experiment_events(experiments, now=now, tz=tz)
