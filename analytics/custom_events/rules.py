"""What a tenant's event definitions demand of a Custom event at ingest (pure), and the per-process
cache that keeps them off the ingest path's round trips.

Both ingest paths (the fast decoder and the generic GraphQL path) end in
``analytics.ingest.service.ingest_batch``, which asks :data:`RULES` for the tenant's rules once per
batch, so both report the same per-event errors. The cache keeps a tenant's rules for
``RULES_TTL_SECONDS``; the API process that changes a definition forgets its copy at once, other
processes see the change within the TTL.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

RULES_TTL_SECONDS = 5.0


class PropertyType(enum.Enum):
    STRING = "STRING"
    NUMBER = "NUMBER"
    BOOLEAN = "BOOLEAN"


_TYPE_WORDS = {PropertyType.STRING: "a string", PropertyType.NUMBER: "a number",
               PropertyType.BOOLEAN: "true or false"}


def has_type(value: Any, kind: PropertyType) -> bool:
    if kind is PropertyType.STRING:
        return isinstance(value, str)
    if kind is PropertyType.BOOLEAN:
        return isinstance(value, bool)
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class PropertySpec:
    name: str
    type: PropertyType
    required: bool = False


@dataclass(frozen=True)
class NameRules:
    """One defined name as ingest sees it: its declared properties and whether they are enforced."""

    strict: bool
    properties: tuple[PropertySpec, ...] = ()


@dataclass(frozen=True)
class EventRules:
    """A tenant's definitions as ingest needs them."""

    allowlist: bool = False
    names: Mapping[str, NameRules] = field(default_factory=dict)

    def problems(self, name: str, properties: Any) -> list[tuple[str, str]]:
        """(field, reason) pairs for a Custom event with a valid ``name`` and decoded ``properties``."""
        rules = self.names.get(name)
        if rules is None:
            if self.allowlist:
                return [("name", f"{name!r} is not a defined event; this tenant accepts only the Custom "
                                 "events it defined (defineEvent), or turn its event allowlist off")]
            return []
        if not rules.strict or (properties is not None and not isinstance(properties, dict)):
            return []
        given = properties or {}
        found: list[tuple[str, str]] = []
        for spec in rules.properties:
            value = given.get(spec.name)
            if value is None:
                if spec.required:
                    found.append((f"properties.{spec.name}",
                                  f"is required by the definition of {name!r} (strict)"))
            elif not has_type(value, spec.type):
                found.append((f"properties.{spec.name}", f"must be {_TYPE_WORDS[spec.type]} by the "
                                                         f"definition of {name!r} (strict)"))
        return found


NO_RULES = EventRules()
Loader = Callable[[int], Awaitable[EventRules]]


class RulesCache:
    """Each tenant's :class:`EventRules`, reloaded after ``ttl`` seconds or when forgotten."""

    def __init__(self, ttl: float = RULES_TTL_SECONDS) -> None:
        self.ttl = ttl
        self.entries: dict[int, tuple[float, EventRules]] = {}

    async def get(self, tenant_id: int, load: Loader) -> EventRules:
        now = time.monotonic()
        entry = self.entries.get(tenant_id)
        if entry is not None and entry[0] > now:
            return entry[1]
        rules = await load(tenant_id)
        self.entries[tenant_id] = (now + self.ttl, rules)
        return rules

    def forget(self, tenant_id: int) -> None:
        self.entries.pop(tenant_id, None)


RULES = RulesCache()
