"""One read transaction per request: a batched document answers what its fields answer one by one,
and the resolvers of a request share one transaction (one tenant scope) that survives a failing one."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.tenants.service import KeyKind, Principal
from api.context import Context
from tests.api.test_tours import DEFINE, STEPS, TOUR, journeys_a
from tests.conftest import GraphQLClient, TenantKeys

RANGE = '{from: "2025-10-24", to: "2025-10-28"}'
# Fields of one dashboard, each under its own alias: tour figures (through the request's DataLoader and
# plain resolvers), the tenant's overview and tour list, and a field that fails (a bad argument).
FIELDS = {
    "report": f"""tour(id: "{TOUR}") {{ title steps {{ index title }}
        stats(range: {RANGE}, compare: PREVIOUS_PERIOD) {{ starts completions stepViews targetFailures
          excludedAsBots previous {{ starts }} }}
        series(range: {RANGE}, granularity: DAY) {{ points {{ date starts completions stepViews }} }}
        funnel(range: {RANGE}) {{ steps {{ index users dropOff }} }}
        userStatus(range: {RANGE}) {{ started completed dismissed inProgress }}
        selectorHealth(range: {RANGE}) {{ selectors {{ selector failures }} }} }}""",
    "other": f"""tour(id: "tour_b2") {{ stats(range: {RANGE}) {{ starts completions }} }}""",
    "missing": f"""tour(id: "no-such-tour") {{ stats(range: {RANGE}) {{ starts }} }}""",
    "overview": f"""overview(range: {RANGE}) {{ activeTours starts completions combinedCompletionRate
        totals {{ starts }} sessions {{ sessions }} topSources {{ sessions visitors }} }}""",
    "tourSeries": f"""tourSeries(range: {RANGE}) {{ points {{ date starts }} }}""",
    "tours": """tours(first: 5) { edges { node { id } } }""",
    "failing": f"""tour(id: "{TOUR}") {{
        selectorHealth(range: {RANGE}, limit: 501) {{ selectors {{ selector }} }} }}""",
}


@pytest.fixture
async def loaded(gql: GraphQLClient, make_tenant: Any, run_worker: Any) -> TenantKeys:
    tenant = await make_tenant(timezone="Europe/Berlin")
    await gql.data(tenant.secret, DEFINE, {"input": {"id": TOUR, "title": "Onboarding", "steps": STEPS}})
    events = journeys_a()
    assert (await gql.track(tenant.publishable, events))["accepted"] == len(events)
    await run_worker()
    return tenant


def _document(aliases: list[str]) -> str:
    return "{ tenant { " + " ".join(f"{alias}: {FIELDS[alias]}" for alias in aliases) + " } }"


async def test_a_batched_document_answers_what_each_field_answers_alone(
        gql: GraphQLClient, loaded: TenantKeys) -> None:
    alone: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for alias in FIELDS:
        body = await gql(loaded.secret, _document([alias]))
        alone[alias] = body["data"]["tenant"][alias] if body.get("data") else None
        errors[alias] = [e["message"] for e in body.get("errors", [])]
    # The fields answer something worth comparing: exact figures of test_tours' journeys.
    assert alone["report"]["stats"]["starts"] == 6 and alone["report"]["stats"]["previous"]["starts"] == 0
    assert [p["starts"] for p in alone["report"]["series"]["points"]] == [0, 2, 2, 2, 0]
    assert alone["other"]["stats"] == {"starts": 1, "completions": 1}
    assert alone["missing"] is None
    assert alone["failing"] is None and errors["failing"] and not any(
        errors[a] for a in FIELDS if a != "failing")

    batched = await gql(loaded.secret, _document(list(FIELDS)))
    assert "data" in batched, batched
    assert batched["data"]["tenant"] == alone
    assert sorted(e["message"] for e in batched["errors"]) == errors["failing"]
    # Twice more in one request, in another order: the same again.
    again = await gql(loaded.secret, _document(list(reversed(FIELDS))))
    assert again["data"]["tenant"] == alone


def _context(engine: AsyncEngine, tenant_id: int) -> Context:
    resources = SimpleNamespace(engine=engine, settings=SimpleNamespace(statement_timeout_ms=5000))
    principal = Principal(tenant_id, KeyKind.SECRET, ZoneInfo("UTC"), 3650)
    return Context(request=cast(Any, None), resources=cast(Any, resources), principal=principal)


STATE = text("SELECT pg_backend_pid() AS pid, now() AS began, "
             "current_setting('analytics.tenant_id', true) AS tenant, "
             "current_setting('statement_timeout') AS timeout")


async def test_resolvers_of_one_request_share_one_scoped_transaction(
        app_engine: AsyncEngine, make_tenant: Any) -> None:
    tenant = await make_tenant()
    context = _context(app_engine, tenant.id)

    async def resolver() -> Any:
        async with context.read() as conn:
            first = (await conn.execute(STATE)).one()
            await asyncio.sleep(0)  # let the others queue on the connection
            async with context.read() as nested:  # a helper of the same resolver reads too
                assert nested is conn
                assert (await nested.execute(STATE)).one() == first
            return first

    seen = await asyncio.gather(*(resolver() for _ in range(5)))
    assert len(set(seen)) == 1  # one backend, one transaction (now() is its start), one scope
    assert (seen[0].tenant, seen[0].timeout) == (str(tenant.id), "5s")
    await context.close()

    # The next request's context opens its own transaction.
    later = _context(app_engine, tenant.id)
    async with later.read() as conn:
        assert (await conn.execute(STATE)).one().began > seen[0].began
    await later.close()


async def test_the_fields_of_one_request_read_one_snapshot(
        app_engine: AsyncEngine, owner_engine: AsyncEngine, make_tenant: Any) -> None:
    """A rollup that commits between two fields' statements does not show in the second: the request
    reads one snapshot (sessions and returning visitors, say, never disagree)."""
    tenant = await make_tenant()
    count = text("SELECT count(*) FROM dirty_days WHERE tenant_id = :t")
    context = _context(app_engine, tenant.id)
    async with context.read() as conn:
        before = (await conn.execute(count, {"t": tenant.id})).scalar_one()
    async with owner_engine.begin() as writer:  # another transaction commits meanwhile
        await writer.execute(text("INSERT INTO dirty_days (tenant_id, day) VALUES (:t, '2025-01-01')"),
                             {"t": tenant.id})
    async with context.read() as conn:
        assert (await conn.execute(count, {"t": tenant.id})).scalar_one() == before
    await context.close()
    later = _context(app_engine, tenant.id)
    async with later.read() as conn:  # the next request sees it
        assert (await conn.execute(count, {"t": tenant.id})).scalar_one() == before + 1
    await later.close()


async def test_a_failing_resolver_does_not_poison_the_others(app_engine: AsyncEngine, make_tenant: Any) -> None:
    tenant = await make_tenant()
    context = _context(app_engine, tenant.id)
    async with context.read() as conn:
        before = (await conn.execute(STATE)).one()
    with pytest.raises(DBAPIError):
        async with context.read() as conn:
            await conn.execute(text("SELECT 1 / 0"))
    async with context.read() as conn:  # a fresh transaction, scoped again
        after = (await conn.execute(STATE)).one()
    assert after.tenant == str(tenant.id) and after.began > before.began
    await context.close()
    await context.close()  # nothing left to end


async def test_a_resolver_still_running_after_close_reads_in_its_own_transaction(
        app_engine: AsyncEngine, make_tenant: Any) -> None:
    """graphql-core returns once a non-null field fails, while a sibling may still be running: the view
    has closed the shared transaction, so a read after it must not open one nobody ends (a pooled
    connection left checked out)."""
    tenant = await make_tenant()
    context = _context(app_engine, tenant.id)
    await context.close()
    checked_out = app_engine.pool.checkedout()  # type: ignore[attr-defined]
    async with context.read() as conn:
        assert (await conn.execute(STATE)).one().tenant == str(tenant.id)
    assert app_engine.pool.checkedout() == checked_out  # type: ignore[attr-defined]
