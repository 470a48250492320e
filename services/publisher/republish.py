"""A full re-render (`nianbao publish --all`): every page from the publisher's store.

Uses the publisher's own state (versions, standings, roll-ups in its database) and the same
planning and rendering as the running service, so when nothing changed every file comes out
byte-identical and none is rewritten. Safe beside a running publisher: each file is replaced
atomically, and nothing is published to NATS. Heavy imports wait until the command runs, so the
``nianbao`` command starts fast.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services.publisher.handlers import Publisher
    from services.publisher.main import PublisherSettings
    from services.publisher.pages.paths import PageRef
    from shared.registry import Registry


@dataclass
class Republished:
    """What a full re-render did."""

    pages: int = 0
    files: int = 0
    changed: int = 0
    seconds: float = 0.0


def every_page(publisher: Publisher) -> list[PageRef]:
    """Every page the service renders from this state: sites that filed or have a publication
    standing, every node with a roll-up (column, roll-up, supervision), offices that filed,
    and the index."""
    from services.publisher.pages.paths import PageKind, PageRef, has_supervision_page

    registry, state = publisher.registry, publisher.state
    refs: dict[tuple[str, int, str], PageRef] = {}

    def add(kind: PageKind, year: int, code: str = "") -> None:
        refs.setdefault((kind, year, code), PageRef(kind, year, code))

    for code, year in sorted(state.statuses):
        if code in registry.sites:
            add("site", year, code)
    for (year, _node), rollup in sorted(state.rollups.items()):
        for code in sorted(rollup.publication_sites):
            if code in registry.sites:
                add("site", year, code)
    for year, node in sorted(state.rollups):
        if node in registry.nodes:
            add("column", year, node)
            add("rollup", year, node)
            if has_supervision_page(registry, node):
                add("supervision", year, node)
    for code, year in sorted(state.office_statuses):
        if has_supervision_page(registry, code):
            add("supervision", year, code)
    years = {year for (year, _node) in state.rollups} or {y for (_k, y, _c) in refs}
    if years:
        add("index", max(years))  # the index shows the latest year with roll-ups
    order = {"site": 0, "rollup": 1, "column": 2, "supervision": 3, "index": 4}
    return sorted(refs.values(), key=lambda r: (order[r.kind], r.year, r.code))


def unchanged(root: Path, files: dict[str, bytes]) -> int:
    count = 0
    for relative, content in files.items():
        with contextlib.suppress(FileNotFoundError):
            count += (root / relative).read_bytes() == content
    return count


async def republish_all(
    settings: PublisherSettings, registry: Registry | None = None
) -> Republished:
    """Load the publisher's state and write every page (and the static files) into the tree.

    ``registry`` replaces the one the settings name (tests)."""
    import time

    from services.publisher.handlers import Publisher
    from services.publisher.render import static_files
    from services.publisher.store import PublisherStore
    from services.publisher.writer import write_atomically
    from shared.runtime.db import make_engine
    from shared.runtime.service import configured_registry

    started = time.monotonic()
    root = settings.pages_dir
    root.mkdir(parents=True, exist_ok=True)
    url = settings.database_url_for("publisher", settings.publisher_database_url)
    store = PublisherStore(make_engine(url))
    done = Republished()

    async def write(files: dict[str, bytes]) -> None:
        same = await asyncio.to_thread(unchanged, root, files)
        await asyncio.to_thread(write_atomically, root, files)
        done.files += len(files)
        done.changed += len(files) - same

    async def publish_nothing(_items: object) -> None:
        return None

    try:
        await store.create()
        publisher = Publisher(
            registry or configured_registry(settings),
            store,
            write,
            publish_nothing,
            settings.pages_base_url,
        )
        await publisher.load()
        await write(static_files())
        for ref in every_page(publisher):
            files = await publisher.build(ref)
            if files:
                await write(files)
                done.pages += 1
    finally:
        await store.engine.dispose()
    done.seconds = time.monotonic() - started
    return done
