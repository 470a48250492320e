"""The publisher's handlers on a real SQLite store, without NATS: which pages a change renders,
the supervision report's wiring, and `publish --all` giving byte-identical files."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import BaseModel

from services.aggregator.handlers import rollup_event
from services.publisher.handlers import Publisher
from services.publisher.main import PublisherSettings
from services.publisher.republish import republish_all
from services.publisher.sites_worker import NodePage, SiteRenderer
from services.publisher.store import PublisherStore
from services.publisher.writer import SHARED_DIR, write_atomically
from shared.contracts import PagesPublished, ReportAggregated, RollupUpdated, SiteStatus
from shared.forms import count_paths, load_form, yes_no_paths
from shared.publication import PublicationStanding
from shared.rollup import SiteState, full_rollups
from shared.runtime.db import make_engine
from shared.runtime.messaging import Envelope
from tests.support.publisher import (
    YEAR,
    at,
    changes_registry,
    supervision_report,
)

BASE = "https://nianbao.example.gov.cn"
REG = changes_registry()
WORK = load_form("work-report")


def work_report(code: str, scale: int) -> dict[str, Any]:
    site = REG.sites[code]
    return {
        "site": {"name": site.name, "site_code": code, "type": site.type.value},
        "traffic": {"unique_visitors": 100 * scale, "page_views": 1000 * scale},
    }


class World:
    """A publisher over a temporary store, fed events the way the aggregator emits them."""

    def __init__(self, root: Path, renderer: SiteRenderer | None = None) -> None:
        self.root = root
        self.pages = root / "pages"
        self.store = PublisherStore(make_engine(f"sqlite+aiosqlite:///{root / 'publisher.db'}"))
        self.written: list[str] = []
        #: paths whose write fails (a full disk)
        self.refuse: Callable[[str], bool] = lambda path: False
        self.published: list[PagesPublished] = []
        self.publisher = Publisher(
            REG,
            self.store,
            self.write,
            self.publish,
            BASE,
            renderer,
            None if renderer is None else renderer.render_nodes,
        )
        self.seq = 0
        self.receipts = 0
        self.states: dict[str, SiteState] = {}
        self.versions: dict[tuple[str, str], int] = {}

    async def write(self, files: dict[str, bytes]) -> None:
        if any(self.refuse(path) for path in files):
            raise OSError("disk full")
        self.written.extend(files)
        write_atomically(self.pages, files)

    async def publish(self, items: Sequence[tuple[str, BaseModel, str]]) -> None:
        self.published.extend(e for _s, e, _id in items if isinstance(e, PagesPublished))

    def envelope(self, event: Any) -> Envelope[Any]:
        self.seq += 1
        msg = SimpleNamespace(metadata=SimpleNamespace(sequence=SimpleNamespace(stream=self.seq)))
        return Envelope(msg, event)  # type: ignore[arg-type]

    def aggregated(
        self, code: str, form: str, report: dict[str, Any], status: str, when: datetime
    ) -> ReportAggregated:
        self.receipts += 1
        version = self.versions.get((code, form), 0) + 1
        self.versions[(code, form)] = version
        receipt = f"R-{self.receipts:04d}"
        digest = hashlib.sha256(repr(report).encode()).hexdigest()
        return ReportAggregated(
            receipt_id=receipt,
            content_hash=digest,
            form=form,
            form_version="2018",
            year=YEAR,
            code=code,
            version=version,
            received_at=when,
            judged_at=when,
            report=report,
            issues=[],
            outcome="accepted",
            aggregated_at=when,
            status=SiteStatus(
                code=code,
                form=form,
                year=YEAR,
                status=status,  # type: ignore[arg-type]
                counted_receipt=receipt,
                counted_version=version,
                received_at=when,
            ),
            nodes=REG.site_ancestors(code) if code in REG.sites else [],
        )

    async def file(self, code: str, scale: int, when: datetime) -> ReportAggregated:
        """A site files (or amends): the roll-ups first, then the aggregated event."""
        report = work_report(code, scale)
        self.states[code] = SiteState(site=code, status="on_time", report=report)
        rollups = full_rollups(REG, YEAR, self.states, count_paths(WORK), yes_no_paths(WORK))
        events: list[RollupUpdated] = [rollup_event(r) for r in rollups.values()]
        await self.publisher.on_rollups([self.envelope(e) for e in events])
        event = self.aggregated(code, "work-report", report, "on_time", when)
        await self.publisher.on_aggregated([self.envelope(event)])
        return event

    async def publish_standing(self, code: str, standing: PublicationStanding) -> None:
        """The aggregator counted a site's publication: the roll-ups that carry it."""
        before = self.states.get(code) or SiteState(site=code, status="missing")
        self.states[code] = before.model_copy(update={"publication": standing})
        rollups = full_rollups(REG, YEAR, self.states, count_paths(WORK), yes_no_paths(WORK))
        events: list[RollupUpdated] = [rollup_event(r) for r in rollups.values()]
        await self.publisher.on_rollups([self.envelope(e) for e in events])

    async def render(self) -> list[str]:
        """Render until nothing is dirty; the files written."""
        self.written = []
        self.publisher.pacer.not_before.clear()
        while await self.store.dirty():
            await self.publisher.render_pending()
        return sorted(self.written)


