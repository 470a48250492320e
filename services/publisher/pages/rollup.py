"""A node's roll-up page: figures, its children and their chart, missing sites, every total."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from services.publisher.pages.formatting import csv_cell, expand_row, format_number
from services.publisher.pages.office_publication import (
    OfficePublicationView,
    office_publication_csv_rows,
    office_publication_json,
    office_publication_view,
)
from services.publisher.pages.paths import PagePaths, rollup_paths, url_for_column, url_for_rollup
from services.publisher.pages.publication import (
    PublicationLine,
    PublicationSiteList,
    publication_csv_rows,
    publication_json,
    publication_lines,
    publication_site_lists,
    publication_sites_csv_rows,
    publication_sites_json,
)
from services.publisher.pages.views import (
    TYPE_ORDER,
    ChartBar,
    ChildRollupLine,
    Figures,
    Link,
    name_of,
    rank,
    supervision_link,
    tree_breadcrumbs,
    type_label,
)
from shared.forms import LayoutRow
from shared.publication import PublicationStanding
from shared.registry.model import Registry
from shared.rollup import NodeRollup, Tally

BY_TYPE_KEY_LABELS = {
    "expected": "应报",
    "reported": "已报",
    "on_time": "按时",
    "late": "逾期",
    "missing": "未报",
    "rejected": "未通过",
    "returned": "退回",
}


@dataclass(frozen=True)
class SumLine:
    path: str
    section_label: str
    label: str
    unit: str
    total: int

    @property
    def total_text(self) -> str:
        return format_number(self.total)


@dataclass(frozen=True)
class YesLine:
    path: str
    section_label: str
    label: str
    yes: int

    @property
    def text(self) -> str:
        return f"是 {format_number(self.yes)} 个网站"


@dataclass(frozen=True)
class RollupPageData:
    year: int
    node: str
    paths: PagePaths
    title: str
    breadcrumbs: tuple[Link, ...]
    figures: Figures
    children: tuple[ChildRollupLine, ...]
    chart: tuple[ChartBar, ...]
    chart_title: str
    missing_sites: tuple[Link, ...]
    sums: tuple[SumLine, ...]
    yes_counts: tuple[YesLine, ...]
    by_type_header: tuple[str, ...]
    by_type_rows: tuple[tuple[str, ...], ...]
    column_link: Link
    supervision_link: Link | None
    json_doc: dict[str, Any]
    csv_header: tuple[str, ...]
    csv_rows: tuple[tuple[str, ...], ...]
    publication: tuple[PublicationLine, ...] = ()
    #: the sites below not verified, by name, one list per state
    publication_sites: tuple[PublicationSiteList, ...] = ()
    #: a province's or department's own catalogue entry and 专栏 (本单位公开情况)
    office_publication: OfficePublicationView | None = None

    @property
    def root(self) -> str:
        return self.paths.root


#: (path, section, label, unit) of every count and (path, section, label) of every question,
#: per layout: the same for every node's page, so worked out once per layout (its rows are
#: cached per form version: the same row objects), the rows kept so that their ids stay theirs
_Skeleton = tuple[tuple[tuple[str, str, str, str], ...], tuple[tuple[str, str, str], ...]]
_skeletons: dict[tuple[int, ...], tuple[tuple[LayoutRow, ...], _Skeleton]] = {}
_SKELETONS_HELD = 8


def _skeleton(layout: Sequence[LayoutRow]) -> _Skeleton:
    key = tuple(map(id, layout))
    held = _skeletons.get(key)
    if held is not None:
        return held[1]
    counts: list[tuple[str, str, str, str]] = []
    questions: list[tuple[str, str, str]] = []
    for row in layout:
        if row.type == "count":
            for path, _col, col_label in expand_row(row):
                label = f"{row.label}（{col_label}）" if col_label else row.label
                counts.append((path, row.section_label, label, row.unit or ""))
        elif row.type == "yes_no" and not row.columns:
            questions.append((row.path, row.section_label, row.label))
    skeleton = (tuple(counts), tuple(questions))
    if len(_skeletons) >= _SKELETONS_HELD:
        _skeletons.clear()
    _skeletons[key] = (tuple(layout), skeleton)
    return skeleton


def count_totals(
    layout: Sequence[LayoutRow], tally: Tally
) -> tuple[tuple[SumLine, ...], tuple[YesLine, ...]]:
    """The total of every work-report count, and how many sites answered yes to each question."""
    counts, questions = _skeleton(layout)
    sums, yes = tally.sums, tally.yes_counts
    return (
        tuple(SumLine(p, sect, label, unit, sums.get(p, 0)) for p, sect, label, unit in counts),
        tuple(YesLine(p, sect, label, yes.get(p, 0)) for p, sect, label in questions),
    )


def plan_rollup_page(
    registry: Registry,
    rollup: NodeRollup,
    child_rollups: Sequence[NodeRollup],
    layout: Sequence[LayoutRow],
    publications: Mapping[str, PublicationStanding] | None = None,
) -> RollupPageData:
    """A node's roll-up: figures, children, a chart, missing sites, every count's total, the
    publication counts and the sites not verified by name (``publications``: the standing of
    each site below that has one)."""
    year, node = rollup.year, rollup.node
    paths = rollup_paths(year, node)
    root = paths.root
    tally = rollup.tally
    name = rollup.name or name_of(registry, node)
    figures = Figures.from_rollup(rollup)
    kids = sorted(child_rollups, key=lambda r: r.node)
    children = tuple(
        ChildRollupLine(
            node=r.node,
            link=Link(r.name, root + url_for_rollup(year, r.node)),
            expected=r.tally.expected,
            reported=r.tally.reported,
            on_time=r.tally.on_time,
            completeness_pct=r.completeness_pct,
            timeliness_pct=r.timeliness_pct,
        )
        for r in kids
    )
    chart = tuple(ChartBar(r.name, r.completeness_pct, r.timeliness_pct) for r in kids)
    missing = tuple(
        Link(registry.sites[c].name if c in registry.sites else c, None)
        for c in sorted(tally.missing_sites)
    )
    sums, yes_lines = count_totals(layout, tally)
    type_keys = sorted(
        {k for counts in tally.by_type.values() for k in counts},
        key=lambda k: (list(BY_TYPE_KEY_LABELS).index(k) if k in BY_TYPE_KEY_LABELS else 99, k),
    )
    by_type_rows = tuple(
        (type_label(t), *(format_number(tally.by_type[t].get(k, 0)) for k in type_keys))
        for t in sorted(tally.by_type, key=lambda t: (rank(TYPE_ORDER, t), t))
    )
    csv_rows: list[tuple[str, ...]] = [
        ("报送情况", "", f.label, "%" if key.endswith("_pct") else "个", str(value), "")
        for f, (key, value) in zip(figures.items, figures.as_json().items(), strict=True)
    ]
    csv_rows += [("合计", s.section_label, s.label, s.unit, str(s.total), s.path) for s in sums]
    csv_rows += [
        ("回答“是”的网站数", y.section_label, y.label, "个", str(y.yes), y.path) for y in yes_lines
    ]
    own_publication = office_publication_view(registry, rollup)
    csv_rows += [
        ("本单位公开情况", "", label, "", csv_cell(value), path)
        for label, value, path in office_publication_csv_rows(own_publication)
    ]
    publication = publication_lines(rollup)
    csv_rows += publication_csv_rows(publication)
    listed = publication_site_lists(registry, node, year, publications or {}, root)
    csv_rows += [
        (
            "尚未核验通过公开的网站",
            label,
            csv_cell(site_name),
            "网站标识码",
            code,
            f"publication.{key}",
        )
        for key, label, site_name, code in publication_sites_csv_rows(listed)
    ]
    json_doc = {
        "year": year,
        "node": node,
        "name": name,
        "level": str(rollup.level),
        "tree": str(rollup.tree),
        "path": list(rollup.path),
        "figures": figures.as_json(),
        "children": [
            {
                "node": c.node,
                "name": c.link.text,
                "expected": c.expected,
                "reported": c.reported,
                "on_time": c.on_time,
                "completeness_pct": round(c.completeness_pct, 4),
                "timeliness_pct": round(c.timeliness_pct, 4),
            }
            for c in children
        ],
        "missing_sites": sorted(tally.missing_sites),
        "sums": {s.path: s.total for s in sums},
        "yes_counts": {y.path: y.yes for y in yes_lines},
        "by_type": {t: dict(sorted(c.items())) for t, c in sorted(tally.by_type.items())},
        "office_publication": office_publication_json(own_publication),
        "publication": publication_json(publication),
        "publication_sites": publication_sites_json(listed),
    }
    return RollupPageData(
        year=year,
        node=node,
        paths=paths,
        title=f"{name}政府网站工作年度报表汇总（{year}年度）",
        breadcrumbs=tree_breadcrumbs(registry, node, year, root, "rollup"),
        figures=figures,
        children=children,
        chart=chart,
        chart_title=f"{name}下级各地区、系统完整率与及时率",
        missing_sites=missing,
        sums=sums,
        yes_counts=yes_lines,
        by_type_header=("网站类型", *(BY_TYPE_KEY_LABELS.get(k, k) for k in type_keys)),
        by_type_rows=by_type_rows,
        column_link=Link(f"{name}专栏", root + url_for_column(year, node)),
        supervision_link=supervision_link(registry, node, year, root, name),
        json_doc=json_doc,
        csv_header=("类别", "栏目", "项目", "单位", "数值", "字段路径"),
        csv_rows=tuple(csv_rows),
        publication=publication,
        publication_sites=listed,
        office_publication=own_publication,
    )
