"""The publisher under an imported registry: the pages of the sites and nodes that changed are
marked, under the old registry and the new one; the others are left alone."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest
from pydantic import BaseModel

from services.publisher.handlers import Publisher
from services.publisher.main import render_loop
from services.publisher.sites_worker import SiteJob, SiteRenderer, render_site_jobs
from services.publisher.state import LatestStatus
from services.publisher.store import PublisherStore
from shared.registry import Registry
from shared.registry.demo import demo_registry
from shared.runtime.db import make_engine

YEAR = 2026
MOVED, RENAMED = "bm07230001", "510904"


def imported() -> Registry:
    demo = demo_registry()
    sites, nodes = dict(demo.sites), dict(demo.nodes)
    sites[MOVED] = sites[MOVED].model_copy(update={"admin_node": "CN", "dept_node": "bm07"})
    nodes[RENAMED] = nodes[RENAMED].model_copy(update={"name": "安居区（更名）"})
    return Registry(nodes.values(), sites.values())


async def test_the_pages_an_import_changes_are_marked(tmp_path: Path) -> None:
    demo = demo_registry()
    registry = Registry(demo.nodes.values(), demo.sites.values())
    store = PublisherStore(make_engine(f"sqlite+aiosqlite:///{tmp_path / 'publisher.db'}"))
    await store.create()

    async def write(_files: dict[str, bytes]) -> None: ...

    async def publish(_items: Sequence[tuple[str, BaseModel, str]]) -> None: ...

    publisher = Publisher(registry, store, write, publish, "https://example.gov.cn")
    publisher.state.statuses[(MOVED, YEAR)] = LatestStatus(MOVED, "work-report", YEAR, 1, "on_time")
    before = registry.adopt(imported())
    await publisher.registry_switched(before)
    dirty = {key for key, _generation in await store.dirty()}

    assert {
        f"site:{YEAR}:{MOVED}",
        f"column:{YEAR}:bm07-510000",  # where it was
        f"column:{YEAR}:bm07",  # where it is
        f"column:{YEAR}:510000",
        f"rollup:{YEAR}:{RENAMED}",
        f"column:{YEAR}:{RENAMED}",
        f"index:{YEAR}:",
    } <= dirty
    assert not {f"column:{YEAR}:110000", f"rollup:{YEAR}:510100", f"site:{YEAR}:1100000088"} & dirty
    await store.engine.dispose()


async def test_a_switch_loses_no_page_queued_in_the_worker() -> None:
    """The page worker is replaced at a switch while renders wait in its queue (site pages
    behind node batches): every one still returns its files, none is cancelled (a cancelled
    render ended the service's render loop, and receipts never reached 'published')."""
    demo = demo_registry()
    renderer = SiteRenderer(demo, "https://example.gov.cn", worker=True)
    renderer.switch(demo)  # the worker holds this registry (no registry file here)
    codes = sorted(demo.sites)[:40]
    jobs = [SiteJob(code, YEAR, (), None, "missing", ()) for code in codes]
    try:
        calls = [asyncio.ensure_future(renderer(jobs)) for _ in range(6)]
        await asyncio.sleep(0)  # one step each: all six are in the worker's queue
        renderer.switch(imported())
        rendered = await asyncio.gather(*calls)
    finally:
        renderer.close()
    expected = render_site_jobs(demo, "https://example.gov.cn", jobs)
    assert [sorted(files) for files in rendered[0]] == [sorted(files) for files in expected]
    assert all(len(files) == len(jobs) for files in rendered)


async def test_a_render_pass_cancelled_from_below_does_not_end_the_render_loop(
    tmp_path: Path,
) -> None:
    """A future a pass awaits is cancelled (not the loop): the loop logs it and renders on;
    cancelling the loop itself still ends it."""
    store = PublisherStore(make_engine(f"sqlite+aiosqlite:///{tmp_path / 'publisher.db'}"))
    passes: list[int] = []
    again = asyncio.Event()

    async def render() -> int:
        passes.append(len(passes))
        if len(passes) == 1:
            raise asyncio.CancelledError  # as from an executor future of a retired worker
        again.set()
        return 0

    loop = asyncio.create_task(render_loop(render, store, idle=0.01, held=lambda: True))
    await asyncio.wait_for(again.wait(), 10)
    assert not loop.done()
    loop.cancel()
    with pytest.raises(asyncio.CancelledError):
        await loop
    await store.engine.dispose()
