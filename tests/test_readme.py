"""The README's GraphQL examples run against the schema as it is (every operation validates)."""

from __future__ import annotations

import re
from pathlib import Path

from graphql import parse, print_ast, validate

from api.schema import schema

README = Path(__file__).resolve().parent.parent / "README.md"


def test_every_graphql_example_in_the_readme_validates() -> None:
    blocks = re.findall(r"```graphql\n(.*?)```", README.read_text(), re.S)
    operations = [print_ast(d) for block in blocks for d in parse(block).definitions]
    assert len(operations) >= 5
    problems = [(op[:60], [e.message for e in validate(schema._schema, parse(op))]) for op in operations]
    assert [(op, errors) for op, errors in problems if errors] == []
