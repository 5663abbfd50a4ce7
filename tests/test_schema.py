"""``schema.graphql`` is generated from the code; this fails when someone forgets to regenerate it."""

from __future__ import annotations

from pathlib import Path

from api.schema import schema_sdl

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema.graphql"


def test_schema_file_is_current() -> None:
    assert SCHEMA_FILE.read_text() == schema_sdl(), (
        "schema.graphql is stale: run `analytics schema -o schema.graphql`")
