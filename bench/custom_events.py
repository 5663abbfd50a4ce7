"""Custom events benchmark, in process: what event definitions cost ingest validation and what the
custom event consumer's in-memory fold costs the worker, each beside its anchor in the same run.

Runs alternate the measured variants round by round (A B A B ...) so a busy machine slows them
alike: the ratios are the figures to read. Prints figures; asserts nothing but its own answers.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analytics.custom_events.rollup import fold_counts
from analytics.custom_events.rules import EventRules, NameRules, PropertySpec, PropertyType
from analytics.custom_events.values import dimension_value
from analytics.ingest.events import EventIn, validate_batch
from analytics.rollups.aggregate import RawEvent, aggregate

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
RULES = EventRules(True, {
    "deploy": NameRules(True, (PropertySpec("env", PropertyType.STRING, True),
                               PropertySpec("minutes", PropertyType.NUMBER),
                               PropertySpec("canary", PropertyType.BOOLEAN))),
    **{f"defined_{i}": NameRules(False) for i in range(200)},
})


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=500, help="Events per batch (a multiple of 50).")
    parser.add_argument("--rounds", type=int, default=41, help="Measured rounds per variant.")
    return parser.parse_args(argv)


def custom_batch(size: int) -> list[EventIn]:
    at = NOW.isoformat()
    return [EventIn(id=str(uuid.uuid4()), type="Custom", timestamp=at, user_id=f"u{i % 50}", name="deploy",
                    properties={"env": ("prod", "staging")[i % 2], "minutes": i % 17, "canary": i % 3 == 0})
            for i in range(size)]


def tour_batch(size: int) -> list[EventIn]:
    at = NOW.isoformat()
    return [EventIn(id=str(uuid.uuid4()), type="StepViewed", timestamp=at, user_id=f"u{i % 50}", tour_id="t1",
                    step_index=i % 5) for i in range(size)]


def timed(variants: dict[str, Callable[[], Any]], rounds: int) -> dict[str, float]:
    """Median milliseconds per call of each variant, measured in alternation."""
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, call in variants.items():
            start = time.perf_counter()
            call()
            samples[name].append((time.perf_counter() - start) * 1000)
    return {name: statistics.median(values) for name, values in samples.items()}


def raw_events(events: list[EventIn]) -> list[tuple[RawEvent, bool]]:
    return [(RawEvent(e.type, NOW + timedelta(seconds=i), e.user_id, None, e.tour_id, e.step_index, None,
                      None, None, None, id=uuid.UUID(e.id), name=e.name, properties=e.properties), False)
            for i, e in enumerate(events)]


def check(events: list[EventIn], rules: EventRules) -> int:
    """Errors of ``events`` under ``rules``."""
    checked = validate_batch(events, retention_days=3650, max_future_seconds=86400, now=NOW, rules=rules)
    return len(checked.errors)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    customs, tours = custom_batch(args.batch), tour_batch(args.batch)

    def validate(events: list[EventIn], rules: EventRules | None = None) -> Callable[[], Any]:
        extra = {"rules": rules} if rules is not None else {}
        return lambda: validate_batch(events, retention_days=3650, max_future_seconds=86400, now=NOW, **extra)

    # The answers first: the rules pass every generated event and reject a wrong one.
    assert check(customs, RULES) == 0
    wrong = [EventIn(id=str(uuid.uuid4()), type="Custom", timestamp=NOW.isoformat(), user_id="u",
                     name="deploy", properties={"minutes": "3"})]
    assert check(wrong, RULES) == 2  # env missing, minutes a string
    validation = timed({"custom, no definitions": validate(customs),
                        "custom, strict + allowlist": validate(customs, RULES),
                        "tour events": validate(tours)}, args.rounds)
    tz = ZoneInfo("Europe/Berlin")
    folded_customs, folded_tours = raw_events(customs), raw_events(tours)
    agg = fold_counts(folded_customs, tz)
    assert sum(agg.daily.values()) == args.batch and len(agg.users) == 50
    fold = timed({
        "custom counts fold": lambda: fold_counts(folded_customs, tz),
        "custom dimension values (2 dims)": lambda: [(dimension_value(e.properties, "env"),
                                                      dimension_value(e.properties, "minutes"))
                                                     for e, _ in folded_customs],
        "tour counters fold (anchor)": lambda: aggregate(folded_tours, tz),
    }, args.rounds)
    print(f"custom events benchmark: {args.batch}-event batches, median of {args.rounds} alternating rounds, "
          f"Python {sys.version.split()[0]}")
    print("== validate_batch (ingest, both paths)")
    for name, ms in validation.items():
        print(f"  {name:40} {ms:8.3f} ms/batch  {ms * 1000 / args.batch:6.2f} us/event")
    ratio = validation["custom, strict + allowlist"] / validation["custom, no definitions"]
    print(f"  definitions cost                         x{ratio:.3f} of the same batch without them")
    print("== worker fold, in memory (no database)")
    for name, ms in fold.items():
        print(f"  {name:40} {ms:8.3f} ms/batch")


if __name__ == "__main__":
    main()
