"""GraphQL documents: parsed and validated once per text (with our limits), operations picked, cost counted.

A request error (the document does not parse, fails validation or a limit, names no runnable
operation) is answered before anything executes. The cost of an operation is known before it runs:

    cost = Σ over selected fields of the product of the list sizes above the field

where a list's size is its ``first``/``limit`` argument (the argument's default when absent) and
``LIST_SIZE`` for lists without one (series points, funnel steps). Introspection fields cost
nothing (they never touch the database) but count toward depth and aliases.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    ValidationRule,
    VariableNode,
    parse,
    validate,
)
from graphql.type.definition import GraphQLNamedType, GraphQLOutputType, get_named_type
from graphql.validation import ASTValidationRule, NoSchemaIntrospectionCustomRule, specified_rules
from strawberry.extensions.max_aliases import count_fields_with_alias
from strawberry.extensions.query_depth_limiter import create_validator as depth_validator

from analytics.settings import ApiLimits

LIST_SIZE = 10
PAGE_ARGUMENTS = ("first", "limit")
CONNECTION_LISTS = ("edges", "nodes")  # inside a paged field, already counted by its page size


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Document:
    """One query text, parsed and validated (``errors`` empty) or refused (``errors`` say why)."""

    text: str
    node: DocumentNode | None
    errors: tuple[GraphQLError, ...]

    def operation(self, name: str | None) -> OperationDefinitionNode | GraphQLError:
        assert self.node is not None
        operations = [d for d in self.node.definitions if isinstance(d, OperationDefinitionNode)]
        if name:
            named = [o for o in operations if o.name and o.name.value == name]
            if not named:
                return coded(f'Unknown operation named "{name}".', "OPERATION_NOT_FOUND")
            return named[0]
        if len(operations) != 1:
            return coded("Must provide operation name if query contains multiple operations.",
                         "OPERATION_NAME_REQUIRED")
        return operations[0]


def coded(message: str, code: str, **extensions: Any) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code, **extensions})


def _alias_rule(limit: int) -> type[ValidationRule]:
    class MaxAliases(ValidationRule):
        def __init__(self, context: Any) -> None:
            super().__init__(context)
            document = context.document
            fragments = {d.name.value: d for d in document.definitions
                         if isinstance(d, FragmentDefinitionNode)}
            total = sum(count_fields_with_alias(d, fragments) for d in document.definitions
                        if isinstance(d, OperationDefinitionNode))
            if total > limit:
                context.report_error(coded(
                    f"aliases: the document uses {total} aliases (fragments counted where they are "
                    f"spread); the limit is {limit}", "ALIAS_LIMIT_EXCEEDED", limit=limit))

    return MaxAliases


class Documents:
    """An LRU of prepared documents, keyed by text, under one set of limits."""

    def __init__(self, schema: GraphQLSchema, limits: ApiLimits, maxsize: int = 1024) -> None:
        self.schema, self.limits, self.maxsize = schema, limits, maxsize
        self.rules: list[type[ASTValidationRule]] = [*specified_rules, _alias_rule(limits.max_aliases),
                                                  depth_validator(limits.max_depth, None)]
        if not limits.introspection:
            self.rules.append(NoSchemaIntrospectionCustomRule)
        self._cache: OrderedDict[str, Document] = OrderedDict()

    def get(self, text: str) -> Document:
        document = self._cache.get(text)
        if document is not None:
            self._cache.move_to_end(text)
            return document
        document = self._prepare(text)
        self._cache[text] = document
        if len(self._cache) > self.maxsize:
            self._cache.popitem(last=False)
        return document

    def _prepare(self, text: str) -> Document:
        try:
            node = parse(text, max_tokens=self.limits.max_tokens)
        except GraphQLError as parse_error:
            problem = parse_error
            if "Parsing aborted" in parse_error.message:
                problem = coded(f"query: the document has more than {self.limits.max_tokens} tokens, "
                                "the limit", "TOKEN_LIMIT_EXCEEDED", limit=self.limits.max_tokens)
            else:
                problem.extensions = {**(problem.extensions or {}), "code": "GRAPHQL_PARSE_FAILED"}
            return Document(text, None, (problem,))
        errors = validate(self.schema, node, self.rules)
        for error in errors:
            if not error.extensions or "code" not in error.extensions:
                if "exceeds maximum operation depth" in error.message:
                    error.message = (f"depth: {error.message}; the limit is {self.limits.max_depth}")
                    error.extensions = {"code": "DEPTH_LIMIT_EXCEEDED", "limit": self.limits.max_depth}
                else:
                    error.extensions = {**(error.extensions or {}), "code": "GRAPHQL_VALIDATION_FAILED"}
        return Document(text, node, tuple(errors))


def operation_type(operation: OperationDefinitionNode) -> str:
    return operation.operation.value


def operation_cost(schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode,
                   variables: Mapping[str, Any] | None) -> int:
    """The cost of one operation (module docstring), with variables substituted."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    root = schema.get_root_type(operation.operation)
    assert root is not None
    return _selection_cost(schema, root, operation.selection_set, fragments, variables or {}, frozenset())


