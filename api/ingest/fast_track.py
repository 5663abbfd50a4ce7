"""``track`` answered without Strawberry's execution when the document is one plain ``track`` call.

The HTTP layer has already parsed, validated, limited and rate-charged the document, and the fast
path (api.ingest.fast_path) has decoded its events. What execution would still do is call the
resolver and serialise its result by the selection set: here the function the resolver calls
(api.ingest.mutations.record_track) runs, its result is serialised by the same selection set, and
an error is located as graphql-core locates it (the non-null ``track`` makes ``data`` null). A
document this module does not recognise (fragments, directives, arguments on result fields, other
variables, a key asked for twice) goes through Strawberry, so nothing here has to be complete to be
correct; tests/api/test_track.py compares whole responses of both paths.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from graphql import FieldNode, GraphQLError, OperationDefinitionNode, SelectionSetNode, located_error

from analytics.ingest.events import FieldError
from analytics.ingest.service import EventOutcome
from api.context import Context
from api.ingest.mutations import record_track
from api.ingest.types import TrackResult

Value = Callable[[Any], Any]

# The fields this path serialises, by object: name -> its value (enum values go by name, as GraphQL's).
_OUTCOME: dict[str, Callable[[EventOutcome], Any]] = {
    "index": lambda o: o.index, "id": lambda o: o.id, "status": lambda o: o.status.value,
    "__typename": lambda o: "EventResult"}
_REJECTION: dict[str, Callable[[FieldError], Any]] = {
    "index": lambda e: e.index, "field": lambda e: e.field, "reason": lambda e: e.reason,
    "__typename": lambda e: "EventRejection"}
_RESULT: dict[str, Callable[[TrackResult], Any]] = {
    "accepted": lambda r: r.accepted, "duplicates": lambda r: r.duplicates,
    "rejected": lambda r: r.rejected, "optedOut": lambda r: r.opted_out,
    "__typename": lambda r: "TrackResult"}
_LISTS: dict[str, tuple[Callable[[TrackResult], list[Any]], dict[str, Value]]] = {
    "results": (lambda r: r.outcome.outcomes, _OUTCOME),
    "rejections": (lambda r: r.outcome.errors, _REJECTION)}


@dataclass(frozen=True)
class TrackPlan:
    """The operation's one ``track`` field and, per response key in order, how to answer it."""

    field: FieldNode
    key: str
    fields: tuple[tuple[str, Value], ...]


def track_plan(operation: OperationDefinitionNode) -> TrackPlan | None:
    """The plan when ``operation`` is ``mutation ($v: [TrackEvent!]!) { track(events: $v) { ... } }``
    with plain fields only (aliases allowed); None sends the request through Strawberry."""
    selections = operation.selection_set.selections
    if operation.directives or len(operation.variable_definitions or ()) != 1 or len(selections) != 1:
        return None
    field = selections[0]
    if not isinstance(field, FieldNode) or field.name.value != "track" or field.directives:
        return None
    fields = _fields(field.selection_set, _RESULT, nested=True)
    return TrackPlan(field, _key(field), fields) if fields is not None else None


def _fields(selection_set: SelectionSetNode | None, known: dict[str, Value], *, nested: bool = False
            ) -> tuple[tuple[str, Value], ...] | None:
    if selection_set is None:
        return None
    fields: list[tuple[str, Value]] = []
    for selection in selection_set.selections:
        if not isinstance(selection, FieldNode) or selection.directives or selection.arguments:
            return None
        name = selection.name.value
        if name in known and selection.selection_set is None:
            fields.append((_key(selection), known[name]))
        elif nested and name in _LISTS:
            items, item_fields = _LISTS[name]
            inner = _fields(selection.selection_set, item_fields)
            if inner is None:
                return None
            fields.append((_key(selection), _list_value(items, inner)))
        else:
            return None
    if len({key for key, _ in fields}) != len(fields):
        return None  # GraphQL merges a key asked for twice
    return tuple(fields)


def _list_value(items: Callable[[TrackResult], list[Any]], fields: tuple[tuple[str, Value], ...]) -> Value:
    return lambda result: [{key: value(item) for key, value in fields} for item in items(result)]


def _key(field: FieldNode) -> str:
    return field.alias.value if field.alias else field.name.value


async def answer_track(plan: TrackPlan, context: Context) -> tuple[dict[str, Any] | None, list[GraphQLError]]:
    """``(data, errors)`` as executing the document would give them."""
    assert context.decoded_events is not None
    try:
        result = await record_track(context, context.decoded_events)
    except Exception as exc:  # what graphql-core does with a resolver's exception
        return None, [located_error(exc, [plan.field], [plan.key])]
    return {plan.key: {key: value(result) for key, value in plan.fields}}, []
