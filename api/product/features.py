"""Features in the graph: ``defineFeature`` / ``removeFeature`` (secret key), ``tenant { features
featureAdoption }``, and the tenant's switch for the business gauges of /metrics."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import strawberry

from analytics import business_metrics
from analytics.errors import InvalidArgument
from analytics.features import service, stats
from analytics.features.stats import Trend
from analytics.periods import Compare as DomainCompare
from analytics.periods import comparison
from api.common import Compare, Period, RangeInput, compared
from api.context import AppInfo
from api.errors import BadInput
from api.product.matchers import EventMatcher, MatcherInput
from workers.queue import enqueue_feature_backfill

strawberry.enum(Trend, name="AdoptionTrend", description=(
    "How a feature's adoption rate moved against the comparison period: UP when it rose by more than 5 % "
    "of the previous rate (relative: 40 % -> 42.1 %), DOWN when it fell by more than 5 % of it, STABLE "
    "within ±5 % inclusive (40 % -> 42 % is STABLE). Without a previous rate: UP when used now, else "
    "STABLE."))


@strawberry.type(description="Building a feature's counts from the raw events still retained (after it "
                             "was defined or changed).")
class FeatureBackfill:
    status: str = strawberry.field(description="queued, running, done or failed.")
    first_day: date | None = strawberry.field(description="First local day with a matching raw event.")
    processed_days: int = strawberry.field(description="Local days folded so far.")
    total_days: int | None = strawberry.field(
        description="Local days from the first to the last matching raw event; null until the run starts.")
    finished_at: datetime | None
    error: str | None


@strawberry.type(description="A product feature: the events that mean using it.")
class Feature:
    id: strawberry.ID
    name: str
    matcher: EventMatcher
    created_at: datetime
    updated_at: datetime = strawberry.field(description="When its matcher last changed.")
    backfill: FeatureBackfill

    @classmethod
    def of(cls, feature: service.Feature) -> Feature:
        b = feature.backfill
        backfill = FeatureBackfill(status=b.status, first_day=b.first_day, processed_days=b.processed_days,
                                   total_days=b.total_days, finished_at=b.finished_at, error=b.error)
        return cls(id=strawberry.ID(str(feature.id)), name=feature.name,
                   matcher=EventMatcher.of(feature.matcher), created_at=feature.created_at,
                   updated_at=feature.updated_at, backfill=backfill)


@strawberry.type(description="Relative change in percent against the comparison period (null when the "
                             "previous value is 0 or missing).")
class FeatureAdoptionChange:
    usage_count: float | None
    unique_users: float | None
    active_users: float | None
    adoption_rate: float | None


@strawberry.type(description="A feature's use over a period.")
class FeatureAdoptionFigures:
    usage_count: int = strawberry.field(description="Events matching the feature (of people: userId or "
                                                    "anonymousId) on the period's local days.")
    unique_users: int = strawberry.field(description="Distinct people with such an event.")
    active_users: int = strawberry.field(description="Distinct people with any event on those days.")
    adoption_rate: float | None = strawberry.field(description="uniqueUsers / activeUsers * 100.")

    @staticmethod
    def values(use: stats.FeatureUse) -> dict[str, object]:
        return {"usage_count": use.usage_count, "unique_users": use.unique_users,
                "active_users": use.active_users, "adoption_rate": use.adoption_rate}


@strawberry.type(description="One feature's adoption, its comparison and trend.")
class FeatureAdoptionRow(FeatureAdoptionFigures):
    feature: Feature
    previous: FeatureAdoptionFigures = strawberry.field(description="The comparison period's figures.")
    change: FeatureAdoptionChange
    trend: Trend = strawberry.field(description="UP / DOWN beyond ±5 % relative change of adoptionRate "
                                                "against the comparison period, else STABLE (AdoptionTrend).")

    @classmethod
    def of(cls, row: stats.FeatureAdoption) -> FeatureAdoptionRow:
        values = cls.values(row.use)
        fields: dict[str, Any] = {**values, **compared(FeatureAdoptionFigures, FeatureAdoptionChange, values,
                                                       cls.values(row.previous))}
        return cls(feature=Feature.of(row.feature), trend=row.trend, **fields)


@strawberry.type(description="Feature adoption over a range (reference 001): per feature the usage count, "
                             "unique users, adoption rate = unique users / active users * 100 and a trend. "
                             "Counted per tenant-local day: a range touching part of a day counts the "
                             "whole day. Bots are left out unless includeBots is true.")
class FeatureAdoption:
    period: Period
    comparison_period: Period = strawberry.field(
        description="What previous, change and trend compare with: compare's period, the previous period "
                    "of the same length when compare is not given.")
    include_bots: bool
    features: list[FeatureAdoptionRow] = strawberry.field(description="Every feature, by name (at most "
                                                                      f"{service.MAX_FEATURES}).")


async def list_features(info: AppInfo) -> list[Feature]:
    async with info.context.read() as conn:
        return [Feature.of(f) for f in await service.list_features(conn)]


async def feature_adoption(info: AppInfo, range: RangeInput, compare: Compare | None,
                           include_bots: bool, segment: str | None = None) -> FeatureAdoption:
    period = range.resolve(info.context.require_secret().timezone)
    before = comparison(period, compare or DomainCompare.PREVIOUS_PERIOD)
    async with info.context.read() as conn:
        rows = await stats.feature_adoption(conn, days=(period.first_day, period.last_day),
                                            previous_days=(before.first_day, before.last_day),
                                            include_bots=include_bots, segment=segment,
                                            segment_ats=(period.end, before.end))
    return FeatureAdoption(period=Period.of(period), comparison_period=Period.of(before),
                           include_bots=include_bots, features=[FeatureAdoptionRow.of(r) for r in rows])


@strawberry.type
class FeatureMutation:
    @strawberry.mutation(description=(
        "Declare a feature (secret key): a name and the events that mean using it. Defining an existing "
        "name again with another matcher changes it. Its counts are rebuilt: the rollup counts new events "
        "at once and a worker job folds the raw events still retained (feature.backfill shows progress). "
        f"At most {service.MAX_FEATURES} features per tenant."))
    async def define_feature(self, info: AppInfo, name: str, matcher: MatcherInput) -> Feature:
        principal = info.context.require_secret()
        domain = matcher.to_matcher("matcher")
        try:
            async with info.context.write() as conn:
                feature = await service.define_feature(conn, principal.tenant_id, name, domain)
        except InvalidArgument as exc:
            raise BadInput(exc.field, exc.message) from None
        if feature.backfill.status == "queued":
            await enqueue_feature_backfill(info.context.resources.redis, principal.tenant_id, feature.id)
        return Feature.of(feature)

    @strawberry.mutation(description="Remove a feature and its counts (secret key); false when there is no "
                                     "feature of that name.")
    async def remove_feature(self, info: AppInfo, name: str) -> bool:
        principal = info.context.require_secret()
        async with info.context.write() as conn:
            return await service.remove_feature(conn, principal.tenant_id, name)

    @strawberry.mutation(description=(
        "Show this tenant's business gauges (reference 001: analytics_active_users, "
        "analytics_feature_adoption_rate{feature_name}...) on the API's /metrics, labelled with its name "
        "(secret key). Off by default; a worker refreshes them at most every 30 s. Returns the setting."))
    async def set_business_metrics(self, info: AppInfo, enabled: bool) -> bool:
        principal = info.context.require_secret()
        async with info.context.write() as conn:
            await business_metrics.set_business_metrics(conn, principal.tenant_id, enabled)
        return enabled


async def business_metrics_setting(info: AppInfo) -> bool:
    principal = info.context.require_secret()
    async with info.context.read() as conn:
        return await business_metrics.business_metrics_on(conn, principal.tenant_id)
