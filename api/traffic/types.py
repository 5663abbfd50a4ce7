"""Traffic types: sessions by source, referrer, campaign, place, device, and the bot filter's report."""

from __future__ import annotations

from datetime import date
from typing import TypeVar

import strawberry

from analytics.periods import MAX_BUCKETS, PeriodError
from analytics.periods import Period as DomainPeriod
from analytics.sessions import stats
from api.common import Period, check_limit, compared, selected_names
from api.context import AppInfo
from api.errors import BadInput

MAX_ROWS = 500
TIERS = {1: "user_agent", 2: "scanner", 3: "behavioural"}


@strawberry.type(description="Relative change in percent against the comparison period (null when the "
                             "previous value is 0 or missing).")
class TrafficChange:
    sessions: float | None
    visitors: float | None
    share: float | None
    bounce_rate: float | None
    avg_session_duration_seconds: float | None


@strawberry.type(description="Figures of the sessions in one row of a breakdown.")
class TrafficFigures:
    sessions: int = strawberry.field(description="Sessions that started in the period with this value.")
    visitors: int = strawberry.field(description="Distinct visitor ids of those sessions.")
    share: float | None = strawberry.field(
        description="sessions / all sessions of the period * 100 (all sessions, with or without a value "
                    "for this breakdown).")
    bounce_rate: float | None = strawberry.field(description="Bounced sessions / sessions * 100.")
    avg_session_duration_seconds: float | None = strawberry.field(
        description="Mean of (last event - first event) over these sessions, in seconds.")

    @staticmethod
    def values(row: stats.BreakdownRow) -> dict[str, object]:
        return {"sessions": row.counts.sessions, "visitors": row.counts.visitors, "share": row.share,
                "bounce_rate": row.counts.bounce_rate,
                "avg_session_duration_seconds": row.counts.avg_session_duration_seconds}


@strawberry.type(description="Figures of the sessions in one row of a breakdown, optionally compared.")
class TrafficCounts(TrafficFigures):
    previous: TrafficFigures | None = strawberry.field(
        description="The same row's figures in the comparison period (zeros when it had none there), when "
                    "compare is given.")
    change: TrafficChange | None

    @classmethod
    def compared(cls, row: stats.BreakdownRow, before: Before) -> dict[str, object]:
        """The row's values with ``previous`` and ``change`` (``before``: the comparison period's rows
        by key, None without compare)."""
        values = cls.values(row)
        return {**values, **compared(TrafficFigures, TrafficChange, values,
                                     cls.values(before[row.keys]) if before is not None else None)}


Before = dict[tuple[str | None, ...], stats.BreakdownRow] | None
Row = TypeVar("Row", bound=TrafficCounts)


@strawberry.type(description="Sessions with one value of a breakdown; key null means unknown.")
class TrafficRow(TrafficCounts):
    key: str | None = strawberry.field(description="The breakdown's value (source, host, country...).")

    @classmethod
    def of(cls, row: stats.BreakdownRow, before: Before = None) -> TrafficRow:
        return cls(key=row.keys[0], **cls.compared(row, before))  # type: ignore[arg-type]


@strawberry.type(description="Sessions from one region of a country.")
class RegionRow(TrafficCounts):
    country: str | None = strawberry.field(description="ISO 3166-1 alpha-2 code.")
    region: str = strawberry.field(description="Subdivision code or name.")

    @classmethod
    def of(cls, row: stats.BreakdownRow, before: Before = None) -> RegionRow:
        return cls(country=row.keys[0], region=row.keys[1] or "",
                   **cls.compared(row, before))  # type: ignore[arg-type]


@strawberry.type(description="Sessions with one combination of UTM tags (a missing tag is null).")
class CampaignRow(TrafficCounts):
    utm_source: str | None = strawberry.field(description="utm_source of the entry URL.")
    utm_medium: str | None = strawberry.field(description="utm_medium of the entry URL.")
    utm_campaign: str | None = strawberry.field(description="utm_campaign of the entry URL.")

    @classmethod
    def of(cls, row: stats.BreakdownRow, before: Before = None) -> CampaignRow:
        source, medium, campaign = row.keys
        return cls(utm_source=source, utm_medium=medium, utm_campaign=campaign,
                   **cls.compared(row, before))  # type: ignore[arg-type]


