"""CORS and the SDK in a real headless Chromium (tests/js/cors.mjs): pages on other loopback ports than
the API load /sdk.js and track with the publishable key; a secret-key read works only from an allowed
origin. Then the events the browser sent are counted in the database."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.embedded import free_port
from tests.browser import require_browser, run_browser_script
from tests.conftest import GraphQLClient, TenantKeys

EXPECTED_EVENTS = {"PageViewed": 1, "ContentViewed": 1, "PageEngagement": 1, "TourStarted": 1}


async def events_by_type(engine: AsyncEngine, tenant_id: int) -> dict[str, int]:
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT type, count(*) FROM events WHERE tenant_id = :t GROUP BY type"),
                                   {"t": tenant_id})).all()
    return {row[0]: int(row[1]) for row in rows}


async def test_a_site_on_another_origin_tracks_and_only_allowed_origins_read(
        base_url: str, gql: GraphQLClient, make_tenant: Any, owner_engine: AsyncEngine) -> None:
    await require_browser()
    tenant: TenantKeys = await make_tenant()
    allowed_port, other_port = free_port(), free_port()
    allowed = f"http://127.0.0.1:{allowed_port}"
    await gql.data(tenant.secret, "mutation { setAllowedOrigins(origins: [\"" + allowed + "\"]) }")
    env = {"CORS_PUBLISHABLE_KEY": tenant.publishable, "CORS_SECRET_KEY": tenant.secret,
           "CORS_ALLOWED_PORT": str(allowed_port), "CORS_OTHER_PORT": str(other_port)}
    report = await run_browser_script("cors.mjs", base_url, env=env)

    assert report["sdkLoaded"] is True
    assert report["pageView"] == {"data": {"track": {"accepted": 1, "duplicates": 0, "rejected": 0,
                                                     "rejections": []}}}
    assert report["pendingAfterFlush"] == 0
    assert report["beacons"] == [{"url": f"{base_url}/graphql?key={tenant.publishable}", "body": "string",
                                  "queued": True, "events": ["ContentViewed", "PageEngagement"]}]
    assert report["publishableTrack"] == {"ok": True, "status": 200, "body": {"data": {"track": {"accepted": 1}}}}
    assert report["secretFromOther"] == {"ok": False, "error": "TypeError", "message": "Failed to fetch"}
    assert report["secretFromAllowed"] == {"ok": True, "status": 200,
                                           "body": {"data": {"tenant": {"id": str(tenant.id)}}}}
    # The console errors are Chromium's own notes of the one blocked read.
    errors = report["consoleErrors"]
    assert len(errors) == 2 and "blocked by CORS policy" in errors[0], errors
    assert errors[1] == "Failed to load resource: net::ERR_FAILED"

    # The beacon is sent while the page goes away: wait for it to land, then count exactly.
    for _ in range(100):
        counted = await events_by_type(owner_engine, tenant.id)
        if sum(counted.values()) >= sum(EXPECTED_EVENTS.values()):
            break
        await asyncio.sleep(0.1)
    assert counted == EXPECTED_EVENTS