@pytest.fixture
async def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    await w.store.create()
    yield w  # type: ignore[misc]
    await w.store.engine.dispose()


def page_dirs(files: list[str]) -> set[str]:
    return {f.rsplit("/", 1)[0] if "/" in f else f for f in files}


async def test_an_amendment_re_renders_only_the_pages_it_affects(world: World) -> None:
    await world.file("5101070001", 1, at(10, 2))
    await world.file("5101000001", 1, at(11, 2))
    first = await world.render()
    nodes = {f.split("/")[2] for f in first if f.startswith("rollups/")}
    assert nodes == set(REG.nodes)  # every node's roll-up arrived and was rendered

    await world.file("5101070001", 2, at(20, 2))  # the county portal amends its counts
    again = await world.render()
    assert page_dirs(again) == {
        "sites/2025/5101070001",
        *(f"{kind}/2025/{n}" for kind in ("columns", "rollups") for n in ("510107", "510100")),
        *(f"{kind}/2025/{n}" for kind in ("columns", "rollups") for n in ("510000", "CN")),
        *(f"supervision/2025/{n}" for n in ("510107", "510100", "510000")),
        "index.html",
        "index.json",
        "index.csv",
    }
    # the site: HTML, JSON, CSV and badge; 11 node pages of three files (and the province's
    # supervision badge); the index
    assert len(again) == 4 + 11 * 3 + 1 + 3
    assert "sites/2025/5101000001/index.html" not in again
    assert not any("bm29" in f for f in again)
    [announced] = [
        p for p in world.published if p.code == "5101070001" and p.receipt_id == "R-0003"
    ]
    assert announced.urls[0] == f"{BASE}/sites/2025/5101070001/index.html"


async def test_a_supervision_report_renders_its_page_and_the_index(world: World) -> None:
    await world.file("5101000001", 1, at(11, 2))
    await world.render()
    event = world.aggregated(
        "510000", "supervision-report", supervision_report(), "on_time", at(15, 3)
    )
    await world.publisher.on_aggregated([world.envelope(event)])
    written = await world.render()
    assert page_dirs(written) == {
        "supervision/2025/510000",
        "index.html",
        "index.json",
        "index.csv",
    }
    assert "supervision/2025/510000/badge.svg" in written
    html = (world.pages / "supervision/2025/510000/index.html").read_text(encoding="utf-8")
    assert "四川省政府网站监管年度报表（2025年度）" in html and "按时报送" in html
    assert "“关停下线”填报 2 个，政府网站信息库推算 1 个" in html
    index = (world.pages / "index.html").read_text(encoding="utf-8")
    assert (
        '四川省政府网站监管年度报表</a> <span class="badge badge-on_time">已发布（按时）' in index
    )
    [announced] = [p for p in world.published if p.code == "510000"]
    assert announced.urls == [
        f"{BASE}/supervision/2025/510000/{name}"
        for name in ("index.html", "supervision.json", "supervision.csv")
    ]


