"""bench/costs.py in its short mode: loads, rolls up, checks the rollups against the recomputation and
reads the costs fields over HTTP (its figures are printed, never asserted)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_costs_bench_short_mode_runs_and_checks_its_answers() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "costs.py"), "--short"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert re.search(r"rollups equal the recomputation +yes", result.stdout), result.stdout
    assert "summary p50 / p95" in result.stdout and "breakdown CONVERSATION p50 / p95" in result.stdout
