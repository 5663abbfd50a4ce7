"""The executor: graphql-core's (through Strawberry), the plain leaves of an object completed in one pass.

A plain leaf is a field with no resolver, no arguments and no Strawberry extension whose type is a
scalar or an enum (``ExperimentSeriesPoint.day``, ``VariantResult.pValue``...): its value is the
attribute of the same name. graphql-core executes each field alike, building a path, a resolve info
and a resolver call per field, about as much work as the statistics of a results query for its 150
series points. Here such fields are read and coerced in a loop; the answer is the same, in the same
order. Whatever does not complete plainly (a null for a non-null field, a value the scalar refuses,
a failing read) and every other field goes through graphql-core's own path, which makes the error,
its path and the parent's nulling exactly as before. With a resolve-hooking extension (middleware)
the executor runs unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import Any

from graphql import GraphQLLeafType, GraphQLNonNull, GraphQLObjectType, is_leaf_type
from graphql.execution.collect_fields import GroupedFieldSet
from graphql.pyutils import AwaitableOrValue, Path, Undefined
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types.field import StrawberryField

# Per object type: field name -> (read the value from the source, its leaf type, non-null).
PlainLeaf = tuple[Callable[[Any], Any], GraphQLLeafType, bool]
_plain: dict[GraphQLObjectType, dict[str, PlainLeaf]] = {}


def plain_leaves(parent_type: GraphQLObjectType) -> dict[str, PlainLeaf]:
    """The fields of ``parent_type`` that Strawberry resolves as its basic field (no resolver, no
    extension, no exception handler: the resolve function it marks as default and calls
    ``default_resolver(source, python_name)``) and whose type is a leaf."""
    found = _plain.get(parent_type)
    if found is None:
        found = {}
        for name, field in parent_type.fields.items():
            leaf_type, non_null = field.type, isinstance(field.type, GraphQLNonNull)
            if isinstance(leaf_type, GraphQLNonNull):
                leaf_type = leaf_type.of_type
            definition = field.extensions.get("strawberry-definition")
            resolve = field.resolve
            if (not is_leaf_type(leaf_type) or field.args or resolve is None or not isinstance(
                    definition, StrawberryField) or not definition.is_basic_field
                    or getattr(resolve, "__name__", "") != "_get_basic_result"):
                continue
            read = (attrgetter(definition.python_name) if definition.default_resolver is getattr
                    else _basic(resolve))
            found[name] = (read, leaf_type, non_null)
        _plain[parent_type] = found
    return found


def _basic(resolve: Callable[..., Any]) -> Callable[[Any], Any]:
    return lambda source: resolve(source, None)


class PlainLeavesExecutor(StrawberryGraphQLCoreExecutionContext):
    def execute_fields(self, parent_type: GraphQLObjectType, source_value: Any, path: Path | None,
                       grouped_field_set: GroupedFieldSet, position_context: Any
                       ) -> AwaitableOrValue[dict[str, Any]]:
        plain = plain_leaves(parent_type)
        if not plain or (self.middleware_manager is not None and self.middleware_manager.middlewares):
            return super().execute_fields(parent_type, source_value, path, grouped_field_set,
                                          position_context)
        done: dict[str, Any] = {}
        rest: GroupedFieldSet = {}
        for response_name, details in grouped_field_set.items():
            leaf = plain.get(details[0].node.name.value)
            if leaf is not None:
                read, leaf_type, non_null = leaf
                try:
                    value = read(source_value)
                    if value is None:
                        if not non_null:
                            done[response_name] = None
                            continue
                    elif not self.is_awaitable(value):
                        coerced = leaf_type.coerce_output_value(value)
                        if coerced is not None and coerced is not Undefined:
                            done[response_name] = coerced
                            continue
                except Exception:  # graphql-core's path below makes the field's error
                    pass
            rest[response_name] = details
        if not rest:
            return done
        others = super().execute_fields(parent_type, source_value, path, rest, position_context)
        if not done:
            return others

        def in_order(completed: dict[str, Any]) -> dict[str, Any]:
            return {name: done[name] if name in done else completed[name]
                    for name in grouped_field_set if name in done or name in completed}

        if self.is_awaitable(others):
            async def awaited() -> dict[str, Any]:
                return in_order(await others)

            return awaited()
        return in_order(others)  # type: ignore[arg-type]
