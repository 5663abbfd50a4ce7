"""bench/read.py and bench/freshness.py in short runs: each loads its events through ``track``, checks
that what it reads back equals what it sent, and prints its figures (never asserted)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> str:
    # Their own servers, never the suite's (conftest exports its DATABASE_URL / REDIS_URL): a bench's
    # worker stopped mid-job would leave the suite's queue with jobs in progress nobody finishes.
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    result = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=600, cwd=ROOT,
                            env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def test_read_bench_short_run_checks_its_answers() -> None:
    out = _run(str(ROOT / "bench" / "read.py"), "--short")
    assert "the report equals what was sent" in out, out
    summary = out.split("== summary", 1)[1]
    # Every mode was timed, and the script exits non-zero when a timed answer was not the checked one.
    assert all(f"api {mode} " in summary for mode in ("post", "apq", "304")), out
    assert "transactions/req" in summary and "unexpected" not in summary, out


def test_freshness_bench_short_run_sees_every_probe() -> None:
    out = _run(str(ROOT / "bench" / "freshness.py"), "--seconds", "1", "--timeout", "20",
               "--background-concurrency", "2", "--background-batch", "50", "--background-rate", "500")
    assert "every probe showed exactly the events it sent" in out, out
    assert "offered at 500 events/s" in out and " 0 bad responses" in out, out  # the paced background


def test_the_peer_check_finds_every_difference() -> None:
    import sys

    sys.path.insert(0, str(ROOT))
    from bench.read import peer_problems

    report = {"stats": {"starts": 3, "completions": 1, "dismissals": 0, "restarts": 0, "stepViews": 5,
                        "stepCompletions": 0, "targetFailures": 0},
              "series": {"points": [{"date": "2026-01-01", "starts": 1, "completions": 0, "stepViews": 5},
                                    {"date": "2026-01-02", "starts": 2, "completions": 1, "stepViews": 0}]}}
    nodes = [{"day": "2026-01-01", "metric": "starts", "value": "1"},
             {"day": "2026-01-01", "metric": "step_views", "value": "5"},
             {"day": "2026-01-02", "metric": "starts", "value": "2"},
             {"day": "2026-01-02", "metric": "completions", "value": "1"}]
    assert peer_problems(report, nodes) == []
    nodes[1]["value"] = "4"
    nodes.append({"day": "2025-12-31", "metric": "starts", "value": "1"})
    assert peer_problems(report, nodes) == [
        "stats.starts 3 (peer 4)", "stats.stepViews 5 (peer 4)", "peer day 2025-12-31 outside our series",
        "series 2026-01-01 stepViews 5 (peer 4)"]
