"""The ``tenant`` root: everything a secret key may read about its own tenant."""

from __future__ import annotations

import strawberry

from analytics import persisted
from api.common import Compare, Granularity, RangeInput
from api.context import AppInfo
from api.export_jobs import ExportJob, export_job
from api.persisted.mutations import PersistedDocument
from api.tours import queries as tour_queries
from api.tours.queries import TourConnection, ToursOverview
from api.tours.types import SelectorHealth, Tour, TourSeries


@strawberry.type(description="The tenant the API key belongs to; every field is scoped to it.")
class Tenant:
    id: strawberry.ID
    timezone: str = strawberry.field(description="IANA zone in which days and hours are counted.")

    @strawberry.field(description="Tours seen in events or defined, by id; paginated.")
    async def tours(self, info: AppInfo, first: int = 50, after: str | None = None) -> TourConnection:
        return await tour_queries.tours_page(info, first, after)

    @strawberry.field(description="One tour by id; null when the tenant has no such tour.")
    async def tour(self, info: AppInfo, id: str) -> Tour | None:
        return await tour_queries.tour_by_id(info, id)

    @strawberry.field(description="Tour overview dashboard: active tours, combined completion "
                                  "rate, top tour and the tour that needs attention.")
    async def overview(self, info: AppInfo, range: RangeInput,
                       compare: Compare | None = None) -> ToursOverview:
        return await tour_queries.tours_overview(info, range, compare)

    @strawberry.field(description="All tours' counters per bucket.")
    async def tour_series(self, info: AppInfo, range: RangeInput,
                          granularity: Granularity | None = None) -> TourSeries:
        return await tour_queries.all_tours_series(info, range, granularity)

    @strawberry.field(description="Broken selectors across all tours and content, ranked.")
    async def selector_health(self, info: AppInfo, range: RangeInput, limit: int = 20) -> SelectorHealth:
        return await tour_queries.tenant_selector_health(info, range, limit)

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

    @strawberry.field(description="An export job started with startExport; null when unknown.")
    async def export_job(self, info: AppInfo, id: strawberry.ID) -> ExportJob | None:
        return await export_job(info, id)
