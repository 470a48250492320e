"""The burst: prepared POSTs pushed from several processes over keep-alive connections.

A Python HTTP client such as httpx costs ~2.5 ms of CPU per request (TECHNOTES: ~400 req/s per
process), which on a 2-core machine would take from the system under test most of what it needs.
Requests are therefore encoded once, before the clock starts, and written by a minimal HTTP/1.1
client over asyncio streams (keep-alive, Content-Length bodies: what the intake answers). All
workers start together on one signal.

Two kinds of load. Closed loop (the default): each worker process runs ``concurrency``
connections, each sending its next request when the previous one is answered, so the offered
load follows the service and latency is mostly the queue in the generator's own connections.
Open loop (``rate``): request i is due at ``start + i / rate`` (bench/schedule.py); a request
takes an idle connection or opens another (up to ``max_connections``), so a slow answer does not
hold back the ones after it, and its latency counts from when it was due.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from multiprocessing.synchronize import Event as EventType
from typing import Any
from urllib.parse import urlsplit

from bench.schedule import due_offsets


@dataclass(frozen=True)
class Posted:
    """One request's outcome, with monotonic times (one clock for every process on the host)."""

    code: str
    status: int
    sent: float
    done: float
    body: dict[str, Any]
    #: when it was due at a fixed rate (None in a closed loop: it was due when it was sent)
    due: float | None = None

    @property
    def latency(self) -> float:
        """Seconds from when it was due (or sent) to its answer."""
        return self.done - (self.sent if self.due is None else self.due)


def encode_post(host: str, path: str, token: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\n"
        f"Host: {host}\r\n"
        f"Authorization: Bearer {token}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "\r\n"
    )
    return head.encode("ascii") + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """Status and body of one HTTP/1.1 response (the intake always sends Content-Length)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = None
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
        elif name.strip().lower() == "transfer-encoding":
            raise RuntimeError("chunked responses are not supported by the benchmark client")
    body = await reader.readexactly(length) if length else b""
    return status, body


class Connection:
    """One keep-alive connection that reconnects when the server closes it."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def exchange(self, request: bytes) -> tuple[int, bytes]:
        for attempt in (1, 2):
            if self.writer is None or self.reader is None:
                await self.open()
            assert self.reader is not None and self.writer is not None
            try:
                self.writer.write(request)
                await self.writer.drain()
                return await read_response(self.reader)
            except (ConnectionError, asyncio.IncompleteReadError):
                await self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(ConnectionError):
                await self.writer.wait_closed()
        self.reader = self.writer = None


