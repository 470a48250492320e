"""Site pages planned and rendered in a worker process, beside the publisher's event loop;
node pages planned by the publisher rendered there too.

In a national burst the publisher's one event loop would otherwise both consume every event and
render every site page; planning and rendering (Jinja2, JSON, CSV, badge) were about half of its
time, so the pages fell behind the burst. The worker holds its own copy of the registry and
turns ``SiteJob``s into files; the publisher keeps its state, its store and the writing.

After a burst every node page is rendered once more (~10,700 pages nationally), a few seconds of
CPU: the publisher plans them (it holds the state they are planned from) and the worker renders
the plans (templates, JSON, CSV: ~60 % of the cost; a plan pickles in ~15 % of its render time),
so the machine's second core renders while the first plans.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeAlias

from services.publisher.pages.column import ColumnPageData
from services.publisher.pages.index import IndexData
from services.publisher.pages.records import ReviewRecord, VersionRecord
from services.publisher.pages.rollup import RollupPageData
from services.publisher.pages.site import plan_site_page
from services.publisher.pages.supervision import SupervisionPageData
from services.publisher.render import (
    column_page_files,
    index_files,
    rollup_page_files,
    site_page_files,
    supervision_page_files,
)
from shared.filings import Status
from shared.publication import PublicationStanding
from shared.registry import Registry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SiteJob:
    """Everything a site page shows beyond the registry."""

    code: str
    year: int
    versions: tuple[VersionRecord, ...]
    counted_receipt: str | None
    status: Status
    reviews: tuple[ReviewRecord, ...]
    #: where the site published its report (issue 17), from its node's roll-up
    publication: PublicationStanding | None = None


def render_site_jobs(
    registry: Registry, base_url: str, jobs: Sequence[SiteJob]
) -> list[dict[str, bytes]]:
    """The files of each job's site page (pure: the same jobs give the same bytes)."""
    out = []
    for job in jobs:
        counted = next((v for v in job.versions if v.receipt_id == job.counted_receipt), None)
        data = plan_site_page(
            registry,
            job.code,
            job.year,
            list(job.versions),
            counted,
            job.status,
            base_url=base_url,
            reviews=job.reviews,
            publication=job.publication,
        )
        out.append(site_page_files(data))
    return out


NodeKind: TypeAlias = Literal["column", "rollup", "supervision", "index"]
NodePageData: TypeAlias = ColumnPageData | RollupPageData | SupervisionPageData | IndexData


@dataclass(frozen=True)
class NodePage:
    """A node page planned, to be rendered (in this process or in the worker)."""

    kind: NodeKind
    data: NodePageData


def render_node_page(page: NodePage) -> dict[str, bytes]:
    """The files of a planned node page (pure: the same plan gives the same bytes)."""
    data = page.data
    if isinstance(data, ColumnPageData):
        return column_page_files(data)
    if isinstance(data, RollupPageData):
        return rollup_page_files(data)
    if isinstance(data, SupervisionPageData):
        return supervision_page_files(data)
    return index_files(data)


def render_node_pages(pages: Sequence[NodePage]) -> list[tuple[dict[str, bytes], float]]:
    """Each page's files, and the seconds its render took (pacing and the pass's log line)."""
    out = []
    for page in pages:
        started = time.perf_counter()
        files = render_node_page(page)
        out.append((files, time.perf_counter() - started))
    return out


# ---------------------------------------------------------------- in the worker process
_registry: Registry | None = None
_base_url = ""
#: prctl(2) option: the signal this process gets when its parent ends
_PR_SET_PDEATHSIG = 1
#: as ``shared.runtime.service.GC_YOUNG_THRESHOLD``
WORKER_GC_YOUNG_THRESHOLD = 20_000
#: how often the worker looks whether its parent is still there (where prctl is missing)
PARENT_WATCH_SECONDS = 0.5


