"""Optional py-spy sampling of the API or worker during a benchmark window, summarised as text."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path


def py_spy() -> str | None:
    """The py-spy executable: next to this Python (a venv) or on PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


class Sampler:
    """``py-spy record`` in raw (collapsed-stack) format against one process for a duration."""

    def __init__(self, pid: int, output: Path, seconds: float, rate: int = 200) -> None:
        self.output = output
        self._args = [py_spy() or "py-spy", "record", "--pid", str(pid),
                      "--duration", str(max(1, round(seconds))), "--rate", str(rate),
                      "--format", "raw", "--output", str(output), "--nonblocking", "--subprocesses"]
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.output.parent.mkdir(parents=True, exist_ok=True)
        self._process = subprocess.Popen(self._args, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)

    def wait(self, timeout: float = 60) -> None:
        if self._process is None:
            return
        try:
            self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(5)
        self._process = None


def _short(frame: str) -> str:
    """``fn (path/to/module.py:12)`` -> ``fn (to/module.py)``: one entry per function."""
    name, _, where = frame.partition(" (")
    file = where.rstrip(")").rsplit(":", 1)[0]
    marker = "site-packages/"
    if marker in file:
        file = file.split(marker, 1)[1]
    elif "/work/" in file or file.startswith("/"):
        file = "/".join(file.split("/")[-2:])
    return f"{name} ({file})"


# Where a ``track`` request's time goes: (label, a substring of the shortened frame).
PHASES = (
    ("GraphQL endpoint (whole request)", "GraphQLEndpoint.handle ("),
    ("  body read + fast-path decode", "GraphQLEndpoint.read_params ("),
    ("  API-key lookup", "GraphQLEndpoint.authenticate ("),
    ("  persisted-query resolution", "PersistedQueries.resolve ("),
    ("  GraphQL parse + validation (cached per text)", "Documents._prepare ("),
    ("  cost", "operation_cost (api/cost.py)"),
    ("  rate limit (Redis)", "RateLimiter.spend ("),
    ("  track resolver", "IngestMutation.track ("),
    ("    validate_batch", "validate_batch (analytics/ingest/events.py)"),
    ("    tenant_transaction (checkout, BEGIN, scope)", "tenant_transaction (analytics/db.py)"),
    ("    INSERT ... RETURNING (asyncpg execute)",
     "AsyncAdapt_asyncpg_cursor._prepare_and_execute ("),
    ("    enqueue rollup (Redis)", "enqueue_rollup (workers/queue.py)"),
    ("  pool pre-ping (every checkout)", "AsyncAdapt_asyncpg_connection._async_ping ("),
    ("  new PostgreSQL connections", "connect (asyncpg/connection.py)"),
    ("  telemetry middleware", "RequestTelemetry.__call__ ("),
)


WORKER_PHASES = (
    ("roll_up_tenant job (whole)", "roll_up_tenant (workers/jobs.py)"),
    ("  roll_up_once (one claim transaction)", "roll_up_once (analytics/rollups/service.py)"),
    ("    aggregate (pure Python fold)", "aggregate (analytics/rollups/aggregate.py)"),
    ("    _write (counter upserts)", "_write (analytics/rollups/service.py)"),
    ("  asyncpg execute (all statements)", "AsyncAdapt_asyncpg_cursor._prepare_and_execute ("),
    ("  pool pre-ping (every checkout)", "AsyncAdapt_asyncpg_connection._async_ping ("),
    ("sweep_outbox", "sweep_outbox (workers/jobs.py)"),
)


def summarise(path: Path, phases: tuple[tuple[str, str], ...] = PHASES, what: str = "API",
              top: int = 12) -> list[tuple[str, object]]:
    """Share of samples per request phase, and the top functions by self time."""
    self_counts: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    if not path.exists():
        return [("profile", f"no samples written to {path}")]
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_short(f) for f in stack.split(";")]
        total += count
        self_counts[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    if not total:
        return [("profile", "no samples")]

    def share(pattern: str) -> float:
        return 100 * sum(n for frame, n in inclusive.items() if pattern in frame) / total

    rows: list[tuple[str, object]] = [
        (f"{what} profile", f"{total} samples (py-spy, busy only)")]
    rows += [(f"  {label}", f"{share(pattern):5.1f}%") for label, pattern in phases]
    rows += [(f"  self #{i + 1}", f"{100 * n / total:5.1f}%  {name}")
             for i, (name, n) in enumerate(self_counts.most_common(top))]
    return rows
