"""Closed-loop HTTP load generator (``track`` here; bench/read.py drives reads with the same loop),
in its own process so it never shares a loop."""

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
    offered_rate: float | None = None  # events/s sent at most (paced); None: as fast as answered

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


class RawConnection:
    """A minimal keep-alive HTTP/1.1 client: far cheaper per request than httpx, same request."""

    def __init__(self, url: str, method: str, target: str, headers: dict[str, str]) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        lines = [f"{method} {target} HTTP/1.1", f"host: {parts.netloc}",
                 *(f"{name}: {value}" for name, value in headers.items())]
        self.head = ("\r\n".join(lines) + "\r\n").encode()
        self.has_body = method == "POST"
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def send(self, body: bytes = b"") -> tuple[int, bytes]:
        if self.writer is None or self.reader is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        length_line = f"content-length: {len(body)}\r\n".encode() if self.has_body else b""
        self.writer.write(self.head + length_line + b"\r\n" + body)
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
        payload = await self.reader.readexactly(length) if status not in (204, 304) else b""
        if close:
            await self.aclose()
        return status, payload

    async def aclose(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


@dataclass(frozen=True)
class Record:
    start: float
    end: float
    status: int
    size: int  # response body bytes
    value: int  # what the check counted (events accepted, for track)
    problem: str | None


@dataclass(frozen=True)
class Window:
    measure_from: float
    stop_at: float

    def measured(self, record: Record) -> bool:
        return self.measure_from <= record.end <= self.stop_at


async def closed_loop(*, url: str, method: str, target: str, headers: dict[str, str], client: ClientKind,
                      concurrency: int, warmup: float, seconds: float,
                      next_body: Callable[[], bytes | None],
                      check: Callable[[int, bytes], tuple[int, str | None]],
                      on_mark: Callable[[str], None],
                      requests_per_second: float | None = None) -> tuple[list[Record], Window]:
    """``concurrency`` connections, each sending its next request as soon as the last one answered,
    until the window closes or ``next_body`` returns None; marks the measured window's start/end.
    ``requests_per_second``: the connections together start at most this many requests a second,
    on a fixed schedule (an offered load; a request late for its slot goes at once)."""
    import httpx

    measure_from = time.perf_counter() + warmup
    window = Window(measure_from, measure_from + seconds)
    records: list[Record] = []
    interval = 1.0 / requests_per_second if requests_per_second else 0.0
    next_slot = time.perf_counter()

    async def paced() -> None:
        nonlocal next_slot
        if not interval:
            return
        slot = max(time.perf_counter(), next_slot)
        next_slot = slot + interval
        await asyncio.sleep(max(0.0, slot - time.perf_counter()))

    async def connection_loop() -> None:
        raw = RawConnection(url, method, target, headers) if client == "raw" else None
        http = None if raw else httpx.AsyncClient(base_url=url, timeout=60, headers=headers,
                                                  limits=httpx.Limits(max_connections=1))
        try:
            while time.perf_counter() < window.stop_at:
                await paced()
                body = next_body()
                if body is None:
                    return
                start = time.perf_counter()
                try:
                    if raw is not None:
                        status, payload = await raw.send(body)
                    else:
                        assert http is not None
                        response = await http.request(method, target, content=body or None)
                        status, payload = response.status_code, response.content
                except (OSError, httpx.HTTPError, asyncio.IncompleteReadError) as exc:
                    status, payload = 0, repr(exc).encode()
                    if raw is not None:
                        await raw.aclose()
                end = time.perf_counter()
                value, problem = check(status, payload)
                records.append(Record(start, end, status, len(payload), value, problem))
        finally:
            if raw is not None:
                await raw.aclose()
            if http is not None:
                await http.aclose()

    async def mark_at(when: float, label: str) -> None:
        await asyncio.sleep(max(0.0, when - time.perf_counter()))
        on_mark(label)

    marks = [asyncio.create_task(mark_at(window.measure_from, "measuring")),
             asyncio.create_task(mark_at(window.stop_at, "window-end"))]
    await asyncio.gather(*(connection_loop() for _ in range(concurrency)))
    await asyncio.gather(*marks)
    return records, window


async def _drive(spec: LoadSpec, bodies: list[bytes], on_mark: Callable[[str], None]) -> LoadResult:
    result = LoadResult(window=spec.seconds)
    cursor = 0

    def next_body() -> bytes | None:
        nonlocal cursor
        if cursor >= len(bodies):
            result.pool_exhausted = True
            return None
        cursor += 1
        return bodies[cursor - 1]

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

    parts = urlsplit(spec.url)
    records, window = await closed_loop(
        url=f"{parts.scheme}://{parts.netloc}", method="POST", target=parts.path or "/",
        headers={"authorization": f"Bearer {spec.key}", "content-type": "application/json"},
        client=spec.client, concurrency=spec.concurrency, warmup=spec.warmup, seconds=spec.seconds,
        next_body=next_body, check=check, on_mark=on_mark,
        requests_per_second=spec.offered_rate / spec.batch if spec.offered_rate else None)
    for record in records:
        if record.problem is not None:  # every response is checked, measured or not
            result.bad += 1
            result.first_bad = result.first_bad or record.problem
        if record.end < window.measure_from:
            result.warmup_requests += 1
        elif window.measured(record):
            result.latencies.append(record.end - record.start)
            result.accepted += record.value
    result.total_requests = len(records)
    return result


def run_loop(coroutine: Any) -> Any:
    """Run the load on uvloop when it is installed (uvicorn[standard] brings it)."""
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:
        runner = asyncio.run
    return runner(coroutine)


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
    result = run_loop(_drive(spec, bodies, lambda label: conn.send((label, None))))
    result.body_bytes = sum(len(b) for b in bodies[:100]) // min(100, len(bodies))
    conn.send(("done", result))
    conn.close()


class LoadProcess:
    """Run a :class:`LoadSpec` in a spawned process; the caller hooks the measured window."""

    def __init__(self, spec: Any, child: Callable[[Any, Connection], None] | None = None) -> None:
        """``spec`` needs ``warmup`` and ``seconds``; ``child`` is the process entry (a module-level
        function: it is pickled) that says ready, waits for go and sends marks and the result."""
        self.spec = spec
        ctx = multiprocessing.get_context("spawn")
        self._conn, child_conn = ctx.Pipe()
        self._process = ctx.Process(target=child or _child, args=(spec, child_conn), daemon=True)

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

    def run(self, on_window_start: Callable[[], None], on_window_end: Callable[[], None]) -> Any:
        """Send go; call the hooks when the measured window opens and closes; return the result."""
        self._conn.send("go")
        timeout = self.spec.warmup + self.spec.seconds + 120
        result: Any = None
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