@strawberry.type(description="Sessions flagged by one bot tier.")
class BotTierCount:
    tier: int = strawberry.field(description="1: user agent (isBot), 2: scanner (isScanner), "
                                             "3: behavioural (isBehaviouralBot).")
    name: str = strawberry.field(description="user_agent, scanner or behavioural.")
    sessions: int = strawberry.field(description="Sessions flagged by this tier (a session may be flagged "
                                                 "by several).")


@strawberry.type(description="Flagged sessions with one reason.")
class BotReasonCount:
    tier: int = strawberry.field(description="1: user agent, 2: scanner, 3: behavioural.")
    code: str = strawberry.field(
        description="Tiers 1 and 2: the stored reason code (ua_crawler, ua_ai_crawler, scan_path...); "
                    "tier 3: the behavioural signal that fired (request_velocity...).")
    sessions: int = strawberry.field(description="Flagged sessions with this reason.")


@strawberry.type(description="Excluded sessions of one local day.")
class BotDayCount:
    date: date = strawberry.field(description="Local day (tenant time zone) the sessions started.")
    sessions: int = strawberry.field(description="Excluded sessions (any tier).")
    user_agent: int = strawberry.field(description="Of which flagged by tier 1.")
    scanner: int = strawberry.field(description="Of which flagged by tier 2.")
    behavioural: int = strawberry.field(description="Of which flagged by tier 3.")


@strawberry.type(description="Excluded sessions with one user agent.")
class BotAgentCount:
    user_agent: str | None = strawberry.field(description="The user agent; null when none was sent.")
    sessions: int = strawberry.field(description="Excluded sessions with this user agent.")
    tiers: list[int] = strawberry.field(description="Tiers that flagged them.")


@strawberry.type(description="What the bot filter removed from the period: every session that started in "
                             "it, whatever includeBots says.")
class BotTraffic:
    period: Period
    total_sessions: int = strawberry.field(description="All sessions, bots included.")
    excluded_sessions: int = strawberry.field(description="Sessions flagged by any tier.")
    excluded_share: float | None = strawberry.field(description="excludedSessions / totalSessions * 100.")
    by_tier: list[BotTierCount] = strawberry.field(description="Tiers 1, 2 and 3, in that order.")
    by_reason: list[BotReasonCount] = strawberry.field(description="Most sessions first.")
    unknown_agent_sessions: int = strawberry.field(description=(
        "Sessions a server or relay sent without the end user's agent (device type unknown): counted as "
        "people unless the tenant excludes them (setUnknownAgents), then tier-1 reason unknown_agent."))
    domain_period: strawberry.Private[DomainPeriod]
    content_id: strawberry.Private[str | None] = None

    @classmethod
    def of(cls, summary: stats.BotSummary, content_id: str | None = None) -> BotTraffic:
        return cls(
            period=Period.of(summary.period), domain_period=summary.period, content_id=content_id,
            total_sessions=summary.total_sessions, excluded_sessions=summary.excluded_sessions,
            excluded_share=summary.excluded_share,
            by_tier=[BotTierCount(tier=t, name=TIERS[t], sessions=summary.by_tier[t - 1]) for t in TIERS],
            by_reason=[BotReasonCount(tier=r.tier, code=r.code, sessions=r.sessions)
                       for r in summary.by_reason],
            unknown_agent_sessions=summary.unknown_agent_sessions,
        )

    @strawberry.field(description=f"Every local day of the period, zeros included (at most {MAX_BUCKETS} "
                                  "days).")
    async def by_day(self, info: AppInfo) -> list[BotDayCount]:
        async with info.context.read() as conn:
            try:
                days = await stats.bot_days(conn, period=self.domain_period, content_id=self.content_id)
            except PeriodError as exc:
                raise BadInput(exc.field, exc.message) from None
        return [BotDayCount(date=d.day, sessions=d.sessions, user_agent=d.by_tier[0], scanner=d.by_tier[1],
                            behavioural=d.by_tier[2]) for d in days]

    @strawberry.field(description="User agents of the excluded sessions, most sessions first.")
    async def by_user_agent(self, info: AppInfo, limit: int = 10) -> list[BotAgentCount]:
        check_limit("limit", limit, MAX_ROWS)
        async with info.context.read() as conn:
            agents = await stats.bot_user_agents(conn, period=self.domain_period, limit=limit,
                                                 content_id=self.content_id)
        return [BotAgentCount(user_agent=a.user_agent, sessions=a.sessions, tiers=list(a.tiers))
                for a in agents]


