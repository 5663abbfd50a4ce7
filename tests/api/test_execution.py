"""The plain-leaves executor (api.execution) answers exactly as graphql-core's own: the same data in the
same order, the same errors at the same paths, the same nulled parents; and it takes its own path for
the plain leaves only."""

from __future__ import annotations

import enum
from datetime import date
from typing import Any

import strawberry
from graphql import GraphQLObjectType
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from api.execution import PlainLeavesExecutor, plain_leaves
from api.schema import schema as api_schema


@strawberry.enum
class Shade(enum.Enum):
    LIGHT = "light"
    DARK = "dark"


@strawberry.type
class Point:
    day: date
    variant: str
    rate: float | None
    count: int
    shade: Shade
    broken: int  # the data holds None: a non-null field's error nulls the point
    huge: int  # beyond GraphQL's 32-bit Int: the scalar refuses it
    tags: list[str]

    @strawberry.field
    def doubled(self) -> int:
        return self.count * 2

    @strawberry.field
    async def later(self, plus: int = 0) -> int:
        return self.count + plus


@strawberry.type
class Series:
    name: str
    points: list[Point | None]  # a nulled point stays in its place
    maybe: Point | None


def point(i: int, **changes: Any) -> Point:
    values: dict[str, Any] = {"day": date(2025, 1, 1 + i), "variant": f"v{i}", "rate": None if i % 2 else i / 3,
                              "count": i, "shade": Shade.DARK if i % 2 else Shade.LIGHT, "broken": i,
                              "huge": i, "tags": ["a", str(i)]}
    return Point(**{**values, **changes})


@strawberry.type
class Query:
    @strawberry.field
    def series(self) -> Series:
        return Series(name="s", points=[point(0), point(1), point(2, broken=None), point(3, huge=2**40)],
                      maybe=point(4, broken=None))


QUERY = """query($skip: Boolean!) { series { __typename name first: points { day variant rate
  count shade tags doubled later(plus: 2) }
  points { broken huge c: count @skip(if: $skip) count @include(if: $skip) __typename }
  maybe { count broken } } }"""


async def answer(executor: type[StrawberryGraphQLCoreExecutionContext], skip: bool) -> tuple[Any, Any]:
    schema = strawberry.Schema(query=Query, execution_context_class=executor)
    result = await schema.execute(QUERY, variable_values={"skip": skip})
    errors = [(e.message, e.path, [(loc.line, loc.column) for loc in e.locations or ()])
              for e in result.errors or ()]
    return result.data, sorted(errors, key=repr)


def ordered(value: Any) -> Any:
    """Dicts as lists of pairs, so that key order counts."""
    if isinstance(value, dict):
        return [(k, ordered(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [ordered(v) for v in value]
    return value


async def test_the_answer_and_its_errors_are_graphql_cores() -> None:
    for skip in (True, False):
        expected = await answer(StrawberryGraphQLCoreExecutionContext, skip)
        assert ordered(await answer(PlainLeavesExecutor, skip)) == ordered(expected)
    data, errors = expected
    # What the comparison covered: nulled points and parents, refused scalars, aliases, directives.
    assert data["series"]["points"][2] is None and data["series"]["maybe"] is None
    assert data["series"]["points"][3] is None
    assert data["series"]["first"][1] == {"day": "2025-01-02", "variant": "v1", "rate": None, "count": 1,
                                          "shade": "DARK", "tags": ["a", "1"], "doubled": 2, "later": 3}
    assert list(data["series"]["points"][0]) == ["broken", "huge", "c", "__typename"]
    assert [(message.split(" ")[0], path) for message, path, _ in errors] == [
        ("Cannot", ["series", "maybe", "broken"]), ("Cannot", ["series", "points", 2, "broken"]),
        ("Int", ["series", "points", 3, "huge"])]


def test_only_plain_leaves_take_the_short_path() -> None:
    schema = strawberry.Schema(query=Query)
    point_type = schema._schema.type_map["Point"]
    assert isinstance(point_type, GraphQLObjectType)
    assert sorted(plain_leaves(point_type)) == ["broken", "count", "day", "huge", "rate", "shade", "variant"]
    series_type = api_schema._schema.type_map["ExperimentSeriesPoint"]
    assert isinstance(series_type, GraphQLObjectType)
    assert sorted(plain_leaves(series_type)) == ["conversionRate", "conversions", "day", "exposures", "lift",
                                                 "variant"]
    assert api_schema.execution_context_class is PlainLeavesExecutor


async def test_the_api_keeps_its_startup_objects_out_of_the_collectors_passes(base_url: str) -> None:
    import gc

    assert gc.get_freeze_count() > 10_000  # the served app's lifespan froze them
