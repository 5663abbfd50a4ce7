"""Secret-key mutations that name tours and steps."""

from __future__ import annotations

import strawberry

from analytics.tours import service
from api.context import AppInfo
from api.errors import BadInput
from api.tours.types import Tour


@strawberry.input
class StepInput:
    index: int = strawberry.field(description="Step position, 0 for the first.")
    title: str | None = None
    selector: str | None = None
    step_id: str | None = None


@strawberry.input
class DefineTourInput:
    id: str
    title: str | None = None
    steps: list[StepInput] = strawberry.field(default_factory=list)


@strawberry.type
class TourMutation:
    @strawberry.mutation(description="Create or update a tour's title and its steps (secret key). "
                                     "Fields left out keep their values.")
    async def define_tour(self, info: AppInfo, input: DefineTourInput) -> Tour:
        steps = [service.StepDefinition(s.index, s.title, s.selector, s.step_id) for s in input.steps]
        try:
            async with info.context.write() as conn:
                tour = await service.define_tour(conn, tour_id=input.id, title=input.title,
                                                 steps=steps)
        except service.TourDefinitionError as exc:
            raise BadInput(f"input.{exc.field}", exc.message) from None
        return Tour.of(tour)
