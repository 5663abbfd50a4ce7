"""The segments' rollup consumer: its inputs (analytics.segments.inputs), verified with the
assignments (analytics.segments.assign) so ``analytics rollups verify`` checks both."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy.ext.asyncio import AsyncConnection

from analytics.rollups.consumers import Difference
from analytics.segments.assign import verify_assignments
from analytics.segments.inputs import SEGMENT_INPUTS


async def _verify(conn: AsyncConnection, tenant_id: int) -> list[Difference]:
    return [*await SEGMENT_INPUTS.verify(conn, tenant_id), *await verify_assignments(conn, tenant_id)]


SEGMENTS = replace(SEGMENT_INPUTS, verify=_verify)
