"""A GET answered before is answered 304 without running while the tenant's data version is unchanged;
a rollup (or a mutation) changes the version, so the next GET runs and carries the new answer and ETag."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import GraphQLClient, TenantKeys, event

TOUR = "tour-etag"
STARTS = f'{{ tenant {{ tour(id: "{TOUR}") {{ stats(range: {{from: "2025-05-01", to: "2025-05-02"}}) {{ starts }} }} }} }}'


async def _get(gql: GraphQLClient, tenant: TenantKeys, etag: str | None = None) -> tuple[int, str, Any]:
    headers = {"Authorization": f"Bearer {tenant.secret}", "Accept": "application/json"}
    if etag:
        headers["If-None-Match"] = etag
    response = await gql.http.get(f"{gql.url}/graphql", params={"query": STARTS}, headers=headers)
    body = response.json() if response.status_code == 200 else None
    starts = body["data"]["tenant"]["tour"]["stats"]["starts"] if body else None
    return response.status_code, response.headers["etag"], starts


async def _track(gql: GraphQLClient, tenant: TenantKeys, users: list[str], run_worker: Any) -> None:
    events = [event("TourStarted", "2025-05-01T10:00:00Z", user, tourId=TOUR) for user in users]
    assert (await gql.track(tenant.publishable, events))["accepted"] == len(users)
    await run_worker()


async def test_a_304_runs_nothing_until_a_rollup_changes_the_data_version(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any, owner_engine: AsyncEngine) -> None:
    tenant = await make_tenant()
    await _track(gql, tenant, ["u1", "u2"], run_worker)
    for _ in range(3):  # the remembered answer is per minute: start again if one ends in between
        minute = time.time() // 60
        status, first, starts = await _get(gql, tenant)
        assert (status, starts) == (200, 2)
        # Counters changed behind the API's back (nothing bumps the version): a request that ran would
        # answer 7 with another ETag; the 304 shows the query did not run.
        async with owner_engine.begin() as conn:
            await conn.execute(text("UPDATE counters_daily SET value = value + 5 WHERE tenant_id = :t "
                                    "AND metric = 'starts' AND NOT bot"), {"t": tenant.id})
        not_modified = await _get(gql, tenant, first)
        if time.time() // 60 == minute:
            break
        async with owner_engine.begin() as conn:  # undo, and try within one minute
            await conn.execute(text("UPDATE counters_daily SET value = value - 5 WHERE tenant_id = :t "
                                    "AND metric = 'starts' AND NOT bot"), {"t": tenant.id})
    assert not_modified == (304, first, None)
    # Without If-None-Match the GET runs and sees the changed counters.
    status, changed, starts = await _get(gql, tenant)
    assert (status, starts) == (200, 7) and changed != first

    # A rollup bumps the version: the old ETag no longer gets a 304 and the answer is the new one.
    await _track(gql, tenant, ["u3"], run_worker)
    status, after, starts = await _get(gql, tenant, changed)
    assert (status, starts) == (200, 8) and after not in (first, changed)
    assert (await _get(gql, tenant, after))[0] == 304


async def test_a_mutation_changes_the_data_version(gql: GraphQLClient, make_tenant: Any) -> None:
    tenant = await make_tenant()
    define = """mutation { defineTour(input: {id: "tour-etag", title: "Before", steps: []}) { id } }"""
    titles = f'{{ tenant {{ tour(id: "{TOUR}") {{ title }} }} }}'
    assert "errors" not in await gql(tenant.secret, define)
    headers = {"Authorization": f"Bearer {tenant.secret}", "Accept": "application/json"}
    first = await gql.http.get(f"{gql.url}/graphql", params={"query": titles}, headers=headers)
    assert first.json()["data"]["tenant"]["tour"]["title"] == "Before"
    assert "errors" not in await gql(tenant.secret, define.replace("Before", "After"))
    again = await gql.http.get(f"{gql.url}/graphql", params={"query": titles},
                               headers={**headers, "If-None-Match": first.headers["etag"]})
    assert again.status_code == 200 and again.json()["data"]["tenant"]["tour"]["title"] == "After"
