"""Resolved API keys kept in the process for a few seconds, dropped the moment they change.

Every request used to look its key up in PostgreSQL (one round trip and one transaction). Here a
live key's principal is kept for ``ttl`` seconds, and migration 0028 announces every change of an
API key or of its tenant's row on the channel ``analytics_principals`` (payload: the tenant id) at
the commit that makes it, whoever makes it (the API, the command line, plain SQL). One listening
connection per process receives those and drops the tenant's entries, so a revoked key stops on the
next request in every API process, not ``ttl`` seconds later.

An announcement travels on its own socket, so it can still be on its way when the next request
arrives. A kept key is therefore trusted only after a round trip on the listening connection that
began after the request arrived (``_caught_up``): PostgreSQL signals its listeners before the
writer's commit returns and sends pending notifications ahead of any reply, so once that round
trip is back every change committed before the request has been handled. Requests arriving
together share one round trip, which costs far less than the lookup (pool, transaction, query).

Only a process that is listening caches: while the listening connection is down (PostgreSQL
restarting), every request looks its key up as before, and the connection is opened again at most
every ``RECONNECT_SECONDS``. A lookup that overlapped an announcement is not kept (``generation``).
Unknown and revoked keys are never kept, so guessing keys cannot fill the cache.

``track`` keeps keys apart from that (``for_ingest``, whatever ``ttl`` is): its write reads the
key again in the transaction that stores the events (analytics.ingest.service.Vouched), so a key
revoked or a tenant changed before it stops there exactly, with no race against an announcement,
and the request is answered again with the key looked up. That costs one statement per commit
(shared by a group of requests) instead of a lookup per request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.ingest.service import Vouched
from analytics.tenants.service import Principal, hash_key, resolve_key

log = logging.getLogger(__name__)
CHANNEL = "analytics_principals"  # migrations/versions/0028_principal_changes.py
RECONNECT_SECONDS = 5.0
ROUND_TRIP_SECONDS = 1.0  # a listener slower than this is dropped (its keys are looked up meanwhile)
MAX_ENTRIES = 10_000
INGEST_SECONDS = 60.0  # how long track trusts a kept key before looking it up (it is checked anyway)


class PrincipalCache:
    def __init__(self, engine: AsyncEngine, *, dsn: str, role: str | None, ttl: float) -> None:
        self.engine, self.dsn, self.role, self.ttl = engine, dsn, role, ttl
        self._entries: OrderedDict[bytes, tuple[float, Principal]] = OrderedDict()
        self._listener: asyncpg.Connection | None = None
        self._next_attempt = 0.0
        self._connecting: asyncio.Task[None] | None = None
        self.generation = 0  # bumped by every announcement and every loss of the listener
        self._next_round: asyncio.Future[bool] | None = None  # the round trip not yet begun
        self._rounds: asyncio.Task[None] | None = None
        self._ingest: OrderedDict[bytes, tuple[float, Principal]] = OrderedDict()

    @property
    def listening(self) -> bool:
        return self._listener is not None and not self._listener.is_closed()

    async def start(self) -> None:
        if self.ttl > 0:
            await self._listen()

    async def close(self) -> None:
        for task in (self._connecting, self._rounds):
            if task is not None:
                task.cancel()
        if self._next_round is not None and not self._next_round.done():
            self._next_round.set_result(False)
        listener, self._listener = self._listener, None
        if listener is not None and not listener.is_closed():
            await listener.close()

    async def resolve(self, raw_key: str) -> Principal | None:
        """The key's principal (None for an unknown or revoked key), from the cache when it may."""
        if self.ttl <= 0:
            return await resolve_key(self.engine, raw_key)
        if not self.listening:
            self._reconnect_later()
            return await resolve_key(self.engine, raw_key)
        digest = hash_key(raw_key)
        entry = self._entries.get(digest)
        if entry is not None and entry[0] > time.monotonic() and await self._caught_up():
            entry = self._entries.get(digest)
            if entry is not None and self.listening:
                return entry[1]
        generation = self.generation
        principal = await resolve_key(self.engine, raw_key)
        if principal is not None and generation == self.generation and self.listening:
            self._entries[digest] = (time.monotonic() + self.ttl, principal)
            self._entries.move_to_end(digest)
            if len(self._entries) > MAX_ENTRIES:
                self._entries.popitem(last=False)
        return principal

    async def _caught_up(self) -> bool:
        """True once every announcement committed before the call has been handled."""
        if self._next_round is None:
            self._next_round = asyncio.get_running_loop().create_future()
        waiting = self._next_round
        if self._rounds is None or self._rounds.done():
            self._rounds = asyncio.create_task(self._round_trips())
        return await asyncio.shield(waiting)

    async def _round_trips(self) -> None:
        while (waiting := self._next_round) is not None:
            self._next_round = None  # requests from now on wait for the next round trip
            listener, done = self._listener, False
            try:
                if listener is not None and not listener.is_closed():
                    await asyncio.wait_for(listener.fetchval("SELECT 1"), ROUND_TRIP_SECONDS)
                    await asyncio.sleep(0)  # the notifications that came before it are handled
                    done = True
            except Exception as exc:  # whatever it was, the listener cannot vouch any more
                log.warning("the key-change listener did not answer (%r); looking keys up until it is "
                            "open again", exc)
                self._drop(listener)
            finally:
                waiting.set_result(done)  # False: the request looks its key up

    def _drop(self, listener: asyncpg.Connection | None) -> None:
        """Stop trusting ``listener`` (silent or broken: a dropped NAT entry answers nothing, ever) and
        let the next request open another one."""
        if listener is None or listener is not self._listener:
            return
        self._listener.terminate()
        self._listener = None
        self.forget_all()
        self._next_attempt = 0.0

    async def for_ingest(self, raw_key: str) -> tuple[Principal | None, Vouched | None]:
        """The key's principal for ``track``; kept ones come with the Vouched its write checks."""
        digest = hash_key(raw_key)
        entry = self._ingest.get(digest)
        if entry is not None and entry[0] > time.monotonic():
            return entry[1], Vouched(digest, entry[1])
        principal = await resolve_key(self.engine, raw_key)
        self._ingest.pop(digest, None)
        if principal is not None:
            self._ingest[digest] = (time.monotonic() + INGEST_SECONDS, principal)
            if len(self._ingest) > MAX_ENTRIES:
                self._ingest.popitem(last=False)
        return principal, None

    def forget_for_ingest(self, vouched: Vouched) -> None:
        """Its write found the kept principal stale, which no announcement may have said (a change made
        with triggers off): the key leaves both caches, so the retry looks it up."""
        entry = self._ingest.get(vouched.key_hash)
        if entry is not None and entry[1] == vouched.principal:
            del self._ingest[vouched.key_hash]
        self.generation += 1  # a lookup in flight may have read the old row: it is not kept
        self._entries.pop(vouched.key_hash, None)

    def forget_tenant(self, tenant_id: int) -> None:
        self.generation += 1
        for digest in [d for d, (_, p) in self._entries.items() if p.tenant_id == tenant_id]:
            del self._entries[digest]

    def forget_all(self) -> None:
        self.generation += 1
        self._entries.clear()

    def _announced(self, connection: Any, pid: int, channel: str, payload: str) -> None:
        try:
            self.forget_tenant(int(payload))
        except ValueError:
            self.forget_all()

    def _lost(self, connection: Any) -> None:
        if connection is not self._listener:  # one already dropped (_drop) or replaced
            return
        log.warning("the key-change listener lost its connection; looking keys up every request")
        self._listener = None
        self.forget_all()

    async def _listen(self) -> None:
        self._next_attempt = time.monotonic() + RECONNECT_SECONDS
        settings = {"role": self.role} if self.role else None
        try:
            listener = await asyncpg.connect(self.dsn, server_settings=settings, timeout=RECONNECT_SECONDS)
            await listener.add_listener(CHANNEL, self._announced)
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("no key-change listener (%s); looking keys up every request", exc)
            return
        listener.add_termination_listener(self._lost)
        self.forget_all()  # anything cached before was not covered by this connection
        self._listener = listener

    def _reconnect_later(self) -> None:
        if time.monotonic() < self._next_attempt or (self._connecting and not self._connecting.done()):
            return
        self._connecting = asyncio.create_task(self._listen())
