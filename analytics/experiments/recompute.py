"""The experiments' tables recomputed from the raw events in SQL, independently of the worker's fold
(analytics.experiments.aggregates): ``analytics rollups verify`` compares them, and the backfill of a
metric added to a running experiment writes them.

The first exposure of an actor is its earliest (ties: the smallest variant, then session side, source
and device, as the worker's derivation sorts them); its bot side, traffic source and device are its
session's now.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from analytics.experiments.breakdowns import NONZERO, UNKNOWN
from analytics.experiments.definitions import (
    Experiment,
    Metric,
    MetricKind,
    SessionFigure,
    load_metrics,
    started_experiments,
)
from analytics.ingest.catalogue import CUSTOM, EXPOSURE
from analytics.matchers import _FIELDS, Matcher, Op
from analytics.rollups.consumers import KEPT, Difference
from analytics.sessions.stats import DURATION as SESSION_DURATION

PRE_PERIOD_DAYS = 14  # CUPED's covariate window before the exposure (the consumer's, too)
_ACTOR = "coalesce('u:' || e.user_id, 'a:' || e.anonymous_id)"
_NUMERIC_SQL = {Op.GT: ">", Op.GTE: ">=", Op.LT: "<", Op.LTE: "<="}


class _Params:
    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def add(self, value: Any) -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return f":{name}"


def _json_at(path: str, params: _Params) -> str:
    if path in _FIELDS:
        return f"to_jsonb(e.{_FIELDS[path]})"
    return f"(e.properties #> CAST({params.add(path.split('.'))} AS text[]))"


def matcher_sql(matcher: Matcher, params: _Params) -> str:
    """The matcher as a condition on ``events e`` (analytics.matchers says what each part means)."""
    name = params.add(matcher.event)
    parts = [f"(e.type = {name} OR (e.type = '{CUSTOM}' AND e.name = {name}))"]
    for condition in matcher.conditions:
        found = _json_at(condition.property, params)
        value = params.add(orjson.dumps(condition.value).decode())
        if condition.op is Op.EQ:
            parts.append(f"{found} = CAST({value} AS jsonb)")
        elif condition.op is Op.NEQ:
            parts.append(f"({found} IS NULL OR {found} <> CAST({value} AS jsonb))")
        elif condition.op is Op.IN:
            parts.append(f"{found} IN (SELECT jsonb_array_elements(CAST({value} AS jsonb)))")
        else:
            parts.append(
                f"(jsonb_typeof({found}) = 'number' AND ({found})::float8 "
                f"{_NUMERIC_SQL[condition.op]} CAST({value} AS float8))"
            )
    return " AND ".join(parts)


def _actors_sql(experiment: Experiment, params: _Params) -> str:
    key = params.add(experiment.key)
    targeted = ""
    if experiment.segment is not None:  # members at the exposure (the segments' "as of" rule)
        targeted = (
            "AND EXISTS (SELECT 1 FROM segment_members m WHERE m.tenant_id = e.tenant_id "
            f"AND m.segment_id = {params.add(experiment.segment)} AND m.user_key = {_ACTOR} "
            "AND m.valid_from < e.occurred_at AND (m.valid_to IS NULL OR m.valid_to >= e.occurred_at))"
        )
    return f"""
        SELECT DISTINCT ON (actor) CAST({key} AS text) AS experiment, actor, variant,
            occurred_at AS exposed_at,
            (occurred_at AT TIME ZONE (SELECT timezone FROM kept))::date AS day, bot,
            min(variant) OVER (PARTITION BY actor) <> max(variant) OVER (PARTITION BY actor) AS multiple,
            source, device
        FROM (SELECT {_ACTOR} AS actor, e.properties ->> 'variant' AS variant, e.occurred_at,
                     coalesce(s.excluded, false) AS bot,
                     coalesce(s.referrer_source, '{UNKNOWN}') AS source,
                     coalesce(s.device_type, '{UNKNOWN}') AS device
              FROM events e LEFT JOIN sessions s ON s.tenant_id = e.tenant_id AND s.id = e.session_key
              WHERE e.tenant_id = :tenant AND e.type = '{EXPOSURE}' AND e.properties ->> 'experiment' = {key}
                AND e.properties ->> 'variant' = ANY(CAST({params.add([v.key for v in experiment.variants])}
                                                         AS text[]))
                AND e.occurred_at >= {params.add(experiment.started_at)}
                AND e.occurred_at < coalesce(CAST({params.add(experiment.stopped_at)} AS timestamptz),
                                             'infinity')
                AND e.occurred_at >= (SELECT at FROM kept)
                AND (e.user_id IS NOT NULL OR e.anonymous_id IS NOT NULL) {targeted}) x
        ORDER BY actor, occurred_at, variant COLLATE "C", bot, source COLLATE "C", device COLLATE "C\""""


