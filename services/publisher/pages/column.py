"""A node's special column (专栏): every site below it with its status and its publication,
figures, child columns; in pages of at most ``MAX_ROWS`` rows (``column_pages``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from services.publisher.pages.column_pages import (
    INDEX_NAME,
    MAX_ROWS,
    PageSlice,
    RowGroup,
    index_doc,
    ordered_codes,
    plan_pages,
)
from services.publisher.pages.column_publication import (
    PUBLICATION_CSV_HEADER,
    PUBLICATION_STATES,
    PublicationCount,
    SitePublication,
    publication_counts_json,
    publication_counts_with_names,
    row_publication,
    row_publication_csv,
    row_publication_json,
)
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
from services.publisher.pages.office_publication import (
    OfficePublicationView,
    office_publication_json,
    office_publication_view,
)
from services.publisher.pages.paths import (
    STATIC_COLUMN_JS,
    PagePaths,
    column_paths,
    url_for_column,
    url_for_rollup,
    url_for_site,
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
from shared.publication import STATE_LABELS, PublicationStanding
from shared.registry.model import Registry, Site
from shared.rollup import NodeRollup

LEVEL_ORDER = ("national", "department", "province", "branch", "city", "county")
#: the keys a column's rows are filtered by, as the form's selects and the index name them
FILTER_KEYS = ("level", "type", "status", "publication")


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
    publication: SitePublication

    def filter_keys(self) -> dict[str, str]:
        return {
            "level": self.level,
            "type": self.type,
            "status": self.status,
            "publication": self.publication.state,
        }


@dataclass(frozen=True)
class Option:
    value: str
    label: str


@dataclass(frozen=True)
class ChildLink:
    link: Link
    sites: int


@dataclass(frozen=True)
class PageLink:
    """A page of the column in the page list: its file (same folder), label and rows."""

    number: int
    href: str
    label: str
    rows_text: str


@dataclass(frozen=True)
class ColumnPart:
    """One HTML page of a column: its number, file and rows."""

    number: int
    html: str
    label: str
    sites: tuple[ColumnSiteLine, ...]

    @property
    def first(self) -> bool:
        return self.number == 1


@dataclass(frozen=True)
class ColumnPageData:
    year: int
    node: str
    paths: PagePaths
    title: str
    breadcrumbs: tuple[Link, ...]
    figures: Figures
    #: every site of the column, in page order
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
    publication: tuple[PublicationCount, ...] = ()
    publication_options: tuple[Option, ...] = ()
    #: the HTML pages, the first at the column's URL
    parts: tuple[ColumnPart, ...] = ()
    page_links: tuple[PageLink, ...] = ()
    #: the script's index of a column of several pages (None for one page)
    index_doc: dict[str, Any] | None = None
    #: a province's or department's own catalogue entry and 专栏, on the first page
    office_publication: OfficePublicationView | None = None

    @property
    def root(self) -> str:
        return self.paths.root

    @property
    def script_href(self) -> str:
        return self.root + STATIC_COLUMN_JS

    @property
    def folder(self) -> str:
        return self.paths.html.rsplit("/", 1)[0] + "/"

    @property
    def index_path(self) -> str:
        return self.folder + INDEX_NAME

    @property
    def index_name(self) -> str:
        return INDEX_NAME


def site_standings(
    registry: Registry, node: str, year: int, rollups: Mapping[tuple[int, str], NodeRollup]
) -> dict[str, PublicationStanding]:
    """The publication standing of every site below ``node`` that has one: each node's roll-up
    carries its own sites' standings."""
    out: dict[str, PublicationStanding] = {}
    for code in registry.descendants(node):
        rollup = rollups.get((year, code))
        if rollup is not None:
            out.update(rollup.publication_sites)
    return out


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


def row_groups(registry: Registry, node: str, year: int) -> list[RowGroup]:
    """The node's own sites (本级), then each child node's, in the registry's order."""
    groups = [
        RowGroup(node, f"{name_of(registry, node)}本级", tuple(registry.direct_sites(node, year)))
    ]
    groups += [
        RowGroup(child, name_of(registry, child), tuple(registry.sites_under(child, year)))
        for child in registry.children(node)
    ]
    return [g for g in groups if g.codes]


def column_plan(
    registry: Registry, node: str, year: int, max_rows: int = MAX_ROWS
) -> tuple[list[str], tuple[PageSlice, ...]]:
    """The column's rows in page order and its pages: one page (by code) when every site fits
    on it, else grouped by child node (``column_pages.plan_pages``)."""
    codes = registry.sites_under(node, year)
    if len(codes) <= max_rows:
        return codes, plan_pages([RowGroup(node, "", tuple(codes))], max_rows)
    groups = row_groups(registry, node, year)
    return ordered_codes(groups), plan_pages(groups, max_rows)


def _rows_text(page: PageSlice) -> str:
    if page.stop == page.start:
        return "无网站"
    return f"第 {page.start + 1}–{page.stop} 个网站"