async def test_a_publication_standing_renders_the_site_page_and_its_nodes(
    world: World, tmp_path: Path
) -> None:
    """The standing arrives in the roll-ups of the site's own nodes: the site's page shows it
    (a site that never filed gets its page too), the roll-up pages above name it, and a full
    re-publication from the store gives the same bytes."""
    await world.file("5101070001", 1, at(10, 2))
    await world.render()
    url = "https://5101070001.example.gov.cn/nb/2025.html"
    missing = PublicationStanding(
        state="not_linked",
        declared=True,
        url=url,
        checked_at=at(20, 2),
        findings=("首页未找到指向声明页面的链接",),
    )
    await world.publish_standing("5101070001", missing)
    written = await world.render()
    assert "sites/2025/5101070001/index.html" in written
    assert "sites/2025/5101000001/index.html" not in written  # no standing of its own
    site = (world.pages / "sites/2025/5101070001/index.html").read_text(encoding="utf-8")
    part = site[site.index('id="h-site-publication"') :]
    assert "首页未链接" in part and url in part and "<li>首页未找到指向声明页面的链接</li>" in part
    rollup = (world.pages / "rollups/2025/510000/index.html").read_text(encoding="utf-8")
    names = rollup[rollup.index('id="h-publication-sites"') :]
    assert "首页未链接" in names and "成都市武侯区人民政府网站" in names
    counts = json.loads((world.pages / "rollups/2025/CN/rollup.json").read_text("utf-8"))
    assert counts["publication"]["not_linked"] == 1
    assert counts["publication_sites"]["not_linked"][0]["code"] == "5101070001"

    verified = missing.model_copy(
        update={"state": "verified", "verified": True, "on_time": True, "findings": ()}
    )
    await world.publish_standing("5101000002", verified)  # declared, never filed
    await world.render()
    page = (world.pages / "sites/2025/5101000002/index.html").read_text(encoding="utf-8")
    assert "已核验" in page and "按时公开" in page

    from services.publisher.render import static_files

    write_atomically(world.pages, static_files())
    before = tree_digest(world.pages)
    settings = PublisherSettings(data_dir=tmp_path, pages_dir=world.pages, pages_base_url=BASE)
    done = await republish_all(settings, REG)
    assert done.changed == 0 and tree_digest(world.pages) == before
    fresh = tmp_path / "fresh"
    settings = PublisherSettings(data_dir=tmp_path, pages_dir=fresh, pages_base_url=BASE)
    await republish_all(settings, REG)
    assert tree_digest(fresh) == before  # the page of the site that never filed too


def tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


async def test_publish_all_gives_the_same_bytes(world: World, tmp_path: Path) -> None:
    await world.file("5101070001", 1, at(10, 2))
    await world.file("bm29230001", 3, at(12, 2))
    await world.file("5101070001", 2, at(20, 2))
    event = world.aggregated(
        "510000", "supervision-report", supervision_report(), "late", at(25, 4)
    )
    await world.publisher.on_aggregated([world.envelope(event)])
    await world.render()
    from services.publisher.render import static_files

    write_atomically(world.pages, static_files())
    before = tree_digest(world.pages)
    settings = PublisherSettings(data_dir=tmp_path, pages_dir=world.pages, pages_base_url=BASE)
    done = await republish_all(settings, REG)
    assert tree_digest(world.pages) == before
    # the published files, not the shared copies the badges link to
    published = [p for p in before if not p.startswith(f"{SHARED_DIR}/")]
    assert done.changed == 0 and done.files == len(published)
    assert done.pages == len([p for p in before if p.endswith(".html")])

    fresh = tmp_path / "fresh"
    settings = PublisherSettings(data_dir=tmp_path, pages_dir=fresh, pages_base_url=BASE)
    await republish_all(settings, REG)
    assert tree_digest(fresh) == before


async def test_a_failed_announcement_is_sent_on_a_later_pass(world: World) -> None:
    """The page was rendered but its published event could not be sent (a NATS node died):
    the receipt is announced on the next pass, not stranded."""
    code = sorted(REG.sites)[0]
    failing = True

    async def flaky(items: Sequence[tuple[str, BaseModel, str]]) -> None:
        if failing:
            raise ConnectionError("no stream response")
        await world.publish(items)

    world.publisher.announcer.publish = flaky
    event = await world.file(code, 1, at(20, 10))
    with pytest.raises(ConnectionError):
        await world.publisher.render_pending()
    assert not world.published
    failing = False
    await world.render()
    await world.publisher.render_pending()
    assert [p.receipt_id for p in world.published] == [event.receipt_id]


async def test_a_new_declared_url_shows_in_every_column_above_the_site(world: World) -> None:
    """Issue 17: a site's standing is in its own node's roll-up; a new URL in the same state
    changes no count above it, yet every column above the site shows the new URL."""
    code = "5101070001"
    await world.file(code, 1, at(10, 2))
    written: list[str] = []
    for url in ("https://www.wuhou.gov.cn/nb/a.html", "https://www.wuhou.gov.cn/nb/b.html"):
        standing = PublicationStanding(state="not_linked", declared=True, url=url)
        world.states[code] = world.states[code].model_copy(update={"publication": standing})
        rollups = full_rollups(REG, YEAR, world.states, count_paths(WORK), yes_no_paths(WORK))
        await world.publisher.on_rollups(
            [world.envelope(rollup_event(r)) for r in rollups.values()]
        )
        written = await world.render()
    above = REG.site_ancestors(code)
    assert {d for d in page_dirs(written) if d.startswith("columns/")} == {
        f"columns/2025/{n}" for n in above
    }
    # rendered: the site's page and the county's own roll-up (its site's standing changed), no
    # roll-up above it
    assert {d for d in page_dirs(written) if not d.startswith("columns/")} <= {
        f"sites/2025/{code}",
        "rollups/2025/510107",
        "supervision/2025/510107",
    }
    assert f"sites/2025/{code}" in page_dirs(written)
    for node in above:
        html = (world.pages / f"columns/2025/{node}/index.html").read_text(encoding="utf-8")
        assert 'href="https://www.wuhou.gov.cn/nb/b.html"' in html and "nb/a.html" not in html
        assert 'data-publication="not_linked"' in html