def _session_values_sql(experiment_index: int, metric: Metric, params: _Params) -> str:
    """A SESSION metric: its figure summed over each actor's sessions with a matching event after the
    exposure, and over those with one only in the 14 days before it."""
    figure = {
        SessionFigure.SESSIONS: "1.0::float8",
        SessionFigure.DURATION: f"({SESSION_DURATION})::float8",
        SessionFigure.PAGE_VIEWS: "s.page_views::float8",
    }[metric.session_figure or SessionFigure.SESSIONS]
    return f"""
        SELECT * FROM (
        SELECT x.experiment, CAST({params.add(metric.key)} AS text) AS metric, x.actor,
               coalesce(sum({figure}) FILTER (WHERE x.after), 0)::float8 AS value,
               coalesce(sum({figure}) FILTER (WHERE NOT x.after), 0)::float8 AS pre
        FROM (SELECT a.experiment, a.actor, m.session_key, bool_or(m.occurred_at >= a.exposed_at) AS after
              FROM a{experiment_index} a
              JOIN (SELECT {_ACTOR} AS actor, e.occurred_at, e.session_key FROM events e
                    WHERE e.tenant_id = :tenant AND (e.user_id IS NOT NULL OR e.anonymous_id IS NOT NULL)
                      AND e.session_key IS NOT NULL AND {matcher_sql(metric.matcher, params)}) m
                ON m.actor = a.actor
                    AND m.occurred_at >= a.exposed_at - make_interval(days => {PRE_PERIOD_DAYS})
              GROUP BY 1, 2, 3) x
        JOIN sessions s ON s.tenant_id = :tenant AND s.id = x.session_key
        GROUP BY x.experiment, x.actor) z WHERE value <> 0 OR pre <> 0"""


def _values_sql(experiment_index: int, experiment: Experiment, metric: Metric, params: _Params) -> str:
    """One metric's value per exposed actor after the exposure and in the 14 days before it (the
    matching events found once, then joined to the exposures by actor: a hash join, not a scan of the
    events per actor); rows where either is non-zero."""
    if metric.kind is MetricKind.SESSION:
        return _session_values_sql(experiment_index, metric, params)
    after = "m.occurred_at >= a.exposed_at"
    if metric.window_hours is not None:
        hours = params.add(metric.window_hours)
        after += f" AND m.occurred_at <= a.exposed_at + make_interval(hours => {hours})"
    before = "m.occurred_at < a.exposed_at"
    found, only = "1.0::float8", ""
    if metric.kind is MetricKind.SUM:
        at = f"(e.properties #> CAST({params.add((metric.property or '').split('.'))} AS text[]))"
        found, only = f"({at})::float8", f"AND jsonb_typeof({at}) = 'number'"

    def value(where: str) -> str:
        if metric.kind is MetricKind.SUM:
            return f"coalesce(sum(m.v) FILTER (WHERE {where}), 0)::float8"
        if metric.kind is MetricKind.COUNT:
            return f"(count(*) FILTER (WHERE {where}))::float8"
        return f"CASE WHEN count(*) FILTER (WHERE {where}) > 0 THEN 1.0 ELSE 0.0 END::float8"

    return f"""
        SELECT * FROM (
        SELECT a.experiment, CAST({params.add(metric.key)} AS text) AS metric, a.actor,
               {value(after)} AS value, {value(before)} AS pre
        FROM a{experiment_index} a
        JOIN (SELECT {_ACTOR} AS actor, e.occurred_at, {found} AS v FROM events e
              WHERE e.tenant_id = :tenant AND (e.user_id IS NOT NULL OR e.anonymous_id IS NOT NULL) {only}
                AND {matcher_sql(metric.matcher, params)}) m
          ON m.actor = a.actor AND m.occurred_at >= a.exposed_at - make_interval(days => {PRE_PERIOD_DAYS})
        GROUP BY a.experiment, a.actor) z WHERE value <> 0 OR pre <> 0"""


