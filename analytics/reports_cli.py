"""Reporting commands (``analytics overview``, ``analytics sessions ...``, ``analytics traffic ...``):
the same analytics.sessions.stats functions the graph calls, printed as tables, JSON or CSV."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncConnection

from analytics import metrics
from analytics.errors import InvalidArgument
from analytics.periods import Compare, Granularity, Period, bucket_starts, comparison, default_granularity
from analytics.periods import PeriodError as _PeriodError
from analytics.reporting import (
    AsJson,
    CompareWith,
    DataDir,
    Export,
    IncludeBots,
    Limit,
    Section,
    Since,
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
from analytics.sessions import stats
from analytics.tenants.service import Tenant

T = TypeVar("T")
console = Console()
sessions_app = typer.Typer(help="Session analytics: totals, trends and live sessions.", no_args_is_help=True)
traffic_app = typer.Typer(help="Traffic analytics: sources, places, devices and what the bot filter removed.",
                          no_args_is_help=True)

STAT_NAMES = ("sessions", "visitors", "users", "pageViews", "pagesPerSession", "bounceRate",
              "avgSessionDurationSeconds", "medianSessionDurationSeconds", "returningVisitors",
              "returnVisitRate", "botSessions")


def _figures(totals: stats.SessionTotals) -> dict[str, Any]:
    return dict(zip(STAT_NAMES, (
        totals.sessions, totals.visitors, totals.users, totals.page_views, totals.pages_per_session,
        totals.bounce_rate, totals.avg_session_duration_seconds, totals.median_duration_seconds,
        totals.returning_visitors, totals.return_visit_rate, totals.bot_sessions), strict=True))


async def _stats(conn: AsyncConnection, period: Period, compare: Compare | None,
                 include_bots: bool) -> dict[str, Any]:
    """Session figures with, when compared, ``previous`` and ``change`` (percent)."""
    current = _figures(await stats.session_totals(conn, period=period, include_bots=include_bots))
    if compare is None:
        return {**current, "previous": None, "change": None}
    before = comparison(period, compare)
    previous = _figures(await stats.session_totals(conn, period=before, include_bots=include_bots))
    return {**current, "previous": {**previous, "period": period_json(before)},
            "change": {k: metrics.percent_change(current[k], previous[k]) for k in STAT_NAMES}}


def _stat_rows(figures: dict[str, Any]) -> list[dict[str, Any]]:
    previous, change = figures["previous"] or {}, figures["change"] or {}
    return [{"metric": name, "value": figures[name], "previous": previous.get(name),
             "change %": change.get(name)} for name in STAT_NAMES]


def _breakdown_rows(rows: list[stats.BreakdownRow], *names: str) -> list[dict[str, Any]]:
    return [{**dict(zip(names, r.keys, strict=True)), "sessions": r.counts.sessions,
             "visitors": r.counts.visitors, "share": r.share, "bounceRate": r.counts.bounce_rate,
             "avgSessionDurationSeconds": r.counts.avg_session_duration_seconds} for r in rows]


async def _breakdowns(conn: AsyncConnection, period: Period, include_bots: bool, limit: int,
                      wanted: dict[str, tuple[str, ...]]) -> dict[str, list[dict[str, Any]]]:
    return {name: _breakdown_rows(await stats.breakdown(conn, dimension=dimension, period=period,
                                                        include_bots=include_bots, limit=limit), *keys)
            for name, (dimension, *keys) in wanted.items()}


def overview(since: str = Since, until: str | None = Until, tenant: str | None = TenantName,
             compare: str = CompareWith, include_bots: bool = IncludeBots, as_json: bool = AsJson,
             export: Path | None = Export, data_dir: Path | None = DataDir) -> None:
    """Dashboard overview: sessions, visitors, bounce rate, returning visitors, bots filtered out, top
    sources, tours and content, compared with the previous period."""
    from analytics.content import stats as content_stats
    from analytics.tours import stats as tour_stats

    async def build(conn: AsyncConnection, owner: Tenant) -> dict[str, Any]:
        period = tenant_period(since, until, owner)
        tours = await tour_stats.overview(conn, period=period, include_bots=include_bots)
        sources = await _breakdowns(conn, period, include_bots, 5, {"topSources": ("sources", "source")})
        content = await content_stats.content_figures(conn, content_id=None, period=period,
                                                      include_bots=include_bots)
        return {"tenant": owner.name, "period": period_json(period),
                "sessions": await _stats(conn, period, compare_choice(compare), include_bots), **sources,
                "tours": {"activeTours": tours.active_tours, "starts": tours.totals.starts,
                          "completions": tours.totals.completions,
                          "completionRate": tours.totals.completion_rate},
                "content": {"views": content["views"], "uniqueViews": content["unique_views"],
                            "ctaClicks": content["cta_clicks"], "conversions": content["conversions"],
                            "conversionRate": content["conversion_rate"]}}

    result = read_report(tenant, data_dir, lambda: (compare_choice(compare), check_range(since, until)),
                         build)
    emit(console, heading=heading("overview", result), as_json=as_json, export=export, payload=result,
         sections=[Section("sessions", _stat_rows(result["sessions"])),
                   Section("top sources", result["topSources"]),
                   Section("tours", [{"metric": k, "value": v} for k, v in result["tours"].items()]),
                   Section("content", [{"metric": k, "value": v} for k, v in result["content"].items()])])


@sessions_app.command("stats")
def sessions_stats(since: str = Since, until: str | None = Until, tenant: str | None = TenantName,
                   compare: str = CompareWith, include_bots: bool = IncludeBots, as_json: bool = AsJson,
                   export: Path | None = Export, data_dir: Path | None = DataDir) -> None:
    """Sessions, visitors, users, page views, bounce rate, durations and returning visitors."""
    async def build(conn: AsyncConnection, owner: Tenant) -> dict[str, Any]:
        period = tenant_period(since, until, owner)
        return {"tenant": owner.name, "period": period_json(period),
                **await _stats(conn, period, compare_choice(compare), include_bots)}

    result = read_report(tenant, data_dir, lambda: (compare_choice(compare), check_range(since, until)),
                         build)
    emit(console, heading=heading("session stats", result), payload=result, as_json=as_json,
         export=export, sections=[Section("sessions", _stat_rows(result))])


@sessions_app.command("trends")
def sessions_trends(since: str = SinceWeek, until: str | None = Until, tenant: str | None = TenantName,
                    group_by: str | None = typer.Option(
                        None, "--group-by",
                        help="hour, day, week or month (default: from the range's length)."),
                    include_bots: bool = IncludeBots, as_json: bool = AsJson, export: Path | None = Export,
                    data_dir: Path | None = DataDir) -> None:
    """Sessions, visitors, page views and bounce rate per hour, day or week (empty buckets as zeros)."""
    def granularity(period: Period) -> tuple[Granularity, list[Any]]:
        if group_by is not None and group_by.upper() not in Granularity.__members__:
            raise InvalidArgument("--group-by", "must be hour, day, week or month")
        chosen = Granularity[group_by.upper()] if group_by else default_granularity(period)
        try:
            return chosen, bucket_starts(period, chosen)
        except _PeriodError as exc:
            raise InvalidArgument("--group-by", exc.message) from None

    async def build(conn: AsyncConnection, owner: Tenant) -> dict[str, Any]:
        period = tenant_period(since, until, owner)
        chosen, starts = granularity(period)
        points = await stats.session_series(conn, period=period, granularity=chosen, bucket_starts=starts,
                                            include_bots=include_bots)
        return {"tenant": owner.name, "period": period_json(period), "groupBy": chosen.value.lower(),
                "points": [{"start": p.start.astimezone(period.tz).isoformat(), "sessions": p.counts.sessions,
                            "visitors": p.counts.visitors, "pageViews": p.counts.page_views,
                            "bounceRate": p.counts.bounce_rate} for p in points]}

    result = read_report(tenant, data_dir, lambda: granularity(check_range(since, until)), build)
    emit(console, heading=heading(f"sessions per {result['groupBy']}", result), payload=result,
         sections=[Section("trends", result["points"])], as_json=as_json, export=export)


@sessions_app.command("live")
def sessions_live(limit: int = typer.Option(20, "--limit", min=1, max=500,
                                            help="Most sessions shown (1-500)."),
                  tenant: str | None = TenantName, include_bots: bool = IncludeBots, as_json: bool = AsJson,
                  export: Path | None = Export, data_dir: Path | None = DataDir) -> None:
    """Sessions with an event in the last 5 minutes, most recently active first."""
    async def build(conn: AsyncConnection, owner: Tenant) -> dict[str, Any]:
        tz = ZoneInfo(owner.timezone)
        rows = await stats.live_sessions(conn, include_bots=include_bots, limit=limit)
        return {"tenant": owner.name, "sessions": [
            {"id": str(r.id), "startedAt": r.started_at.astimezone(tz).isoformat(),
             "lastSeenAt": r.last_seen_at.astimezone(tz).isoformat(), "durationSeconds": r.duration_seconds,
             "pageViews": r.page_views, "landingPage": r.landing_page, "exitPage": r.exit_page,
             "source": r.referrer_source, "country": r.country, "deviceType": r.device_type,
             "browser": r.browser, "excluded": r.excluded} for r in rows]}

    result = read_report(tenant, data_dir, lambda: None, build)
    emit(console, heading=f"live sessions of {result['tenant']} (last 5 minutes)", payload=result,
         sections=[Section("live sessions", result["sessions"])], as_json=as_json, export=export)


def _traffic(what: str, wanted: dict[str, tuple[str, ...]]) -> Callable[..., None]:
    """A ``traffic`` command printing one table per breakdown in ``wanted``."""
    def command(since: str = Since, until: str | None = Until, limit: int = Limit,
                tenant: str | None = TenantName, include_bots: bool = IncludeBots, as_json: bool = AsJson,
                export: Path | None = Export, data_dir: Path | None = DataDir) -> None:
        async def build(conn: AsyncConnection, owner: Tenant) -> dict[str, Any]:
            period = tenant_period(since, until, owner)
            return {"tenant": owner.name, "period": period_json(period),
                    **await _breakdowns(conn, period, include_bots, limit, wanted)}

        result = read_report(tenant, data_dir, lambda: check_range(since, until), build)
        emit(console, heading=heading(f"traffic {what}", result), payload=result, as_json=as_json,
             export=export, sections=[Section(name, result[name]) for name in wanted])

    return command


traffic_app.command("sources", help="Sessions by source (direct, organic_search, social, referral, email, "
                                    "paid), by referring site and by UTM campaign.")(
    _traffic("sources", {"sources": ("sources", "source"), "referrers": ("referrers", "referrer"),
                         "campaigns": ("campaigns", "utmSource", "utmMedium", "utmCampaign")}))
traffic_app.command("geo", help="Sessions by country and by region.")(
    _traffic("geo", {"countries": ("countries", "country"), "regions": ("regions", "country", "region")}))
traffic_app.command("devices", help="Sessions by device type, browser and operating system.")(
    _traffic("devices", {"devices": ("devices", "deviceType"), "browsers": ("browsers", "browser"),
                         "operatingSystems": ("operating_systems", "os")}))


@traffic_app.command("bots")
def traffic_bots(since: str = Since, until: str | None = Until, limit: int = Limit,
                 tenant: str | None = TenantName, as_json: bool = AsJson, export: Path | None = Export,
                 data_dir: Path | None = DataDir) -> None:
    """What the bot filter removed: sessions by tier (1 user agent, 2 scanner, 3 behavioural), by reason,
    by day and by user agent."""
    async def build(conn: AsyncConnection, owner: Tenant) -> dict[str, Any]:
        period = tenant_period(since, until, owner)
        summary = await stats.bot_summary(conn, period=period)
        days = await stats.bot_days(conn, period=period)
        agents = await stats.bot_user_agents(conn, period=period, limit=limit)
        tiers = ("user_agent", "scanner", "behavioural")
        return {
            "tenant": owner.name, "period": period_json(period), "totalSessions": summary.total_sessions,
            "excludedSessions": summary.excluded_sessions, "excludedShare": summary.excluded_share,
            "byTier": [{"tier": i + 1, "name": name, "sessions": summary.by_tier[i]}
                       for i, name in enumerate(tiers)],
            "byReason": [{"tier": r.tier, "code": r.code, "sessions": r.sessions} for r in summary.by_reason],
            "byDay": [{"date": d.day.isoformat(), "sessions": d.sessions, "userAgent": d.by_tier[0],
                       "scanner": d.by_tier[1], "behavioural": d.by_tier[2]} for d in days],
            "byUserAgent": [{"userAgent": a.user_agent, "sessions": a.sessions, "tiers": list(a.tiers)}
                            for a in agents]}

    result = read_report(tenant, data_dir, lambda: check_range(since, until), build)
    title = (heading("bot traffic", result) + f"\n{result['excludedSessions']} of "
               f"{result['totalSessions']} sessions excluded ({result['excludedShare'] or 0:.2f}%)")
    emit(console, heading=title, payload=result, as_json=as_json, export=export,
         sections=[Section("by tier", result["byTier"]), Section("by reason", result["byReason"]),
                   Section("by day", result["byDay"]), Section("by user agent", result["byUserAgent"])])
