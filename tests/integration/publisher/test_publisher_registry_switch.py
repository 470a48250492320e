"""The publisher under an imported registry: the pages of the sites and nodes that changed are
marked, under the old registry and the new one; the others are left alone."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel

from services.publisher.handlers import Publisher
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
