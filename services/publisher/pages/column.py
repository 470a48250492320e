"""A node's special column (专栏): every site below it with its status, figures, child columns."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from services.publisher.pages.filing import work_report_layout
from services.publisher.pages.formatting import (
    EMPTY,
    count_cell,
    count_columns,
    csv_cell,
    format_day,
    iso_time,
    lookup,
)
from services.publisher.pages.paths import (
    STATIC_COLUMN_JS,
    PagePaths,
    column_paths,
    url_for_column,
    url_for_rollup,
    url_for_site,
)
from services.publisher.pages.publication import (
    PublicationLine,
    publication_json,
    publication_lines,
)
from services.publisher.pages.records import SiteRow
from services.publisher.pages.views import (
    COLUMN_STATUS_LABELS,
    LEVEL_NAMES,
    STATUSES,
    TYPE_NAMES,
    TYPE_ORDER,
    Figures,
    Link,
    level_label,
    name_of,
    rank,
    supervision_link,
    tree_breadcrumbs,
    type_label,
)
from shared.filings import Status
from shared.forms import LayoutRow
from shared.registry.model import Registry, Site
from shared.rollup import NodeRollup

LEVEL_ORDER = ("national", "department", "province", "branch", "city", "county")


@dataclass(frozen=True)
class ColumnSiteLine:
    code: str
    name: Link
    level: str
    level_label: str
    type: str
    type_label: str
    status: Status
    status_label: str
    filed_on: str
    filed_sort: str


@dataclass(frozen=True)
class Option:
    value: str
    label: str


@dataclass(frozen=True)
class ChildLink:
    link: Link
    sites: int


@dataclass(frozen=True)
class ColumnPageData:
    year: int
    node: str
    paths: PagePaths
    title: str
    breadcrumbs: tuple[Link, ...]
    figures: Figures
    sites: tuple[ColumnSiteLine, ...]
    level_options: tuple[Option, ...]
    type_options: tuple[Option, ...]
    status_options: tuple[Option, ...]
    children: tuple[ChildLink, ...]
    rollup_link: Link
    supervision_link: Link | None
    json_doc: dict[str, Any]
    csv_header: tuple[str, ...]
    csv_rows: tuple[tuple[str | int, ...], ...]
    publication: tuple[PublicationLine, ...] = ()

    @property
    def root(self) -> str:
        return self.paths.root

    @property
    def script_href(self) -> str:
        return self.root + STATIC_COLUMN_JS


def _site_level(registry: Registry, site: Site, column_node: str) -> str:
    """The level of the site's own node in the column's tree."""
    column_tree = registry.nodes[column_node].tree
    own = site.dept_node if column_tree == "dept" and site.dept_node else site.admin_node
    node = registry.nodes.get(own)
    return str(node.level) if node else ""


def _options(
    values: set[str], order: Sequence[str], labels: Mapping[str, str]
) -> tuple[Option, ...]:
    ranked = sorted(values, key=lambda v: (rank(order, v), v))
    return tuple(Option(v, labels.get(v, v)) for v in ranked)


def plan_column_page(
    registry: Registry,
    node: str,
    year: int,
    site_rows: Mapping[str, SiteRow],
    *,
    layout: Sequence[LayoutRow] | None = None,
    rollup: NodeRollup | None = None,
) -> ColumnPageData:
    """A node's special column: figures, every site below it with its status, child columns.

    A site with no row counts as missing. Figures come from ``rollup`` when given (so the page
    agrees with the aggregator), else from the rows. In the JSON copy each site's ``counts`` is
    a list aligned with ``count_fields`` (the national column has every site of the country).
    """
    paths = column_paths(year, node)
    root = paths.root
    rows = list(layout) if layout is not None else work_report_layout()
    counts = count_columns(rows)
    node_name = name_of(registry, node)
    lines: list[ColumnSiteLine] = []
    csv_rows: list[tuple[str | int, ...]] = []
    json_sites: list[dict[str, Any]] = []
    for code in registry.sites_under(node, year):
        site = registry.sites[code]
        row = site_rows.get(code) or SiteRow(code, "missing")
        filed = row.status in ("on_time", "late")
        level = _site_level(registry, site, node)
        filed_on = format_day(row.filed_at) if row.filed_at is not None else EMPTY
        report_url = root + url_for_site(year, code) if filed else None
        lines.append(
            ColumnSiteLine(
                code=code,
                name=Link(site.name, report_url),
                level=level,
                level_label=level_label(level),
                type=str(site.type),
                type_label=type_label(site.type),
                status=row.status,
                status_label=COLUMN_STATUS_LABELS.get(row.status, row.status),
                filed_on=filed_on,
                filed_sort=iso_time(row.filed_at) if row.filed_at is not None else "",
            )
        )
        if not filed:
            values: list[Any] = [None] * len(counts)
        elif row.counts is not None:
            values = list(row.counts)
        else:
            values = [lookup(row.report, path) for path, _h in counts]
        csv_rows.append(
            (
                code,
                csv_cell(site.name),
                level_label(level),
                type_label(site.type),
                COLUMN_STATUS_LABELS.get(row.status, row.status),
                "" if row.filed_at is None else format_day(row.filed_at),
                url_for_site(year, code) if filed else "",
                *(count_cell(v) for v in values),
            )
        )
        json_sites.append(
            {
                "code": code,
                "name": site.name,
                "level": level,
                "type": str(site.type),
                "status": row.status,
                "filed_at": None if row.filed_at is None else iso_time(row.filed_at),
                "url": url_for_site(year, code) if filed else None,
                "counts": values,
            }
        )
    figures = (
        Figures.from_rollup(rollup)
        if rollup is not None
        else Figures.from_statuses([line.status for line in lines])
    )
    children = tuple(
        ChildLink(
            Link(name_of(registry, child), root + url_for_column(year, child)),
            len(registry.sites_under(child, year)),
        )
        for child in registry.children(node)
        if registry.sites_under(child, year)
    )
    json_doc = {
        "year": year,
        "node": node,
        "name": node_name,
        "figures": figures.as_json(),
        "count_fields": [{"path": path, "label": header} for path, header in counts],
        "children": [
            {"node": child, "name": name_of(registry, child), "url": url_for_column(year, child)}
            for child in registry.children(node)
            if registry.sites_under(child, year)
        ],
        "sites": json_sites,
        "publication": publication_json(publication_lines(rollup)),
    }
    return ColumnPageData(
        year=year,
        node=node,
        paths=paths,
        title=f"{node_name}政府网站工作年度报表专栏（{year}年度）",
        breadcrumbs=tree_breadcrumbs(registry, node, year, root, "column"),
        figures=figures,
        sites=tuple(lines),
        level_options=_options({x.level for x in lines}, LEVEL_ORDER, LEVEL_NAMES),
        type_options=_options({x.type for x in lines}, TYPE_ORDER, TYPE_NAMES),
        status_options=_options({x.status for x in lines}, STATUSES, COLUMN_STATUS_LABELS),
        children=children,
        rollup_link=Link(f"{node_name}汇总数据", root + url_for_rollup(year, node)),
        supervision_link=supervision_link(registry, node, year, root, node_name),
        json_doc=json_doc,
        csv_header=(
            "政府网站标识码",
            "网站名称",
            "层级",
            "网站类型",
            "报送状态",
            "报送日期",
            "报表页面",
            *(header for _p, header in counts),
        ),
        csv_rows=tuple(csv_rows),
        publication=publication_lines(rollup),
    )
