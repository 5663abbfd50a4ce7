"""The fast path for ``track``: decode its events variable with msgspec instead of graphql-core.

Only the events variable of a document whose sole field is ``track(events: $var)`` is decoded
here; anything msgspec refuses (wrong types, unknown fields, nulls) falls back to the generic path,
so GraphQL reports it exactly as it would have. The decoded events then reach the same validation.
"""

from __future__ import annotations

from typing import Any

import msgspec
from graphql import DocumentNode, FieldNode, OperationDefinitionNode, OperationType, VariableNode

from analytics.ingest.events import EVENTS_DECODER, EventIn


class Envelope(msgspec.Struct):
    """A GraphQL-over-HTTP POST body with the variables left undecoded."""

    query: str | None = None
    variables: dict[str, msgspec.Raw] | None = None
    operationName: str | None = None
    extensions: dict[str, Any] | None = None
    documentId: str | None = None


ENVELOPE_DECODER = msgspec.json.Decoder(Envelope)


def track_variable(document: DocumentNode, operation_name: str | None) -> str | None:
    """The variable carrying ``track``'s events, if the operation is exactly one ``track`` call."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [o for o in operations if o.name and o.name.value == operation_name]
    if len(operations) != 1 or operations[0].operation is not OperationType.MUTATION:
        return None
    selections = operations[0].selection_set.selections
    if len(selections) != 1 or not isinstance(selections[0], FieldNode):
        return None
    field = selections[0]
    if field.name.value != "track" or field.directives:
        return None
    for argument in field.arguments or ():
        if argument.name.value == "events" and isinstance(argument.value, VariableNode):
            return argument.value.name.value
    return None


def decode_variables(envelope: Envelope, document: DocumentNode | None
                     ) -> tuple[dict[str, Any] | None, list[EventIn] | None]:
    """Plain variables for GraphQL, plus the pre-decoded events when ``document`` (the parsed query,
    from the endpoint's document cache; None turns the fast path off) is a single ``track``."""
    if envelope.variables is None:
        return None, None
    target = track_variable(document, envelope.operationName) if document is not None else None
    variables: dict[str, Any] = {}
    decoded: list[EventIn] | None = None
    for name, raw in envelope.variables.items():
        if name == target:
            try:
                decoded = EVENTS_DECODER.decode(raw)
            except msgspec.ValidationError:
                decoded = None  # let GraphQL coerce it and report the error its own way
            else:
                variables[name] = []  # the resolver takes the decoded events from the context
                continue
        variables[name] = msgspec.json.decode(raw)
    return variables, decoded
