"""The ``tenant`` root: everything a secret key may read about its own tenant."""

from __future__ import annotations

import strawberry

from analytics import persisted
from analytics.experiments.definitions import ExperimentStatus
from analytics.tenants.service import tenant_name
from api.ai import queries as ai_queries
from api.ai.queries import Agent, Agents, Conversations, Costs, Requests, Tool, Tools
from api.ai.types import ModelPrice
from api.bots.rules import BotRule, bot_rules, scanner_exemptions
from api.common import Compare, Granularity, IncludeBots, RangeInput
from api.content import queries as content_queries
from api.content.queries import ContentAnalytics
from api.content.types import Capsule
from api.context import AppInfo
from api.custom_events import queries as event_queries
from api.custom_events.queries import CustomEvent, EventSummary
from api.custom_events.types import EventDefinition
from api.experiments import queries as experiment_queries
from api.experiments.types import Experiment, ExperimentMetric
from api.export_jobs import ExportJob, export_job
from api.persisted.mutations import PersistedDocument
from api.product import features as feature_queries
from api.product import funnels as funnel_queries
from api.product.features import Feature, FeatureAdoption
from api.product.funnels import ProductFunnel
from api.product.usage import Usage, usage
from api.segments import queries as segment_queries
from api.segments.queries import Segment
from api.segments.types import MembersArgument, SegmentArgument, SegmentSummary, SegmentThresholds
from api.sessions import queries as session_queries
from api.sessions.types import (
    ReadingPatterns,
    Session,
    SessionConnection,
    SessionFilter,
    SessionSeries,
    SessionStats,
)
from api.tenants.mutations import tenant_allowed_origins, tenant_privacy_signals
from api.tenants.retention import Retention, tenant_retention
from api.tours import queries as tour_queries
from api.tours.queries import TourConnection, ToursOverview
from api.tours.types import SelectorHealth, Tour, TourSeries
from api.traffic import queries as traffic_queries
from api.traffic.types import Traffic
from api.users import privacy


