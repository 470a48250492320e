"""Render scheduling: site pages first, in chunks, then node pages in order as pacing allows."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from services.publisher.announcements import Announcer
from services.publisher.building import PageBuilder, Planned
from services.publisher.dirty import page_ref
from services.publisher.pacing import BurstPacer
from services.publisher.pages.paths import PageRef
from services.publisher.store import Announcement, PublisherStore

log = logging.getLogger(__name__)

WriteFiles = Callable[[dict[str, bytes]], Awaitable[None]]
#: site pages built from one read of the store and written with one flush to disk (node pages
#: are written in batches of as many)
SITE_CHUNK = 100
#: node pages planned together (one hop to a thread) and sent to the page worker at once; at
#: most this many batches wait there: a site page waits behind them (a few tens of
#: milliseconds), and beyond them this process renders the pages it plans (both cores render)
NODE_BATCH = 16
NODE_BATCHES_WAITING = 2
#: a pass of fewer node pages renders them all here (the worker is for the pass after a burst)
NODE_WORKER_PAGES = 4 * NODE_BATCH
#: only pages known to take less than this go to the worker, up to a batch's budget: a site
#: page queued there behind the node pages waits at most ~NODE_BATCHES_WAITING × the budget
WORKER_PAGE_SECONDS = 0.02
WORKER_BATCH_SECONDS = 0.06
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
        #: seconds each node page took to plan and render last time: only cheap ones are
        #: rendered in the worker (site pages wait behind them there)
        self.costs: dict[str, float] = {}
        #: the fewest pages of a pass that uses the worker
        self.worker_pages = NODE_WORKER_PAGES

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
        most of the CPU to the pipeline (they are rendered in full once the burst is over).
        Planned here; rendered in the worker while this process plans the next ones, and here
        when the worker has enough waiting already (see ``NodePass``)."""
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
        # a small pass (a few amendments) renders here: the worker's site pages never wait
        # behind node pages then; a large one (after a burst) uses the worker too
        worker = len(pending) >= self.worker_pages
        work = NodePass(self.builder, self.write, self.pacer, self.costs, worker)
        batch: list[tuple[str, int]] = []
        try:
            for item in pending:
                if self.pacer.bursting():
                    break  # a burst began: the rest waits for its end (rendered again by then)
                if not self.pacer.due(item[0], now):
                    continue
                batch.append(item)
                if len(batch) >= NODE_BATCH:
                    await work.add([key for key, _ in batch])
                    done.extend(batch)
                    batch = []
            if batch:
                await work.add([key for key, _ in batch])
                done.extend(batch)
            await work.finish()
        finally:
            work.cancel()
        await self.store.clean(done)
        self.nodes_held = len(done) < len(pending)
        keys = {key for key, _ in done}
        await self.announcer.announce([item for item in due if item.key in keys])
        if done:
            log.info(
                "node pages: %d rendered (%d in the worker), %d unchanged, %d held in %.2f s"
                " (slowest %s %.3f s)",
                work.rendered,
                work.offloaded,
                len(done) - work.rendered,
                len(pending) - len(done),
                time.monotonic() - now,
                work.slowest[1],
                work.slowest[0],
            )
        return len(done)


class NodePass:
    """One pass's node pages, a batch at a time: planned here (one hop to a thread), rendered
    in the worker or here in the same hop; their files written every ``SITE_CHUNK`` pages, one
    write at a time while the next pages are planned. Its pages are clean only after
    ``finish``.

    With a ``worker``, a batch's pages go there while it has fewer than
    ``NODE_BATCHES_WAITING`` batches: those that took less than ``WORKER_PAGE_SECONDS`` last
    time (``costs``), up to ``WORKER_BATCH_SECONDS`` a batch, so a site page queued there
    waits a fraction of a second at most; a costly page (the national column) or one never
    rendered renders here."""

    def __init__(
        self,
        builder: PageBuilder,
        write: WriteFiles,
        pacer: BurstPacer,
        costs: dict[str, float] | None = None,
        worker: bool = True,
    ) -> None:
        self.builder = builder
        self.write = write
        self.pacer = pacer
        self.costs = {} if costs is None else costs
        self.worker = worker and builder.render_nodes is not None
        self.rendered = 0
        self.offloaded = 0
        #: (seconds to plan and render, page key) of the costliest page
        self.slowest = (0.0, "")
        self._sent: set[asyncio.Task[None]] = set()
        self._files: dict[str, bytes] = {}
        self._collected = 0
        self._writing: asyncio.Future[None] | None = None

    async def add(self, keys: list[str]) -> None:
        """Plan the pages ``keys`` and have them rendered (and written in time)."""
        started = time.monotonic()
        self._reap()
        refs = [page_ref(k) for k in keys]
        planned = await self.builder.plan_many(refs, self._elsewhere(keys, refs))
        to_render = []
        for key, page in zip(keys, planned, strict=True):
            if page.page is None:
                self._collect(key, page.files, page.seconds)
            else:
                to_render.append((key, page))
        if to_render:
            self._sent.add(asyncio.create_task(self._render(to_render)))
        await self._write_collected()
        await self.pacer.yield_after(time.monotonic() - started)

    def _elsewhere(self, keys: list[str], refs: list[PageRef]) -> list[PageRef]:
        """The pages of a batch to render in the worker."""
        if not self.worker or len(self._sent) >= NODE_BATCHES_WAITING:
            return []
        out, budget = [], WORKER_BATCH_SECONDS
        for key, ref in zip(keys, refs, strict=True):
            cost = self.costs.get(key)
            if cost is not None and cost < WORKER_PAGE_SECONDS and cost <= budget:
                out.append(ref)
                budget -= cost
        return out

    async def finish(self) -> None:
        """Every page added rendered and its files written (durably)."""
        while self._sent:
            await asyncio.wait(self._sent)
            self._reap()
        await self._write_collected(every=True)
        if self._writing is not None:
            await self._writing

    def cancel(self) -> None:
        for task in (*self._sent, self._writing):
            if task is not None and not task.done():
                task.cancel()

    async def _render(self, batch: list[tuple[str, Planned]]) -> None:
        assert self.builder.render_nodes is not None
        pages = [planned.page for _key, planned in batch if planned.page is not None]
        results = await self.builder.render_nodes(pages)
        self.offloaded += len(batch)
        for (key, planned), (files, seconds) in zip(batch, results, strict=True):
            written = self.builder.rendered(planned, files).files
            self._collect(key, written, planned.seconds + seconds)

    def _reap(self) -> None:
        """Forget the batches rendered (raising what failed in one)."""
        for task in [t for t in self._sent if t.done()]:
            self._sent.discard(task)
            task.result()

    def _collect(self, key: str, files: dict[str, bytes] | None, spent: float) -> None:
        self.slowest = max(self.slowest, (spent, key))
        self.pacer.pace(key, spent)
        self.costs[key] = spent
        self._collected += 1
        if files:
            self.rendered += 1
            self._files.update(files)

    async def _write_collected(self, every: bool = False) -> None:
        """Write the files collected, once there are ``SITE_CHUNK`` pages' worth (or ``every``
        file): after the write before, which goes on while pages are planned."""
        if not self._collected or (self._collected < SITE_CHUNK and not every):
            return
        files, self._files, self._collected = self._files, {}, 0
        if self._writing is not None:
            await self._writing
        self._writing = asyncio.ensure_future(self.write(files)) if files else None
