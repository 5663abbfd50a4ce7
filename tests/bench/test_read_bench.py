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
    out = _run(str(ROOT / "bench" / "freshness.py"), "--seconds", "1", "--timeout", "20")
    assert "every probe showed exactly the events it sent" in out, out
