"""bench/scale.py in a short run: its generator's events are rolled up by the worker and every dashboard
document it times answers without errors (figures printed, never asserted)."""

from __future__ import annotations

from tests.bench.test_read_bench import ROOT, _run


def test_scale_bench_short_run_reads_every_dashboard_document() -> None:
    out = _run(str(ROOT / "bench" / "scale.py"), "--short")
    assert "the worker rolled everything up" in out, out
    documents = out.split("== dashboard documents", 1)[1].split("== overview panels", 1)[0]
    panels = out.split("== overview panels", 1)[1].split("== memory", 1)[0]
    assert "DashboardOverview" in documents and "overview.sessions" in panels, out
    # Every document answered (p50 ...); only those needing ids the bench does not define are skipped.
    for line in documents.splitlines()[1:] + panels.splitlines()[1:]:
        if line.strip():
            assert " p50 " in line or "skipped: needs $key" in line, line
