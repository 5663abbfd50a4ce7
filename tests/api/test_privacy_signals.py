"""Opt-out at ingest: a tenant that honours Do Not Track / Global Privacy Control drops the events sent with
either signal (the browser's own header, or context.privacySignal from a relay): OPTED_OUT, never stored."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import BROWSER_AGENT, GraphQLClient, TenantKeys, event

TRACK = """mutation Track($events: [TrackEvent!]!) { track(events: $events) {
    accepted duplicates rejected optedOut results { index status } } }"""


async def stored(engine: AsyncEngine, tenant_id: int) -> list[tuple[str, Any]]:
    async with engine.connect() as conn:
        return [tuple(r) for r in await conn.execute(text(
            "SELECT user_id, context FROM events WHERE tenant_id = :t ORDER BY user_id"), {"t": tenant_id})]


def batch(prefix: str) -> list[dict[str, Any]]:
    return [event("PageViewed", "2026-12-01T10:00:00Z", f"{prefix}-plain", url="/p"),
            event("PageViewed", "2026-12-01T10:00:01Z", f"{prefix}-dnt", url="/p",
                  context={"privacySignal": True, "locale": "de"}),
            event("PageViewed", "2026-12-01T10:00:02Z", f"{prefix}-bad", url="/p", context={"locale": "x" * 40})]


async def test_a_tenant_that_honours_the_signals_never_stores_opted_out_events(
        gql: GraphQLClient, generic_gql: GraphQLClient, make_tenant: Any, owner_engine: AsyncEngine) -> None:
    tenant: TenantKeys = await make_tenant()
    assert (await gql.data(tenant.secret, "{ tenant { honoursPrivacySignals } }"))["tenant"] == {
        "honoursPrivacySignals": False}
    # Not honoured (the default): every good event is stored, the flag itself is not kept.
    ignored = (await gql.data(tenant.publishable, TRACK, {"events": batch("off")}))["track"]
    assert (ignored["accepted"], ignored["rejected"], ignored["optedOut"]) == (2, 1, 0)
    assert await stored(owner_engine, tenant.id) == [("off-dnt", {"locale": "de"}), ("off-plain", None)]

    assert (await gql.data(tenant.secret, "mutation { setPrivacySignals(honour: true) }")) == {
        "setPrivacySignals": True}
    for client, prefix in ((gql, "fast"), (generic_gql, "generic")):  # both decoding paths agree
        answer = (await client.data(tenant.publishable, TRACK, {"events": batch(prefix)}))["track"]
        assert (answer["accepted"], answer["rejected"], answer["optedOut"]) == (1, 1, 1)
        assert [r["status"] for r in answer["results"]] == ["ACCEPTED", "OPTED_OUT", "REJECTED"]
    for header in ({"DNT": "1"}, {"Sec-GPC": "1"}):  # the browser's own request: the whole batch
        response = await gql.post(tenant.publishable, TRACK, {"events": batch("header")},
                                  **{**header, "User-Agent": BROWSER_AGENT})
        answer = response.json()["data"]["track"]
        assert (answer["accepted"], answer["rejected"], answer["optedOut"]) == (0, 0, 3), header
    users = [user for user, _ in await stored(owner_engine, tenant.id)]
    assert users == ["fast-plain", "generic-plain", "off-dnt", "off-plain"]
    assert (await gql.data(tenant.secret, "{ tenant { honoursPrivacySignals } }"))["tenant"] == {
        "honoursPrivacySignals": True}
    refused = await gql(tenant.publishable, "mutation { setPrivacySignals(honour: false) }")
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