async def test_a_node_page_marked_again_unchanged_is_not_rendered_again(world: World) -> None:
    """Issue 19: a node page marked dirty again whose roll-ups, statuses and registry have not
    changed since its files were written is not rendered (nor its files compared) again."""
    await world.file("5101070001", 1, at(10, 2))
    await world.render()
    marks = [f"{kind}:{YEAR}:510100" for kind in ("rollup", "column", "supervision")]
    rendered: list[str] = []
    plan = world.publisher.builder.plan_node

    def counting(ref: Any, versions: Any) -> Any:
        rendered.append(f"{ref.kind}:{ref.year}:{ref.code}")
        return plan(ref, versions)

    world.publisher.builder.plan_node = counting  # type: ignore[method-assign]
    await world.store.save([], [], [], marks, [])
    assert await world.render() == [] and rendered == []
    assert not await world.store.dirty()

    await world.file("5101000001", 1, at(11, 2))  # a site below 510100 files: rendered again
    written = await world.render()
    assert set(marks) <= set(rendered)
    assert "rollups/2025/510100/index.html" in written


async def test_a_node_page_whose_write_failed_is_rendered_again(world: World) -> None:
    """A node page counts as written only once its files are: after a failed write the next
    pass renders it again, though nothing changed in between."""
    await world.file("5101070001", 1, at(10, 2))
    world.refuse = lambda path: path.startswith("rollups/")
    with pytest.raises(OSError):
        await world.render()
    assert not (world.pages / "rollups/2025/510100/index.html").exists()
    world.refuse = lambda path: False
    await world.render()
    assert (world.pages / "rollups/2025/510100/index.html").exists()


async def a_burst(world: World) -> None:
    """Every site files, a pass after each (the pages' costs known after the first)."""
    for scale, code in enumerate(sorted(REG.sites), start=1):
        await world.file(code, scale, at(10, 2))
        await world.render()
    event = world.aggregated(
        "510000", "supervision-report", supervision_report(), "late", at(25, 4)
    )
    await world.publisher.on_aggregated([world.envelope(event)])
    await world.render()


@pytest.fixture
async def worker_world(
    tmp_path: Path,
) -> AsyncIterator[tuple[World, SiteRenderer, list[int]]]:
    """A world whose pages render in a page worker process; the node pages sent to it."""
    renderer = SiteRenderer(REG, BASE, worker=True)
    renderer.switch(REG)  # the worker holds this registry (no registry file here)
    sent: list[int] = []
    render_nodes = renderer.render_nodes

    async def counting(pages: Sequence[NodePage]) -> list[tuple[dict[str, bytes], float]]:
        sent.append(len(pages))
        return await render_nodes(pages)

    renderer.render_nodes = counting  # type: ignore[method-assign]
    (tmp_path / "worker").mkdir()
    w = World(tmp_path / "worker", renderer)
    w.publisher.scheduler.worker_pages = 0  # a small world's passes use the worker too
    await w.store.create()
    try:
        yield w, renderer, sent
    finally:
        renderer.close()
        await w.store.engine.dispose()


async def test_node_pages_rendered_in_the_worker_are_the_same_bytes(
    world: World, worker_world: tuple[World, SiteRenderer, list[int]]
) -> None:
    """Issue 19: node pages planned here and rendered in the page worker (the second core)
    give the very files rendered in this process."""
    there, _renderer, sent = worker_world
    await a_burst(world)
    await a_burst(there)
    assert sum(sent) > 0  # node pages were rendered in the worker
    assert not await there.store.dirty()
    assert tree_digest(there.pages) == tree_digest(world.pages)


async def test_a_killed_page_worker_leaves_no_node_page_behind(
    world: World, worker_world: tuple[World, SiteRenderer, list[int]]
) -> None:
    """The page worker dies (SIGKILL, out of memory) before a pass: its node pages are
    rendered in this process, none is left dirty, and the next pass has a worker again."""
    there, renderer, sent = worker_world
    loop = asyncio.get_running_loop()
    pool = renderer._executor()
    (pid,) = await asyncio.gather(loop.run_in_executor(pool, os.getpid))
    os.kill(pid, signal.SIGKILL)
    await a_burst(world)
    await a_burst(there)
    assert sum(sent) > 0 and not await there.store.dirty()
    assert tree_digest(there.pages) == tree_digest(world.pages)
    await there.file(sorted(REG.sites)[0], 99, at(20, 2))  # an amendment: a new worker
    await there.render()
    assert renderer._pool is not None and renderer._pool is not pool
