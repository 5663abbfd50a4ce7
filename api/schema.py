"""The schema: Query and Mutation assembled from the domain modules; ``schema.graphql`` comes from here."""

from __future__ import annotations

import strawberry
from strawberry.extensions import MaskErrors, ParserCache, ValidationCache

from api.context import AppInfo
from api.errors import should_mask
from api.ingest.mutations import IngestMutation
from api.tenants.types import Tenant
from api.tours.mutations import TourMutation


@strawberry.type
class Query:
    @strawberry.field(description="The calling key's tenant (secret key).")
    def tenant(self, info: AppInfo) -> Tenant:
        principal = info.context.require_secret()
        return Tenant(id=strawberry.ID(str(principal.tenant_id)), timezone=principal.timezone.key)


@strawberry.type
class Mutation(IngestMutation, TourMutation):
    pass


schema = strawberry.Schema(
    query=Query,
    mutation=Mutation,
    extensions=[
        lambda: MaskErrors(should_mask_error=should_mask, error_message="Internal server error"),
        # Dashboards and SDKs send the same few documents: parse and validate each once.
        lambda: ParserCache(maxsize=512),
        lambda: ValidationCache(maxsize=512),
    ],
)


def schema_sdl() -> str:
    return schema.as_str() + "\n"
