"""The experiments' rollup consumer: each actor's first exposure and metric values, and per variant,
metric, exposure day and bot side the actors, conversions, sums and sums of squares the results read.

Per claim, every (experiment, actor) the claim can change is derived again whole from that actor's
retained raw events (its exposures to the experiment and the events matching the experiment's
metrics): an actor with an exposure in the claim, and an already exposed actor with a matching event.
The derived state replaces the stored one and the aggregates move by the difference. Deriving whole
(not appending) is what makes the order of arrival irrelevant: a conversion processed before its
exposure is counted when the exposure arrives, an exposure arriving after a later one becomes the
first, and a re-run writes the same rows. A conversion of an actor not exposed yet adds nothing until
the exposure arrives (the derivation then finds it among the raw events).

The first exposure is the earliest (ties: the smallest variant key); a second variant marks the actor
``multiple``; a conversion before the exposure (or past a conversion metric's window) is ignored. The
bot side of an actor is its first exposure's session side: when a session changes side, the day
correction (analytics.sessions.correction) feeds the day's events back through ``consume`` and the
actors exposed in them are derived again, their rows moving to the side they are on now (the day
clear only drops the day's emptied aggregate rows). The actor's traffic source and device are its
first exposure's session's too, and its contributions are also kept per source and per device
(analytics.experiments.breakdowns). Retention expires actors exposed before the
rollup retention with their values and exposure days; erasure removes a person's rows and takes their
contributions out of the aggregates.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple
from uuid import UUID
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from analytics.experiments.breakdowns import (
    BREAKDOWN_CLEAR,
    BREAKDOWN_ERASE,
    BREAKDOWN_EXPIRY,
    UNKNOWN,
    BreakdownDeltas,
    breakdown_deltas,
    write_breakdowns,
)
from analytics.experiments.definitions import (
    Experiment,
    Metric,
    MetricKind,
    SessionFigure,
    load_metrics,
    started_experiments,
)
from analytics.experiments.recompute import PRE_PERIOD_DAYS, verify_experiments
from analytics.ingest.catalogue import CUSTOM, EXPOSURE
from analytics.rollups.aggregate import RawEvent, raw_event_columns, user_key
from analytics.rollups.consumers import Claim, Consumer
from analytics.sessions.stats import DURATION as SESSION_DURATION

EXPOSURES = ""  # the metric column of a variant's exposure row in experiment_variant_days


@dataclass(frozen=True)
class Actor:
    variant: str
    exposed_at: datetime
    day: date
    bot: bool
    multiple: bool
    source: str = UNKNOWN  # the first exposure's session's referrer class
    device: str = UNKNOWN  # and device type


class Origin(NamedTuple):
    """Where an event came from: its session's bot side, referrer class and device type now."""

    bot: bool
    source: str = UNKNOWN
    device: str = UNKNOWN


def metric_value(metric: Metric, event: RawEvent) -> float | None:
    """What one matching event adds to an actor's value: None when it adds nothing."""
    if metric.kind is MetricKind.SUM:
        found: Any = event.properties or {}
        for part in (metric.property or "").split("."):
            found = found.get(part) if isinstance(found, dict) else None
        if isinstance(found, bool) or not isinstance(found, (int, float)):
            return None
        return float(found)
    return 1.0


def counts_after(metric: Metric, exposed_at: datetime, at: datetime) -> bool:
    if at < exposed_at:
        return False
    return metric.window_hours is None or at <= exposed_at + timedelta(hours=metric.window_hours)


def exposure_of(experiments: dict[str, Experiment], event: RawEvent) -> tuple[Experiment, str] | None:
    """The experiment and variant of a counted exposure: a started experiment, live at the event's
    time, naming one of its variants; else None."""
    if event.type != EXPOSURE or not isinstance(event.properties, dict):
        return None
    experiment = experiments.get(str(event.properties.get("experiment")))
    variant = event.properties.get("variant")
    if (
        experiment is None
        or not experiment.live_at(event.occurred_at)
        or variant not in {v.key for v in experiment.variants}
    ):
        return None
    return experiment, str(variant)


Membership = list[tuple[datetime, datetime | None]]  # an actor's (valid_from, valid_to) in a segment


def member_at(spans: Membership, at: datetime) -> bool:
    """The segments' "as of" rule (analytics.segments.service.MEMBERS_AT_SQL)."""
    return any(start < at and (end is None or end >= at) for start, end in spans)


