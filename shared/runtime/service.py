"""What every service process shares: logging, the broker, topology at start, health, shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import uvicorn
import uvloop
from faststream.nats import NatsBroker, NatsUserPassword

from shared.registry import Registry
from shared.runtime.messaging import check_streams, ensure_consumer, patch_faststream_pull_timeout
from shared.runtime.settings import CommonSettings
from shared.topology import ConsumerSpec, ServiceTopology, inbox_prefix

log = logging.getLogger(__name__)


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line: time, level, service, logger, message, and any extras given."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in ("receipt_id", "receipt_ids", "code", "event", "subject", "consumer", "count"):
            if hasattr(record, key):
                line[key] = getattr(record, key)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        # orjson: the standard library with ensure_ascii=False falls back to its pure-Python
        # encoder (~2 % of the intake's CPU in a burst, one line per filed report)
        return orjson.dumps(line, default=str).decode()


#: allocations between collections of the youngest generation (CPython's default is 700)
GC_YOUNG_THRESHOLD = 20_000


def freeze_startup_state() -> None:
    """Keep what a service loaded at start (the registry, forms, its state) out of the cyclic
    collector's work, and collect young objects less often.

    A service allocates many short-lived objects per message (events, rows, pages); with the
    defaults every collection also walked the tens of thousands of registry and state objects
    that live as long as the process: the collector took ~14 % of the publisher's CPU in a
    national burst (perf). Nothing here holds reference cycles that need prompt collection.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 10, 10)


def setup_logging(service: str, level: str) -> None:
    # a line names no source line, thread or process (JsonLogFormatter): a record need not
    # walk the stack for its caller nor look them up (the logging HOWTO's "Optimization")
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLogFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def make_broker(settings: CommonSettings, name: str) -> NatsBroker:
    """A broker that logs per-message only at DEBUG (per-message INFO halves throughput), with
    its replies and pulled messages in its own inbox ``_INBOX_<name>`` (a service's NATS user may
    subscribe to nothing else: no service reads another's replies)."""
    broker_log = logging.getLogger(f"faststream.{name}")
    broker_log.setLevel(logging.WARNING)
    patch_faststream_pull_timeout()
    user, password = settings.nats_user, settings.nats_password
    return NatsBroker(
        [url.strip() for url in settings.nats_url.split(",") if url.strip()],
        name=f"nianbao-{name}",
        security=NatsUserPassword(user, password.get_secret_value()) if user and password else None,
        logger=broker_log,
        log_level=logging.DEBUG,
        max_reconnect_attempts=-1,
        reconnect_time_wait=1,
        inbox_prefix=inbox_prefix(name),
    )


def registry_path(settings: CommonSettings) -> Path:
    """NIANBAO_REGISTRY_FILE, else ``<data_dir>/registry.json`` (what ``PUT /v1/registry``
    writes; read by every service at start)."""
    return settings.registry_file or settings.data_dir / "registry.json"


def configured_registry(settings: CommonSettings) -> Registry:
    path = registry_path(settings)
    if settings.registry_file is None and not path.exists():
        from shared.registry.demo import demo_registry

        return demo_registry()
    from shared.runtime.registry_files import load_registry as load

    return load(path)


async def prepare_topology(
    broker: NatsBroker,
    settings: CommonSettings,
    service: ServiceTopology,
    consumers: Sequence[ConsumerSpec],
) -> None:
    """Before any subscriber starts: the streams the service uses are as the code wants them
    (checked, never changed: TopologyDrift otherwise), and its durable consumers are."""
    js = broker.connection.jetstream()
    await check_streams(js, service.streams, settings.stream_replicas)
    for consumer in consumers:
        await ensure_consumer(js, consumer)


#: a graceful stop gives up after this long (under compose's 30 s stop_grace_period)
STOP_SECONDS = 25.0


async def serve_until_stopped(
    start: Callable[[], Awaitable[None]], stop: Callable[[], Awaitable[None]]
) -> None:
    """Start, then wait for SIGINT/SIGTERM, then stop gracefully (drain in-flight work)."""
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stopping.set)
    await start()
    try:
        await stopping.wait()
    finally:
        try:
            await asyncio.wait_for(stop(), STOP_SECONDS)
        except TimeoutError:
            # e.g. NATS unreachable: what was not acknowledged is redelivered after ack_wait
            log.error("graceful stop took over %.0f s; exiting without it", STOP_SECONDS)


def declare_publications(broker: NatsBroker, service: ServiceTopology) -> None:
    """Declare what the service publishes (for the AsyncAPI document and the NATS permissions);
    the events themselves go out through confirmed publishes."""
    for publication in service.publications:
        broker.publisher(
            publication.family.template, title=publication.title, schema=publication.event
        )


def run_service(main: Coroutine[Any, Any, None]) -> None:
    """Run a service's main coroutine to its end on uvloop's event loop (libuv; the same
    asyncio API with less CPU per callback, socket read and timer than the standard loop:
    at 2,500 sites 11-15 % less CPU in the intake, validator, aggregator and verifier)."""
    uvloop.run(main)


class QuietServer(uvicorn.Server):
    """uvicorn's server, looking at its clock once a second instead of ten times: the Date
    header is still refreshed every second, and a stop is noticed within one (an idle service
    sleeps instead of waking ten times a second)."""

    async def main_loop(self) -> None:
        counter = 0  # uvicorn refreshes its headers on ticks divisible by 10
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 10) % 864_000
            await asyncio.sleep(1.0)
            should_exit = await self.on_tick(counter)
