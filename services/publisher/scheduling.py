"""Render scheduling: site pages first, in chunks, then node pages in order as pacing allows."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from services.publisher.announcements import Announcer
from services.publisher.building import PageBuilder
from services.publisher.dirty import page_ref
from services.publisher.pacing import BurstPacer
from services.publisher.store import Announcement, PublisherStore

log = logging.getLogger(__name__)

WriteFiles = Callable[[dict[str, bytes]], Awaitable[None]]
#: site pages built from one read of the store and written with one flush to disk (node pages
#: are written in batches of as many)
SITE_CHUNK = 100
#: node pages render in this order: a roll-up first, the index last
NODE_PAGE_ORDER = {"rollup": 1, "column": 2, "supervision": 3, "index": 4}


def node_page_order(item: tuple[str, int]) -> tuple[int, str]:
    key = item[0]
    return NODE_PAGE_ORDER[key.split(":", 1)[0]], key


class RenderScheduler:
    """Render passes over the dirty pages: build, write durably, clean the marks, announce."""

    def __init__(
        self,
        store: PublisherStore,
        builder: PageBuilder,
        write: WriteFiles,
        announcer: Announcer,
        pacer: BurstPacer,
    ) -> None:
        self.store = store
        self.builder = builder
        self.write = write
        self.announcer = announcer
        self.pacer = pacer
        #: node pages left dirty by the last pass (paced, or held back by a burst): the node
        #: loop looks again after a while; otherwise it waits for new dirty marks
        self.nodes_held = False

    async def render_pending(self) -> int:
        """One pass: site pages first (they answer receipts), then node pages as paced."""
        return await self.render_sites() + await self.render_nodes()

    async def render_sites(self) -> int:
        """Site pages in chunks: read together, written with one flush, announced chunk by
        chunk, so receipts learn their URLs while a burst is still arriving. One chunk is
        written and announced while the next one is built (the flush to disk and the PubAcks
        are waits, not work)."""
        await self.announcer.announce_stranded()
        pending = sorted(await self.store.dirty(sites=True))
        finishing: asyncio.Task[None] | None = None
        try:
            for start in range(0, len(pending), SITE_CHUNK):
                chunk = pending[start : start + SITE_CHUNK]
                # announcements due before building: a version saved meanwhile waits for its
                # own pass
                due = await self.store.announcements([key for key, _ in chunk])
                files: dict[str, bytes] = {}
                for built in await self.builder.build_sites([page_ref(key) for key, _ in chunk]):
                    files.update(built)
                if finishing is not None:
                    await finishing
                finishing = asyncio.create_task(self.finish_sites(chunk, files, due))
            if finishing is not None:
                await finishing
        finally:
            if finishing is not None and not finishing.done():
                finishing.cancel()
        return len(pending)

    async def finish_sites(
        self, chunk: list[tuple[str, int]], files: dict[str, bytes], due: list[Announcement]
    ) -> None:
        """Write a chunk's files (durably), forget its dirty marks, announce its receipts."""
        if files:
            await self.write(files)
        await self.store.clean(chunk)
        await self.announcer.announce(due)

    async def render_nodes(self) -> int:
        """Node pages; a costly one is paced, and while events arrive every node page yields
        most of the CPU to the pipeline (they are rendered in full once the burst is over)."""
        if self.pacer.bursting():
            # the burst's own site pages first: node pages catch up once it is over (and no
            # pass reads the thousands of dirty node keys only to skip them)
            self.nodes_held = True
            return 0
        pending = sorted(await self.store.dirty(sites=False), key=node_page_order)
        self.nodes_held = False
        now = time.monotonic()
        due = await self.store.announcements([key for key, _ in pending])
        done: list[tuple[str, int]] = []
        files: dict[str, bytes] = {}
        rendered = 0
        slowest = (0.0, "")
        for key, generation in pending:
            if self.pacer.bursting():
                break  # a burst began: the rest waits for its end (rendered again by then)
            if not self.pacer.due(key, now):
                continue
            started = time.monotonic()
            built = await self.builder.build(page_ref(key))
            spent = time.monotonic() - started
            slowest = max(slowest, (spent, key))
            if built:
                rendered += 1
                files.update(built)
            self.pacer.pace(key, spent)
            done.append((key, generation))
            if len(done) % SITE_CHUNK == 0:
                await self.write(files)
                files = {}
            await self.pacer.yield_after(spent)
        if files:
            await self.write(files)
        await self.store.clean(done)
        self.nodes_held = len(done) < len(pending)
        keys = {key for key, _ in done}
        await self.announcer.announce([item for item in due if item.key in keys])
        if done:
            log.info(
                "node pages: %d rendered, %d unchanged, %d held in %.2f s (slowest %s %.3f s)",
                rendered,
                len(done) - rendered,
                len(pending) - len(done),
                time.monotonic() - now,
                slowest[1],
                slowest[0],
            )
        return len(done)