def derive(
    experiment: Experiment,
    metrics: dict[str, Metric],
    events: Iterable[tuple[RawEvent, Origin]],
    tz: ZoneInfo,
    membership: Membership | None = None,
    sessions: Mapping[UUID, SessionFacts] | None = None,
) -> tuple[Actor | None, dict[str, tuple[float, float]]]:
    """One actor's state in one experiment from all of its retained events: the first exposure (None
    when it has none) and each metric's value after it and in the 14 days before it (CUPED's
    covariate; kept when either is non-zero). With a targeting segment (``membership``: the
    actor's spans in it) only exposures while a member count. A SESSION metric sums its figure over
    the sessions (``sessions``: their facts by id) with a matching event after the exposure, and over
    those with one only in the 14 days before it."""
    events = list(events)
    seen = sorted(
        (event.occurred_at, found[1], origin)
        for event, origin in events
        if (found := exposure_of({experiment.key: experiment}, event)) is not None
        and (experiment.segment is None or member_at(membership or [], event.occurred_at))
    )
    if not seen:
        return None, {}
    at, variant, origin = seen[0]
    actor = Actor(
        variant,
        at,
        at.astimezone(tz).date(),
        origin.bot,
        len({v for _, v, _ in seen}) > 1,
        origin.source,
        origin.device,
    )
    values: dict[str, tuple[float, float]] = {}
    pre_from = at - timedelta(days=PRE_PERIOD_DAYS)
    for key in experiment.metric_keys:
        metric = metrics.get(key)
        if metric is None:
            continue
        if metric.kind is MetricKind.SESSION:
            value, pre = _session_value(metric, events, at, pre_from, sessions or {})
            if value != 0 or pre != 0:
                values[key] = (value, pre)
            continue
        after: list[float] = []
        before: list[float] = []
        for event, _ in events:
            if not metric.matcher.matches(event) or (added := metric_value(metric, event)) is None:
                continue
            if counts_after(metric, at, event.occurred_at):
                after.append(added)
            elif pre_from <= event.occurred_at < at:
                before.append(added)
        value, pre = _value(metric, after), _value(metric, before)
        if value != 0 or pre != 0:
            values[key] = (value, pre)
    return actor, values


class SessionFacts(NamedTuple):
    duration: float  # seconds from the session's first to its last event
    page_views: int


def _session_value(
    metric: Metric,
    events: list[tuple[RawEvent, Origin]],
    at: datetime,
    pre_from: datetime,
    sessions: Mapping[UUID, SessionFacts],
) -> tuple[float, float]:
    after: set[UUID] = set()
    before: set[UUID] = set()
    for event, _ in events:
        if (
            event.session_key is None
            or event.session_key not in sessions
            or not metric.matcher.matches(event)
        ):
            continue
        if event.occurred_at >= at:
            after.add(event.session_key)
        elif pre_from <= event.occurred_at:
            before.add(event.session_key)

    def figure(keys: set[UUID]) -> float:
        if metric.session_figure is SessionFigure.SESSIONS:
            return float(len(keys))
        if metric.session_figure is SessionFigure.DURATION:
            return float(sum(sessions[k].duration for k in sorted(keys)))
        return float(sum(sessions[k].page_views for k in keys))

    return figure(after), figure(before - after)


def _value(metric: Metric, added: list[float]) -> float:
    return (1.0 if added else 0.0) if metric.kind is MetricKind.CONVERSION else float(sum(added))


