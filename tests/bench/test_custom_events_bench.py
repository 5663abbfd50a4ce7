"""bench/custom_events.py runs briefly and its own answers hold (it asserts them before timing)."""

from __future__ import annotations

import pytest

from bench.custom_events import main


def test_the_custom_events_benchmark_runs(capsys: pytest.CaptureFixture[str]) -> None:
    main(["--batch", "50", "--rounds", "1"])
    printed = capsys.readouterr().out
    assert "definitions cost" in printed and "custom counts fold" in printed
