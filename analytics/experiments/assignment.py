"""Deterministic assignment: a hash of (experiment key, salt, actor) placed into the variants' weights,
the same answer on every call while the weights stay the same."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from analytics.experiments.definitions import Experiment, Variant
from analytics.ingest.catalogue import EXPOSURE
from analytics.ingest.events import EventIn

_EXPOSURE_IDS = uuid.UUID("6d1c7c61-9a58-4b7e-8a3f-0e6c1b2f9a11")


# Whether an actor was in a segment at an instant: the segments' own "as of" rule
# (analytics.segments.service.MEMBERS_AT_SQL), also what the rollup and its recomputation apply.
_MEMBER_AT = text(
    "SELECT EXISTS (SELECT 1 FROM segment_members "
    "WHERE tenant_id = current_setting('analytics.tenant_id')::bigint AND segment_id = :segment "
    "AND user_key = :actor AND valid_from < :at AND (valid_to IS NULL OR valid_to >= :at))"
)


async def segment_member(conn: AsyncConnection, segment: str, actor: str, at: datetime) -> bool:
    return bool((await conn.execute(_MEMBER_AT, {"segment": segment, "actor": actor, "at": at})).scalar_one())


def bucket(experiment_key: str, salt: str, actor: str) -> float:
    """A point in [0, 1) from the first 8 bytes of SHA-256 of ``key:salt:actor``."""
    digest = hashlib.sha256(f"{experiment_key}:{salt}:{actor}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign(experiment: Experiment, actor: str) -> Variant:
    """The variant whose share of the weights holds the actor's point (variants in their defined order)."""
    point = bucket(experiment.key, experiment.salt, actor) * sum(v.weight for v in experiment.variants)
    running = 0.0
    for variant in experiment.variants:
        running += variant.weight
        if point < running:
            return variant
    return experiment.variants[-1]


def exposure_event(
    experiment: Experiment, variant: Variant, *, user_id: str | None, anonymous_id: str | None, at: datetime
) -> EventIn:
    """The ExperimentExposure event an assignment records: its id is derived from the experiment and the
    actor, so asking again is a duplicate of the first exposure (stored and counted once)."""
    actor = f"u:{user_id}" if user_id is not None else f"a:{anonymous_id}"
    return EventIn(
        id=str(uuid.uuid5(_EXPOSURE_IDS, f"{experiment.key}\x00{actor}")),
        type=EXPOSURE,
        timestamp=at.isoformat(),
        user_id=user_id,
        anonymous_id=anonymous_id,
        properties={"experiment": experiment.key, "variant": variant.key},
    )
