"""The cost of an operation, known before it runs (the per-query budget and the read rate limit).

    cost = Σ over selected fields of the product of the list sizes above the field

A list's size is, in order: the field's ``first``/``limit`` argument (its default when absent, a
variable's default when the variable is not sent); for lists under a field that takes a ``range``
(series points), the number of buckets that range and granularity make (days for ``DAY_LISTS``);
else ``LIST_SIZE``. A list whose length the domain bounds by a small constant (``BOUNDED_LISTS``: a
session's bot reasons and behaviour signals) is costed by that bound, whatever range is above it.
Inside a paged connection, ``edges``/``nodes`` are not multiplied again. Introspection fields cost
nothing (they never touch the database). Each fragment is costed once per context.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)
from graphql.execution.values import get_argument_values, get_variable_values
from graphql.type.definition import GraphQLNamedType, GraphQLOutputType, get_named_type

from analytics.custom_events.definitions import MAX_DIMENSIONS, MAX_PROPERTIES
from analytics.experiments.definitions import MAX_EXTRA_METRICS, MAX_VARIANTS
from analytics.features.service import MAX_FEATURES
from analytics.funnels.definition import MAX_EXCLUSIONS, MAX_FUNNELS, MAX_STEPS
from analytics.funnels.result import BREAKDOWN_LIMIT
from analytics.sessions.derive import MAX_BOT_REASONS
from analytics.traffic.behaviour import BehaviourSignal
from api.common import Granularity, RangeInput, check_granularity
from api.documents import fragments_of
from api.errors import UserError

LIST_SIZE = 10
PAGE_ARGUMENTS = ("first", "limit")
CONNECTION_LISTS = ("edges", "nodes")
UNCOSTED_INPUTS = ("TrackEvent",)  # events are charged per event, not coerced twice
RANGE_FIELDS = ("from", "to", "preset", "since")
DAY_LISTS = ("byDay",)  # one item per local day of the range above, whatever its granularity
BOUNDED_LISTS: dict[tuple[str, str], int] = {
    ("Session", "botReasons"): MAX_BOT_REASONS,
    ("Session", "behaviourSignals"): len(BehaviourSignal),
    ("Tenant", "features"): MAX_FEATURES,
    ("FeatureAdoption", "features"): MAX_FEATURES,
    ("EventDefinition", "properties"): MAX_PROPERTIES,
    ("EventDefinition", "dimensions"): MAX_DIMENSIONS,
    ("Tenant", "funnels"): MAX_FUNNELS,
    ("ProductFunnel", "steps"): MAX_STEPS,
    ("ProductFunnel", "exclusions"): MAX_EXCLUSIONS,
    ("FunnelResult", "steps"): MAX_STEPS,
    ("FunnelResult", "breakdown"): BREAKDOWN_LIMIT + 1,
    ("FunnelFiguresResult", "steps"): MAX_STEPS,
    # An experiment: its variants, and its metrics (the primary and at most 10 more).
    ("Experiment", "variants"): MAX_VARIANTS,
    ("ExperimentResults", "metrics"): 1 + MAX_EXTRA_METRICS,
    ("MetricResults", "variants"): MAX_VARIANTS,
    ("ExperimentBreakdownGroup", "variants"): MAX_VARIANTS,
}
# Below a field: the size of its lists when a range decides it, and the closest range given above
# (a child's own granularity, e.g. content(range) { trends(granularity: HOUR) }, resizes it).
Hint = tuple[int | None, tuple[Any, ...] | None]
NO_HINT: Hint = (None, None)


class Coster:
    def __init__(self, schema: GraphQLSchema, fragments: Mapping[str, FragmentDefinitionNode],
                 variables: Any, tz: ZoneInfo) -> None:
        self.schema, self.fragments, self.variables, self.tz = schema, fragments, variables, tz
        self.memo: dict[tuple[str, bool, Hint], int] = {}
        self.timed = False  # a range's buckets were counted: the cost depends on the clock and zone

    def selections(self, parent: GraphQLNamedType, selection_set: SelectionSetNode, paged: bool,
                   hint: Hint = NO_HINT, visiting: frozenset[str] = frozenset()) -> int:
        """``paged``: the parent is a connection already multiplied by its page size; ``hint``: the
        size of lists below a ranged field."""
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self.field(parent, selection, paged, hint, visiting)
            elif isinstance(selection, InlineFragmentNode):
                target = (self.schema.get_type(selection.type_condition.name.value)
                          if selection.type_condition else parent)
                if target is not None:
                    total += self.selections(target, selection.selection_set, paged, hint, visiting)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                key = (name, paged, hint)
                if key not in self.memo:
                    fragment = self.fragments.get(name)
                    target = self.schema.get_type(fragment.type_condition.name.value) if fragment else None
                    if fragment is None or target is None or name in visiting:
                        continue
                    self.memo[key] = self.selections(target, fragment.selection_set, paged, hint,
                                                     visiting | {name})
                total += self.memo[key]
        return total

    def field(self, parent: GraphQLNamedType, node: FieldNode, paged: bool, hint: Hint,
              visiting: frozenset[str]) -> int:
        if node.name.value.startswith("__") or not isinstance(parent, GraphQLObjectType):
            return 0
        field = parent.fields.get(node.name.value)
        if field is None:
            return 0
        if node.selection_set is None:
            return 1
        arguments = self.arguments(field, node)
        page = next((arguments[name] for name in PAGE_ARGUMENTS
                     if isinstance(arguments.get(name), int) and arguments[name] > 0), None)
        if page is not None:
            multiplier = page
        elif paged and node.name.value in CONNECTION_LISTS:
            multiplier = 1
        elif (parent.name, node.name.value) in BOUNDED_LISTS:
            multiplier = BOUNDED_LISTS[parent.name, node.name.value]
        elif _is_list(field.type):
            daily = self.buckets(hint[1], Granularity.DAY) if node.name.value in DAY_LISTS else None
            multiplier = daily or hint[0] or LIST_SIZE
        else:
            multiplier = 1
        given = arguments.get("range")
        ranged = tuple(given.get(k) for k in RANGE_FIELDS) if isinstance(given, Mapping) else hint[1]
        buckets = (self.buckets(ranged, arguments.get("granularity"))
                   if "range" in arguments or "granularity" in arguments else None)
        inner_hint = (buckets or hint[0], ranged)
        inner = self.selections(get_named_type(field.type), node.selection_set, page is not None,
                                inner_hint, visiting)
        return int(1 + multiplier * inner)

    def arguments(self, field: GraphQLField, node: FieldNode) -> dict[str, Any]:
        try:
            return get_argument_values(field, node, self.variables)
        except GraphQLError:
            return {}  # execution reports it

    def buckets(self, ranged: tuple[Any, ...] | None, granularity: Any) -> int | None:
        """How many points a ranged field returns (a range that does not resolve costs nothing here:
        the resolver refuses it)."""
        if ranged is None:
            return None
        self.timed = True
        spec = RangeInput(from_=ranged[0], to=ranged[1], preset=ranged[2], since=ranged[3])
        try:
            _, starts = check_granularity(spec.resolve(self.tz), granularity)
        except (UserError, ValueError, OverflowError):
            return None
        return len(starts)


# Costs of documents that count no range and take no cost-relevant variable, by (text, operation):
# a client sends the same few documents again and again (track above all). Texts over
# PURE_COST_TEXT characters are not kept, so the cache stays small (at most ~10 MB).
_PURE_COSTS: dict[tuple[str, str | None], int] = {}
PURE_COSTS_KEPT = 1024
PURE_COST_TEXT = 10_000


def operation_cost(schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode,
                   variables: Mapping[str, Any] | None, tz: ZoneInfo, *, text: str | None = None) -> int:
    """The cost of one operation (module docstring), with variables and their defaults substituted.
    ``text``: the document's text, under which a cost that read no variable and counted no range is
    kept for next time."""
    definitions = [d for d in operation.variable_definitions or ()
                   if _named(d.type) not in UNCOSTED_INPUTS]
    key = None
    if text is not None and not definitions and len(text) <= PURE_COST_TEXT:
        key = (text, operation.name.value if operation.name else None)
        if key in _PURE_COSTS:
            return _PURE_COSTS[key]
    wanted = {d.variable.name.value for d in definitions}
    coerced = get_variable_values(schema, definitions,
                                  {k: v for k, v in (variables or {}).items() if k in wanted})
    values = None if isinstance(coerced, list) else coerced  # bad variables: execution refuses them
    root = schema.get_root_type(operation.operation)
    assert root is not None
    coster = Coster(schema, fragments_of(document), values, tz)
    cost = coster.selections(root, operation.selection_set, False)
    if key is not None and not coster.timed:
        if len(_PURE_COSTS) >= PURE_COSTS_KEPT:
            _PURE_COSTS.clear()
        _PURE_COSTS[key] = cost
    return cost


def _named(type_node: Any) -> str:
    while hasattr(type_node, "type"):
        type_node = type_node.type
    return str(type_node.name.value)


def _is_list(type_: GraphQLOutputType) -> bool:
    if isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    return isinstance(type_, GraphQLList)


__all__ = ["LIST_SIZE", "operation_cost"]