_LOAD_ACTORS = text(
    """
    SELECT a.experiment, a.actor, a.variant, a.exposed_at, a.day, a.bot, a.multiple, a.source, a.device
    FROM unnest(CAST(:experiments AS text[]), CAST(:actors AS text[])) AS k(experiment, actor)
    JOIN experiment_actors a ON a.tenant_id = :tenant AND a.experiment = k.experiment AND a.actor = k.actor
    """
)
_LOAD_VALUES = text(
    """
    SELECT v.experiment, v.metric, v.actor, v.value, v.pre
    FROM unnest(CAST(:experiments AS text[]), CAST(:actors AS text[])) AS k(experiment, actor)
    JOIN experiment_actor_values v ON v.tenant_id = :tenant AND v.experiment = k.experiment
        AND v.actor = k.actor
    """
)
# The retained events of some actors that can count for an experiment (exposures and the metrics'
# event names), each with its session's side, source and device now: by user id, else by anonymous id
# (two index scans).
_WHERE = (
    "e.tenant_id = :tenant AND e.occurred_at >= coalesce((SELECT raw_events_from FROM tenants "
    "WHERE id = :tenant), '-infinity') "
    "AND (e.type = ANY(:names) OR (e.type = :custom AND e.name = ANY(:names)))"
)
_SIDE = "LEFT JOIN sessions s ON s.tenant_id = e.tenant_id AND s.id = e.session_key"
_ORIGIN = (
    f"coalesce(s.excluded, false), coalesce(s.referrer_source, '{UNKNOWN}'), "
    f"coalesce(s.device_type, '{UNKNOWN}')"
)
_ACTOR_EVENTS = text(
    f"SELECT {raw_event_columns('e')}, {_ORIGIN} FROM events e {_SIDE} "
    f"WHERE {_WHERE} AND e.user_id = ANY(:users) "
    f"UNION ALL SELECT {raw_event_columns('e')}, {_ORIGIN} FROM events e {_SIDE} "
    f"WHERE {_WHERE} AND e.user_id IS NULL AND e.anonymous_id = ANY(:anonymous)"
)
# What a SESSION metric sums: the sessions' own duration (analytics.sessions.stats) and page views.
_SESSION_FACTS = text(
    f"SELECT id, ({SESSION_DURATION})::float8 AS duration, page_views FROM sessions "
    "WHERE tenant_id = :tenant AND id = ANY(CAST(:ids AS uuid[]))"
)
_MEMBERSHIPS = text(
    "SELECT segment_id, user_key, valid_from, valid_to FROM segment_members WHERE tenant_id = :tenant "
    "AND segment_id = ANY(:segments) AND user_key = ANY(:actors)"
)
_UPSERT_ACTORS = text(
    """
    INSERT INTO experiment_actors (tenant_id, experiment, actor, variant, exposed_at, day, bot, multiple,
        source, device)
    SELECT :tenant, * FROM unnest(
        CAST(:experiment AS text[]), CAST(:actor AS text[]), CAST(:variant AS text[]),
        CAST(:exposed_at AS timestamptz[]), CAST(:day AS date[]), CAST(:bot AS boolean[]),
        CAST(:multiple AS boolean[]), CAST(:source AS text[]), CAST(:device AS text[]))
    ON CONFLICT (tenant_id, experiment, actor) DO UPDATE SET variant = EXCLUDED.variant,
        exposed_at = EXCLUDED.exposed_at, day = EXCLUDED.day, bot = EXCLUDED.bot,
        multiple = EXCLUDED.multiple, source = EXCLUDED.source, device = EXCLUDED.device
    """
)
# Values of 0 after and before delete the row (only rows with a non-zero one are kept).
_WRITE_VALUES = text(
    """
    WITH k AS (SELECT * FROM unnest(CAST(:experiment AS text[]), CAST(:metric AS text[]),
                                    CAST(:actor AS text[]), CAST(:value AS float8[]), CAST(:pre AS float8[]))
                        AS k(e, m, a, v, p)),
    gone AS (DELETE FROM experiment_actor_values x USING k
             WHERE k.v = 0 AND k.p = 0 AND x.tenant_id = :tenant AND x.experiment = k.e AND x.metric = k.m
                 AND x.actor = k.a)
    INSERT INTO experiment_actor_values (tenant_id, experiment, metric, actor, value, pre)
    SELECT :tenant, e, m, a, v, p FROM k WHERE v <> 0 OR p <> 0
    ON CONFLICT (tenant_id, experiment, metric, actor) DO UPDATE SET value = EXCLUDED.value,
        pre = EXCLUDED.pre
    """
)
_UPSERT_DAYS = text(
    """
    INSERT INTO experiment_variant_days (tenant_id, experiment, metric, variant, day, bot, actors, multiple,
        conversions, total, total_sq, pre_total, pre_total_sq, cross_total)
    SELECT :tenant, * FROM unnest(
        CAST(:experiment AS text[]), CAST(:metric AS text[]), CAST(:variant AS text[]),
        CAST(:day AS date[]), CAST(:bot AS boolean[]), CAST(:actors AS bigint[]), CAST(:multiple AS bigint[]),
        CAST(:conversions AS bigint[]), CAST(:total AS float8[]), CAST(:total_sq AS float8[]),
        CAST(:pre_total AS float8[]), CAST(:pre_total_sq AS float8[]), CAST(:cross_total AS float8[]))
    ON CONFLICT (tenant_id, experiment, metric, variant, day, bot) DO UPDATE SET
        actors = experiment_variant_days.actors + EXCLUDED.actors,
        multiple = experiment_variant_days.multiple + EXCLUDED.multiple,
        conversions = experiment_variant_days.conversions + EXCLUDED.conversions,
        total = experiment_variant_days.total + EXCLUDED.total,
        total_sq = experiment_variant_days.total_sq + EXCLUDED.total_sq,
        pre_total = experiment_variant_days.pre_total + EXCLUDED.pre_total,
        pre_total_sq = experiment_variant_days.pre_total_sq + EXCLUDED.pre_total_sq,
        cross_total = experiment_variant_days.cross_total + EXCLUDED.cross_total
    """
)