async def push(
    url: str,
    requests: Sequence[tuple[str, bytes]],
    concurrency: int,
    ready: Callable[[], object] | None = None,
    go: EventType | None = None,
) -> list[Posted]:
    """POST each prepared request (code, bytes) over ``concurrency`` connections."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    connections = [Connection(host, port) for _ in range(max(1, concurrency))]
    await asyncio.gather(*(c.open() for c in connections))
    if ready is not None:
        ready()
    if go is not None:
        await asyncio.to_thread(go.wait)
    queue = iter(requests)
    results: list[Posted] = []

    async def worker(connection: Connection) -> None:
        for code, request in queue:
            sent = time.monotonic()
            status, raw = await connection.exchange(request)
            done = time.monotonic()
            body = json.loads(raw) if raw else {}
            results.append(Posted(code, status, sent, done, body))
        await connection.close()

    await asyncio.gather(*(worker(c) for c in connections))
    return results


class ConnectionPool:
    """Idle connections handed out one request at a time; another is opened when none is idle,
    up to ``cap``, and past the cap a request waits for one to come back."""

    def __init__(self, host: str, port: int, cap: int) -> None:
        self.host, self.port, self.cap = host, port, max(1, cap)
        self.idle: list[Connection] = []
        self.opened = 0
        self.busy = self.most_busy = self.waiting = 0
        self.returned = asyncio.Condition()

    async def fill(self, count: int) -> None:
        """Open ``count`` connections ahead of the load (at most the cap)."""
        fresh = [Connection(self.host, self.port) for _ in range(min(count, self.cap))]
        self.opened += len(fresh)
        await asyncio.gather(*(c.open() for c in fresh))
        self.idle += fresh

    async def take(self) -> Connection:
        """An idle connection, a new one, or past the cap the next one given back (first come,
        first served: a request due later does not overtake one already waiting)."""
        if self.idle and not self.waiting:
            connection = self.idle.pop()
        elif self.opened < self.cap:
            self.opened += 1
            connection = Connection(self.host, self.port)  # it connects on its first exchange
        else:
            self.waiting += 1
            try:
                async with self.returned:
                    await self.returned.wait_for(lambda: bool(self.idle))
                    connection = self.idle.pop()
            finally:
                self.waiting -= 1
        self.busy += 1
        self.most_busy = max(self.most_busy, self.busy)
        return connection

    async def give_back(self, connection: Connection) -> None:
        async with self.returned:
            self.busy -= 1
            self.idle.append(connection)
            self.returned.notify()

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.idle))
        self.idle.clear()


async def push_at_rate(
    url: str,
    requests: Sequence[tuple[str, bytes]],
    due: Sequence[float],
    connections: int,
    max_connections: int,
    ready: Callable[[], object] | None = None,
    start: Callable[[], Awaitable[float]] | None = None,
) -> tuple[list[Posted], int, int]:
    """POST each prepared request when it is due (``start`` + its offset in ``due``, seconds),
    whether or not the ones before it have been answered; ``connections`` are opened ahead, more
    as needed up to ``max_connections``. The posted requests, the connections opened and the
    most requests in flight at once."""
    parts = urlsplit(url)
    pool = ConnectionPool(parts.hostname or "127.0.0.1", parts.port or 80, max_connections)
    await pool.fill(max(1, connections))
    if ready is not None:
        ready()
    began = await start() if start is not None else time.monotonic()
    results: list[Posted] = []

    async def one(code: str, request: bytes, when: float) -> None:
        connection = await pool.take()
        try:
            sent = time.monotonic()
            status, raw = await connection.exchange(request)
            done = time.monotonic()
        finally:
            await pool.give_back(connection)
        body = json.loads(raw) if raw else {}
        results.append(Posted(code, status, sent, done, body, due=when))

    sending: list[asyncio.Task[None]] = []
    for (code, request), offset in zip(requests, due, strict=True):
        when = began + offset
        if (wait := when - time.monotonic()) > 0:
            await asyncio.sleep(wait)
        sending.append(asyncio.create_task(one(code, request, when)))
    await asyncio.gather(*sending)
    await pool.close()
    return results, pool.opened, pool.most_busy


@dataclass(frozen=True)
class Load:
    """How one worker process loads the intake: closed loop over ``connections``, or each
    request when it is due (``due``: seconds after the start) with ``connections`` opened ahead
    and at most ``max_connections``."""

    connections: int
    due: tuple[float, ...] | None = None
    max_connections: int = 0


def _worker_main(
    url: str,
    requests: Sequence[tuple[str, bytes]],
    load: Load,
    ready: Any,
    go: EventType,
    start: Any,
    out: Any,
) -> None:
    async def began() -> float:
        await asyncio.to_thread(go.wait)
        return float(start.value)

    async def main() -> tuple[list[Posted], int, int]:
        if load.due is None:
            posted = await push(url, requests, load.connections, ready.release, go)
            return posted, load.connections, load.connections
        return await push_at_rate(
            url,
            requests,
            load.due,
            load.connections,
            load.max_connections,
            ready.release,
            began,
        )

    try:
        out.put(("ok", asyncio.run(main())))
    except BaseException as exc:
        out.put(("error", repr(exc)))
        raise


#: at a fixed rate, the first request is due this long after ``fire`` (every worker is awake)
RATE_LEAD_S = 0.2


class Burst:
    """Worker processes, each with its slice of the requests, started together by ``fire``;
    closed loop over ``concurrency`` connections, or at a fixed ``rate`` (requests per second,
    all processes) opening connections as needed, up to ``max_connections``."""

    def __init__(
        self,
        url: str,
        requests: Sequence[tuple[str, bytes]],
        processes: int,
        concurrency: int,
        rate: float | None = None,
        max_connections: int = 512,
    ) -> None:
        context = multiprocessing.get_context("spawn")
        self.count = len(requests)
        self.rate = rate
        self.go = context.Event()
        self.ready = context.Semaphore(0)
        self.start_at: Any = context.Value("d", 0.0)
        self.out: Any = context.Queue()
        self.connections = 0
        #: the sum of each worker's most requests in flight at once (an upper bound of the whole)
        self.in_flight = 0
        processes = max(1, processes)
        per_process = max(1, concurrency // processes)
        most = max(per_process, max_connections // processes)
        loads = [
            Load(per_process)
            if rate is None
            else Load(per_process, tuple(due_offsets(self.count, rate, processes, i)), most)
            for i in range(processes)
        ]
        self.workers = [
            context.Process(
                target=_worker_main,
                args=(
                    url,
                    requests[i::processes],
                    loads[i],
                    self.ready,
                    self.go,
                    self.start_at,
                    self.out,
                ),
                daemon=True,
            )
            for i in range(processes)
        ]

    def start(self, timeout: float = 60) -> None:
        """Start the workers; return once each has its connections open."""
        for worker in self.workers:
            worker.start()
        for _ in self.workers:
            if not self.ready.acquire(timeout=timeout):
                raise TimeoutError("a load worker did not start")

    def fire(self) -> float:
        """Let the workers go; the time the load starts (at a fixed rate, when the first
        request is due: a moment from now, so that every worker is awake for it)."""
        started = time.monotonic() + (0.0 if self.rate is None else RATE_LEAD_S)
        self.start_at.value = started
        self.go.set()
        return started

    def results(self, timeout: float = 600) -> list[Posted]:
        posted: list[Posted] = []
        for _ in self.workers:
            kind, value = self.out.get(timeout=timeout)
            if kind != "ok":
                raise RuntimeError(f"a load worker failed: {value}")
            worker_posted, opened, in_flight = value
            posted.extend(worker_posted)
            self.connections += opened
            self.in_flight += in_flight
        for worker in self.workers:
            worker.join(timeout=10)
        return posted

    def stop(self) -> None:
        for worker in self.workers:
            if worker.is_alive():
                worker.terminate()
                worker.join(timeout=5)
