"""The schema: Query and Mutation assembled from the domain modules; ``schema.graphql`` comes from here."""

from __future__ import annotations

from collections.abc import Iterator

import strawberry
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from api.ai.mutations import PriceMutation
from api.bots.rules import BotRuleMutation
from api.common import SCALARS
from api.context import AppInfo
from api.custom_events.mutations import EventDefinitionMutation
from api.execution import PlainLeavesExecutor
from api.experiments.mutations import ExperimentMutation
from api.experiments.queries import Assignment, assignment
from api.export_jobs import ExportMutation
from api.ingest.mutations import IngestMutation
from api.persisted.mutations import PersistedMutation
from api.product.features import FeatureMutation
from api.product.funnels import FunnelMutation
from api.segments.queries import SegmentMutation
from api.tenants.mutations import TenantMutation
from api.tenants.types import Tenant
from api.tours.mutations import TourMutation
from api.users.privacy import PrivacyMutation


@strawberry.type
class Query:
    @strawberry.field(description="The calling key's tenant (secret key).")
    def tenant(self, info: AppInfo) -> Tenant:
        principal = info.context.require_secret()
        return Tenant(id=strawberry.ID(str(principal.tenant_id)), timezone=principal.timezone.key)

    @strawberry.field(description="The variant of a running experiment an actor sees (null when it is not "
                                  "running): the one read a publishable key may make. With track: true the "
                                  "ExperimentExposure is recorded as by track, once per actor.")
    async def assignment(self, info: AppInfo, experiment: str, user_id: str | None = None,
                         anonymous_id: str | None = None, track: bool = False) -> Assignment:
        return await assignment(info, experiment, user_id, anonymous_id, track)


@strawberry.type
class Mutation(IngestMutation, TourMutation, PersistedMutation, ExportMutation, BotRuleMutation,
               TenantMutation, SegmentMutation, FeatureMutation, EventDefinitionMutation,
               FunnelMutation, PrivacyMutation, PriceMutation,
               ExperimentMutation):
    pass


class PreparedDocument(SchemaExtension):
    """Execute the document the HTTP layer already parsed, validated and limited (api.documents)."""

    def on_parse(self) -> Iterator[None]:
        self.execution_context.graphql_document = self.execution_context.context.document
        yield

    def on_validate(self) -> Iterator[None]:
        self.execution_context.pre_execution_errors = []  # validated (and cached) before execution
        yield


class AnalyticsSchema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError],
                       execution_context: ExecutionContext | None = None) -> None:
        """The HTTP layer logs internal errors (with the request id) and masks them; user errors are
        answers, not log lines."""


schema = AnalyticsSchema(query=Query, mutation=Mutation, extensions=[PreparedDocument],
                         config=StrawberryConfig(scalar_map=SCALARS),
                         execution_context_class=PlainLeavesExecutor)


def schema_sdl() -> str:
    return schema.as_str() + "\n"