Key = tuple[str, str]  # (experiment, actor)
DayKey = tuple[str, str, str, date, bool]  # (experiment, metric, variant, day, bot)


Values = dict[str, tuple[float, float]]  # metric -> (value after the exposure, value before)


def _contribute(
    deltas: dict[DayKey, list[float]],
    breakdowns: BreakdownDeltas,
    experiment: str,
    actor: Actor,
    values: Values,
    sign: int,
) -> None:
    breakdown_deltas(breakdowns, experiment, actor, {m: v for m, (v, _) in values.items()}, sign)
    row = deltas[(experiment, EXPOSURES, actor.variant, actor.day, actor.bot)]
    row[0] += sign
    row[1] += sign * actor.multiple
    for metric, (value, pre) in values.items():
        row = deltas[(experiment, metric, actor.variant, actor.day, actor.bot)]
        row[2] += sign * (value != 0)
        row[3] += sign * value
        row[4] += sign * value * value
        row[5] += sign * pre
        row[6] += sign * pre * pre
        row[7] += sign * value * pre


def _candidates(
    experiments: dict[str, Experiment], metrics: dict[str, Metric], claim: Claim
) -> tuple[set[Key], set[Key]]:
    """(experiment, actor) pairs the claim exposes, and those with a matching event (which change only
    when the actor is exposed already). A day correction only re-derives the exposed ones."""
    exposed: set[Key] = set()
    matched: set[Key] = set()
    for event in claim.events:
        if event.user_id is None and event.anonymous_id is None:
            continue
        who = user_key(event.user_id, event.anonymous_id)
        found = exposure_of(experiments, event)
        if found is not None:
            exposed.add((found[0].key, who))
        if claim.correcting:
            continue
        for experiment in experiments.values():
            # A session metric's sessions grow with any event of theirs: the actor is derived again.
            if (experiment.key, who) not in matched and any(
                (m := metrics.get(key)) is not None
                and (m.kind is MetricKind.SESSION or m.matcher.matches(event))
                for key in experiment.metric_keys
            ):
                matched.add((experiment.key, who))
    return exposed, matched - exposed


