"""The reporting commands' GraphQL operations (``cli/queries/*.graphql``) as trusted documents.

Each file holds one named operation; ``fragments.graphql`` holds the fragments they share, and each
document carries the ones it spreads. The CLI sends only their ids (sha256 of the text, as BI
connectors do) and registers the whole manifest the first time a server does not know one.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any


@dataclass(frozen=True)
class Document:
    name: str
    body: str

    @property
    def operation_type(self) -> str:
        """query or mutation (definition commands send mutations)."""
        from graphql import OperationDefinitionNode, parse  # graphql-core costs a third of the CLI's start

        return next(d.operation.value for d in parse(self.body).definitions
                    if isinstance(d, OperationDefinitionNode))

    @property
    def id(self) -> str:
        return hashlib.sha256(self.body.encode()).hexdigest()


FRAGMENTS = "fragments.graphql"
_SPREAD = re.compile(r"\.\.\.\s*(?!on\b)(\w+)")


def _with_fragments(body: str, fragments: dict[str, str]) -> str:
    """``body`` followed by every fragment it spreads, directly or through another fragment."""
    wanted: list[str] = []
    pending = _SPREAD.findall(body)
    while pending:
        name = pending.pop(0)
        if name not in wanted:
            wanted.append(name)
            pending += _SPREAD.findall(fragments[name])
    return "\n".join([body.strip(), *(fragments[name] for name in sorted(wanted))]) + "\n"


@cache
def documents() -> dict[str, Document]:
    from graphql import FragmentDefinitionNode, parse, print_ast

    folder = resources.files("cli") / "queries"
    shared = (folder / FRAGMENTS).read_text(encoding="utf-8")
    fragments = {d.name.value: print_ast(d) for d in parse(shared).definitions
                 if isinstance(d, FragmentDefinitionNode)}
    found = {}
    for entry in folder.iterdir():
        if entry.name.endswith(".graphql") and entry.name != FRAGMENTS:
            name = entry.name.removesuffix(".graphql")
            found[name] = Document(name, _with_fragments(entry.read_text(encoding="utf-8"), fragments))
    return found


def manifest() -> dict[str, Any]:
    """An Apollo persisted-query manifest of every CLI operation (``analytics persisted push`` takes it)."""
    return {"format": "apollo-persisted-query-manifest", "version": 1, "operations": [
        {"id": d.id, "name": d.name, "type": d.operation_type, "body": d.body}
        for d in sorted(documents().values(), key=lambda d: d.name)]}
