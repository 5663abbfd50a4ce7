"""Experiment and metric definitions: validation, storage, and the running set the rollup reads."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from analytics.errors import InvalidArgument
from analytics.matchers import Matcher, parse_matcher
from analytics.segments.service import get_segment

KEY_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}")
MIN_VARIANTS, MAX_VARIANTS = 2, 10
MAX_EXTRA_METRICS = 10  # secondary and guardrail metrics together
MAX_WINDOW_HOURS = 24 * 90
MAX_METRICS = 200  # per tenant
MAX_EXPERIMENTS = 500  # per tenant


class MetricKind(Enum):
    CONVERSION = "CONVERSION"  # 1 when a matching event followed the exposure (within the window)
    COUNT = "COUNT"  # matching events after the exposure, per actor
    SUM = "SUM"  # a numeric property of the matching events after the exposure, summed per actor
    SESSION = "SESSION"  # a figure of the actor's sessions with a matching event after the exposure


class SessionFigure(Enum):
    """What a SESSION metric sums over the counted sessions (their facts: analytics.sessions)."""

    SESSIONS = "SESSIONS"  # the number of sessions
    DURATION = "DURATION"  # seconds from each session's first to its last event
    PAGE_VIEWS = "PAGE_VIEWS"  # the sessions' page views


class ExperimentStatus(Enum):
    DRAFT = "DRAFT"
    RUNNING = "RUNNING"
    STOPPED = "STOPPED"


@dataclass(frozen=True)
class Metric:
    key: str
    kind: MetricKind
    matcher: Matcher
    property: str | None = None  # SUM: the numeric property (a dotted path)
    window_hours: int | None = None  # CONVERSION: counted only this long after the exposure
    higher_is_better: bool = True
    description: str | None = None
    session_figure: SessionFigure | None = None  # SESSION: what is summed over the sessions


@dataclass(frozen=True)
class Variant:
    key: str
    weight: float
    control: bool = False


@dataclass(frozen=True)
class Experiment:
    key: str
    description: str | None
    salt: str
    variants: tuple[Variant, ...]
    primary_metric: str
    secondary_metrics: tuple[str, ...]
    guardrail_metrics: tuple[str, ...]
    status: ExperimentStatus
    sequential: bool
    min_actors: int
    min_conversions: int
    planned_start: datetime | None
    planned_stop: datetime | None
    started_at: datetime | None
    stopped_at: datetime | None
    segment: str | None = None  # targeting segment: only its members (at their exposure) are counted
    cuped: bool = False  # compare CUPED-adjusted values (covariate: the 14 days before the exposure)

    @property
    def control(self) -> Variant:
        return next(v for v in self.variants if v.control)

    @property
    def metric_keys(self) -> tuple[str, ...]:
        return (self.primary_metric, *self.secondary_metrics, *self.guardrail_metrics)

    def live_at(self, at: datetime) -> bool:
        """Whether an exposure at ``at`` counts: between the start and the stop."""
        return (
            self.started_at is not None
            and at >= self.started_at
            and (self.stopped_at is None or at < self.stopped_at)
        )


def check_key(field: str, key: str) -> str:
    if not KEY_PATTERN.fullmatch(key):
        raise InvalidArgument(
            field, "must be 1 to 100 letters, digits or _ . : - (starting with a letter or digit)"
        )
    return key


def parse_metric(
    *,
    key: str,
    kind: MetricKind,
    matcher: Matcher | Mapping[str, Any],
    property: str | None,
    window_hours: int | None,
    higher_is_better: bool,
    description: str | None,
    session_figure: SessionFigure | None = None,
) -> Metric:
    check_key("input.key", key)
    parsed = matcher if isinstance(matcher, Matcher) else parse_matcher(matcher, field="input.matcher")
    if kind is MetricKind.SUM and not property:
        raise InvalidArgument("input.property", "is required for a SUM metric (the numeric property)")
    if kind is not MetricKind.SUM and property:
        raise InvalidArgument("input.property", "is only for SUM metrics")
    if kind is MetricKind.SESSION and session_figure is None:
        raise InvalidArgument("input.sessionFigure", "is required for a SESSION metric (what to sum)")
    if kind is not MetricKind.SESSION and session_figure is not None:
        raise InvalidArgument("input.sessionFigure", "is only for SESSION metrics")
    if window_hours is not None and (
        kind is not MetricKind.CONVERSION or not 1 <= window_hours <= MAX_WINDOW_HOURS
    ):
        raise InvalidArgument("input.windowHours", f"is for CONVERSION metrics, 1 to {MAX_WINDOW_HOURS}")
    return Metric(key, kind, parsed, property, window_hours, higher_is_better, description, session_figure)


def check_variants(variants: Sequence[Variant]) -> tuple[Variant, ...]:
    if not MIN_VARIANTS <= len(variants) <= MAX_VARIANTS:
        raise InvalidArgument("input.variants", f"takes {MIN_VARIANTS} to {MAX_VARIANTS} variants")
    keys = [check_key(f"input.variants[{i}].key", v.key) for i, v in enumerate(variants)]
    if len(set(keys)) != len(keys):
        raise InvalidArgument("input.variants", "variant keys must be distinct")
    for i, v in enumerate(variants):
        if not v.weight > 0:
            raise InvalidArgument(f"input.variants[{i}].weight", "must be above 0")
    if sum(1 for v in variants if v.control) != 1:
        raise InvalidArgument("input.variants", "exactly one variant must be the control")
    return tuple(variants)


_METRIC_COLUMNS = "key, kind, matcher, property, window_hours, higher_is_better, description, session_figure"


def _metric(row: Any) -> Metric:
    return Metric(
        row.key,
        MetricKind(row.kind),
        parse_matcher(row.matcher),
        row.property,
        row.window_hours,
        row.higher_is_better,
        row.description,
        SessionFigure(row.session_figure) if row.session_figure else None,
    )


async def save_metric(conn: AsyncConnection, metric: Metric) -> Metric:
    count = (
        await conn.execute(
            text("SELECT count(*) FROM experiment_metrics WHERE key <> :key"), {"key": metric.key}
        )
    ).scalar_one()
    if count >= MAX_METRICS:
        raise InvalidArgument("input.key", f"a tenant has at most {MAX_METRICS} metrics")
    await conn.execute(
        text(
            """
        INSERT INTO experiment_metrics (tenant_id, key, kind, matcher, property, window_hours,
            higher_is_better, description, session_figure)
        VALUES (current_setting('analytics.tenant_id')::bigint, :key, :kind, CAST(:matcher AS jsonb),
            :property, :window, :better, :description, :session_figure)
        ON CONFLICT (tenant_id, key) DO UPDATE SET kind = EXCLUDED.kind, matcher = EXCLUDED.matcher,
            property = EXCLUDED.property, window_hours = EXCLUDED.window_hours,
            higher_is_better = EXCLUDED.higher_is_better, description = EXCLUDED.description,
            session_figure = EXCLUDED.session_figure
        """
        ),
        {
            "key": metric.key,
            "kind": metric.kind.value,
            "matcher": orjson.dumps(metric.matcher.to_json()).decode(),
            "property": metric.property,
            "window": metric.window_hours,
            "better": metric.higher_is_better,
            "description": metric.description,
            "session_figure": metric.session_figure.value if metric.session_figure else None,
        },
    )
    return metric


# The tenant: the one given, else the transaction's (analytics.db.tenant_transaction); an owner connection
# (verification) sees every tenant's rows and must give it.
TENANT = (
    "tenant_id = coalesce(CAST(:tenant AS bigint), "
    "NULLIF(current_setting('analytics.tenant_id', true), '')::bigint)"
)


async def load_metrics(
    conn: AsyncConnection, keys: Sequence[str] | None = None, *, tenant_id: int | None = None
) -> dict[str, Metric]:
    sql = f"SELECT {_METRIC_COLUMNS} FROM experiment_metrics WHERE {TENANT}"
    if keys is not None:
        sql += " AND key = ANY(:keys)"
    sql += " ORDER BY key LIMIT :limit"
    rows = (
        await conn.execute(text(sql), {"keys": list(keys or []), "limit": MAX_METRICS, "tenant": tenant_id})
    ).all()
    return {row.key: _metric(row) for row in rows}


_EXPERIMENT_COLUMNS = (
    "key, description, salt, variants, primary_metric, secondary_metrics, guardrail_metrics, "
    "status, sequential, min_actors, min_conversions, planned_start, planned_stop, "
    "started_at, stopped_at, segment, cuped"
)


def _experiment(row: Any) -> Experiment:
    return Experiment(
        row.key,
        row.description,
        row.salt,
        tuple(Variant(v["key"], float(v["weight"]), bool(v.get("control"))) for v in row.variants),
        row.primary_metric,
        tuple(row.secondary_metrics),
        tuple(row.guardrail_metrics),
        ExperimentStatus(row.status),
        row.sequential,
        row.min_actors,
        row.min_conversions,
        row.planned_start,
        row.planned_stop,
        row.started_at,
        row.stopped_at,
        row.segment,
        row.cuped,
    )


async def load_experiment(
    conn: AsyncConnection, key: str, *, tenant_id: int | None = None
) -> Experiment | None:
    row = (
        await conn.execute(
            text(f"SELECT {_EXPERIMENT_COLUMNS} FROM experiments WHERE {TENANT} AND key = :key"),
            {"key": key, "tenant": tenant_id},
        )
    ).one_or_none()
    return _experiment(row) if row is not None else None


async def load_experiments(
    conn: AsyncConnection, *, status: ExperimentStatus | None = None, limit: int = MAX_EXPERIMENTS
) -> list[Experiment]:
    where = f" WHERE {TENANT}" + (" AND status = :status" if status is not None else "")
    rows = (
        await conn.execute(
            text(
                f"SELECT {_EXPERIMENT_COLUMNS} FROM experiments{where} "
                "ORDER BY created_at DESC, key LIMIT :limit"
            ),
            {"status": status.value if status else None, "limit": limit, "tenant": None},
        )
    ).all()
    return [_experiment(row) for row in rows]


async def started_experiments(conn: AsyncConnection, tenant_id: int) -> list[Experiment]:
    """Experiments that take exposures or took them (running or stopped): what the rollup folds."""
    rows = (
        await conn.execute(
            text(
                f"SELECT {_EXPERIMENT_COLUMNS} FROM experiments WHERE {TENANT} "
                "AND started_at IS NOT NULL ORDER BY key"
            ),
            {"tenant": tenant_id},
        )
    ).all()
    return [_experiment(row) for row in rows]


@dataclass(frozen=True)
class Definition:
    key: str
    description: str | None
    variants: tuple[Variant, ...]
    primary_metric: str
    secondary_metrics: tuple[str, ...]
    guardrail_metrics: tuple[str, ...]
    status: ExperimentStatus
    sequential: bool
    min_actors: int
    min_conversions: int
    planned_start: datetime | None
    planned_stop: datetime | None
    segment: str | None = None
    cuped: bool = False


@dataclass(frozen=True)
class Saved:
    experiment: Experiment
    added_metrics: tuple[str, ...]  # metrics new to an experiment that already has exposures: backfill


async def define_experiment(conn: AsyncConnection, d: Definition, *, now: datetime) -> Saved:
    """Create or update an experiment. A running or stopped experiment keeps its variants and weights
    (changing them would mix two assignments in one analysis); stopping keeps the results."""
    check_key("input.key", d.key)
    variants = check_variants(d.variants)
    extra = (*d.secondary_metrics, *d.guardrail_metrics)
    if len(extra) > MAX_EXTRA_METRICS:
        raise InvalidArgument(
            "input.secondaryMetrics", f"at most {MAX_EXTRA_METRICS} secondary and guardrail metrics together"
        )
    wanted = (d.primary_metric, *extra)
    if len(set(wanted)) != len(wanted):
        raise InvalidArgument("input.secondaryMetrics", "a metric may appear only once in an experiment")
    known = await load_metrics(conn, wanted)
    for name, field in (
        (d.primary_metric, "primaryMetric"),
        *((m, "secondaryMetrics") for m in d.secondary_metrics),
        *((m, "guardrailMetrics") for m in d.guardrail_metrics),
    ):
        if name not in known:
            raise InvalidArgument(f"input.{field}", f"unknown metric {name!r}: declare it with defineMetric")
    if not 1 <= d.min_actors <= 1_000_000 or not 0 <= d.min_conversions <= 1_000_000:
        raise InvalidArgument("input.minActors", "minimum samples must be between 1 and 1,000,000")
    if d.planned_start and d.planned_stop and d.planned_stop <= d.planned_start:
        raise InvalidArgument("input.plannedStop", "must be after plannedStart")
    if d.segment is not None:
        tenant = await conn.execute(text("SELECT current_setting('analytics.tenant_id')::bigint"))
        if await get_segment(conn, int(tenant.scalar_one()), d.segment) is None:
            raise InvalidArgument("input.segment", f"unknown segment {d.segment!r}")
    old = await load_experiment(conn, d.key)
    if old is None:
        total = (await conn.execute(text("SELECT count(*) FROM experiments"))).scalar_one()
        if total >= MAX_EXPERIMENTS:
            raise InvalidArgument("input.key", f"a tenant has at most {MAX_EXPERIMENTS} experiments")
    if old is not None and old.status is not ExperimentStatus.DRAFT and old.variants != variants:
        raise InvalidArgument(
            "input.variants",
            f"experiment {d.key!r} is {old.status.value.lower()}: its "
            "variants and weights cannot change (that would break "
            "the analysis); define a new experiment instead",
        )
    if old is not None and old.status is not ExperimentStatus.DRAFT and old.segment != d.segment:
        raise InvalidArgument(
            "input.segment",
            f"experiment {d.key!r} is {old.status.value.lower()}: its targeting segment cannot change "
            "(that would mix two populations in one analysis); define a new experiment instead",
        )
    if (
        old is not None
        and old.status is ExperimentStatus.STOPPED
        and d.status is not ExperimentStatus.STOPPED
    ):
        raise InvalidArgument("input.status", "a stopped experiment cannot run again; define a new one")
    if old is not None and old.status is not ExperimentStatus.DRAFT and d.status is ExperimentStatus.DRAFT:
        raise InvalidArgument("input.status", "a started experiment cannot go back to draft")
    started = old.started_at if old is not None else None
    stopped = old.stopped_at if old is not None else None
    # Exposures count from the planned start when it has passed, else from now.
    first = d.planned_start if d.planned_start is not None and d.planned_start <= now else now
    if d.status is ExperimentStatus.RUNNING and started is None:
        started = first
    if d.status is ExperimentStatus.STOPPED:
        started = started or first
        stopped = stopped or now
    added = tuple(
        m for m in wanted if old is not None and old.started_at is not None and m not in old.metric_keys
    )
    await conn.execute(
        text(
            """
        INSERT INTO experiments (tenant_id, key, description, salt, variants, primary_metric,
            secondary_metrics, guardrail_metrics, status, sequential, min_actors, min_conversions,
            planned_start, planned_stop, started_at, stopped_at, segment, cuped)
        VALUES (current_setting('analytics.tenant_id')::bigint, :key, :description, :salt,
            CAST(:variants AS jsonb), :primary, :secondary, :guardrail, :status, :sequential, :min_actors,
            :min_conversions, :planned_start, :planned_stop, :started, :stopped, :segment, :cuped)
        ON CONFLICT (tenant_id, key) DO UPDATE SET description = EXCLUDED.description,
            variants = EXCLUDED.variants, primary_metric = EXCLUDED.primary_metric,
            secondary_metrics = EXCLUDED.secondary_metrics, guardrail_metrics = EXCLUDED.guardrail_metrics,
            status = EXCLUDED.status, sequential = EXCLUDED.sequential, min_actors = EXCLUDED.min_actors,
            min_conversions = EXCLUDED.min_conversions, planned_start = EXCLUDED.planned_start,
            planned_stop = EXCLUDED.planned_stop, started_at = EXCLUDED.started_at,
            stopped_at = EXCLUDED.stopped_at, segment = EXCLUDED.segment, cuped = EXCLUDED.cuped
        """
        ),
        {
            "key": d.key,
            "description": d.description,
            "salt": old.salt if old is not None else secrets.token_hex(8),
            "variants": orjson.dumps(
                [{"key": v.key, "weight": v.weight, "control": v.control} for v in variants]
            ).decode(),
            "primary": d.primary_metric,
            "secondary": list(d.secondary_metrics),
            "guardrail": list(d.guardrail_metrics),
            "status": d.status.value,
            "sequential": d.sequential,
            "min_actors": d.min_actors,
            "min_conversions": d.min_conversions,
            "planned_start": d.planned_start,
            "planned_stop": d.planned_stop,
            "started": started,
            "stopped": stopped,
            "segment": d.segment,
            "cuped": d.cuped,
        },
    )
    saved = await load_experiment(conn, d.key)
    assert saved is not None
    return Saved(saved, added)