async def _consume(conn: AsyncConnection, claim: Claim) -> None:
    experiments = {e.key: e for e in await started_experiments(conn, claim.tenant_id)}
    if not experiments:
        return
    metrics = await load_metrics(
        conn, sorted({m for e in experiments.values() for m in e.metric_keys}), tenant_id=claim.tenant_id
    )
    tenant = claim.tenant_id
    exposed, matched = _candidates(experiments, metrics, claim)
    keys = sorted(exposed | matched)
    if not keys:
        return
    stored: dict[Key, Actor] = {
        (r.experiment, r.actor): Actor(r.variant, r.exposed_at, r.day, r.bot, r.multiple, r.source, r.device)
        for r in await conn.execute(
            _LOAD_ACTORS,
            {"tenant": tenant, "experiments": [k[0] for k in keys], "actors": [k[1] for k in keys]},
        )
    }
    keys = [k for k in keys if k in exposed or k in stored]
    if not keys:
        return
    old_values: dict[Key, Values] = defaultdict(dict)
    for r in await conn.execute(
        _LOAD_VALUES,
        {"tenant": tenant, "experiments": [k[0] for k in keys], "actors": [k[1] for k in keys]},
    ):
        old_values[(r.experiment, r.actor)][r.metric] = (float(r.value), float(r.pre))
    who = sorted({k[1] for k in keys})
    names = sorted({EXPOSURE} | {m.matcher.event for m in metrics.values()})
    by_actor: dict[str, list[tuple[RawEvent, Origin]]] = defaultdict(list)
    for row in await conn.execute(
        _ACTOR_EVENTS,
        {
            "tenant": tenant,
            "names": names,
            "custom": CUSTOM,
            "users": [k[2:] for k in who if k.startswith("u:")],
            "anonymous": [k[2:] for k in who if k.startswith("a:")],
        },
    ):
        event = RawEvent(*row[:-3])
        origin = Origin(bool(row[-3]), str(row[-2]), str(row[-1]))
        by_actor[user_key(event.user_id, event.anonymous_id)].append((event, origin))
    facts: dict[UUID, SessionFacts] = {}
    if any(m.kind is MetricKind.SESSION for m in metrics.values()):
        ids = sorted({e.session_key for seen in by_actor.values() for e, _ in seen if e.session_key})
        for r in await conn.execute(_SESSION_FACTS, {"tenant": tenant, "ids": ids}):
            facts[r.id] = SessionFacts(float(r.duration), int(r.page_views))
    segments = sorted({e.segment for e in experiments.values() if e.segment is not None})
    spans: dict[tuple[str, str], Membership] = defaultdict(list)
    if segments:
        for r in await conn.execute(_MEMBERSHIPS, {"tenant": tenant, "segments": segments, "actors": who}):
            spans[(r.segment_id, r.user_key)].append((r.valid_from, r.valid_to))
    deltas: dict[DayKey, list[float]] = defaultdict(lambda: [0, 0, 0, 0.0, 0.0, 0.0, 0.0, 0.0])
    breakdowns: BreakdownDeltas = defaultdict(lambda: [0, 0, 0.0, 0.0])
    actor_rows: list[tuple[Key, Actor]] = []
    value_rows: list[tuple[str, str, str, float, float]] = []
    gone: list[Key] = []
    for key in keys:
        experiment = experiments[key[0]]
        membership = spans.get((experiment.segment, key[1]), []) if experiment.segment else None
        actor, values = derive(experiment, metrics, by_actor.get(key[1], ()), claim.tz, membership, facts)
        before, before_values = stored.get(key), old_values.get(key, {})
        if actor == before and values == before_values:
            continue
        if before is not None:
            _contribute(deltas, breakdowns, key[0], before, before_values, -1)
        if actor is not None:
            _contribute(deltas, breakdowns, key[0], actor, values, 1)
            if actor != before:
                actor_rows.append((key, actor))
        elif before is not None:
            gone.append(key)
        for metric in sorted(set(values) | set(before_values)):
            if values.get(metric) != before_values.get(metric):
                value_rows.append((key[0], metric, key[1], *values.get(metric, (0.0, 0.0))))
    if actor_rows:
        await conn.execute(
            _UPSERT_ACTORS,
            {
                "tenant": tenant,
                "experiment": [k[0] for k, _ in actor_rows],
                "actor": [k[1] for k, _ in actor_rows],
                "variant": [a.variant for _, a in actor_rows],
                "exposed_at": [a.exposed_at for _, a in actor_rows],
                "day": [a.day for _, a in actor_rows],
                "bot": [a.bot for _, a in actor_rows],
                "multiple": [a.multiple for _, a in actor_rows],
                "source": [a.source for _, a in actor_rows],
                "device": [a.device for _, a in actor_rows],
            },
        )
    if gone:  # an actor whose exposures are no longer retained or counted
        await conn.execute(
            text(
                "DELETE FROM experiment_actors a USING unnest(CAST(:experiments AS text[]), "
                "CAST(:actors AS text[])) AS k(e, x) WHERE a.tenant_id = :tenant AND a.experiment = k.e "
                "AND a.actor = k.x"
            ),
            {"tenant": tenant, "experiments": [k[0] for k in gone], "actors": [k[1] for k in gone]},
        )
    value_rows.sort()
    if value_rows:
        await conn.execute(
            _WRITE_VALUES,
            {
                "tenant": tenant,
                "experiment": [r[0] for r in value_rows],
                "metric": [r[1] for r in value_rows],
                "actor": [r[2] for r in value_rows],
                "value": [r[3] for r in value_rows],
                "pre": [r[4] for r in value_rows],
            },
        )
    rows = sorted((k, v) for k, v in deltas.items() if any(v))
    if rows:
        await conn.execute(
            _UPSERT_DAYS,
            {
                "tenant": tenant,
                "experiment": [k[0] for k, _ in rows],
                "metric": [k[1] for k, _ in rows],
                "variant": [k[2] for k, _ in rows],
                "day": [k[3] for k, _ in rows],
                "bot": [k[4] for k, _ in rows],
                "actors": [int(v[0]) for _, v in rows],
                "multiple": [int(v[1]) for _, v in rows],
                "conversions": [int(v[2]) for _, v in rows],
                "total": [v[3] for _, v in rows],
                "total_sq": [v[4] for _, v in rows],
                "pre_total": [v[5] for _, v in rows],
                "pre_total_sq": [v[6] for _, v in rows],
                "cross_total": [v[7] for _, v in rows],
            },
        )
    await write_breakdowns(conn, tenant, breakdowns)


