"""Event definitions as the graph shows them, and the input that defines one."""

from __future__ import annotations

from datetime import datetime

import strawberry

from analytics.custom_events import definitions as domain
from analytics.custom_events.rules import PropertyType

strawberry.enum(PropertyType, name="PropertyType",
                description="The JSON type a declared property must have (NUMBER: integer or decimal).")


@strawberry.type(description="A property declared on an event definition.")
class DeclaredProperty:
    name: str
    type: PropertyType
    required: bool = strawberry.field(description="In strict mode, an event without it is rejected.")


@strawberry.type(description="A dimension backfill's progress: raw events of the name counted so far.")
class Backfill:
    status: str = strawberry.field(description="pending (queued), running or done.")
    processed: int = strawberry.field(description="Events counted so far.")
    total: int = strawberry.field(description="Retained raw events of the name when the backfill began.")


@strawberry.type(description="A declared breakdown dimension: counted per value and local day from the "
                             "moment its backfill over the retained raw events is done.")
class EventDimension:
    property: str
    backfill: Backfill


@strawberry.type(description="What a Custom event name means for this tenant (defineEvent).")
class EventDefinition:
    name: str
    description: str | None
    properties: list[DeclaredProperty] = strawberry.field(
        description=f"Declared properties (at most {domain.MAX_PROPERTIES}).")
    strict: bool = strawberry.field(
        description="Whether events of this name with a missing required or wrong-typed declared property "
                    "are rejected at ingest (field properties.<name>).")
    dimensions: list[EventDimension] = strawberry.field(
        description=f"Breakdown dimensions (at most {domain.MAX_DIMENSIONS}), in declared order.")
    created_at: datetime
    updated_at: datetime

    @strawberry.field(description="All the dimensions' backfills together: done when every one is; "
                                  "processed and total summed.")
    def backfill(self) -> Backfill:
        parts = [d.backfill for d in self.dimensions]
        status = ("done" if all(p.status == "done" for p in parts) else
                  "running" if any(p.status == "running" for p in parts) else "pending")
        return Backfill(status=status, processed=sum(p.processed for p in parts),
                        total=sum(p.total for p in parts))

    @classmethod
    def of(cls, found: domain.EventDefinition) -> EventDefinition:
        return cls(
            name=found.name, description=found.description,
            properties=[DeclaredProperty(name=p.name, type=p.type, required=p.required)
                        for p in found.properties],
            strict=found.strict,
            dimensions=[EventDimension(property=d.property, backfill=Backfill(
                status=d.status, processed=d.processed, total=d.total)) for d in found.dimensions],
            created_at=found.created_at, updated_at=found.updated_at)


@strawberry.input(description="A property to declare.")
class PropertyInput:
    name: str
    type: PropertyType
    required: bool = False


@strawberry.input(description="An event definition; defining a name again replaces its definition.")
class EventDefinitionInput:
    name: str = strawberry.field(description="The Custom event's name (as sent in track).")
    description: str | None = None
    properties: list[PropertyInput] = strawberry.field(default_factory=list)
    strict: bool = strawberry.field(
        default=False, description="Reject events of this name whose declared properties are missing "
                                   "(when required) or of another type.")
    dimensions: list[str] = strawberry.field(
        default_factory=list,
        description=f"Property names to break the events down by (at most {domain.MAX_DIMENSIONS}). A "
                    "dimension new to the definition is backfilled from the retained raw events by a "
                    "worker job; one left out loses its counts.")
