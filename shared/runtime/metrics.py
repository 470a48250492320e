"""Prometheus metrics, liveness and readiness of every service, and the small health server.

The consumer-stage counters (received, redelivered, dead-lettered, batch latency) live with
``shared.runtime.messaging.BatchStage``, so every durable consumer is measured in one place;
this module
adds what each service measures of itself (submissions, verdicts, roll-ups, pages rendered,
HTTP requests), the consumer lag polled from JetStream, and the endpoints that expose it all:
``/healthz`` (the process is alive), ``/readyz`` (broker connected, durable consumers present)
and ``/metrics`` (Prometheus text format), every service on a small HTTP server of its own on
``NIANBAO_HEALTH_PORT``, apart from any public port (the intake's API does not expose them).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from faststream.nats import NatsBroker
from nats.js.errors import NotFoundError
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.topology import ConsumerSpec

log = logging.getLogger(__name__)

REPORTS_SUBMITTED = Counter(
    "nianbao_reports_submitted",
    "Submissions the intake stored in JetStream (PubAck received)",
    ["form"],
)
JUDGED = Counter("nianbao_verdicts", "Reports judged by the validator", ["form", "outcome"])
EVENTS_PUBLISHED = Counter(
    "nianbao_events_published", "Events published with a PubAck, per stream", ["stream"]
)
PAGES_RENDERED = Counter("nianbao_pages_rendered", "Pages the publisher rendered and wrote")
RENDER_SECONDS = Histogram(
    "nianbao_render_pass_seconds",
    "Time of one publisher render pass that rendered something",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
CONSUMER_PENDING = Gauge(
    "nianbao_consumer_pending",
    "Messages of the stream not yet delivered to the durable consumer (num_pending)",
    ["consumer"],
)
CONSUMER_ACK_PENDING = Gauge(
    "nianbao_consumer_ack_pending",
    "Messages delivered to the durable consumer and not yet acknowledged",
    ["consumer"],
)
CONSUMER_REDELIVERED = Gauge(
    "nianbao_consumer_redelivered",
    "Messages the server is redelivering to the durable consumer (num_redelivered)",
    ["consumer"],
)
HTTP_REQUESTS = Counter(
    "nianbao_http_requests", "HTTP requests answered", ["method", "route", "status"]
)
HTTP_SECONDS = Histogram(
    "nianbao_http_request_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


def count_published(stream: str, items: Sequence[tuple[str, Any, str]]) -> None:
    """Count confirmed publishes of (subject, event, msg id); verdicts also by outcome."""
    EVENTS_PUBLISHED.labels(stream).inc(len(items))
    for subject, event, _ in items:
        kind = subject.split(".")[1]
        if kind in ("accepted", "rejected"):
            JUDGED.labels(getattr(event, "form", ""), kind).inc()


class HealthSettings(BaseSettings):
    """Where a service's health server listens."""

    model_config = SettingsConfigDict(env_prefix="NIANBAO_", env_file=".env", extra="ignore")

    health_host: str = "127.0.0.1"
    #: None = the service's default (validator 8001, aggregator 8002, publisher 8003, intake
    #: 8004); 0 = off
    health_port: int | None = None
    #: how old the consumers' lag may be when /metrics or /readyz is asked (it is read again
    #: then); read every LAG_POLL_IDLE_SECONDS otherwise
    lag_poll_seconds: float = 5.0


#: how often the lag is read when nobody asks for it (a scrape or a readiness probe reads it
#: when it is older than ``lag_poll_seconds``): an idle service with nobody watching sleeps
LAG_POLL_IDLE_SECONDS = 60.0
#: the longest /metrics or /readyz waits for a fresh reading (the last one answers otherwise)
LAG_REFRESH_WAIT_SECONDS = 2.0


