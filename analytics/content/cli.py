"""``analytics content ...``: content (capsule) performance from the same functions the graph calls,
printed as tables, JSON (--json) or CSV (--export)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from sqlalchemy.ext.asyncio import AsyncConnection

from analytics import metrics
from analytics.content import facts, stats
from analytics.errors import InvalidArgument
from analytics.periods import Granularity, Period, bucket_starts, comparison, default_granularity
from analytics.periods import PeriodError as _PeriodError
from analytics.reporting import (
    AsJson,
    CompareWith,
    DataDir,
    Export,
    IncludeBots,
    Section,
    SinceWeek,
    TenantName,
    Until,
    check_range,
    compare_choice,
    emit,
    heading,
    period_json,
    read_report,
    tenant_period,
)
from analytics.reports_cli import console
from analytics.tenants.service import Tenant

content_app = typer.Typer(help="Content (capsule) analytics: stats, top items, trends and popular items.",
                          no_args_is_help=True)
Capsule = typer.Option(None, "--capsule", help="Report on this content id only (all content by default).")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


async def _figures(conn: AsyncConnection, content_id: str | None, period: Period, include_bots: bool
                   ) -> dict[str, Any]:
    values = await stats.content_figures(conn, content_id=content_id, period=period,
                                         include_bots=include_bots)
    return {_camel(k): v for k, v in values.items()}


@content_app.command("stats")
def content_stats(since: str = SinceWeek, until: str | None = Until, capsule: str | None = Capsule,
                  tenant: str | None = TenantName, compare: str = CompareWith,
                  include_bots: bool = IncludeBots, as_json: bool = AsJson, export: Path | None = Export,
                  data_dir: Path | None = DataDir) -> None:
    """Views, unique views, CTA clicks and click-through rate, conversions and conversion rate, time on
    capsule, conversations, time to conversion, documents and videos, compared with the previous period."""
    async def build(conn: AsyncConnection, owner: Tenant) -> dict[str, Any]:
        period, chosen = tenant_period(since, until, owner), compare_choice(compare)
        current = await _figures(conn, capsule, period, include_bots)
        result: dict[str, Any] = {"tenant": owner.name, "capsule": capsule, "period": period_json(period),
                                  **current, "previous": None, "change": None}
        if chosen is not None:
            before = comparison(period, chosen)
            previous = await _figures(conn, capsule, before, include_bots)
            result.update(previous={**previous, "period": period_json(before)},
                          change={k: metrics.percent_change(v, previous[k]) for k, v in current.items()})
        return result

    result = read_report(tenant, data_dir, lambda: (compare_choice(compare), check_range(since, until)),
                         build)
    previous, change = result["previous"] or {}, result["change"] or {}
    names = [k for k in result if k not in ("tenant", "capsule", "period", "previous", "change")]
    rows = [{"metric": name, "value": result[name], "previous": previous.get(name),
             "change %": change.get(name)} for name in names]
    what = f"content stats ({capsule})" if capsule else "content stats"
    emit(console, heading=heading(what, result), payload=result, as_json=as_json, export=export,
         sections=[Section("content", rows)])


def _limit(default: int) -> Any:
    return typer.Option(default, "--limit", min=1, max=500, help="Most items shown (1-500).")


@content_app.command("top")
def content_top(since: str = SinceWeek, until: str | None = Until, limit: int = _limit(10),
                tenant: str | None = TenantName, include_bots: bool = IncludeBots, as_json: bool = AsJson,
                export: Path | None = Export, data_dir: Path | None = DataDir) -> None:
    """Content items by views, most first, with unique views, CTA clicks and conversions."""
    async def build(conn: AsyncConnection, owner: Tenant) -> dict[str, Any]:
        period = tenant_period(since, until, owner)
        rows = await stats.top_content(conn, period=period, limit=limit, include_bots=include_bots)
        return {"tenant": owner.name, "period": period_json(period), "items": [
            {"contentId": r.content_id, "views": r.counts.views, "uniqueViews": r.unique_views,
             "ctaClicks": r.counts.cta_clicks, "ctaClickThroughRate": r.counts.cta_click_through_rate,
             "conversions": r.counts.conversions, "conversionRate": r.counts.conversion_rate}
            for r in rows]}

    result = read_report(tenant, data_dir, lambda: check_range(since, until), build)
    emit(console, heading=heading("top content", result), payload=result, as_json=as_json, export=export,
         sections=[Section("top content", result["items"])])


@content_app.command("trends")
def content_trends(since: str = SinceWeek, until: str | None = Until, capsule: str | None = Capsule,
                   group_by: str | None = typer.Option(
                       None, "--group-by",
                       help="hour, day, week or month (default: from the range's length)."),
                   tenant: str | None = TenantName, include_bots: bool = IncludeBots, as_json: bool = AsJson,
                   export: Path | None = Export, data_dir: Path | None = DataDir) -> None:
    """Views, CTA clicks, conversions and rates per hour, day, week or month (empty buckets as zeros)."""
    def granularity(period: Period) -> Granularity:
        if group_by is not None and group_by.upper() not in Granularity.__members__:
            raise InvalidArgument("--group-by", "must be hour, day, week or month")
        chosen = Granularity[group_by.upper()] if group_by else default_granularity(period)
        try:
            bucket_starts(period, chosen)
        except _PeriodError as exc:
            raise InvalidArgument("--group-by", exc.message) from None
        return chosen

    async def build(conn: AsyncConnection, owner: Tenant) -> dict[str, Any]:
        period = tenant_period(since, until, owner)
        chosen = granularity(period)
        points = await stats.content_series(conn, content_id=capsule, period=period, granularity=chosen,
                                            include_bots=include_bots)
        return {"tenant": owner.name, "capsule": capsule, "period": period_json(period),
                "groupBy": chosen.value.lower(), "points": [
                    {"start": p.start.astimezone(period.tz).isoformat(), "views": p.counts.views,
                     "ctaClicks": p.counts.cta_clicks, "ctaClickThroughRate": p.counts.cta_click_through_rate,
                     "conversions": p.counts.conversions, "conversionRate": p.counts.conversion_rate,
                     "dismissals": p.counts.dismissals} for p in points]}

    result = read_report(tenant, data_dir, lambda: granularity(check_range(since, until)), build)
    emit(console, heading=heading(f"content per {result['groupBy']}", result), payload=result,
         as_json=as_json, export=export, sections=[Section("trends", result["points"])])


@content_app.command("popular")
def content_popular(since: str = SinceWeek, until: str | None = Until, limit: int = _limit(20),
                    tenant: str | None = TenantName, include_bots: bool = IncludeBots, as_json: bool = AsJson,
                    export: Path | None = Export, data_dir: Path | None = DataDir) -> None:
    """Content items by engaged time (sum of ContentEngagement timeOnPageMs), most first, with their
    average time on capsule."""
    async def build(conn: AsyncConnection, owner: Tenant) -> dict[str, Any]:
        period = tenant_period(since, until, owner)
        rows = await facts.popular_content(conn, period=period, limit=limit, include_bots=include_bots)
        return {"tenant": owner.name, "period": period_json(period), "items": [
            {"contentId": r.content_id, "engagedSeconds": metrics.seconds(r.engaged_ms / 1000),
             "viewingSessions": r.viewing_sessions, "avgTimeOnContentSeconds": r.avg_time_on_capsule_seconds}
            for r in rows]}

    result = read_report(tenant, data_dir, lambda: check_range(since, until), build)
    emit(console, heading=heading("popular content", result), payload=result, as_json=as_json,
         export=export, sections=[Section("popular content", result["items"])])