def _selection_cost(schema: GraphQLSchema, parent: GraphQLNamedType, selection_set: SelectionSetNode,
                    fragments: Mapping[str, FragmentDefinitionNode], variables: Mapping[str, Any],
                    seen: frozenset[str], paged: bool = False) -> int:
    """``paged``: the parent is a connection already multiplied by its page size."""
    total = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            if selection.name.value.startswith("__") or not isinstance(parent, GraphQLObjectType):
                continue
            field = parent.fields.get(selection.name.value)
            if field is None:
                continue
            total += 1
            if selection.selection_set is not None:
                child = get_named_type(field.type)
                multiplier, pages = _multiplier(field, selection, variables)
                if paged and selection.name.value in CONNECTION_LISTS:
                    multiplier = 1
                inner = _selection_cost(schema, child, selection.selection_set, fragments, variables,
                                        seen, pages)
                total += multiplier * inner
        elif isinstance(selection, InlineFragmentNode):
            target = (schema.get_type(selection.type_condition.name.value)
                      if selection.type_condition else parent)
            if target is not None:
                total += _selection_cost(schema, target, selection.selection_set, fragments, variables,
                                         seen, paged)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if fragment is None or name in seen:
                continue
            target = schema.get_type(fragment.type_condition.name.value)
            if target is not None:
                total += _selection_cost(schema, target, fragment.selection_set, fragments, variables,
                                         seen | {name}, paged)
    return total


def _is_list(type_: GraphQLOutputType) -> bool:
    if isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    return isinstance(type_, GraphQLList)


def _multiplier(field: GraphQLField, node: FieldNode, variables: Mapping[str, Any]) -> tuple[int, bool]:
    """The field's list size, and whether it came from a page argument."""
    for name in PAGE_ARGUMENTS:
        if name not in field.args:
            continue
        value: Any = field.args[name].default_value
        for argument in node.arguments or ():
            if argument.name.value == name:
                if isinstance(argument.value, IntValueNode):
                    value = int(argument.value.value)
                elif isinstance(argument.value, VariableNode):
                    value = variables.get(argument.value.name.value, value)
        if isinstance(value, int) and value > 0:
            return value, True
    return (LIST_SIZE if _is_list(field.type) else 1), False


def is_request_error(result_data: Any, errors: list[GraphQLError] | None) -> bool:
    """Errors before execution (variables that do not coerce): no data and no error has a path."""
    return result_data is None and bool(errors) and all(e.path is None for e in errors or ())


__all__ = ["Document", "Documents", "OperationType", "coded", "is_request_error", "operation_cost",
           "operation_type", "sha256_hex"]