def plan_column_page(
    registry: Registry,
    node: str,
    year: int,
    site_rows: Mapping[str, SiteRow],
    *,
    layout: Sequence[LayoutRow] | None = None,
    rollup: NodeRollup | None = None,
    publication: Mapping[str, PublicationStanding] | None = None,
    max_rows: int = MAX_ROWS,
) -> ColumnPageData:
    """A node's special column: figures, every site below it with its status and publication
    standing, child columns; in pages of at most ``max_rows`` rows.

    A site with no row counts as missing; a site with no standing as undeclared (``publication``:
    site → standing, see ``site_standings``; else the node's own sites' from ``rollup``).
    Figures come from ``rollup`` when given (so the page agrees with the aggregator), else from
    the rows. In the JSON copy each site's ``counts`` is a list aligned with ``count_fields``
    (the national column has every site of the country). The JSON and CSV list every site in
    code order, whatever the pages.
    """
    paths = column_paths(year, node)
    root = paths.root
    rows = list(layout) if layout is not None else work_report_layout()
    counts = count_columns(rows)
    node_name = name_of(registry, node)
    if publication is None:
        publication = dict(rollup.publication_sites) if rollup is not None else {}
    page_codes, pages = column_plan(registry, node, year, max_rows)
    lines: dict[str, ColumnSiteLine] = {}
    csv_rows: list[tuple[str | int, ...]] = []
    json_sites: list[dict[str, Any]] = []
    for code in registry.sites_under(node, year):
        site = registry.sites[code]
        row = site_rows.get(code) or SiteRow(code, "missing")
        standing = publication.get(code)
        filed = row.status in ("on_time", "late")
        level = _site_level(registry, site, node)
        filed_on = format_day(row.filed_at) if row.filed_at is not None else EMPTY
        report_url = root + url_for_site(year, code) if filed else None
        lines[code] = ColumnSiteLine(
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
            publication=row_publication(registry, standing),
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
                *(csv_cell(v) for v in row_publication_csv(standing, registry)),
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
                "publication": row_publication_json(standing),
            }
        )
    ordered = [lines[code] for code in page_codes]
    figures = (
        Figures.from_rollup(rollup)
        if rollup is not None
        else Figures.from_statuses([line.status for line in ordered])
    )
    publication_counts = publication_counts_with_names(
        rollup,
        {code: publication[code] for code in page_codes if code in publication},
        {code: line.name for code, line in lines.items()},
        page_codes,
        len(page_codes),
    )
    children = tuple(
        ChildLink(
            Link(name_of(registry, child), root + url_for_column(year, child)),
            len(registry.sites_under(child, year)),
        )
        for child in registry.children(node)
        if registry.sites_under(child, year)
    )
    level_options = _options({x.level for x in ordered}, LEVEL_ORDER, LEVEL_NAMES)
    type_options = _options({x.type for x in ordered}, TYPE_ORDER, TYPE_NAMES)
    # every status and state, whatever the rows show: a page's form never changes with others
    status_options = tuple(Option(s, COLUMN_STATUS_LABELS[s]) for s in STATUSES)
    publication_options = tuple(Option(s, STATE_LABELS[s]) for s in PUBLICATION_STATES)
    folder = paths.html.rsplit("/", 1)[0] + "/"
    parts = tuple(
        ColumnPart(
            number=page.number,
            html=folder + page.name,
            label=page.label,
            sites=tuple(ordered[page.start : page.stop]),
        )
        for page in pages
    )
    index: dict[str, Any] | None = None
    if len(pages) > 1:
        keys = {
            "level": [o.value for o in level_options],
            "type": [o.value for o in type_options],
            "status": [o.value for o in status_options],
            "publication": [o.value for o in publication_options],
        }
        index = index_doc(pages, keys, [line.filter_keys() for line in ordered])
    own_publication = office_publication_view(registry, rollup)
    json_doc = {
        "year": year,
        "node": node,
        "name": node_name,
        "figures": figures.as_json(),
        "office_publication": office_publication_json(own_publication),
        "count_fields": [{"path": path, "label": header} for path, header in counts],
        "children": [
            {"node": child, "name": name_of(registry, child), "url": url_for_column(year, child)}
            for child in registry.children(node)
            if registry.sites_under(child, year)
        ],
        "sites": json_sites,
        "publication": publication_counts_json(publication_counts),
        "pages": [folder + page.name for page in pages],
    }
    return ColumnPageData(
        year=year,
        node=node,
        paths=paths,
        title=f"{node_name}政府网站工作年度报表专栏（{year}年度）",
        breadcrumbs=tree_breadcrumbs(registry, node, year, root, "column"),
        figures=figures,
        sites=tuple(ordered),
        level_options=level_options,
        type_options=type_options,
        status_options=status_options,
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
            *PUBLICATION_CSV_HEADER,
        ),
        csv_rows=tuple(csv_rows),
        publication=publication_counts,
        publication_options=publication_options,
        parts=parts,
        page_links=tuple(
            PageLink(page.number, page.name, page.label, _rows_text(page)) for page in pages
        )
        if len(pages) > 1
        else (),
        index_doc=index,
        office_publication=own_publication,
    )