@strawberry.type(description="The tenant the API key belongs to; every field is scoped to it.")
class Tenant:
    id: strawberry.ID
    timezone: str = strawberry.field(description="IANA zone in which days and hours are counted.")

    @strawberry.field(description="The tenant's unique name (as given to `analytics tenants create`).")
    async def name(self, info: AppInfo) -> str:
        async with info.context.read() as conn:
            return await tenant_name(conn, int(self.id))

    @strawberry.field(description="Tours seen in events or defined, by id; paginated.")
    async def tours(self, info: AppInfo, first: int = 50, after: str | None = None) -> TourConnection:
        return await tour_queries.tours_page(info, first, after)

    @strawberry.field(description="One tour by id; null when the tenant has no such tour.")
    async def tour(self, info: AppInfo, id: str) -> Tour | None:
        return await tour_queries.tour_by_id(info, id)

    @strawberry.field(description="The dashboard across everything: active tours, combined completion "
                                  "rate, top tour and the tour that needs attention; sessions and top "
                                  "traffic sources of the same range.")
    async def overview(self, info: AppInfo, range: RangeInput, compare: Compare | None = None,
                       include_bots: IncludeBots = False) -> ToursOverview:
        return await tour_queries.tours_overview(info, range, compare, include_bots)

    @strawberry.field(description="All tours' counters per bucket.")
    async def tour_series(self, info: AppInfo, range: RangeInput, granularity: Granularity | None = None,
                          include_bots: IncludeBots = False) -> TourSeries:
        return await tour_queries.all_tours_series(info, range, granularity, include_bots)

    @strawberry.field(description="Broken selectors across all tours and content, ranked.")
    async def selector_health(self, info: AppInfo, range: RangeInput, limit: int = 20,
                              include_bots: IncludeBots = False) -> SelectorHealth:
        return await tour_queries.tenant_selector_health(info, range, limit, include_bots)

    @strawberry.field(description="Trusted documents registered for this tenant (persisted queries).")
    async def persisted_documents(self, info: AppInfo) -> list[PersistedDocument]:
        async with info.context.read() as conn:
            documents = await persisted.list_documents(conn)
        return [PersistedDocument(id=d.id, sha256=d.sha256, operation_name=d.operation_name,
                                  operation_type=d.operation_type) for d in documents]

    @strawberry.field(description="Whether only registered documents may run for this tenant "
                                  "(allowlist mode, per tenant or server-wide).")
    def allowlist_only(self, info: AppInfo) -> bool:
        return info.context.resources.persisted.allowlist(info.context.require_secret())

    @strawberry.field(description="The tenant's bot rules (addBotRule) and their retroactive runs.")
    async def bot_rules(self, info: AppInfo) -> list[BotRule]:
        return await bot_rules(info)

    @strawberry.field(description="The scanner path rules this tenant's own site needs "
                                  "(setScannerExemptions).")
    async def scanner_exemptions(self, info: AppInfo) -> list[str]:
        return await scanner_exemptions(info)

    @strawberry.field(description="Origins whose pages may read this tenant's secret-key answers in a "
                                  "browser (setAllowedOrigins); empty by default.")
    def allowed_origins(self, info: AppInfo) -> list[str]:
        return tenant_allowed_origins(info)

    @strawberry.field(description="Whether events sent with Do Not Track or Global Privacy Control are "
                                  "dropped at ingest (setPrivacySignals).")
    def honours_privacy_signals(self, info: AppInfo) -> bool:
        return tenant_privacy_signals(info)

    @strawberry.field(description="How long raw events, counters, sessions and content facts are kept "
                                  "(secret key).")
    async def retention(self, info: AppInfo) -> Retention:
        return await tenant_retention(info)

    @strawberry.field(description="An export job started with startExport; null when unknown.")
    async def export_job(self, info: AppInfo, id: strawberry.ID) -> ExportJob | None:
        return await export_job(info, id)

    @strawberry.field(description="Visitor sessions that started in the range, newest first; paginated. "
                                  "Bot sessions are left out unless includeBots is true (a filter on bot "
                                  "flags needs includeBots: true).")
    async def sessions(self, info: AppInfo, range: RangeInput, first: int = 50, after: str | None = None,
                       filter: SessionFilter | None = None,
                       include_bots: IncludeBots = False,
                       segment: SegmentArgument = None) -> SessionConnection:
        return await session_queries.sessions_page(info, range, first, after, filter, include_bots, segment)

    @strawberry.field(description="Sessions, visitors, users, page views, bounce rate, durations and "
                                  "returning visitors of the sessions that started in the range.")
    async def session_stats(self, info: AppInfo, range: RangeInput, compare: Compare | None = None,
                            include_bots: IncludeBots = False,
                            segment: SegmentArgument = None) -> SessionStats:
        return await session_queries.session_stats(info, range, compare, include_bots, segment)

    @strawberry.field(description="Sessions, visitors, page views and bounce rate per bucket.")
    async def session_series(self, info: AppInfo, range: RangeInput, granularity: Granularity | None = None,
                             include_bots: IncludeBots = False) -> SessionSeries:
        return await session_queries.session_series(info, range, granularity, include_bots)

    @strawberry.field(description="Sessions with an event in the last 5 minutes, most recently active first "
                                  "(limit at most 500).")
    async def live_sessions(self, info: AppInfo, limit: int = 20,
                            include_bots: IncludeBots = False) -> list[Session]:
        return await session_queries.live_sessions(info, limit, include_bots)

    @strawberry.field(description="Page views of the sessions that started in the range, by reading "
                                  "pattern (bounce, scanner, reader, engaged, skimmer), optionally "
                                  "compared.")
    async def reading_patterns(self, info: AppInfo, range: RangeInput, compare: Compare | None = None,
                               include_bots: IncludeBots = False) -> ReadingPatterns:
        return await session_queries.reading_patterns(info, range, compare, include_bots)

    @strawberry.field(description="Traffic of the sessions that started in the range: sources, referrers, "
                                  "campaigns, places, devices, and what the bot filter removed; with "
                                  "compare, each row also has its figures in the comparison period.")
    def traffic(self, info: AppInfo, range: RangeInput, compare: Compare | None = None,
                include_bots: IncludeBots = False) -> Traffic:
        return traffic_queries.traffic(info, range, compare, include_bots)

    @strawberry.field(description="Content (capsule) performance over the range: stats, top items by "
                                  "views, trends and popular items by engaged time.")
    def content(self, info: AppInfo, range: RangeInput,
                include_bots: IncludeBots = False) -> ContentAnalytics:
        return content_queries.content(info, range, include_bots)

    @strawberry.field(description="One content item (capsule) by its contentId; null when no event of it "
                                  "was ever counted.")
    async def capsule(self, info: AppInfo, id: str) -> Capsule | None:
        return await content_queries.capsule_by_id(info, id)

    @strawberry.field(description="The four built-in segments and the tenant's rule segments with size, "
                                  "share and mean engagement as of the range's end (analytics.segments).")
    async def segments(self, info: AppInfo, range: RangeInput) -> list[SegmentSummary]:
        return await segment_queries.segments(info, range)

    @strawberry.field(description="One segment by id (power, regular, new, at_risk or a rule segment's id); "
                                  "null when unknown.")
    async def segment(self, info: AppInfo, id: str) -> Segment | None:
        return await segment_queries.segment(info, id)

    @strawberry.field(description="The engagement window and thresholds of the built-in segments.")
    async def segment_thresholds(self, info: AppInfo) -> SegmentThresholds:
        return await segment_queries.segment_thresholds(info)

    @strawberry.field(description="The tenant's features (defineFeature), by name.")
    async def features(self, info: AppInfo) -> list[Feature]:
        return await feature_queries.list_features(info)

    @strawberry.field(description="Feature adoption over the range: per feature the usage count, unique "
                                  "users, adoption rate (unique users / active users * 100) and its trend "
                                  "(UP / DOWN beyond ±5 % relative change of the rate against the "
                                  "comparison period, else STABLE), reference 001.")
    async def feature_adoption(self, info: AppInfo, range: RangeInput, compare: Compare | None = None,
                               include_bots: IncludeBots = False,
                               segment: MembersArgument = None) -> FeatureAdoption:
        return await feature_queries.feature_adoption(info, range, compare, include_bots, segment)

    @strawberry.field(description="Usage trends over the range: total and active users, DAU / WAU / MAU "
                                  "and stickiness, page views, unique visitors, mean session duration, "
                                  "bounce rate (figures and series), top pages and traffic sources.")
    async def usage(self, info: AppInfo, range: RangeInput, granularity: Granularity | None = None,
                    compare: Compare | None = None, include_bots: IncludeBots = False) -> Usage:
        return await usage(info, range, granularity, compare, include_bots)

    @strawberry.field(description="Whether this tenant's business gauges are on the API's /metrics "
                                  "(setBusinessMetrics).")
    async def business_metrics(self, info: AppInfo) -> bool:
        return await feature_queries.business_metrics_setting(info)

    @strawberry.field(description="Custom event names with events in the range, most events first (limit at "
                                  "most 500), with distinct users and, with compare, the previous figures "
                                  "and their change.")
    async def events(self, info: AppInfo, range: RangeInput, compare: Compare | None = None,
                     include_bots: IncludeBots = False, limit: int = 50) -> list[EventSummary]:
        return await event_queries.events_list(info, range, compare, include_bots, limit)

    @strawberry.field(description="One Custom event name; null when it is neither defined nor ever counted.")
    async def event(self, info: AppInfo, name: str) -> CustomEvent | None:
        return await event_queries.event_by_name(info, name)

    @strawberry.field(description="The tenant's event definitions by name (defineEvent), first (at most "
                                  "500) of them after the name given as after.")
    async def event_definitions(self, info: AppInfo, first: int = 100,
                                after: str | None = None) -> list[EventDefinition]:
        return await event_queries.event_definitions(info, first, after)

    @strawberry.field(description="Whether only defined Custom event names are accepted (setEventAllowlist).")
    async def event_allowlist(self, info: AppInfo) -> bool:
        return await event_queries.event_allowlist(info)

    @strawberry.field(description="The tenant's funnels (defineFunnel), oldest first (at most 50).")
    async def funnels(self, info: AppInfo) -> list[ProductFunnel]:
        return await funnel_queries.funnels_of(info)

    @strawberry.field(description="One funnel by id; null when the tenant has no such funnel.")
    async def funnel(self, info: AppInfo, id: strawberry.ID) -> ProductFunnel | None:
        return await funnel_queries.funnel_by_id(info, id)

    @strawberry.field(description="An erasure request (eraseUser) and its audit record; null when unknown.")
    async def erasure(self, info: AppInfo, id: strawberry.ID) -> privacy.Erasure | None:
        return await privacy.erasure_by_id(info, id)

    @strawberry.field(description=f"The latest erasure requests first (first: at most "
                                  f"{privacy.MAX_ERASURES}).")
    async def erasures(self, info: AppInfo, first: int = 20) -> list[privacy.Erasure]:
        return await privacy.erasures(info, first)

    @strawberry.field(description="A person's access export (exportUser); null when unknown.")
    async def user_export(self, info: AppInfo, id: strawberry.ID) -> privacy.UserExport | None:
        return await privacy.user_export_by_id(info, id)

    @strawberry.field(description="What AI requests and tool calls cost over a range (US dollars).")
    def costs(self, info: AppInfo, range: RangeInput, include_bots: IncludeBots = False) -> Costs:
        return ai_queries.costs(info, range, include_bots)

    @strawberry.field(description="AI requests over a range: statistics, single requests, trends, models.")
    def requests(self, info: AppInfo, range: RangeInput, include_bots: IncludeBots = False) -> Requests:
        return ai_queries.requests(info, range, include_bots)

    @strawberry.field(description="AI agents over a range.")
    def agents(self, info: AppInfo, range: RangeInput, include_bots: IncludeBots = False) -> Agents:
        return ai_queries.agents(info, range, include_bots)

    @strawberry.field(description="One AI agent by name over a range (zeros when it has no events).")
    def agent(self, info: AppInfo, name: str, range: RangeInput, include_bots: IncludeBots = False) -> Agent:
        return ai_queries.agent(info, name, range, include_bots)

    @strawberry.field(description="Tool calls over a range.")
    def tools(self, info: AppInfo, range: RangeInput, include_bots: IncludeBots = False) -> Tools:
        return ai_queries.tools(info, range, include_bots)

    @strawberry.field(description="One tool by name over a range.")
    def tool(self, info: AppInfo, name: str, range: RangeInput, include_bots: IncludeBots = False) -> Tool:
        return ai_queries.tool(info, name, range, include_bots)

    @strawberry.field(description="AI conversations over a range.")
    def conversations(self, info: AppInfo, range: RangeInput,
                      include_bots: IncludeBots = False) -> Conversations:
        return ai_queries.conversations(info, range, include_bots)

    @strawberry.field(description="The price table: library (genai-prices) rows of the models seen and your "
                                  "own (setModelPrice), at most 1000 rows.")
    async def model_prices(self, info: AppInfo, provider: str | None = None,
                           model: str | None = None) -> list[ModelPrice]:
        return await ai_queries.model_prices(info, provider, model)

    @strawberry.field(description="Experiments, newest first (first: at most 100), optionally by status.")
    async def experiments(self, info: AppInfo, status: ExperimentStatus | None = None,
                          first: int = 50) -> list[Experiment]:
        return await experiment_queries.experiments_list(info, status, first)

    @strawberry.field(description="One experiment by key; null when the tenant has none of that key.")
    async def experiment(self, info: AppInfo, key: str) -> Experiment | None:
        return await experiment_queries.experiment_by_key(info, key)

    @strawberry.field(description="The metrics declared for experiments, by key (first: at most 200).")
    async def metrics(self, info: AppInfo, first: int = 100) -> list[ExperimentMetric]:
        return await experiment_queries.metrics_list(info, first)