def end_with_parent(parent: int) -> None:
    """End this process when ``parent`` ends, whatever the signal that ended it (a SIGKILLed
    publisher cannot stop its worker): Linux kills it at once (PR_SET_PDEATHSIG), and a thread
    that sees the process re-parented ends it anywhere else."""
    if sys.platform == "linux":
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # no libc to call: the watch below still ends it
            log.warning("prctl(PR_SET_PDEATHSIG) unavailable; watching the parent instead")
    if os.getppid() != parent:  # the parent ended before the line above took effect
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_WATCH_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _start_worker(
    registry_file: str | None, base_url: str, parent: int, given: Registry | None = None
) -> None:
    global _registry, _base_url
    end_with_parent(parent)
    if given is not None:
        _registry = given
    elif registry_file is None:
        from shared.registry.demo import demo_registry

        _registry = demo_registry()
    else:
        from shared.runtime.registry_files import load_registry

        _registry = load_registry(Path(registry_file))
    _base_url = base_url
    # as the services do after start (``freeze_startup_state``, whose module this process
    # does not import): the registry stays out of the cyclic collector's walks, and young
    # objects (a page's plan and rendering) are collected less often
    gc.collect()
    gc.freeze()
    gc.set_threshold(WORKER_GC_YOUNG_THRESHOLD, 10, 10)


def _ready() -> bool:
    return _registry is not None


def _render_in_worker(jobs: Sequence[SiteJob]) -> list[dict[str, bytes]]:
    assert _registry is not None, "the worker was not started"
    return render_site_jobs(_registry, _base_url, jobs)


# ---------------------------------------------------------------- in the publisher
class SiteRenderer:
    """Renders site pages in one worker process; in this process when there is none (tests,
    ``nianbao publish``) or when the worker died (a new one is started for the next call)."""

    def __init__(
        self,
        registry: Registry,
        base_url: str,
        registry_file: Path | None = None,
        worker: bool = False,
    ) -> None:
        self.registry = registry
        self.base_url = base_url
        self.registry_file = None if registry_file is None else str(registry_file)
        self.worker = worker
        self._pool: Executor | None = None
        #: a registry switched to since start: handed to the next worker whole
        self._switched: Registry | None = None

    def _executor(self) -> Executor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=1,
                # not fork (the publisher has threads and a running event loop), nor forkserver
                # (one more process to keep): a fresh interpreter that imports what it needs
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker,
                initargs=(self.registry_file, self.base_url, os.getpid(), self._switched),
            )
        return self._pool

    def start(self) -> None:
        """Start the worker now (it takes a second to import and load the registry), not on
        the first page of a burst."""
        if self.worker:
            self._executor().submit(_ready)

    async def __call__(self, jobs: Sequence[SiteJob]) -> list[dict[str, bytes]]:
        if not jobs:
            return []
        if not self.worker:
            return render_site_jobs(self.registry, self.base_url, jobs)
        loop = asyncio.get_running_loop()
        pool = self._executor()
        try:
            return await loop.run_in_executor(pool, _render_in_worker, list(jobs))
        except BrokenProcessPool:
            log.error("the site page worker died; rendering here, a new worker next time")
            self._broken(pool)
            return render_site_jobs(self.registry, self.base_url, jobs)

    async def render_nodes(self, pages: Sequence[NodePage]) -> list[tuple[dict[str, bytes], float]]:
        """Planned node pages rendered in the worker (in this process without one, or when the
        worker died: a new one is started for the next call)."""
        if not pages:
            return []
        if not self.worker:
            return await asyncio.to_thread(render_node_pages, pages)
        loop = asyncio.get_running_loop()
        pool = self._executor()
        try:
            return await loop.run_in_executor(pool, render_node_pages, list(pages))
        except BrokenProcessPool:
            log.error("the page worker died; rendering node pages here, a new worker next time")
            self._broken(pool)
            return await asyncio.to_thread(render_node_pages, pages)

    def switch(self, registry: Registry) -> None:
        """Render with ``registry`` from now on: the worker is replaced by one holding it. The
        old one ends after the renders queued to it (their pages are marked again by the
        switch): cancelling them would cancel the render passes awaiting them."""
        self._switched = registry
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=False)
            self._pool = None
            self.start()

    def _broken(self, pool: Executor) -> None:
        """``pool``'s worker died: forget it (not a newer one that calls in flight with it
        raced to start after it broke)."""
        if self._pool is pool:
            self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
