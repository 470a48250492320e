"""The burst: prepared POSTs pushed from several processes over keep-alive connections.

A Python HTTP client such as httpx costs ~2.5 ms of CPU per request (TECHNOTES: ~400 req/s per
process), which on a 2-core machine would take from the system under test most of what it needs.
Requests are therefore encoded once, before the clock starts, and written by a minimal HTTP/1.1
client over asyncio streams (keep-alive, Content-Length bodies: what the intake answers). Each
worker process runs ``concurrency`` connections; all workers start together on one signal.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.synchronize import Event as EventType
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Posted:
    """One request's outcome, with monotonic times (one clock for every process on the host)."""

    code: str
    status: int
    sent: float
    done: float
    body: dict[str, Any]


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


def _worker_main(
    url: str,
    requests: Sequence[tuple[str, bytes]],
    concurrency: int,
    ready: Any,
    go: EventType,
    out: Any,
) -> None:
    async def main() -> list[Posted]:
        return await push(url, requests, concurrency, ready.release, go)

    try:
        out.put(("ok", asyncio.run(main())))
    except BaseException as exc:
        out.put(("error", repr(exc)))
        raise


class Burst:
    """Worker processes, each with its slice of the requests, started together by ``fire``."""

    def __init__(
        self, url: str, requests: Sequence[tuple[str, bytes]], processes: int, concurrency: int
    ) -> None:
        context = multiprocessing.get_context("spawn")
        self.count = len(requests)
        self.go = context.Event()
        self.ready = context.Semaphore(0)
        self.out: Any = context.Queue()
        per_process = max(1, concurrency // max(1, processes))
        self.workers = [
            context.Process(
                target=_worker_main,
                args=(url, requests[i::processes], per_process, self.ready, self.go, self.out),
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
        started = time.monotonic()
        self.go.set()
        return started

    def results(self, timeout: float = 600) -> list[Posted]:
        posted: list[Posted] = []
        for _ in self.workers:
            kind, value = self.out.get(timeout=timeout)
            if kind != "ok":
                raise RuntimeError(f"a load worker failed: {value}")
            posted.extend(value)
        for worker in self.workers:
            worker.join(timeout=10)
        return posted

    def stop(self) -> None:
        for worker in self.workers:
            if worker.is_alive():
                worker.terminate()
                worker.join(timeout=5)
