"""Shared plumbing of the reporting commands: --since/--until into a period, the tenant to report on,
and the output as rich tables, JSON (--json) or a CSV file (--export)."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from sqlalchemy.ext.asyncio import AsyncConnection

from analytics import periods
from analytics.db import create_engine, scope_to_tenant
from analytics.errors import InvalidArgument
from analytics.periods import Compare, Period
from analytics.tenants import service
from analytics.tenants.service import Tenant, TenantError

T = TypeVar("T")
RELATIVE = re.compile(r"^\s*\d+\s*[mhdw]\s*$")
# periods.resolve names the graph's fields; the CLI names its options.
OPTION_OF_FIELD = {"range": "--since", "range.since": "--since", "range.from": "--since",
                   "range.to": "--until"}


def resolve_range(since: str, until: str | None, tz: ZoneInfo, now: datetime | None = None) -> periods.Period:
    """``--since`` is 1h/24h/7d/30d-style (back from ``--until`` or now) or an ISO date or date-time;
    ``--until`` is an ISO date (inclusive) or date-time (exclusive), now when absent."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    try:
        if RELATIVE.match(since):
            end = _instant("--until", until, tz) if until else moment
            if until and since.strip()[-1] in "dw":
                end -= timedelta(microseconds=1)  # "7d" until 2025-05-11: the days May 5 to 11
            return periods.resolve(periods.RangeSpec(since=since), tz, now=end)
        is_date = len(since.strip()) == 10
        default_end = moment.astimezone(tz).date().isoformat() if is_date else moment.isoformat()
        return periods.resolve(periods.RangeSpec(start=since.strip(), end=(until or default_end).strip()),
                               tz, now=moment)
    except periods.PeriodError as exc:
        message = exc.message.replace("range.from", "--since")
        raise InvalidArgument(OPTION_OF_FIELD.get(exc.field, exc.field), message) from None


def _instant(option: str, raw: str, tz: ZoneInfo) -> datetime:
    """An end bound as an instant: a date means the end of that local day."""
    try:
        if len(raw.strip()) == 10:
            return periods.local_midnight(date.fromisoformat(raw.strip()) + timedelta(days=1), tz)
        parsed = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise InvalidArgument(option, f"{raw!r} is not a date (YYYY-MM-DD) or an ISO 8601 "
                                      "date-time") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)).astimezone(UTC)


def choose_tenant(tenants: Sequence[Tenant], name: str | None) -> Tenant:
    """The tenant named by --tenant, else the only one there is."""
    if name is not None:
        for tenant in tenants:
            if tenant.name == name:
                return tenant
        raise service.TenantError(f"no tenant named {name!r}")
    if len(tenants) == 1:
        return tenants[0]
    if not tenants:
        raise service.TenantError("there are no tenants yet; create one with `analytics tenants create NAME`")
    names = ", ".join(t.name for t in tenants[:10]) + (", ..." if len(tenants) > 10 else "")
    raise service.TenantError(f"there are {len(tenants)} tenants ({names}); choose one with --tenant NAME")


async def read_tenant(url: str, name: str, report: Callable[[AsyncConnection, Tenant], Awaitable[T]],
                      *, timeout_ms: int = 0) -> T:
    """Run ``report`` in one read transaction scoped to the chosen tenant (``name`` "" for the only one)."""
    engine = create_engine(url, role=None, pool_size=1)
    try:
        async with engine.begin() as conn:
            tenant = choose_tenant(await service.list_tenants(conn), name or None)
            await scope_to_tenant(conn, tenant.id, timeout_ms=timeout_ms)
            return await report(conn, tenant)
    finally:
        await engine.dispose()


@dataclass
class Section:
    """One table of a report: its title and rows (dicts sharing their keys, in column order)."""

    title: str
    rows: list[dict[str, Any]] = field(default_factory=list)


def period_json(period: periods.Period) -> dict[str, str]:
    return {"from": period.start.astimezone(period.tz).isoformat(),
            "to": period.end.astimezone(period.tz).isoformat(), "timezone": period.tz.key}


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)


# Table headers shorter than the JSON names they show.
HEADERS = {"avgSessionDurationSeconds": "avg secs", "durationSeconds": "secs", "bounceRate": "bounce %",
           "share": "share %", "pageViews": "page views", "utmSource": "utm source",
           "utmMedium": "utm medium", "utmCampaign": "utm campaign", "deviceType": "device",
           "userAgent": "user agent", "landingPage": "landing page", "exitPage": "exit page",
           "startedAt": "started", "lastSeenAt": "last seen"}
MIN_PIPED_WIDTH = 200  # piped output has no terminal to fit; keep rows on one line