def recomputation(experiments: list[Experiment], metrics: dict[str, Metric]) -> tuple[str, dict[str, Any]]:
    """CTEs (after ``kept``) ending in ``want_actors``, ``want_values`` and ``want_days``, with parameters."""
    params = _Params()
    ctes = [f"a{i} AS ({_actors_sql(e, params)})" for i, e in enumerate(experiments)]
    actors = " UNION ALL ".join(f"SELECT * FROM a{i}" for i in range(len(experiments))) or (
        "SELECT NULL::text, NULL::text, NULL::text, NULL::timestamptz, NULL::date, NULL::boolean, "
        "NULL::boolean, NULL::text, NULL::text WHERE false"
    )
    values = (
        " UNION ALL ".join(
            _values_sql(i, e, metrics[m], params)
            for i, e in enumerate(experiments)
            for m in e.metric_keys
            if m in metrics
        )
        or "SELECT NULL::text, NULL::text, NULL::text, NULL::float8, NULL::float8 WHERE false"
    )
    ctes.append(
        "want_actors (experiment, actor, variant, exposed_at, day, bot, multiple, source, device) "
        f"AS ({actors})"
    )
    ctes.append(f"want_values (experiment, metric, actor, value, pre) AS ({values})")
    ctes.append("""want_days AS (
        SELECT experiment, '' AS metric, variant, day, bot, count(*) AS actors,
               count(*) FILTER (WHERE multiple) AS multiple, 0::bigint AS conversions,
               0::float8 AS total, 0::float8 AS total_sq, 0::float8 AS pre_total, 0::float8 AS pre_total_sq,
               0::float8 AS cross_total
        FROM want_actors GROUP BY 1, 2, 3, 4, 5
        UNION ALL
        SELECT a.experiment, v.metric, a.variant, a.day, a.bot, 0, 0, count(*) FILTER (WHERE v.value <> 0),
               sum(v.value), sum(v.value * v.value), sum(v.pre), sum(v.pre * v.pre), sum(v.value * v.pre)
        FROM want_values v JOIN want_actors a USING (experiment, actor) GROUP BY 1, 2, 3, 4, 5)""")
    dims = "CROSS JOIN LATERAL (VALUES ('SOURCE', a.source), ('DEVICE', a.device)) AS d(dimension, value)"
    ctes.append(f"""want_breakdowns AS (SELECT * FROM (
        SELECT a.experiment, d.dimension, '' AS metric, d.value, a.variant, a.day, a.bot, count(*) AS actors,
               0::bigint AS conversions, 0::float8 AS total, 0::float8 AS total_sq
        FROM want_actors a {dims} GROUP BY 1, 2, 3, 4, 5, 6, 7
        UNION ALL
        SELECT a.experiment, d.dimension, v.metric, d.value, a.variant, a.day, a.bot, 0,
               count(*) FILTER (WHERE v.value <> 0), sum(v.value), sum(v.value * v.value)
        FROM want_values v JOIN want_actors a USING (experiment, actor) {dims}
        GROUP BY 1, 2, 3, 4, 5, 6, 7) z WHERE {NONZERO})""")
    return f"WITH {KEPT}, " + ",\n".join(ctes), params.values