class Health:
    """Liveness and readiness of one service, and the poller of its consumers' lag: read when
    /metrics or /readyz is asked and the last reading is older than ``poll_seconds``, and every
    LAG_POLL_IDLE_SECONDS in the background."""

    def __init__(
        self,
        service: str,
        broker: NatsBroker,
        consumers: Sequence[ConsumerSpec],
        poll_seconds: float | None = None,
    ) -> None:
        self.service = service
        self.broker = broker
        self.consumers = list(consumers)
        self.poll_seconds = poll_seconds or HealthSettings().lag_poll_seconds
        self.started = False
        self.missing: set[str] = set()
        self.last_poll: float | None = None
        self._task: asyncio.Task[None] | None = None
        self._polling: asyncio.Task[None] | None = None

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Call once the broker is connected, the topology prepared and subscribers started."""
        self.started = True
        self._task = asyncio.create_task(self._poll_forever(), name=f"{self.service}-lag")

    async def stop(self) -> None:
        self.started = False
        if self._polling is not None:
            self._polling.cancel()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _poll_forever(self) -> None:
        while True:
            try:
                await self.poll()
            except Exception as exc:  # the broker may be reconnecting: readiness says so
                log.warning("consumer lag poll failed: %r", exc)
            await asyncio.sleep(max(self.poll_seconds, LAG_POLL_IDLE_SECONDS))

    async def refresh(self) -> None:
        """Read the lag again when the last reading is older than ``poll_seconds`` (one reading
        for concurrent requests; waits at most LAG_REFRESH_WAIT_SECONDS)."""
        if not self.started:
            return
        if self.last_poll is not None and time.monotonic() - self.last_poll < self.poll_seconds:
            return
        if self._polling is None or self._polling.done():
            self._polling = asyncio.create_task(self.poll())
        try:
            await asyncio.wait_for(asyncio.shield(self._polling), LAG_REFRESH_WAIT_SECONDS)
        except Exception as exc:  # the broker may be reconnecting: readiness says so
            log.warning("consumer lag poll failed: %r", exc)

    async def poll(self) -> None:
        """Read each durable consumer's info: lag gauges, and whether it still exists."""
        js = self.broker.connection.jetstream()
        missing = set()
        for consumer in self.consumers:
            try:
                info = await js.consumer_info(consumer.stream.name, consumer.durable)
            except NotFoundError:
                missing.add(consumer.durable)
                continue
            CONSUMER_PENDING.labels(consumer.durable).set(info.num_pending or 0)
            CONSUMER_ACK_PENDING.labels(consumer.durable).set(info.num_ack_pending or 0)
            CONSUMER_REDELIVERED.labels(consumer.durable).set(info.num_redelivered or 0)
        self.missing = missing
        self.last_poll = time.monotonic()

    # ------------------------------------------------------------ answers
    def connected(self) -> bool:
        try:
            return bool(self.broker.connection.is_connected)
        except Exception:
            return False

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        connected = self.connected()
        ready = self.started and connected and not self.missing
        return ready, {
            "status": "ready" if ready else "not ready",
            "service": self.service,
            "started": self.started,
            "broker_connected": connected,
            "consumers": [c.durable for c in self.consumers],
            "missing_consumers": sorted(self.missing),
        }

    def respond(self, path: str) -> tuple[int, str, bytes]:
        """(status, content type, body) for the health server."""
        if path == "/healthz":
            return 200, "application/json", b'{"status": "ok"}'
        if path == "/readyz":
            ready, body = self.readiness()
            return 200 if ready else 503, "application/json", json.dumps(body).encode()
        if path == "/metrics":
            return 200, CONTENT_TYPE_LATEST, generate_latest()
        return 404, "application/json", b'{"error": "not_found"}'


_REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}


async def serve_health(health: Health, host: str, port: int) -> asyncio.Server:
    """A minimal HTTP/1.0 server for /healthz, /readyz and /metrics (GET only)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            method, target, *_ = request.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
            path = target.split("?", 1)[0]
            if method not in ("GET", "HEAD"):
                status, kind, body = 405, "text/plain", b"GET only"
            else:
                if path in ("/metrics", "/readyz"):
                    await health.refresh()
                status, kind, body = health.respond(path)
            head = (
                f"HTTP/1.0 {status} {_REASONS.get(status, '')}\r\nContent-Type: {kind}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode() + (b"" if method == "HEAD" else body))
            await writer.drain()
        except (TimeoutError, ValueError, asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, host, port, reuse_address=True)


def health_port(default: int) -> tuple[str, int]:
    settings = HealthSettings()
    port = default if settings.health_port is None else settings.health_port
    return settings.health_host, port


def with_health(
    health: Health,
    default_port: int,
    start: Callable[[], Awaitable[None]],
    stop: Callable[[], Awaitable[None]],
) -> tuple[Callable[[], Awaitable[None]], Callable[[], Awaitable[None]]]:
    """A service's start and stop with health: the server first (live at once), ready once
    started, lag polled from then on; stopped in reverse order."""
    host, port = health_port(default_port)
    server: asyncio.Server | None = None

    async def started() -> None:
        nonlocal server
        if port:
            server = await serve_health(health, host, port)
            log.info("health and metrics on http://%s:%d/metrics", host, port)
        await start()
        health.start()

    async def stopped() -> None:
        await health.stop()
        try:
            await stop()
        finally:
            if server is not None:
                server.close()
                await server.wait_closed()

    return started, stopped


class HttpMetrics:
    """ASGI middleware: request count and latency per route template (bounded label values)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        #: (method, route, status) → its counter and latency histogram: ``labels()`` takes a
        #: lock and builds its key on every call, a few per cent of the intake's time in a burst
        #: (bounded as the metrics' own label values are)
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope.get("method", "")
            key = (method, route, status)
            children = self._children.get(key)
            if children is None:
                children = (
                    HTTP_REQUESTS.labels(method, route, str(status)),
                    HTTP_SECONDS.labels(method, route),
                )
                self._children[key] = children
            children[0].inc()
            children[1].observe(time.perf_counter() - started)
