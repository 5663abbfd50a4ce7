"""bench/ingest.py in a smoke run (``--short``): every phase runs, every timed response was checked
(``accepted`` equal to the events sent) and the figures are printed (never asserted)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_ingest_bench_short_run_checks_every_response() -> None:
    # Its own servers, never the suite's (conftest exports DATABASE_URL / REDIS_URL).
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "ingest.py"), "--short", "--client", "raw"],
                            capture_output=True, text=True, timeout=600, cwd=ROOT, env=env)
    out = result.stdout
    assert result.returncode == 0, out[-3000:] + result.stderr[-3000:]
    for phase in ("batched track", "single-event track", "the HTTP stack's ceiling"):
        section = out.split(f"== {phase}", 1)[1].split("\n== ", 1)[0]
        assert "responses with accepted != batch  0" in section, section
    summary = out.split("== summary", 1)[1]
    assert "single-event track over HTTP" in summary and "(ceiling)" in summary and "raw COPY" in summary, out
