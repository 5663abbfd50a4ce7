"""Demo AI traffic: a month of two agents at work, loaded by ``analytics dev --demo``.

- ``support-assistant`` answers customers in conversations (ConversationMessage turns on content
  ``support-chat``) with claude-sonnet-4-5 and classifies them with claude-haiku-4-5; it calls the
  tools ``search_docs`` and ``create_ticket``.
- ``code-reviewer`` reviews pull requests with gpt-4o, drafts with gpt-4o-mini and sometimes runs
  ``internal-llm-v2`` on a self-hosted provider (no price known: its tokens show as unpriced); it
  calls ``fetch_diff`` and ``run_linter`` (which carries its own cost).

Some requests fail (rate limits, timeouts) or are cancelled. Ids and timestamps are the same on every
run (a generator seeded per day), like analytics.demo.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from analytics.ingest.details import AIDetails, Capsule
from analytics.ingest.events import EventIn

_NAMESPACE = uuid.UUID("5d0c7a2e-0f3b-4e61-9a8d-7b1c2e3f4a5b")
UNPRICED_MODEL = ("selfhosted", "internal-llm-v2")


class _Maker:
    def __init__(self, day_key: str) -> None:
        self.day_key, self.made = day_key, 0

    def event(self, kind: str, at: datetime, user: str, ai: dict[str, Any], **fields: Any) -> EventIn:
        self.made += 1
        return EventIn(
            id=str(uuid.uuid5(_NAMESPACE, f"{self.day_key}:{self.made}")),
            type=kind,
            timestamp=at.isoformat(),
            user_id=user,
            ai=AIDetails(**ai),
            **fields,
        )


def _request(
    rng: random.Random, provider: str, model: str, agent: str, *, size: float, **ai: Any
) -> dict[str, Any]:
    roll = rng.random()
    status = "error" if roll < 0.03 else "cancelled" if roll < 0.05 else "ok"
    request: dict[str, Any] = {
        "provider": provider,
        "model": model,
        "agent": agent,
        "status": status,
        "input_tokens": int(rng.uniform(300, 3000) * size),
        "output_tokens": int(rng.uniform(50, 800) * size),
        "latency_ms": int(rng.lognormvariate(7.0, 0.5) * size**0.5),
        "time_to_first_token_ms": int(rng.lognormvariate(5.8, 0.4)),
        **ai,
    }
    if rng.random() < 0.5:
        request["cache_read_tokens"] = int(rng.uniform(1000, 8000) * size)
    if status == "error":
        request["error_class"] = rng.choice(("rate_limit", "timeout", "overloaded"))
        request["output_tokens"] = 0
    return request


def _support(make: _Maker, rng: random.Random, start: datetime, n: int) -> Iterator[EventIn]:
    user, conversation, at = f"customer-{rng.randrange(400)}", f"support-{start:%m%d}-{n}", start
    agent = "support-assistant"
    yield make.event(
        "AIRequest",
        at,
        user,
        _request(rng, "anthropic", "claude-haiku-4-5", agent, size=0.3, conversation_id=conversation),
    )
    for turn in range(1, rng.randint(2, 6) * 2, 2):
        at += timedelta(seconds=rng.uniform(20, 120))
        yield make.event(
            "ConversationMessage",
            at,
            user,
            {"agent": agent},
            content_id="support-chat",
            capsule=Capsule(conversation_id=conversation, role="user", turn=turn),
        )
        if rng.random() < 0.4:
            yield make.event(
                "ToolCall",
                at + timedelta(seconds=1),
                user,
                {
                    "tool": rng.choice(("search_docs", "search_docs", "create_ticket")),
                    "agent": agent,
                    "conversation_id": conversation,
                    "duration_ms": int(rng.lognormvariate(5.5, 0.6)),
                    "status": "error" if rng.random() < 0.04 else "ok",
                },
            )
        at += timedelta(seconds=rng.uniform(2, 15))
        yield make.event(
            "AIRequest",
            at,
            user,
            _request(
                rng,
                "anthropic",
                "claude-sonnet-4-5-20250929",
                agent,
                size=1.0,
                conversation_id=conversation,
                cache_write_tokens=int(rng.uniform(0, 500)),
            ),
        )
        yield make.event(
            "ConversationMessage",
            at,
            user,
            {"agent": agent},
            content_id="support-chat",
            capsule=Capsule(conversation_id=conversation, role="assistant", turn=turn + 1),
        )


def _review(make: _Maker, rng: random.Random, start: datetime) -> Iterator[EventIn]:
    user, agent, at = f"dev-{rng.randrange(25)}", "code-reviewer", start
    yield make.event(
        "ToolCall",
        at,
        user,
        {"tool": "fetch_diff", "agent": agent, "duration_ms": int(rng.lognormvariate(6.0, 0.5))},
    )
    provider, model = "openai", "gpt-4o"
    if rng.random() < 0.25:
        provider, model = UNPRICED_MODEL
    at += timedelta(seconds=2)
    yield make.event(
        "AIRequest",
        at,
        user,
        _request(
            rng,
            provider,
            model,
            agent,
            size=3.0,
            tool="fetch_diff",
            reasoning_tokens=int(rng.uniform(0, 2000)),
        ),
    )
    at += timedelta(seconds=rng.uniform(5, 30))
    yield make.event("AIRequest", at, user, _request(rng, "openai", "gpt-4o-mini", agent, size=0.8))
    if rng.random() < 0.5:
        yield make.event(
            "ToolCall",
            at + timedelta(seconds=3),
            user,
            {
                "tool": "run_linter",
                "agent": agent,
                "duration_ms": int(rng.lognormvariate(8.0, 0.4)),
                "cost": round(rng.uniform(0.001, 0.01), 4),
                "status": "error" if rng.random() < 0.08 else "ok",
            },
        )


def demo_ai_events(
    *,
    days: int,
    tz: ZoneInfo,
    now: datetime | None = None,
    seed: int = 7,
    daily_conversations: int = 40,
    daily_reviews: int = 25,
) -> Iterator[EventIn]:
    """Deterministic AI events for ``days`` local days up to now (none after ``now``)."""
    now = now or datetime.now(UTC)
    today = now.astimezone(tz).date()
    for offset in range(days, -1, -1):
        day = today - timedelta(days=offset)
        rng = random.Random(f"{seed}:{day}")
        make = _Maker(f"{seed}:{day}")
        weekday = 0.5 if day.weekday() >= 5 else 1.0
        midnight = datetime.combine(day, time(), tz)
        starts = [("support", n) for n in range(int(daily_conversations * weekday))]
        starts += [("review", n) for n in range(int(daily_reviews * weekday))]
        for kind, n in starts:
            start = midnight + timedelta(hours=rng.uniform(7, 21))
            events = _support(make, rng, start, n) if kind == "support" else _review(make, rng, start)
            yield from (e for e in events if datetime.fromisoformat(e.timestamp) <= now)