async def breakdown_rows(info: AppInfo, dimension: str, period: DomainPeriod, include_bots: bool,
                         limit: int, compared: DomainPeriod | None = None, content_id: str | None = None
                         ) -> tuple[list[stats.BreakdownRow], Before]:
    """The period's top rows and, with ``compared``, the same keys' rows in that period (of the
    sessions that used ``content_id`` when given)."""
    check_limit("limit", limit, MAX_ROWS)
    # Distinct visitors per key cost a count over the period's visitor rows (and users the session
    # rows), so only rows that show them compute them (the overview's top sources and pages do not).
    people = bool(_PEOPLE & selected_names(info))
    async with info.context.read() as conn:
        rows = await stats.breakdown(conn, dimension=dimension, period=period, include_bots=include_bots,
                                     limit=limit, content_id=content_id, people=people)
        if compared is None:
            return rows, None
        # The comparison period's people only when a previous figure or a change shows them.
        people_before = bool(_PEOPLE & selected_names(info, under=_COMPARED))
        return rows, await stats.breakdown_of(conn, dimension=dimension, period=compared,
                                              include_bots=include_bots, keys=[r.keys for r in rows],
                                              content_id=content_id, people=people_before)


_PEOPLE = frozenset({"visitors", "users"})
_COMPARED = frozenset({"previous", "change"})


@strawberry.type(description="Where sessions came from and on what, ranked by sessions (ties by key). "
                             "Bot sessions are left out unless includeBots is true; `bots` always "
                             "reports them.")
class Traffic:
    period: Period
    comparison_period: Period | None = strawberry.field(
        description="The period the rows' previous figures come from, when compare is given.")
    include_bots: bool = strawberry.field(description="Whether bot sessions are counted (the argument).")
    domain_period: strawberry.Private[DomainPeriod]
    compared: strawberry.Private[DomainPeriod | None] = None
    content_id: strawberry.Private[str | None] = None  # a capsule's audience only

    async def _rows(self, info: AppInfo, row: type[Row], dimension: str, limit: int) -> list[Row]:
        rows, before = await breakdown_rows(info, dimension, self.domain_period, self.include_bots, limit,
                                            self.compared, self.content_id)
        return [row.of(r, before) for r in rows]  # type: ignore[attr-defined]

    @strawberry.field(description="By referrer source: direct, organic_search, social, referral, email or "
                                  "paid.")
    async def sources(self, info: AppInfo, limit: int = 10) -> list[TrafficRow]:
        return await self._rows(info, TrafficRow, "sources", limit)

    @strawberry.field(description="By referrer host (lower case, without www.), for sessions whose source "
                                  "is not direct (self-referrals count as direct).")
    async def referrers(self, info: AppInfo, limit: int = 10) -> list[TrafficRow]:
        return await self._rows(info, TrafficRow, "referrers", limit)

    @strawberry.field(description="By utm_source / utm_medium / utm_campaign, for sessions with any of them.")
    async def campaigns(self, info: AppInfo, limit: int = 10) -> list[CampaignRow]:
        return await self._rows(info, CampaignRow, "campaigns", limit)

    @strawberry.field(description="By country (ISO 3166-1 alpha-2; null: unknown).")
    async def countries(self, info: AppInfo, limit: int = 10) -> list[TrafficRow]:
        return await self._rows(info, TrafficRow, "countries", limit)

    @strawberry.field(description="By country and region, for sessions with a known region.")
    async def regions(self, info: AppInfo, limit: int = 10) -> list[RegionRow]:
        return await self._rows(info, RegionRow, "regions", limit)

    @strawberry.field(description="By device type: desktop, mobile, tablet, bot, other, unknown (a server "
                                  "or relay sent the events without the end user's agent).")
    async def devices(self, info: AppInfo, limit: int = 10) -> list[TrafficRow]:
        return await self._rows(info, TrafficRow, "devices", limit)

    @strawberry.field(description="By browser family (null: unknown).")
    async def browsers(self, info: AppInfo, limit: int = 10) -> list[TrafficRow]:
        return await self._rows(info, TrafficRow, "browsers", limit)

    @strawberry.field(description="By operating system family (null: unknown).")
    async def operating_systems(self, info: AppInfo, limit: int = 10) -> list[TrafficRow]:
        return await self._rows(info, TrafficRow, "operating_systems", limit)

    @strawberry.field(description="What the bot filter removed, by tier, reason, day and user agent "
                                  "(regardless of includeBots).")
    async def bots(self, info: AppInfo) -> BotTraffic:
        async with info.context.read() as conn:
            return BotTraffic.of(await stats.bot_summary(conn, period=self.domain_period,
                                                         content_id=self.content_id), self.content_id)
