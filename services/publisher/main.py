"""Composition root of the publisher: settings, store, broker, consumers, the render loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from faststream.nats import NatsBroker
from pydantic import BaseModel
from pydantic_settings import SettingsConfigDict

from services.publisher.handlers import Publisher
from services.publisher.pages.records import VersionRecord
from services.publisher.render import static_files
from services.publisher.republish import republish_all
from services.publisher.sites_worker import SiteJob, SiteRenderer, render_site_jobs
from services.publisher.store import PublisherStore
from services.publisher.writer import PageWriter, write_atomically
from shared.contracts import (
    PROGRESS,
    ReportAggregated,
    ReviewRecorded,
    RollupUpdated,
)
from shared.registry import Registry
from shared.runtime.db import make_engine
from shared.runtime.messaging import (
    BURST_LINGER_SECONDS,
    BatchStage,
    DeadLetters,
    publish_all,
    stop_broker,
)
from shared.runtime.metrics import (
    PAGES_RENDERED,
    RENDER_SECONDS,
    Health,
    count_published,
    with_health,
)
from shared.runtime.registry_follow import LiveRegistry, live_registry
from shared.runtime.service import (
    declare_publications,
    freeze_startup_state,
    make_broker,
    prepare_topology,
    registry_path,
    run_service,
    serve_until_stopped,
    setup_logging,
)
from shared.runtime.settings import CommonSettings
from shared.topology import PUBLISHER

log = logging.getLogger(__name__)

#: threads for page writes and costly renders (default: min(32, cores + 4))
WORKER_THREADS = 16
#: pause between node page passes that rendered nothing (a node page is never urgent)
NODE_IDLE_SECONDS = 0.5
GIL_SWITCH_SECONDS = 0.0005

#: the entry points: what tools (`nianbao run`, `publish --all`, `rebuild`) may use, and the
#: pure site page rendering and the writer that `nianbao bench`'s floor anchor times
__all__ = [
    "CONSUMERS",
    "PublisherSettings",
    "SiteJob",
    "VersionRecord",
    "build",
    "main",
    "render_site_jobs",
    "republish_all",
    "serve",
    "write_atomically",
]


class PublisherSettings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="NIANBAO_", env_file=".env", extra="ignore")

    publisher_database_url: str | None = None
    pages_dir: Path = Path("var/pages")
    pages_base_url: str = "http://127.0.0.1:8080"
    #: pause between render passes while site pages stay dirty after one (seconds); when
    #: nothing is dirty the render loops wait for new dirty marks instead
    render_idle_seconds: float = 0.05
    #: plan and render site pages in a worker process (beside the event loop)
    site_worker: bool = True


AGGREGATED_CONSUMER = PUBLISHER.consumer("publisher-aggregated")
ROLLUP_CONSUMER = PUBLISHER.consumer("publisher-rollups")
REVIEW_CONSUMER = PUBLISHER.consumer("publisher-reviews")
CONSUMERS = [AGGREGATED_CONSUMER, ROLLUP_CONSUMER, REVIEW_CONSUMER]


def build(
    settings: PublisherSettings, broker: NatsBroker, live: LiveRegistry | None = None
) -> tuple[Publisher, PublisherStore]:
    """The publisher's parts; its pages follow ``live``'s registry, switched between batches."""
    live = live or live_registry(settings)
    registry = live.registry
    url = settings.database_url_for("publisher", settings.publisher_database_url)
    store = PublisherStore(make_engine(url))

    async def publish(items: Sequence[tuple[str, BaseModel, str]]) -> None:
        await publish_all(broker, PROGRESS, items)
        count_published(PROGRESS.name, items)

    base_url = settings.pages_base_url.rstrip("/")
    path = registry_path(settings)
    renderer = SiteRenderer(
        registry,
        base_url,
        registry_file=path if settings.registry_file is not None or path.exists() else None,
        worker=settings.site_worker,
    )
    publisher = Publisher(
        registry,
        store,
        PageWriter(settings.pages_dir),
        publish,
        base_url,
        renderer,
        # the pages of a pass after a burst: planned here, rendered there too
        renderer.render_nodes if settings.site_worker else None,
    )

    async def switch(new: Registry) -> None:
        """An import: the pages it changes are marked dirty; the site page worker restarts."""
        before = live.adopt(new)
        renderer.switch(live.registry)
        await publisher.registry_switched(before)

    live.switch = switch
    declare_publications(broker, PUBLISHER)
    dead = DeadLetters(broker, "publisher")
    # a burst is stored in batches: one transaction per linger, not per small fetch
    linger = BURST_LINGER_SECONDS
    on_aggregated, on_rollups = (
        live.guarded(publisher.on_aggregated),
        live.guarded(publisher.on_rollups),
    )
    BatchStage(broker, AGGREGATED_CONSUMER, ReportAggregated, on_aggregated, dead, linger=linger)
    BatchStage(broker, ROLLUP_CONSUMER, RollupUpdated, on_rollups, dead, linger=linger)
    BatchStage(broker, REVIEW_CONSUMER, ReviewRecorded, live.guarded(publisher.on_reviews), dead)
    return publisher, store


def current_task_cancelling() -> bool:
    """Whether this task itself is being cancelled (not merely a future it awaited)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def render_loop(
    render: Callable[[], Awaitable[int]],
    store: PublisherStore,
    idle: float,
    held: Callable[[], bool] = lambda: False,
) -> None:
    """Render passes while pages are dirty; between them, wait until a handler marks pages
    dirty (nothing runs while nothing changes), or ``idle`` seconds while ``held()`` says that
    pages were left dirty on purpose (paced, or held back by a burst)."""
    while True:
        seen = store.marks
        try:
            started = time.perf_counter()
            rendered = await render()
            if rendered:
                PAGES_RENDERED.inc(rendered)
                RENDER_SECONDS.observe(time.perf_counter() - started)
        except asyncio.CancelledError:
            if current_task_cancelling():
                raise  # the service stops
            # an awaited future was cancelled under the pass (a page worker shut down): the
            # loop must live on, or no page would ever be rendered again
            log.exception("render pass cancelled from below; retrying")
            await asyncio.sleep(1)
            continue
        except Exception:
            log.exception("render pass failed; retrying")
            await asyncio.sleep(1)
            continue
        if not rendered:
            await store.wait_marked(seen, idle if held() else None)


