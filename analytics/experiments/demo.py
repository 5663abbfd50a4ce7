"""Demo experiments: ``onboarding-checklist`` (a clear winner: 22 % -> 30 % of exposed people deploy)
and ``pricing-page`` (a sample ratio mismatch: a redirect loses a fifth of the variant's exposures).
Their people are their own (``exp-...`` user ids) and convert with the demo product's events
(``deployment_succeeded``, ``sign_up``: analytics.demo_product). Ids and timestamps are the same on
every run, like analytics.demo."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.db import tenant_transaction
from analytics.experiments.definitions import (
    Definition,
    ExperimentStatus,
    MetricKind,
    Variant,
    define_experiment,
    parse_metric,
    save_metric,
)
from analytics.ingest.catalogue import CUSTOM, EXPOSURE
from analytics.ingest.events import EventIn

_NAMESPACE = uuid.UUID("3c0b3e0e-7d59-4a8f-9a57-5f3b8f1d2c77")
DAYS = 14
# (experiment, variant, people, conversion rate, share of exposures lost: the SRM)
_ARMS = (
    ("onboarding-checklist", "control", 1500, 0.22, 0.0),
    ("onboarding-checklist", "checklist", 1500, 0.30, 0.0),
    ("pricing-page", "control", 1200, 0.10, 0.0),
    ("pricing-page", "annual-first", 1200, 0.11, 0.2),
)
_CONVERSION = {"onboarding-checklist": "deployment_succeeded", "pricing-page": "sign_up"}


def demo_experiment_events(*, now: datetime) -> list[EventIn]:
    """Exposures over the last two weeks and the conversions that followed (before ``now``)."""
    start = (now - timedelta(days=DAYS)).replace(minute=0, second=0, microsecond=0)
    events = []
    for experiment, variant, people, rate, lost in _ARMS:
        rng = random.Random(f"{experiment}:{variant}")
        for i in range(people):
            user = f"exp-{experiment[:4]}-{variant[:4]}-{i}"
            seen = start + timedelta(seconds=rng.uniform(0, DAYS * 86400))
            dropped, converts, later = rng.random() < lost, rng.random() < rate, rng.uniform(600, 172800)
            if seen >= now or dropped:
                continue
            events.append(
                _event(
                    f"{experiment}:{user}:exposure",
                    EXPOSURE,
                    seen,
                    user,
                    {"experiment": experiment, "variant": variant},
                )
            )
            if converts and seen + timedelta(seconds=later) < now:
                events.append(
                    _event(
                        f"{experiment}:{user}:conversion",
                        CUSTOM,
                        seen + timedelta(seconds=later),
                        user,
                        # What the demo's definitions of these names ask for (analytics.custom_events.demo).
                        {"plan": "pro", "environment": "production", "durationMs": 60_000},
                        name=_CONVERSION[experiment],
                    )
                )
    return events


def _event(
    key: str, kind: str, at: datetime, user: str, properties: dict[str, object], name: str | None = None
) -> EventIn:
    return EventIn(
        id=str(uuid.uuid5(_NAMESPACE, key)),
        type=kind,
        timestamp=at.astimezone(UTC).isoformat(),
        user_id=user,
        properties=properties,
        name=name,
    )


async def define_demo_experiments(
    engine: AsyncEngine, tenant_id: int, *, tz: ZoneInfo, now: datetime | None = None
) -> list[EventIn]:
    """Declare the demo metrics and experiments (running since two weeks ago); their events to send."""
    now = now or datetime.now(UTC)
    started = now - timedelta(days=DAYS, hours=1)
    async with tenant_transaction(engine, tenant_id) as conn:
        for key, event, kind in (
            ("deployed", "deployment_succeeded", MetricKind.CONVERSION),
            ("deploys", "deployment_succeeded", MetricKind.COUNT),
            ("signed_up", "sign_up", MetricKind.CONVERSION),
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
                "deployed",
                ("deploys",),
                "A getting-started checklist on the dashboard",
            ),
            (
                "pricing-page",
                ("control", "annual-first"),
                "signed_up",
                (),
                "Annual plans shown first on the pricing page",
            ),
        ):
            await define_experiment(
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
    return demo_experiment_events(now=now)
