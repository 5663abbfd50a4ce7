"""Export jobs: startExport queues a worker job that writes the file; progress, then the download."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import GraphQLClient, event

START = """mutation S($r: RangeInput!) { startExport(dataset: EVENTS, format: CSV, range: $r) {
  id status bytes rows downloadUrl period { firstDay lastDay } } }"""
JOB = "query J($id: ID!) { tenant { exportJob(id: $id) { id status bytes rows error downloadUrl } } }"
RANGE = {"from": "2025-06-01", "to": "2025-06-30"}


async def test_an_export_job_writes_the_same_file_the_stream_sends(
        gql: GraphQLClient, http: httpx.AsyncClient, base_url: str, make_tenant: Any,
        run_worker: Any) -> None:
    tenant, other = await make_tenant(timezone="Europe/Berlin"), await make_tenant()
    events = [event("TourStarted", f"2025-06-{day:02d}T10:00:00Z", f"u{day}", tourId="t1") for day in (1, 15, 30)]
    events.append(event("TourStarted", "2025-07-01T10:00:00Z", "late", tourId="t1"))  # outside the range
    await gql.track(tenant.publishable, events)

    started = (await gql.data(tenant.secret, START, {"r": RANGE}))["startExport"]
    assert started["status"] == "QUEUED" and started["downloadUrl"] is None and started["rows"] is None
    assert started["period"] == {"firstDay": "2025-06-01", "lastDay": "2025-06-30"}
    secret = {"Authorization": f"Bearer {tenant.secret}"}
    early = await http.get(f"{base_url}/export/jobs/{started['id']}", headers=secret)
    assert early.status_code == 409 and early.json()["errors"][0]["extensions"]["code"] == "EXPORT_NOT_READY"

    await run_worker()
    job = (await gql.data(tenant.secret, JOB, {"id": started["id"]}))["tenant"]["exportJob"]
    assert job["status"] == "DONE" and job["rows"] == 3 and job["error"] is None
    assert job["downloadUrl"] == f"/export/jobs/{started['id']}"

    download = await http.get(f"{base_url}{job['downloadUrl']}", headers=secret)
    assert download.status_code == 200 and download.headers["content-type"].startswith("text/csv")
    assert "attachment" in download.headers["content-disposition"]
    assert len(download.content) == job["bytes"]
    streamed = await http.get(f"{base_url}/export/events.csv", params=RANGE, headers=secret)
    assert download.content == streamed.content
    assert download.text.count("\n") == 4  # header and 3 rows

    # Another tenant sees nothing; a publishable key may not download.
    assert (await gql.data(other.secret, JOB, {"id": started["id"]}))["tenant"]["exportJob"] is None
    foreign = await http.get(f"{base_url}{job['downloadUrl']}", headers={"Authorization": f"Bearer {other.secret}"})
    assert foreign.status_code == 404
    publishable = await http.get(f"{base_url}{job['downloadUrl']}",
                                 headers={"Authorization": f"Bearer {tenant.publishable}"})
    assert publishable.status_code == 403
    assert (await http.get(f"{base_url}/export/jobs/not-a-uuid", headers=secret)).status_code == 404


GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
START_DAILY = """mutation S($r: RangeInput!, $bots: Boolean!) {
  startExport(dataset: DAILY, format: CSV, range: $r, includeBots: $bots) { id includeBots } }"""


async def test_an_export_job_takes_include_bots_as_the_stream_does(
        gql: GraphQLClient, http: httpx.AsyncClient, base_url: str, make_tenant: Any,
        run_worker: Any) -> None:
    tenant = await make_tenant()
    await gql.track(tenant.publishable, [
        event("TourStarted", "2025-06-02T10:00:00Z", "u1", tourId="t1"),
        event("TourStarted", "2025-06-02T10:30:00Z", "crawler", tourId="t1", context={"userAgent": GOOGLEBOT})])
    await run_worker()
    humans = (await gql.data(tenant.secret, START_DAILY, {"r": RANGE, "bots": False}))["startExport"]
    both = (await gql.data(tenant.secret, START_DAILY, {"r": RANGE, "bots": True}))["startExport"]
    assert (humans["includeBots"], both["includeBots"]) == (False, True)
    await run_worker()
    secret = {"Authorization": f"Bearer {tenant.secret}"}
    header = "day,entity_type,entity_id,metric,step_index,bot,value"
    for job, params, lines in [
            (humans, RANGE, [header, "2025-06-02,tour,t1,starts,,false,1", ""]),
            (both, {**RANGE, "includeBots": "true"},
             [header, "2025-06-02,tour,t1,starts,,false,1", "2025-06-02,tour,t1,starts,,true,1", ""])]:
        download = await http.get(f"{base_url}/export/jobs/{job['id']}", headers=secret)
        assert download.status_code == 200, download.text
        assert download.text.split("\n") == lines
        streamed = await http.get(f"{base_url}/export/daily.csv", params=params, headers=secret)
        assert download.content == streamed.content

    refused = await gql(tenant.secret, """mutation { startExport(dataset: EVENTS, format: CSV,
        range: {from: "2025-06-01", to: "2025-06-30"}, includeBots: true) { id } }""")
    assert refused["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "includeBots"}
