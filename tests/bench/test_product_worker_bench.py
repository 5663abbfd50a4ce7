"""bench/product_worker.py briefly, on the suite's database: both modes fold every event and the
product runs equal a recomputation (the benchmark's own checks); no speed is asserted."""

from __future__ import annotations

from analytics.settings import Settings
from bench.product_worker import measure, report


async def test_product_worker_bench_checks_its_answers(settings: Settings) -> None:
    result = await measure(settings.database_url or "", days=2, repeats=1)
    assert result.events > 0
    # Each run folds every event it sent (the bench asserts it); the demo experiments' exposures follow
    # each tenant's own salt, so the two modes' event counts differ by a few lost exposures.
    assert len(result.without) == len(result.with_product) == 1
    assert all(r.events > 0.9 * result.events for r in result.with_product)
    report(result)


async def test_product_worker_bench_steady_mode_times_only_the_last_days(settings: Settings) -> None:
    whole = await measure(settings.database_url or "", days=3, repeats=1)
    steady = await measure(settings.database_url or "", days=3, repeats=1, steady_days=1)
    # The history is folded first and not counted; the product run still equals the recomputation.
    assert 0 < steady.events < whole.events