_DAY_COLUMNS = (
    "experiment, metric, variant, day, bot, actors, multiple, conversions, "
    "round(total::numeric, 6), round(total_sq::numeric, 6), round(pre_total::numeric, 6), "
    "round(pre_total_sq::numeric, 6), round(cross_total::numeric, 6)"
)
_BREAKDOWN_COLUMNS = (
    "experiment, dimension, metric, value, variant, day, bot, actors, conversions, "
    "round(total::numeric, 6), round(total_sq::numeric, 6)"
)
_CHECKS = {
    "experiment_actors": (
        "SELECT experiment, actor, variant, exposed_at, day, bot, multiple, source, device FROM want_actors",
        "SELECT experiment, actor, variant, exposed_at, day, bot, multiple, source, device FROM "
        "experiment_actors WHERE tenant_id = :tenant AND experiment = ANY(:keys) "
        "AND exposed_at >= (SELECT at FROM kept)",
    ),
    "experiment_actor_values": (
        "SELECT experiment, metric, actor, round(value::numeric, 6), round(pre::numeric, 6) FROM want_values",
        "SELECT v.experiment, v.metric, v.actor, round(v.value::numeric, 6), round(v.pre::numeric, 6) "
        "FROM experiment_actor_values v JOIN experiment_actors a USING "
        "(tenant_id, experiment, actor) WHERE v.tenant_id = :tenant AND "
        "v.experiment = ANY(:keys) AND (v.value <> 0 OR v.pre <> 0) "
        "AND a.exposed_at >= (SELECT at FROM kept)",
    ),
    "experiment_variant_days": (
        f"SELECT {_DAY_COLUMNS} FROM want_days",
        f"SELECT {_DAY_COLUMNS} FROM experiment_variant_days WHERE tenant_id = :tenant "
        "AND experiment = ANY(:keys) AND day >= (SELECT day FROM kept) "
        "AND (actors <> 0 OR multiple <> 0 OR conversions <> 0 OR round(total::numeric, 6) <> 0 "
        "OR round(pre_total::numeric, 6) <> 0 OR round(cross_total::numeric, 6) <> 0)",
    ),
    "experiment_breakdown_days": (
        f"SELECT {_BREAKDOWN_COLUMNS} FROM want_breakdowns",
        f"SELECT {_BREAKDOWN_COLUMNS} FROM experiment_breakdown_days WHERE tenant_id = :tenant "
        f"AND experiment = ANY(:keys) AND day >= (SELECT day FROM kept) AND {NONZERO}",
    ),
}


async def verify_experiments(conn: AsyncConnection, tenant_id: int) -> list[Difference]:
    experiments = await started_experiments(conn, tenant_id)
    metrics = await load_metrics(
        conn, sorted({m for e in experiments for m in e.metric_keys}), tenant_id=tenant_id
    )
    ctes, params = recomputation(experiments, metrics)
    params.update(tenant=tenant_id, keys=[e.key for e in experiments])
    found = []
    for table, (want, have) in _CHECKS.items():
        sql = (
            f"{ctes}, want AS ({want}), have AS ({have}) SELECT "
            "(SELECT count(*) FROM (SELECT * FROM want EXCEPT ALL SELECT * FROM have) m), "
            "(SELECT count(*) FROM (SELECT * FROM have EXCEPT ALL SELECT * FROM want) x)"
        )
        missing, extra = (await conn.execute(text(sql), params)).one()
        if missing or extra:
            found.append(Difference(table, int(missing), int(extra)))
    return found


async def rebuild_experiment(conn: AsyncConnection, tenant_id: int, experiment: Experiment) -> int:
    """Replace one experiment's actors, values and aggregates by the recomputation from the retained raw
    events (a metric added to a running experiment). Call under the tenant's rollup lock. Returns actors."""
    metrics = await load_metrics(conn, list(experiment.metric_keys), tenant_id=tenant_id)
    ctes, params = recomputation([experiment], metrics)
    params.update(tenant=tenant_id, key=experiment.key)
    # A batch job over every exposure: joins by actor should hash, whatever the estimates say.
    await conn.execute(text("SET LOCAL enable_nestloop = off"))
    for table in (
        "experiment_breakdown_days",
        "experiment_variant_days",
        "experiment_actor_values",
        "experiment_actors",
    ):
        await conn.execute(
            text(f"DELETE FROM {table} WHERE tenant_id = :tenant AND experiment = :key"),
            {"tenant": tenant_id, "key": experiment.key},
        )
    await conn.execute(
        text(
            f"{ctes} INSERT INTO experiment_actors (tenant_id, experiment, actor, variant, "
            "exposed_at, day, bot, multiple, source, device) SELECT :tenant, * FROM want_actors"
        ),
        params,
    )
    await conn.execute(
        text(
            f"{ctes} INSERT INTO experiment_actor_values (tenant_id, experiment, metric, "
            "actor, value, pre) SELECT :tenant, * FROM want_values"
        ),
        params,
    )
    result = await conn.execute(
        text(
            f"{ctes} INSERT INTO experiment_variant_days (tenant_id, experiment, metric, variant, day, bot, "
            "actors, multiple, conversions, total, total_sq, pre_total, pre_total_sq, cross_total) "
            "SELECT :tenant, * FROM want_days"
        ),
        params,
    )
    await conn.execute(
        text(
            f"{ctes} INSERT INTO experiment_breakdown_days (tenant_id, experiment, dimension, metric, value, "
            "variant, day, bot, actors, conversions, total, total_sq) SELECT :tenant, * FROM want_breakdowns"
        ),
        params,
    )
    return int(result.rowcount or 0)