def print_sections(console: Console, heading: str, sections: Sequence[Section]) -> None:
    if not console.is_terminal:
        console.width = max(console.width, MIN_PIPED_WIDTH)
    console.print(Text(heading, style="bold"))
    for section in sections:
        table = Table(title=section.title, title_justify="left")
        columns = list(section.rows[0]) if section.rows else ["(no data)"]
        for column in columns:
            numeric = bool(section.rows) and isinstance(section.rows[0][column], (int, float))
            table.add_column(HEADERS.get(column, column), justify="right" if numeric else "left")
        for row in section.rows:
            table.add_row(*(_cell(row[c]) for c in columns))
        console.print(table)


def write_csv(path: Path, sections: Sequence[Section]) -> int:
    """The sections' rows as one CSV file (a ``table`` column first when there are several); row count."""
    several = len(sections) > 1
    columns: list[str] = ["table"] if several else []
    for section in sections:
        columns += [c for row in section.rows for c in row if c not in columns]
    written = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for section in sections:
            for row in section.rows:
                cells = {k: ", ".join(map(str, v)) if isinstance(v, (list, tuple)) else v
                         for k, v in row.items()}
                writer.writerow({"table": section.title, **cells} if several else cells)
                written += 1
    return written


def emit(console: Console, *, heading: str, sections: Sequence[Section], payload: Mapping[str, Any],
         as_json: bool, export: Path | None) -> None:
    """Print JSON or tables, and write the CSV file when --export asks for one."""
    if export is not None:
        count = write_csv(export, sections)
        if not as_json:
            console.print(f"exported {count} rows to {export}")
    if as_json:
        print(json.dumps(payload, default=str))
    else:
        print_sections(console, heading, sections)


# --- Options and steps every reporting command shares ---

Since = typer.Option("24h", "--since", help="Start of the range: 1h, 24h, 7d, 30d (back from --until or now) "
                                            "or an ISO date / date-time.")
SinceWeek = typer.Option("7d", "--since", help="Start of the range: 1h, 24h, 7d, 30d (back from --until or "
                                               "now) or an ISO date / date-time.")
Until = typer.Option(None, "--until", help="End of the range: an ISO date (inclusive) or date-time "
                                           "(exclusive); now when not given.")
TenantName = typer.Option(None, "--tenant", help="Tenant name (needed only when there are several).")
AsJson = typer.Option(False, "--json", help="Print machine-readable JSON instead of tables.")
Export = typer.Option(None, "--export", dir_okay=False, help="Also write the rows to this CSV file.")
IncludeBots = typer.Option(False, "--include-bots", help="Count sessions flagged as bots (all tiers) too.")
Limit = typer.Option(10, "--limit", min=1, max=500, help="Rows per table (1-500).")
CompareWith = typer.Option("previous", "--compare",
                           help="Compare with: previous (the same length just before), year (a year "
                                "earlier) or none.")
DataDir = typer.Option(None, "--data-dir", help="Where embedded servers keep data (./.analytics or "
                                                "ANALYTICS_DATA_DIR by default).")
COMPARE = {"previous": Compare.PREVIOUS_PERIOD, "year": Compare.YEAR_OVER_YEAR, "none": None}


def read_report(tenant: str | None, data_dir: Path | None, check: Callable[[], object],
          report: Callable[[AsyncConnection, Tenant], Awaitable[T]]) -> T:
    """Validate the options (``check``), then run ``report`` against the tenant's data."""
    from analytics.cli import _fail, _run, _settings, servers

    try:
        check()
    except (InvalidArgument, TenantError) as exc:
        raise _fail(str(exc)) from None
    settings = _settings(data_dir)
    with servers(settings, need_redis=False) as s:
        try:
            return _run(read_tenant(s.database_url, tenant or "", report,
                                    timeout_ms=settings.statement_timeout_ms))
        except (InvalidArgument, TenantError) as exc:
            raise _fail(str(exc)) from None


def compare_choice(value: str) -> Compare | None:
    """--compare as the domain's Compare (None for none)."""
    if value not in COMPARE:
        raise InvalidArgument("--compare", "must be previous, year or none")
    return COMPARE[value]


def tenant_period(since: str, until: str | None, tenant: Tenant) -> Period:
    """--since/--until in the tenant's time zone."""
    return resolve_range(since, until, ZoneInfo(tenant.timezone))


def check_range(since: str, until: str | None) -> Period:
    """The options as a period in UTC: a bad --since/--until fails before any server starts."""
    return resolve_range(since, until, ZoneInfo("UTC"))  # fails before any server starts


def heading(what: str, result: dict[str, Any]) -> str:
    period = result["period"]
    return f"{what} of {result['tenant']}: {period['from']} to {period['to']} ({period['timezone']})"
