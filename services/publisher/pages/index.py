"""The published root: the year, national, province and department pages, offices' reports."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from services.publisher.pages.formatting import EMPTY, csv_cell, format_number, format_pct
from services.publisher.pages.paths import (
    PagePaths,
    files_supervision_report,
    index_paths,
    report_year,
    url_for_column,
    url_for_rollup,
    url_for_supervision,
)
from services.publisher.pages.views import Link, name_of
from shared.filings import Status
from shared.publication import COUNT_LABELS, PUBLICATION_COUNTS
from shared.registry.model import NATIONAL, Registry
from shared.rollup import NodeRollup


@dataclass(frozen=True)
class IndexEntry:
    node: str
    name: str
    column_href: str
    rollup_href: str
    expected: int | None
    reported: int | None
    completeness_text: str
    supervision_href: str | None = None
    #: the office's supervision report: a status key, "missing" when none was filed
    supervision_status: Status = "missing"
    #: publication on the node's sites (issue 17), in ``PUBLICATION_COUNTS`` order; none
    #: before the node has a roll-up with the counts
    publication: tuple[int, ...] = ()

    @property
    def supervision_label(self) -> str:
        return SUPERVISION_STATUS_LABELS.get(self.supervision_status, self.supervision_status)


#: the state of an office's supervision report, as the portal's homepage shows it
SUPERVISION_STATUS_LABELS: dict[str, str] = {
    "on_time": "已发布（按时）",
    "late": "已发布（逾期）",
    "returned": "退回重填",
    "rejected": "未通过校验",
    "missing": "未报送",
}


@dataclass(frozen=True)
class IndexData:
    year: int
    years: tuple[int, ...]
    paths: PagePaths
    title: str
    national: IndexEntry | None
    provinces: tuple[IndexEntry, ...]
    departments: tuple[IndexEntry, ...]
    filed_note: str
    #: the labels of the publication counts, as the index's publication table heads them
    publication_header: tuple[str, ...]
    other_years: tuple[Link, ...]
    json_doc: dict[str, Any]
    csv_header: tuple[str, ...]
    csv_rows: tuple[tuple[str, ...], ...]

    @property
    def root(self) -> str:
        return self.paths.root

    @property
    def publication_entries(self) -> tuple[IndexEntry, ...]:
        """The listed nodes with publication counts."""
        entries = ([self.national] if self.national else []) + [*self.provinces, *self.departments]
        return tuple(e for e in entries if e.publication)


def _index_entry(
    registry: Registry,
    node: str,
    year: int,
    rollups: Mapping[str, NodeRollup],
    supervision: Mapping[str, Status],
) -> IndexEntry:
    r = rollups.get(node)
    office = files_supervision_report(registry, node)
    return IndexEntry(
        node=node,
        name=name_of(registry, node),
        column_href=url_for_column(year, node),
        rollup_href=url_for_rollup(year, node),
        expected=r.tally.expected if r else None,
        reported=r.tally.reported if r else None,
        completeness_text=format_pct(r.completeness_pct) if r else EMPTY,
        supervision_href=url_for_supervision(year, node) if office else None,
        supervision_status=supervision.get(node, "missing"),
        publication=tuple(r.tally.publication.get(k, 0) for k in PUBLICATION_COUNTS)
        if r and r.tally.publication
        else (),
    )


def plan_index(
    registry: Registry,
    year: int,
    rollups: Mapping[str, NodeRollup],
    *,
    years: Sequence[int] = (),
    supervision: Mapping[str, Status] | None = None,
) -> IndexData:
    """The published root: the year, national links, province and department columns, and
    every office's supervision report highlighted (the notice asks for it on the homepage).

    ``years`` lists every published year; the others get links to their national roll-up.
    ``supervision`` gives the status of each office's supervision report (none: missing).
    """
    supervision = supervision or {}
    paths = index_paths()
    all_years = tuple(sorted({report_year(year), *(report_year(y) for y in years)}, reverse=True))
    national = (
        _index_entry(registry, NATIONAL, year, rollups, supervision)
        if NATIONAL in registry.nodes
        else None
    )
    provinces = tuple(
        _index_entry(registry, c, year, rollups, supervision)
        for c in registry.children(NATIONAL)
        if registry.nodes[c].tree == "admin" and registry.sites_under(c, year)
    )
    departments = tuple(
        _index_entry(registry, c, year, rollups, supervision)
        for c in registry.roots()
        if c != NATIONAL and registry.nodes[c].tree == "dept" and registry.sites_under(c, year)
    )
    cn = rollups.get(NATIONAL)
    if cn is not None:
        expected, reported = cn.tally.expected, cn.tally.reported
    else:
        expected = len(registry.sites_under(NATIONAL, year)) if national else 0
        reported = 0
    filed_note = (
        f"{year}年度应报网站 {format_number(expected)} 个，"
        f"已有 {format_number(reported)} 个网站报送工作年度报表。"
    )
    other_years = tuple(
        Link(f"{y}年度", url_for_rollup(y, NATIONAL)) for y in all_years if y != year
    )
    entries = ([national] if national else []) + list(provinces) + list(departments)
    json_doc = {
        "year": year,
        "years": list(all_years),
        "expected": expected,
        "reported": reported,
        "nodes": [
            {
                "node": e.node,
                "name": e.name,
                "column": e.column_href,
                "rollup": e.rollup_href,
                "expected": e.expected,
                "reported": e.reported,
                "supervision": e.supervision_href,
                "supervision_status": e.supervision_status if e.supervision_href else None,
                "publication": dict(zip(PUBLICATION_COUNTS, e.publication, strict=True))
                if e.publication
                else None,
            }
            for e in entries
        ],
    }
    csv_rows = tuple(
        (
            e.node,
            csv_cell(e.name),
            "" if e.expected is None else str(e.expected),
            "" if e.reported is None else str(e.reported),
            e.column_href,
            e.rollup_href,
            e.supervision_href or "",
            e.supervision_label if e.supervision_href else "",
            *(str(n) for n in e.publication or ("",) * len(PUBLICATION_COUNTS)),
        )
        for e in entries
    )
    return IndexData(
        year=year,
        years=all_years,
        paths=paths,
        title=f"政府网站工作年度报表（{year}年度）",
        national=national,
        provinces=provinces,
        departments=departments,
        filed_note=filed_note,
        publication_header=tuple(COUNT_LABELS[k] for k in PUBLICATION_COUNTS),
        other_years=other_years,
        json_doc=json_doc,
        csv_header=(
            "节点代码",
            "名称",
            "应报",
            "已报",
            "专栏",
            "汇总",
            "监管年度报表",
            "监管年度报表状态",
            *(f"网站公开：{COUNT_LABELS[k]}" for k in PUBLICATION_COUNTS),
        ),
        csv_rows=csv_rows,
    )
