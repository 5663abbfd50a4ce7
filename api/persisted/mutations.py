"""``registerPersistedDocuments``: a tenant's trusted documents from an Apollo or Relay manifest."""

from __future__ import annotations

import strawberry
from strawberry.scalars import JSON

from analytics import persisted
from analytics.errors import InvalidArgument
from api.context import AppInfo
from api.errors import BadInput
from api.persisted.register import prepare_manifest


@strawberry.type(description="An operation registered as a trusted document.")
class PersistedDocument:
    id: str = strawberry.field(description="The id clients send (documentId or the APQ sha256Hash).")
    sha256: str
    operation_name: str | None
    operation_type: str = strawberry.field(description="query or mutation.")


@strawberry.type
class RegisteredDocuments:
    stored: int
    documents: list[PersistedDocument]


@strawberry.type
class PersistedMutation:
    @strawberry.mutation(description=(
        "Register trusted documents from an Apollo persisted-query manifest or a Relay id map "
        "(secret key). Each id must be the sha256 (or Relay's md5) of its body; each body must "
        "validate. replace: true drops the tenant's other documents. In allowlist mode only "
        "registered documents run, so use `analytics persisted push` there."))
    async def register_persisted_documents(self, info: AppInfo, manifest: JSON,
                                           replace: bool = False) -> RegisteredDocuments:
        principal = info.context.require_secret()
        try:
            prepared = prepare_manifest(manifest, info.context.resources.settings.limits)
        except InvalidArgument as exc:
            raise BadInput(exc.field, exc.message) from None
        async with info.context.write() as conn:
            stored = await persisted.store_documents(conn, principal.tenant_id, prepared, replace=replace)
        return RegisteredDocuments(stored=stored, documents=[
            PersistedDocument(id=d.id, sha256=d.sha256, operation_name=name, operation_type=kind)
            for d, kind, name in prepared])
