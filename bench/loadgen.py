"""Closed-loop HTTP load generator for ``track``, in its own process so it never shares a loop."""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, Literal
from urllib.parse import urlsplit

import orjson

from bench.harness import make_events, track_body

ClientKind = Literal["httpx", "raw"]


@dataclass(frozen=True)
class LoadSpec:
    """What to send: ``batch`` events a request from ``concurrency`` connections for ``seconds``."""

    url: str
    key: str
    batch: int
    concurrency: int
    seconds: float
    warmup: float
    max_rate: float  # events/s the pre-generated pool is sized for
    client: ClientKind = "httpx"

    @property
    def body_count(self) -> int:
        needed = (self.seconds + self.warmup) * self.max_rate / self.batch
        return math.ceil(needed) + self.concurrency


@dataclass
class LoadResult:
    """Requests that completed inside the measured window (after the warm-up)."""

    window: float
    latencies: list[float] = field(default_factory=list)  # seconds, one per measured request
    accepted: int = 0  # events acknowledged as accepted in the window
    bad: int = 0  # any response (measured or not) without accepted == batch
    first_bad: str | None = None
    warmup_requests: int = 0
    total_requests: int = 0  # including the warm-up and those finishing after the window
    pool_exhausted: bool = False
    body_bytes: int = 0  # average request body


class _RawConnection:
    """A minimal keep-alive HTTP/1.1 client: far cheaper per request than httpx, same request."""

    def __init__(self, url: str, key: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.head = (f"POST {parts.path or '/'} HTTP/1.1\r\nhost: {parts.netloc}\r\n"
                     f"authorization: Bearer {key}\r\ncontent-type: application/json\r\n"
                     "content-length: ").encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, body: bytes) -> tuple[int, bytes]:
        if self.writer is None or self.reader is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(self.head + str(len(body)).encode() + b"\r\n\r\n" + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        length, close = 0, False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
            elif name == b"transfer-encoding":
                raise RuntimeError("chunked responses are not supported by the raw client")
        payload = await self.reader.readexactly(length)
        if close:
            await self.aclose()
        return status, payload

    async def aclose(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


async def _drive(spec: LoadSpec, bodies: list[bytes], on_mark: Callable[[str], None]) -> LoadResult:
    import httpx

    loop_start = time.perf_counter()
    measure_from = loop_start + spec.warmup
    stop_at = measure_from + spec.seconds
    result = LoadResult(window=spec.seconds)
    cursor = 0
    records: list[tuple[float, float, int, str | None]] = []  # start, end, accepted, problem

    def check(status: int, payload: bytes) -> tuple[int, str | None]:
        if status != 200:
            return 0, f"HTTP {status}: {payload[:300]!r}"
        try:
            track = orjson.loads(payload)["data"]["track"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return 0, f"unexpected body: {payload[:300]!r}"
        if track["accepted"] != spec.batch:
            return int(track["accepted"]), f"accepted {track['accepted']} of {spec.batch}: {track}"
        return int(track["accepted"]), None

    async def connection_loop() -> None:
        nonlocal cursor
        raw = _RawConnection(spec.url, spec.key) if spec.client == "raw" else None
        client = None if raw else httpx.AsyncClient(
            timeout=60, limits=httpx.Limits(max_connections=1),
            headers={"authorization": f"Bearer {spec.key}", "content-type": "application/json"})
        try:
            while time.perf_counter() < stop_at:
                if cursor >= len(bodies):
                    result.pool_exhausted = True
                    return
                body = bodies[cursor]
                cursor += 1
                start = time.perf_counter()
                try:
                    if raw is not None:
                        status, payload = await raw.post(body)
                    else:
                        assert client is not None
                        response = await client.post(spec.url, content=body)
                        status, payload = response.status_code, response.content
                except (OSError, httpx.HTTPError, asyncio.IncompleteReadError) as exc:
                    status, payload = 0, repr(exc).encode()
                    if raw is not None:
                        await raw.aclose()
                end = time.perf_counter()
                accepted, problem = check(status, payload)
                records.append((start, end, accepted, problem))
        finally:
            if raw is not None:
                await raw.aclose()
            if client is not None:
                await client.aclose()

    async def mark_at(when: float, label: str) -> None:
        await asyncio.sleep(max(0.0, when - time.perf_counter()))
        on_mark(label)

    marks = [asyncio.create_task(mark_at(measure_from, "measuring")),
             asyncio.create_task(mark_at(stop_at, "window-end"))]
    await asyncio.gather(*(connection_loop() for _ in range(spec.concurrency)))
    await asyncio.gather(*marks)
    for start, end, accepted, problem in records:
        if problem is not None:  # every response is checked, measured or not
            result.bad += 1
            result.first_bad = result.first_bad or problem
        if end < measure_from:
            result.warmup_requests += 1
        elif end <= stop_at:
            result.latencies.append(end - start)
            result.accepted += accepted
    result.total_requests = len(records)
    return result


def _child(spec: LoadSpec, conn: Connection) -> None:
    """Process entry: build the bodies, say ready, wait for go, run, send the result."""
    started = time.perf_counter()
    if spec.batch == 1:  # one long stream of events, so single events vary in type like batches
        bodies = [track_body([event]) for event in make_events(spec.body_count)]
    else:
        bodies = [track_body(make_events(spec.batch)) for _ in range(spec.body_count)]
    generated = time.perf_counter() - started
    conn.send(("ready", generated))
    conn.recv()
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:
        runner = asyncio.run
    result = runner(_drive(spec, bodies, lambda label: conn.send((label, None))))
    result.body_bytes = sum(len(b) for b in bodies[:100]) // min(100, len(bodies))
    conn.send(("done", result))
    conn.close()


class LoadProcess:
    """Run a :class:`LoadSpec` in a spawned process; the caller hooks the measured window."""

    def __init__(self, spec: LoadSpec) -> None:
        self.spec = spec
        ctx = multiprocessing.get_context("spawn")
        self._conn, child_conn = ctx.Pipe()
        self._process = ctx.Process(target=_child, args=(spec, child_conn), daemon=True)

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def prepare(self, timeout: float = 600) -> float:
        """Start the process and wait until its bodies exist; return the seconds that took."""
        self._process.start()
        kind, generated = self._receive(timeout, "get ready")
        assert kind == "ready"
        return float(generated)

    def _receive(self, timeout: float, doing: str) -> tuple[str, Any]:
        try:
            if self._conn.poll(timeout):
                message: tuple[str, Any] = self._conn.recv()
                return message
        except EOFError:
            pass
        raise RuntimeError(f"the load generator did not {doing} (exit code "
                           f"{self._process.exitcode}); see its traceback above")

    def run(self, on_window_start: Callable[[], None],
            on_window_end: Callable[[], None]) -> LoadResult:
        """Send go; call the hooks when the measured window opens and closes; return the result."""
        self._conn.send("go")
        timeout = self.spec.warmup + self.spec.seconds + 120
        result: LoadResult | None = None
        while result is None:
            kind, payload = self._receive(timeout, "finish")
            if kind == "measuring":
                on_window_start()
            elif kind == "window-end":
                on_window_end()
            elif kind == "done":
                result = payload
        self._process.join(30)
        return result

    def close(self) -> None:
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(10)
