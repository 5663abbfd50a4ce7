"""Registering trusted documents: a manifest checked id by id, parsed and validated against the schema."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError, OperationType

from analytics.errors import InvalidArgument
from analytics.persisted import DocumentIn, parse_manifest
from analytics.settings import ApiLimits
from api.documents import Documents


def prepare_manifest(manifest: Any, limits: ApiLimits) -> list[tuple[DocumentIn, str, str | None]]:
    """``(document, operation type, operation name)`` for each entry; any problem names the entry.

    A private cache: a large manifest must not flush the documents the API serves."""
    from api.schema import schema  # the schema module imports the mutation that calls this

    documents = Documents(schema._schema, limits, maxsize=1)
    prepared = []
    for document in parse_manifest(manifest):
        where = f"manifest[{document.id}]"
        checked = documents.get(document.body)
        if checked.errors:
            raise InvalidArgument(where, "; ".join(error.message for error in checked.errors))
        if len(checked.operations) != 1:
            # One operation per document: otherwise operationName could pick an unregistered one.
            raise InvalidArgument(where, f"a trusted document holds exactly one operation; this one "
                                         f"has {len(checked.operations)}")
        operation = checked.operation(None)
        if isinstance(operation, GraphQLError):
            raise InvalidArgument(where, operation.message)
        if operation.operation is OperationType.SUBSCRIPTION:
            raise InvalidArgument(where, "subscriptions are not supported")
        kind = operation.operation.value
        if document.type is not None and document.type != kind:
            raise InvalidArgument(where, f"declared type {document.type!r} but the document is a {kind}")
        name = operation.name.value if operation.name else None
        prepared.append((document, kind, name))
    return prepared


__all__ = ["prepare_manifest"]
