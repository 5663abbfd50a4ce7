"""Tour and step definitions: list, get, and name them (tours seen in events exist already)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from analytics.db import CURRENT_TENANT
from analytics.errors import InvalidArgument
from analytics.ingest.events import MAX_ID_LENGTH, MAX_SELECTOR_LENGTH, MAX_STEP_INDEX


class TourDefinitionError(InvalidArgument):
    """A tour or step definition that cannot be stored."""


@dataclass(frozen=True)
class Tour:
    id: str
    title: str | None
    first_seen_at: datetime | None
    last_seen_at: datetime | None


@dataclass(frozen=True)
class Step:
    tour_id: str
    index: int
    step_id: str | None
    title: str | None
    selector: str | None


_TOUR_COLUMNS = "id, title, first_seen_at, last_seen_at"


async def list_tours(conn: AsyncConnection, *, after: str | None, limit: int) -> list[Tour]:
    rows = (await conn.execute(
        text(f"SELECT {_TOUR_COLUMNS} FROM tours WHERE {CURRENT_TENANT} "
             "AND (CAST(:after AS text) IS NULL OR id > :after) ORDER BY id LIMIT :limit"),
        {"after": after, "limit": limit},
    )).all()
    return [Tour(*row) for row in rows]


async def count_tours(conn: AsyncConnection) -> int:
    return int((await conn.execute(text(f"SELECT count(*) FROM tours WHERE {CURRENT_TENANT}"))).scalar_one())


async def get_tours(conn: AsyncConnection, ids: Sequence[str]) -> dict[str, Tour]:
    rows = (await conn.execute(
        text(f"SELECT {_TOUR_COLUMNS} FROM tours WHERE {CURRENT_TENANT} AND id = ANY(:ids)"),
        {"ids": list(ids)})).all()
    return {row.id: Tour(*row) for row in rows}


async def get_steps(conn: AsyncConnection, tour_id: str) -> list[Step]:
    rows = (await conn.execute(
        text("SELECT tour_id, step_index, step_id, title, selector FROM tour_steps "
             f"WHERE {CURRENT_TENANT} AND tour_id = :tour ORDER BY step_index"), {"tour": tour_id})).all()
    return [Step(*row) for row in rows]


@dataclass(frozen=True)
class StepDefinition:
    index: int
    title: str | None = None
    selector: str | None = None
    step_id: str | None = None


async def define_tour(conn: AsyncConnection, *, tour_id: str, title: str | None,
                      steps: Sequence[StepDefinition]) -> Tour:
    """Create or rename a tour and name its steps; steps not listed are kept as they are."""
    if not tour_id or len(tour_id) > MAX_ID_LENGTH:
        raise TourDefinitionError("id", f"must be 1 to {MAX_ID_LENGTH} characters")
    seen: set[int] = set()
    for position, step in enumerate(steps):
        if not 0 <= step.index <= MAX_STEP_INDEX:
            raise TourDefinitionError(f"steps[{position}].index", f"must be between 0 and {MAX_STEP_INDEX}")
        if step.index in seen:
            raise TourDefinitionError(f"steps[{position}].index", f"step {step.index} is listed twice")
        if step.selector and len(step.selector) > MAX_SELECTOR_LENGTH:
            raise TourDefinitionError(f"steps[{position}].selector",
                                      f"is longer than {MAX_SELECTOR_LENGTH} characters")
        seen.add(step.index)
    await conn.execute(
        text("INSERT INTO tours (tenant_id, id, title) "
             "VALUES (CAST(current_setting('analytics.tenant_id') AS bigint), :id, :title) "
             "ON CONFLICT (tenant_id, id) DO UPDATE SET title = coalesce(EXCLUDED.title, tours.title)"),
        {"id": tour_id, "title": title},
    )
    for step in sorted(steps, key=lambda s: s.index):
        await conn.execute(
            text("INSERT INTO tour_steps (tenant_id, tour_id, step_index, step_id, title, selector) "
                 "VALUES (CAST(current_setting('analytics.tenant_id') AS bigint), :tour, :index, "
                 ":step_id, :title, :selector) "
                 "ON CONFLICT (tenant_id, tour_id, step_index) DO UPDATE SET "
                 "step_id = coalesce(EXCLUDED.step_id, tour_steps.step_id), "
                 "title = coalesce(EXCLUDED.title, tour_steps.title), "
                 "selector = coalesce(EXCLUDED.selector, tour_steps.selector)"),
            {"tour": tour_id, "index": step.index, "step_id": step.step_id, "title": step.title,
             "selector": step.selector},
        )
    return (await get_tours(conn, [tour_id]))[tour_id]
