"""``analytics users erase|export ID``: a person's erasure (GDPR article 17) or access export (article
15) as server jobs, through the graph with a secret key, showing the job's progress until it ends."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import typer
from rich.table import Table

from cli.client import GraphQLClient
from cli.common import REFUSED, UNREACHABLE, DataDir, JsonOut, console, fail, write_private
from cli.connection import Key, Profile, Url, resolve_target

users_app = typer.Typer(help="One person's data: erase it or export it (secret key).", no_args_is_help=True)
Anonymous = typer.Option(False, "--anonymous",
                         help="ID is an anonymousId (the SDK's device id), not a userId.")
Person = typer.Argument(..., metavar="ID", help="The userId (or with --anonymous, the anonymousId).")
Wait = typer.Option(600.0, "--wait", min=0, help="Seconds to wait for the job (0: queue it and return).")
POLL_SECONDS = 0.5


def _ids(person: str, anonymous: bool) -> dict[str, str | None]:
    return {"userId": None, "anonymousId": person} if anonymous else {"userId": person, "anonymousId": None}


def _follow(client: GraphQLClient, operation: str, field: str, job_id: str, wait: float,
            quiet: bool) -> dict[str, Any]:
    """Poll the job until DONE or FAILED (or ``wait`` seconds), printing each status change."""
    deadline, seen = time.monotonic() + wait, ""
    while True:
        job: dict[str, Any] = client.run(operation, {"id": job_id})["tenant"][field]
        status = job["status"]
        if status != seen and not quiet:
            console.print(f"{field} {job_id}: {status.lower()}", highlight=False)
            seen = status
        if status in ("DONE", "FAILED") or time.monotonic() >= deadline:
            return job
        time.sleep(POLL_SECONDS)


@users_app.command("erase")
def erase(person: str = Person, anonymous: bool = Anonymous, wait: float = Wait, as_json: bool = JsonOut,
          url: str | None = Url, key: str | None = Key, profile: str | None = Profile,
          data_dir: Path | None = DataDir) -> None:
    """Erase a person: their raw events, sessions, content facts and per-person rows; the counters of
    the days they were active are recomputed. Erasing twice is harmless."""
    client = GraphQLClient(resolve_target(url, key, profile, data_dir))
    job_id = client.run("CliEraseUser", _ids(person, anonymous))["eraseUser"]["id"]
    job = _follow(client, "CliErasure", "erasure", job_id, wait, as_json)
    if as_json:
        print(json.dumps(job))
    else:
        table = Table("kind", "rows", title=f"erasure {job_id}: {job['status'].lower()}")
        for count in job["counts"]:
            table.add_row(count["kind"], str(count["rows"]))
        console.print(table)
    if job["status"] == "FAILED":
        raise fail(f"the erasure failed: {job['error']}", REFUSED)


@users_app.command("export")
def export(person: str = Person, anonymous: bool = Anonymous, wait: float = Wait,
           output: Path | None = typer.Option(None, "--output", "-o", help="Save the JSON file here."),
           as_json: bool = JsonOut, url: str | None = Url, key: str | None = Key,
           profile: str | None = Profile, data_dir: Path | None = DataDir) -> None:
    """Export a person's data as JSON (their raw events, sessions, content facts and per-person rows)."""
    target = resolve_target(url, key, profile, data_dir)
    client = GraphQLClient(target)
    job_id = client.run("CliExportUser", _ids(person, anonymous))["exportUser"]["id"]
    job = _follow(client, "CliUserExport", "userExport", job_id, wait, as_json)
    if job["status"] == "FAILED":
        raise fail(f"the export failed: {job['error']}", REFUSED)
    if output is not None and job["downloadUrl"]:
        base = target.url.removesuffix("/graphql")
        try:
            response = client.http.get(base + job["downloadUrl"])
        except httpx.HTTPError as exc:
            raise fail(f"cannot download {base}{job['downloadUrl']}: {exc}", UNREACHABLE) from None
        if response.status_code != 200:
            raise fail(f"the download answered HTTP {response.status_code}: {response.text[:200]}", REFUSED)
        write_private(output, response.text)
    if as_json:
        print(json.dumps(job))
    elif job["downloadUrl"]:
        console.print(f"{job['rows']:.0f} rows, {job['bytes']:.0f} bytes"
                      + (f", saved to {output}" if output else f": GET {job['downloadUrl']} with the key")
                      + f" (until {job['expiresAt']})", highlight=False)
