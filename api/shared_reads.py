"""Identical reads that arrive while one is running share its execution instead of running again.

A dashboard shown on many screens, or a panel refreshed by many tabs, sends the same query with the
same variables many times at once. While one such read executes, another with the same inputs waits
for its result rather than opening a transaction of its own: the key (kind and id), the document
text, the operation name, the variables and the tenant's **data version** (api.answers) must all be
equal. The data version is bumped after every commit that changes what reads answer (the worker's
jobs, the API's mutations before they answer), so a read sent after a write was acknowledged never
joins an execution that started before it: it carries a newer version and runs.

The execution runs as its own task, so a client that goes away (its request cancelled) does not
cancel the answer others wait for. Each request formats and masks the shared result itself.
``ANALYTICS_SHARED_READS=false`` runs every read on its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import orjson

from analytics.tenants.service import Principal

T = TypeVar("T")
ReadKey = tuple[int, str, int, str, str | None, bytes, str]


def read_key(principal: Principal, text: str, operation: str | None, variables: dict[str, Any] | None,
             version: str) -> ReadKey:
    """What a read's answer depends on, beside the clock (see the module docstring)."""
    return (principal.tenant_id, principal.kind.value, principal.key_id, text, operation,
            orjson.dumps(variables, option=orjson.OPT_SORT_KEYS), version)


class SharedReads:
    """The reads executing now, by key; one per process (api.context.Resources)."""

    def __init__(self) -> None:
        self._running: dict[ReadKey, asyncio.Task[Any]] = {}
        self.shared = 0  # reads answered by another read's execution (for tests and /metrics readers)

    @property
    def running(self) -> int:
        return len(self._running)

    async def run(self, key: ReadKey | None, execute: Callable[[], Awaitable[T]]) -> T:
        """``execute()``'s result, from the execution already running under ``key`` if there is one."""
        if key is None:
            return await execute()
        task = self._running.get(key)
        if task is None:
            task = asyncio.ensure_future(execute())
            self._running[key] = task
            task.add_done_callback(lambda done: self._forget(key, done))
        else:
            self.shared += 1
        result: T = await asyncio.shield(task)
        return result

    def _forget(self, key: ReadKey, task: asyncio.Task[Any]) -> None:
        if self._running.get(key) is task:
            del self._running[key]
        if not task.cancelled():
            task.exception()  # retrieved here, so a failure nobody awaited any more is not logged as lost
