"""Secret-key mutations that define Custom events and switch the tenant's event allowlist."""

from __future__ import annotations

import strawberry

from analytics.custom_events import definitions as domain
from analytics.custom_events.rules import RULES, PropertySpec
from analytics.errors import InvalidArgument
from api.context import AppInfo
from api.custom_events.types import EventDefinition, EventDefinitionInput
from api.errors import BadInput
from workers.queue import enqueue_event_backfill


@strawberry.type
class EventDefinitionMutation:
    @strawberry.mutation(description=(
        "Define a Custom event name, or replace its definition (secret key): a description, declared "
        "properties (STRING, NUMBER, BOOLEAN; required or not), strict mode and breakdown dimensions. "
        "Ingest applies it at once in this API process and within 5 seconds in the others."))
    async def define_event(self, info: AppInfo, input: EventDefinitionInput) -> EventDefinition:
        principal = info.context.require_secret()
        properties = [PropertySpec(p.name, p.type, p.required) for p in input.properties]
        try:
            async with info.context.write() as conn:
                found, added = await domain.define_event(
                    conn, principal.tenant_id, name=input.name, description=input.description,
                    properties=properties, strict=input.strict, dimensions=input.dimensions)
        except InvalidArgument as exc:
            raise BadInput(f"input.{exc.field}", exc.message) from None
        RULES.forget(principal.tenant_id)
        if added:
            await enqueue_event_backfill(info.context.resources.redis, principal.tenant_id)
        return EventDefinition.of(found)

    @strawberry.mutation(description="Remove a Custom event's definition and its dimension counts (secret "
                                     "key); its events are still accepted (unless the allowlist is on) "
                                     "and counted. False when the name had no definition.")
    async def remove_event(self, info: AppInfo, name: str) -> bool:
        principal = info.context.require_secret()
        async with info.context.write() as conn:
            removed = await domain.remove_event(conn, principal.tenant_id, name)
        RULES.forget(principal.tenant_id)
        return removed

    @strawberry.mutation(description=(
        "Accept only the Custom events this tenant defined (secret key): with the allowlist on, an event "
        "whose name has no definition is rejected (field name). Off by default. Returns the setting."))
    async def set_event_allowlist(self, info: AppInfo, enabled: bool) -> bool:
        principal = info.context.require_secret()
        async with info.context.write() as conn:
            await domain.set_event_allowlist(conn, principal.tenant_id, enabled)
        RULES.forget(principal.tenant_id)
        return enabled
