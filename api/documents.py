"""GraphQL documents: parsed and validated once per text, with our depth, alias and token limits.

A request error (the document does not parse, fails validation or a limit, names no runnable
operation) is answered before anything executes. Depth and aliases are measured with each
fragment measured once, so a chain of fragments that spread each other twice costs linear work
(and its exponential alias count is simply over the limit). Introspection fields are left to
graphql-core's ``MaxIntrospectionDepthRule``; aliases inside them still count.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    ValidationRule,
    parse,
    validate,
)
from graphql.validation import (
    ASTValidationRule,
    MaxIntrospectionDepthRule,
    NoSchemaIntrospectionCustomRule,
    specified_rules,
)

from analytics.settings import ApiLimits

MAX_CACHED_CHARS = 32_000_000  # the LRU's budget in query text, beside its entry count


def coded(message: str, code: str, **extensions: Any) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code, **extensions})


def with_code(error: GraphQLError, code: str) -> GraphQLError:
    """``error`` with ``extensions.code`` set to ``code`` unless it already has one (graphql-core's
    own errors, such as a variable that does not coerce, come without)."""
    if (error.extensions or {}).get("code"):
        return error
    return GraphQLError(error.message, error.nodes, error.source, error.positions, error.path,
                        error.original_error, {**(error.extensions or {}), "code": code})


@dataclass(frozen=True)
class Document:
    """One query text, parsed and validated (``errors`` empty) or refused (``errors`` say why)."""

    text: str
    node: DocumentNode | None
    errors: tuple[GraphQLError, ...]
    # Per operation (by id: the nodes live as long as the document), the first argument literal
    # PostgreSQL cannot store, or None: api.storable checks a cached document's literals once.
    literal_problems: dict[int, GraphQLError | None] = field(default_factory=dict, compare=False, repr=False)

    @property
    def operations(self) -> list[OperationDefinitionNode]:
        assert self.node is not None
        return [d for d in self.node.definitions if isinstance(d, OperationDefinitionNode)]

    def operation(self, name: str | None) -> OperationDefinitionNode | GraphQLError:
        operations = self.operations
        if name:
            named = [o for o in operations if o.name and o.name.value == name]
            if not named:
                return coded(f'Unknown operation named "{name}".', "OPERATION_NOT_FOUND")
            return named[0]
        if len(operations) != 1:
            return coded("Must provide operation name if query contains multiple operations.",
                         "OPERATION_NAME_REQUIRED")
        return operations[0]


class Shape:
    """Aliases and depth (nested field levels) of selection sets; each fragment measured once."""

    def __init__(self, fragments: Mapping[str, FragmentDefinitionNode]) -> None:
        self.fragments = fragments
        self.memo: dict[str, tuple[int, int]] = {}

    def measure(self, selection_set: SelectionSetNode,
                visiting: frozenset[str] = frozenset()) -> tuple[int, int]:
        aliases = depth = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                aliases += 1 if selection.alias else 0
                inner_aliases, inner_depth = (self.measure(selection.selection_set, visiting)
                                              if selection.selection_set else (0, 0))
                aliases += inner_aliases
                introspection = selection.name.value.startswith("__")
                depth = max(depth, 1 if introspection else 1 + inner_depth)
            elif isinstance(selection, InlineFragmentNode):
                inner_aliases, inner_depth = self.measure(selection.selection_set, visiting)
                aliases, depth = aliases + inner_aliases, max(depth, inner_depth)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name not in self.memo:
                    fragment = self.fragments.get(name)
                    if fragment is None or name in visiting:
                        continue  # unknown or cyclic: the standard rules report it
                    self.memo[name] = self.measure(fragment.selection_set, visiting | {name})
                inner_aliases, inner_depth = self.memo[name]
                aliases, depth = aliases + inner_aliases, max(depth, inner_depth)
        return aliases, depth


def fragments_of(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    return {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}


def _limit_rule(limits: ApiLimits) -> type[ValidationRule]:
    class Limits(ValidationRule):
        def __init__(self, context: Any) -> None:
            super().__init__(context)
            document = context.document
            shape = Shape(fragments_of(document))
            total = 0
            for operation in document.definitions:
                if not isinstance(operation, OperationDefinitionNode):
                    continue
                aliases, depth = shape.measure(operation.selection_set)
                total += aliases
                if depth > limits.max_depth:
                    context.report_error(coded(
                        f"depth: the operation nests fields {depth} deep; the limit is {limits.max_depth}",
                        "DEPTH_LIMIT_EXCEEDED", limit=limits.max_depth))
            if total > limits.max_aliases:
                context.report_error(coded(
                    f"aliases: the document uses {total} aliases (fragments counted where they are "
                    f"spread); the limit is {limits.max_aliases}", "ALIAS_LIMIT_EXCEEDED",
                    limit=limits.max_aliases))

    return Limits


class Documents:
    """An LRU of prepared documents, keyed by text, under one set of limits."""

    def __init__(self, schema: Any, limits: ApiLimits, maxsize: int = 1024) -> None:
        self.schema, self.limits, self.maxsize = schema, limits, maxsize
        self.rules: list[type[ASTValidationRule]] = [*specified_rules, MaxIntrospectionDepthRule,
                                                     _limit_rule(limits)]
        if not limits.introspection:
            self.rules.append(NoSchemaIntrospectionCustomRule)
        self._cache: OrderedDict[str, Document] = OrderedDict()
        self._chars = 0

    def get(self, text: str) -> Document:
        document = self._cache.get(text)
        if document is not None:
            self._cache.move_to_end(text)
            return document
        document = self._prepare(text)
        self._cache[text] = document
        self._chars += len(text)
        while len(self._cache) > self.maxsize or self._chars > MAX_CACHED_CHARS:
            evicted, _ = self._cache.popitem(last=False)
            self._chars -= len(evicted)
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
                error.extensions = {**(error.extensions or {}), "code": "GRAPHQL_VALIDATION_FAILED"}
        return Document(text, node, tuple(errors))


def is_request_error(result_data: Any, errors: list[GraphQLError] | None) -> bool:
    """Errors before execution (variables that do not coerce): no data and no error has a path."""
    return result_data is None and bool(errors) and all(e.path is None for e in errors or ())


__all__ = ["Document", "Documents", "OperationType", "Shape", "coded", "fragments_of", "is_request_error",
           "with_code"]