async def serve(settings: PublisherSettings) -> None:
    broker = make_broker(settings, "publisher")
    live = live_registry(settings)
    publisher, store = build(settings, broker, live)
    loop_tasks: list[asyncio.Task[None]] = []

    async def start() -> None:
        # page writes fsync each file: many in flight at once overlap (ext4 commits them together)
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(WORKER_THREADS))
        await store.create()
        await publisher.load()
        if isinstance(publisher.render_sites_port, SiteRenderer):
            publisher.render_sites_port.start()
        await asyncio.to_thread(write_atomically, settings.pages_dir, static_files())
        await broker.connect()
        await prepare_topology(broker, settings, PUBLISHER, CONSUMERS)
        freeze_startup_state()
        await broker.start()
        live.start(broker, settings.registry_poll_seconds)
        # site pages (they answer receipts) never wait behind a costly node page
        idle = settings.render_idle_seconds
        sites = render_loop(publisher.render_sites, store, idle)
        loop_tasks.append(asyncio.create_task(sites))
        # node pages wait for paced ones (not_before) or for a burst to end: look less often
        node_idle = max(idle, NODE_IDLE_SECONDS)

        def held() -> bool:
            return publisher.scheduler.nodes_held

        nodes = render_loop(publisher.render_nodes, store, node_idle, held)
        loop_tasks.append(asyncio.create_task(nodes))

    async def stop() -> None:
        await live.stop()
        await stop_broker(broker)
        for task in loop_tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await store.engine.dispose()
        if isinstance(publisher.render_sites_port, SiteRenderer):
            publisher.render_sites_port.close()  # the site page worker

    health = Health("publisher", broker, CONSUMERS)
    await serve_until_stopped(*with_health(health, 8003, start, stop))


def main() -> None:
    settings = PublisherSettings()
    setup_logging("publisher", settings.log_level)
    # a costly node page renders in a worker thread; hand the GIL back to the event loop (site
    # pages, receipts) every 0.5 ms instead of every 5 ms
    sys.setswitchinterval(GIL_SWITCH_SECONDS)
    run_service(serve(settings))