# A person's contributions out of the aggregates, then their rows (the erasure runs these in order,
# in one transaction: all or none).
_ERASE = (
    """
    WITH a AS (SELECT experiment, variant, day, bot, multiple FROM experiment_actors
               WHERE tenant_id = :tenant AND actor = :user_key),
    d AS (SELECT experiment, '' AS metric, variant, day, bot, 1 AS actors, multiple::int AS multiple,
                 0 AS conversions, 0::float8 AS total, 0::float8 AS total_sq, 0::float8 AS pre,
                 0::float8 AS pre_sq, 0::float8 AS cross_total FROM a
          UNION ALL
          SELECT a.experiment, v.metric, a.variant, a.day, a.bot, 0, 0, (v.value <> 0)::int, v.value,
                 v.value * v.value, v.pre, v.pre * v.pre, v.value * v.pre
          FROM experiment_actor_values v JOIN a USING (experiment)
          WHERE v.tenant_id = :tenant AND v.actor = :user_key)
    UPDATE experiment_variant_days t SET actors = t.actors - d.actors, multiple = t.multiple - d.multiple,
        conversions = t.conversions - d.conversions, total = t.total - d.total,
        total_sq = t.total_sq - d.total_sq, pre_total = t.pre_total - d.pre,
        pre_total_sq = t.pre_total_sq - d.pre_sq, cross_total = t.cross_total - d.cross_total
    FROM d WHERE t.tenant_id = :tenant AND t.experiment = d.experiment AND t.metric = d.metric
        AND t.variant = d.variant AND t.day = d.day AND t.bot = d.bot
    """,
    BREAKDOWN_ERASE,
    "DELETE FROM experiment_actor_values WHERE tenant_id = :tenant AND actor = :user_key",
    "DELETE FROM experiment_actors WHERE tenant_id = :tenant AND actor = :user_key",
)

EXPERIMENTS = Consumer(
    "experiments",
    _consume,
    verify_experiments,
    # Not a re-fold of the day's rows: the actors exposed that day are derived again (above); the
    # clear only drops the day's aggregate rows left empty by earlier moves.
    day_clears=(
        "DELETE FROM experiment_variant_days WHERE tenant_id = :tenant AND day = :day AND actors = 0 "
        "AND multiple = 0 AND conversions = 0 AND round(total::numeric, 6) = 0 "
        "AND round(total_sq::numeric, 6) = 0 AND round(pre_total::numeric, 6) = 0 "
        "AND round(pre_total_sq::numeric, 6) = 0 AND round(cross_total::numeric, 6) = 0",
        BREAKDOWN_CLEAR,
    ),
    expiry={
        "experiment_actor_values": "DELETE FROM experiment_actor_values v USING experiment_actors a "
        "WHERE v.tenant_id = :tenant AND a.tenant_id = :tenant AND a.experiment = v.experiment "
        "AND a.actor = v.actor AND a.exposed_at < (SELECT at FROM kept)",
        "experiment_actors": "DELETE FROM experiment_actors WHERE tenant_id = :tenant "
        "AND exposed_at < (SELECT at FROM kept)",
        "experiment_variant_days": "DELETE FROM experiment_variant_days WHERE tenant_id = :tenant "
        "AND day < (SELECT day FROM kept)",
        **BREAKDOWN_EXPIRY,
    },
    tables=(
        "experiment_actors",
        "experiment_actor_values",
        "experiment_variant_days",
        "experiment_breakdown_days",
    ),
    erase=_ERASE,
)
