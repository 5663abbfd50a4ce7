"""A visitor's appended batches fold into its open session's stored fold (analytics.sessions.appends)
and end where one derivation of all its events ends; a late event falls back to the derivation
(issue 15, the heavy visitor). Exact rows, through track and the worker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.rollups.recompute import verify_rollups
from analytics.sessions.rows import FACT_COLUMNS
from tests.conftest import GraphQLClient, event

SITE = "https://shop.example"
CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/124.0.0.0 Safari/537.36")
# The facts compared between tenants (ids and visitor ids hash the tenant).
COMPARED = [c for c in FACT_COLUMNS if c not in {"id", "visitor_id"}]


def at(seconds: float) -> str:
    return (datetime(2025, 5, 10, 23, 55, tzinfo=UTC) + timedelta(seconds=seconds)).isoformat().replace(
        "+00:00", "Z")


def visit(second: float, path: str) -> list[dict[str, Any]]:
    """A page view of the kiosk and its engagement report 8 s later."""
    context = {"userAgent": CHROME, "referrer": "https://www.google.com/"}
    return [event("PageViewed", at(second), None, anonymousId="kiosk", url=f"{SITE}{path}", context=context),
            event("PageEngagement", at(second + 8), None, anonymousId="kiosk", url=f"{SITE}{path}",
                  context={"userAgent": CHROME}, engagement={"timeOnPageMs": 8000, "scrollDepth": 40})]


async def sessions(engine: AsyncEngine, tenant_id: int) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(text(
            f"SELECT {', '.join(COMPARED)}, fold IS NOT NULL AS folded, excluded FROM sessions "
            "WHERE tenant_id = :t ORDER BY started_at"), {"t": tenant_id})).all())


async def assert_counters_exact(engine: AsyncEngine, tenant_id: int) -> None:
    async with engine.connect() as conn:
        assert await verify_rollups(conn, tenant_id) == []


async def test_appended_batches_fold_into_the_open_session_as_one_derivation_would(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any, owner_engine: AsyncEngine) -> None:
    folded, whole = await make_tenant(), await make_tenant()
    # One session across midnight (UTC, the tenants' zone): 6 batches of 10 page views 10 s apart,
    # a scanner's path in the fourth (the session turns into a bot's: counted events change side),
    # and a second session after 40 minutes idle in the last batch.
    paths = ["/", "/pricing", "/docs", "/docs/a", "/docs/b"]
    batches = [[e for i in range(10) for e in visit(100 * b + 10 * i, paths[(b + i) % 5])] for b in range(6)]
    batches[3].extend(visit(395, "/wp-login.php"))
    batches[5].extend(visit(600 + 2400, "/"))
    for batch in batches:
        assert (await gql.track(folded.publishable, batch))["accepted"] == len(batch)
        await run_worker()
    everything = [e for batch in batches for e in batch]
    assert (await gql.track(whole.publishable, everything))["accepted"] == len(everything) == 124
    await run_worker()

    rows, expected = await sessions(owner_engine, folded.id), await sessions(owner_engine, whole.id)
    assert [tuple(r)[:-2] for r in rows] == [tuple(r)[:-2] for r in expected]
    assert [(r.request_count, r.unique_pages, r.is_scanner, r.excluded, r.folded) for r in rows] == [
        (122, 6, True, True, False), (2, 1, False, False, True)]  # the latest session keeps a fold
    for tenant in (folded, whole):
        await assert_counters_exact(owner_engine, tenant.id)


async def test_an_appended_batch_reads_no_earlier_event_and_a_late_one_is_derived_again(
        gql: GraphQLClient, make_tenant: Any, run_worker: Any, owner_engine: AsyncEngine) -> None:
    tenant = await make_tenant()
    first = [e for i in range(5) for e in visit(10 * i, "/")]
    assert (await gql.track(tenant.publishable, first))["accepted"] == 10
    await run_worker()
    # Rewrite a stored event behind the worker's back: a scanner's path. Folding the next batch does
    # not read it (the session stays a person's); deriving the session again does.
    async with owner_engine.begin() as conn:
        await conn.execute(text("UPDATE events SET url = :url WHERE tenant_id = :t AND occurred_at = :at "
                                "AND type = 'PageViewed'"),
                           {"url": f"{SITE}/.env", "t": tenant.id, "at": datetime.fromisoformat(at(0))})
    later = [e for i in range(5, 8) for e in visit(10 * i, "/docs")]
    assert (await gql.track(tenant.publishable, later))["accepted"] == 6
    await run_worker()
    (session,) = await sessions(owner_engine, tenant.id)
    assert (session.request_count, session.unique_pages, session.is_scanner, session.folded) == (16, 2, False, True)

    late = visit(45, "/pricing")  # between stored events: not an append
    assert (await gql.track(tenant.publishable, late))["accepted"] == 2
    await run_worker()
    (session,) = await sessions(owner_engine, tenant.id)
    assert (session.request_count, session.unique_pages, session.is_scanner, session.folded) == (18, 4, True, True)
    assert session.agent_reasons == [{"tier": 2, "code": "scan_path", "detail": "secrets: .env"}]
