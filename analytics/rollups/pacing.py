"""Claim pacing: a tenant's rollup claims grow with the load instead of staying one request wide.

Single-event ``track`` traffic commits a few events at a time, and a worker that claims as soon as
each commit lands pays the whole rollup transaction (claim, lock, session upkeep, every consumer's
statements, commit) for a handful of events. The pacer lets a tenant's next claim start no sooner
than ``interval`` after its previous claim started when the worker is busy with the tenant (its
last claim held ``MIN_EVENTS`` or more and took at least ``BUSY`` of the time since the claim before
it started), unless that claim was full (a backlog: the next one goes at once). A lone event, a
trickle the worker folds in a fraction of its time, or a client that waits for each small batch to
show (a closed loop, tiny claims) is claimed at once, as fresh as before; under load the events of
``interval`` share one transaction, and what they wait is at most ``interval`` (the freshness
target is 2 s).

The pacer also lets one run at a time fold a tenant in this process: the coalesced job, the
sweeper's copy and a follow-up job can be queued together, and two runs of one tenant only split
each interval's events into a big claim and a tiny one that waits for the tenant's lock. A run that
finds another one going asks it to claim once more before it stops (nothing waits for the sweeper)
and returns.

State is per process (one pacer per worker): two worker processes pace independently, which is
correct (claims take outbox rows with SKIP LOCKED), only less thrifty.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class ClaimPacer:
    """Spaces a tenant's small claims ``interval`` seconds apart (0 disables pacing); a job stops
    claiming after ``budget`` seconds of paced claims so its follow-up work (scoring, segments) is
    queued regularly under steady load."""

    MAX_TENANTS = 10_000  # remembered claims; forgotten all at once beyond this
    BUSY = 0.5  # pace when the last claim took this share of the time since the one before began
    MIN_EVENTS = 50  # and held at least this many events

    def __init__(self, interval: float, budget: float = 2.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = max(0.0, interval)
        self.budget = budget
        self.clock = clock
        # tenant -> (when its last small claim started (monotonic), whether the next one waits)
        self._last: dict[int, tuple[float, bool]] = {}
        self._running: dict[int, bool] = {}  # tenant being folded -> another run asked meanwhile

    def begin(self, tenant_id: int) -> bool:
        """Whether this run may fold the tenant now; False: one is going, and it will claim again."""
        if tenant_id in self._running:
            self._running[tenant_id] = True
            return False
        self._running[tenant_id] = False
        return True

    def asked_again(self, tenant_id: int) -> bool:
        """Whether another run came while this one folded (cleared: the caller claims once more)."""
        asked = self._running.get(tenant_id, False)
        self._running[tenant_id] = False
        return asked

    def end(self, tenant_id: int) -> bool:
        """The run is over; whether another run asked meanwhile (and was not answered)."""
        return self._running.pop(tenant_id, False)

    def delay(self, tenant_id: int) -> float:
        """Seconds the tenant's next claim waits: until ``interval`` after its last small claim
        started, if the worker was busy with the tenant; else 0."""
        last = self._last.get(tenant_id)
        if last is None or not last[1]:
            return 0.0
        return max(0.0, last[0] + self.interval - self.clock())

    async def wait(self, tenant_id: int) -> None:
        """Before a claim: sleep :meth:`delay`."""
        delay = self.delay(tenant_id)
        if delay > 0:
            await asyncio.sleep(delay)

    def claimed(self, tenant_id: int, started: float, events: int, *, full: bool) -> None:
        """After a claim of ``events`` that started at ``started`` (monotonic) and ended now; a full
        claim (a backlog) is not paced after."""
        previous = self._last.pop(tenant_id, None)
        if full or self.interval <= 0:
            return
        if len(self._last) >= self.MAX_TENANTS:
            self._last.clear()
        busy = (previous is not None and events >= self.MIN_EVENTS
                and self.clock() - started >= self.BUSY * (started - previous[0]))
        self._last[tenant_id] = (started, busy)


__all__ = ["ClaimPacer"]
