"""Single AI requests of a period, newest first, read from the raw events (a list of requests is
not a rollup) and priced with the same SQL rule as the recomputation (analytics.ai.prices)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from analytics.ai.prices import PRICE_SQL, TOKEN_FIELD
from analytics.db import CURRENT_TENANT
from analytics.periods import Period


@dataclass(frozen=True)
class AIRequestRow:
    id: UUID
    occurred_at: datetime
    provider: str
    model: str
    agent: str | None
    tool: str | None
    conversation_id: str | None
    user_id: str | None
    status: str
    error_class: str | None
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    reasoning_tokens: int
    latency_ms: int | None
    time_to_first_token_ms: int | None
    cost: Decimal | None  # None: some of its tokens have no price
    client_cost: bool


_TOKENS = ", ".join(f"coalesce(CAST(e.ai->>'{f}' AS bigint), 0)" for f in TOKEN_FIELD.values())
_COST = f"""CASE WHEN e.ai ? 'cost' THEN CAST(e.ai->>'cost' AS numeric) ELSE (
    SELECT CASE WHEN bool_or({PRICE_SQL} IS NULL) THEN NULL
                ELSE coalesce(sum(CAST(e.ai->>u.field AS bigint) * {PRICE_SQL} * 0.000001), 0) END
    FROM (VALUES {", ".join(f"('{u}', '{f}')" for u, f in TOKEN_FIELD.items())}) AS u(usage, field)
    WHERE coalesce(CAST(e.ai->>u.field AS bigint), 0) > 0) END"""
_WHERE = (
    f"e.{CURRENT_TENANT} AND e.type = 'AIRequest' AND e.occurred_at >= :start AND e.occurred_at < :end "
    "AND (CAST(:include_bots AS boolean) OR NOT coalesce(s.excluded, false)) "
    "AND (CAST(:model AS text) IS NULL OR e.ai->>'model' ILIKE '%' || :model || '%') "
    "AND (CAST(:agent AS text) IS NULL OR e.ai->>'agent' = :agent) "
    "AND (CAST(:status AS text) IS NULL OR coalesce(e.ai->>'status', 'ok') = :status)"
)
_FROM = "events e LEFT JOIN sessions s ON s.tenant_id = e.tenant_id AND s.id = e.session_key"


async def list_requests(
    conn: AsyncConnection,
    period: Period,
    include_bots: bool,
    *,
    first: int,
    after: tuple[datetime, UUID] | None,
    model: str | None,
    agent: str | None,
    status: str | None,
) -> tuple[list[AIRequestRow], int]:
    """One page (``first`` + 1 rows tell whether more follow) and the total count. ``model``
    matches any part of the model name, case-insensitively."""
    params = {
        "start": period.start,
        "end": period.end,
        "include_bots": include_bots,
        "model": model,
        "agent": agent,
        "status": status,
        "limit": first + 1,
        "after_at": after[0] if after else None,
        "after_id": after[1] if after else None,
    }
    rows = await conn.execute(
        text(
            f"SELECT e.id, e.occurred_at, e.ai->>'provider', e.ai->>'model', e.ai->>'agent', e.ai->>'tool', "
            f"e.ai->>'conversationId', e.user_id, coalesce(e.ai->>'status', 'ok'), e.ai->>'errorClass', "
            f"{_TOKENS}, "
            f"CAST(e.ai->>'latencyMs' AS int), CAST(e.ai->>'timeToFirstTokenMs' AS int), {_COST}, e.ai ? "
            f"'cost' "
            f"FROM {_FROM} WHERE {_WHERE} AND (CAST(:after_at AS timestamptz) IS NULL "
            "OR (e.occurred_at, e.id) < (CAST(:after_at AS timestamptz), CAST(:after_id AS uuid))) "
            "ORDER BY e.occurred_at DESC, e.id DESC LIMIT :limit"
        ),
        params,
    )
    total = (await conn.execute(text(f"SELECT count(*) FROM {_FROM} WHERE {_WHERE}"), params)).scalar_one()
    return [AIRequestRow(*r) for r in rows], int(total)
