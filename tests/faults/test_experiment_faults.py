"""Experiment aggregates under worker SIGKILLs: exposures arrive while the rollup folds tour events
that are the experiment's conversions (half of the exposures only after the first kill, so many
conversions are processed before their exposure); afterwards the experiment's tables equal the
recomputation from raw events (verify_rollups runs the experiments consumer's check) and every
exposed person is counted once."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from typing import Any

import pytest

from tests.faults.harness import (
    DAY,
    RetryingClient,
    Stack,
    Tally,
    http_client,
    kill_working_worker,
    make_tenant,
    scalar,
    scale,
    settle_and_check,
    sustained_ingest,
)
from tests.faults.test_faults import stack, worker_running  # noqa: F401  (the same stack fixtures)

pytestmark = pytest.mark.faults

METRIC = "mutation($input: DefineMetricInput!) { defineMetric(input: $input) { key } }"
DEFINE = "mutation($input: DefineExperimentInput!) { defineExperiment(input: $input) { key status } }"
PEOPLE = 500  # tour_events' users: user-0 .. user-499


def exposures(people: range, rng: random.Random) -> list[dict[str, Any]]:
    return [{"id": str(uuid.uuid4()), "type": "ExperimentExposure", "userId": f"user-{i}",
             "timestamp": f"{DAY}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:00Z",
             "properties": {"experiment": "tour-copy", "variant": ("control", "short")[i % 2]}}
            for i in people]


async def _graph(http: Any, stack: Stack, secret: str, query: str, body: dict[str, Any]) -> None:  # noqa: F811
    answer = await http.post(f"{stack.api_url}/graphql", json={"query": query, "variables": {"input": body}},
                             headers={"Authorization": f"Bearer {secret}"})
    assert "errors" not in answer.json(), answer.text


async def test_experiment_aggregates_after_the_worker_is_killed_equal_the_recomputation(
        stack: Stack) -> None:  # noqa: F811
    kills, started = scale(1, 10), time.monotonic()
    tenant, tally, rng = await make_tenant(stack), Tally(), random.Random(41)
    stop = asyncio.Event()
    async with http_client() as http, stack.owner() as engine:
        for metric in ({"key": "completed", "kind": "CONVERSION", "matcher": {"event": "TourCompleted"}},
                       {"key": "steps", "kind": "COUNT", "matcher": {"event": "StepViewed"}}):
            await _graph(http, stack, tenant.secret, METRIC, metric)
        await _graph(http, stack, tenant.secret, DEFINE, {
            "key": "tour-copy", "variants": [{"key": "control", "control": True}, {"key": "short"}],
            "primaryMetric": "completed", "secondaryMetrics": ["steps"], "status": "RUNNING",
            "plannedStart": "2025-05-01T00:00:00Z"})
        client = RetryingClient(http, stack.api_url, tenant.publishable, tally)
        await client.send(exposures(range(0, PEOPLE, 2), rng))
        ingest = asyncio.create_task(sustained_ingest(client, rng, stop, max_batches=scale(100, 2000)))
        try:
            for kill in range(kills):
                await kill_working_worker(stack, engine, tenant.id, rng)
                stack.worker.start()
                if kill == 0:  # the other half, after their conversions began to be folded
                    await client.send(exposures(range(1, PEOPLE, 2), rng))
        finally:
            stop.set()
            await asyncio.wait_for(ingest, 120)
        summary = await settle_and_check(stack, tenant, tally, http, fault=f"experiment: worker SIGKILLed {kills} "
                                         "times", started=started, notes="an experiment running")
        actors = await scalar(engine, "SELECT count(*) FROM experiment_actors WHERE tenant_id = :t", t=tenant.id)
        exposed = await scalar(engine, "SELECT coalesce(sum(actors), 0) FROM experiment_variant_days "
                                       "WHERE tenant_id = :t AND metric = ''", t=tenant.id)
        converted = await scalar(engine, "SELECT coalesce(sum(conversions), 0) FROM experiment_variant_days "
                                         "WHERE tenant_id = :t AND metric = 'completed'", t=tenant.id)
    assert actors == exposed == PEOPLE
    assert converted > 0
    summary.assert_exactly_once()  # counters_equal covers the experiment tables against the recomputation
