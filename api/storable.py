"""String arguments PostgreSQL cannot store (NUL characters, lone surrogates) are refused before anything
runs, naming the argument or variable, instead of failing inside a resolver as an internal error.

``track`` is left to ingest, which rejects such text per event and keeps the good events beside it.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    ListValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    StringValueNode,
    ValueNode,
)

from analytics.text import unstorable
from api.documents import Document, coded, fragments_of


def unstorable_argument(document: Document, operation: OperationDefinitionNode,
                        variables: dict[str, Any] | None) -> GraphQLError | None:
    """The first argument literal or variable value holding unstorable text, as BAD_USER_INPUT.
    The literals of a (cached) document are checked once per operation."""
    assert document.node is not None
    key = id(operation)
    if key not in document.literal_problems:
        document.literal_problems[key] = _first_problem(_literals(document.node, operation))
    return document.literal_problems[key] or _first_problem(_variable_strings(variables or {}))


def _first_problem(strings: list[tuple[str, str]]) -> GraphQLError | None:
    for path, text in strings:
        why = unstorable(text)
        if why is not None:
            return coded(f"{path}: {why}; PostgreSQL cannot store it", "BAD_USER_INPUT", field=path)
    return None


def _literals(document: DocumentNode, operation: OperationDefinitionNode) -> list[tuple[str, str]]:
    """Every string literal in the operation's arguments (fragments included), with its path."""
    fragments, seen = fragments_of(document), set()
    found: list[tuple[str, str]] = []
    sets: list[SelectionSetNode] = [operation.selection_set]
    while sets:
        for selection in sets.pop().selections:
            if isinstance(selection, FieldNode):
                for argument in selection.arguments or ():
                    found += _strings(argument.name.value, argument.value)
                if selection.selection_set is not None:
                    sets.append(selection.selection_set)
            elif isinstance(selection, InlineFragmentNode):
                sets.append(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in seen:
                seen.add(selection.name.value)
                if selection.name.value in fragments:
                    sets.append(fragments[selection.name.value].selection_set)
    return found


def _strings(path: str, value: ValueNode) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    pending: list[tuple[str, ValueNode]] = [(path, value)]
    while pending:
        where, node = pending.pop()
        if isinstance(node, StringValueNode):
            found.append((where, node.value))
        elif isinstance(node, ListValueNode):
            pending += [(f"{where}[{i}]", item) for i, item in enumerate(node.values)]
        elif isinstance(node, ObjectValueNode):
            pending += [(f"{where}.{field.name.value}", field.value) for field in node.fields]
    return found


def _variable_strings(variables: dict[str, Any]) -> list[tuple[str, str]]:
    """Every string in the variables (keys too), iteratively: depth costs no stack."""
    found: list[tuple[str, str]] = []
    pending: list[tuple[str, Any]] = [(f"${name}", value) for name, value in variables.items()]
    while pending:
        where, value = pending.pop()
        if isinstance(value, str):
            found.append((where, value))
        elif isinstance(value, list):
            pending += [(f"{where}[{i}]", item) for i, item in enumerate(value)]
        elif isinstance(value, dict):
            for key, item in value.items():
                found.append((where, str(key)))
                pending.append((f"{where}.{key}", item))
    return found
