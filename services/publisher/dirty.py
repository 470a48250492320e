"""Which pages a fact makes dirty, and the keys the store marks them by."""

from __future__ import annotations

from typing import cast, get_args

from services.publisher.pages.paths import PageKind, PageRef, affected_pages, has_supervision_page
from shared.contracts import ReportAggregated
from shared.forms import SUPERVISION_REPORT, WORK_REPORT
from shared.registry import Level, Registry

#: the nodes the index lists (a change of their roll-up changes the index)
INDEXED_LEVELS = {Level.NATIONAL, Level.PROVINCE, Level.DEPARTMENT}
PAGE_KINDS: frozenset[str] = frozenset(get_args(PageKind))


def page_key(ref: PageRef) -> str:
    return f"{ref.kind}:{ref.year}:{ref.code}"


def page_ref(key: str) -> PageRef:
    kind, year, code = key.split(":", 2)
    if kind not in PAGE_KINDS:
        raise ValueError(f"not a page key: {key!r}")
    return PageRef(cast(PageKind, kind), int(year), code)


def filing_pages(registry: Registry, event: ReportAggregated) -> list[PageRef]:
    """The pages a filing's new version changes, its own page first (its receipt waits for it)."""
    if event.form == WORK_REPORT and event.code in registry.sites:
        return affected_pages(registry, event.code, event.year)
    if event.form == SUPERVISION_REPORT and has_supervision_page(registry, event.code):
        return [PageRef("supervision", event.year, event.code), PageRef("index", event.year)]
    if event.code in registry.nodes:
        return [PageRef("rollup", event.year, event.code)]
    return []


def rollup_pages(registry: Registry, year: int, node: str) -> list[PageRef]:
    """The pages a node's new roll-up changes."""
    refs = [PageRef("rollup", year, node), PageRef("column", year, node)]
    if has_supervision_page(registry, node):
        refs.append(PageRef("supervision", year, node))
    found = registry.nodes.get(node)
    if found is not None and found.level in INDEXED_LEVELS:
        refs.append(PageRef("index", year))
    return refs
