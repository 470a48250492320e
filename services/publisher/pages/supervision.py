"""A node's supervision page: the office's own report beside the figures derived for the node."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from services.publisher.pages.embed import Embed, make_badge, make_embed
from services.publisher.pages.filing import (
    DEFAULT_FORM_VERSION,
    VersionView,
    field_line,
    filing_json,
    form_instructions,
    version_history,
    work_report_layout,
)
from services.publisher.pages.formatting import (
    csv_cell,
    expand_row,
    format_value,
    lookup,
)
from services.publisher.pages.office_publication import (
    OfficePublicationView,
    office_publication_csv_rows,
    office_publication_json,
    office_publication_view,
)
from services.publisher.pages.paths import (
    PagePaths,
    files_supervision_report,
    has_supervision_page,
    supervision_badge_path,
    supervision_paths,
    url_for_column,
    url_for_index,
    url_for_rollup,
    url_for_site,
    url_for_supervision,
)
from services.publisher.pages.publication import (
    PublicationLine,
    PublicationSiteList,
    publication_json,
    publication_lines,
    publication_site_lists,
    publication_sites_csv_rows,
    publication_sites_json,
)
from services.publisher.pages.records import SiteRow, VersionRecord
from services.publisher.pages.rollup import SumLine, YesLine, count_totals
from services.publisher.pages.supervision_parts import (
    NamedSite,
    OfficeSection,
    QuarterGrid,
    SiteChangeLine,
    SiteList,
)
from services.publisher.pages.views import (
    SITE_STATUS_LABELS,
    ChartBar,
    ChildRollupLine,
    Figures,
    Link,
    level_label,
    name_of,
    supervision_title,
)
from shared.filings import Status
from shared.forms import SUPERVISION_REPORT, LayoutRow, layout, load_form
from shared.forms.instructions import Instruction
from shared.publication import PublicationStanding
from shared.registry.model import NATIONAL, Registry
from shared.rollup import NodeRollup

SITE_CHANGES: tuple[tuple[str, str], ...] = (
    ("opened", "新开设"),
    ("integrated", "整合迁移"),
    ("closed", "关停下线"),
)


@cache
def supervision_layout(version: str = DEFAULT_FORM_VERSION) -> tuple[LayoutRow, ...]:
    """The supervision report's official layout, from its form definition (packaged data)."""
    return tuple(layout(load_form(SUPERVISION_REPORT, version)))


def site_changes(registry: Registry, node: str, year: int) -> dict[str, list[str]]:
    """Codes of the sites at or below ``node`` opened, integrated and closed during ``year``.

    As the validator's rule ``sr.site_changes_match_registry`` counts them: a site **opened**
    in Y has ``active_from == Y``; one **integrated** (整合迁移) or **closed** (关停下线) in Y has
    ``active_to == Y`` (its last active year) and ``ended_by`` saying how it ended.
    """
    sites = sorted(
        (registry.sites[c] for n in registry.descendants(node) for c in registry.direct_sites(n)),
        key=lambda s: s.code,
    )
    return {
        "opened": [s.code for s in sites if s.active_from == year],
        "integrated": [s.code for s in sites if s.active_to == year and s.ended_by == "integrated"],
        "closed": [s.code for s in sites if s.active_to == year and s.ended_by == "closed"],
    }


@dataclass(frozen=True)
class SupervisionPageData:
    year: int
    node: str
    paths: PagePaths
    title: str
    breadcrumbs: tuple[Link, ...]
    name: str
    level_label: str
    files_report: bool
    status: Status
    status_label: str
    counted: VersionView | None
    sections: tuple[OfficeSection, ...]
    figures: Figures
    children: tuple[ChildRollupLine, ...]
    chart: tuple[ChartBar, ...]
    chart_title: str
    changes: tuple[SiteChangeLine, ...]
    site_lists: tuple[SiteList, ...]
    versions: tuple[VersionView, ...]
    embed: Embed | None
    column_link: Link
    rollup_link: Link
    json_doc: dict[str, Any]
    csv_header: tuple[str, ...]
    csv_rows: tuple[tuple[str, ...], ...]
    #: the total of every work-report count of the node's sites, and yes answers
    sums: tuple[SumLine, ...] = ()
    yes_counts: tuple[YesLine, ...] = ()
    #: the supervision form's filling instructions, shown after the office's report
    instructions: tuple[Instruction, ...] = ()
    #: publication on the sites (issue 17): the counts, and the sites not verified by name
    publication: tuple[PublicationLine, ...] = ()
    publication_sites: tuple[PublicationSiteList, ...] = ()
    #: a province's or department's own catalogue entry and 专栏 (本单位公开情况)
    office_publication: OfficePublicationView | None = None

    @property
    def root(self) -> str:
        return self.paths.root

    @property
    def mismatches(self) -> tuple[SiteChangeLine, ...]:
        return tuple(c for c in self.changes if c.matches is False)


# ---------------------------------------------------------------- planning


def _office_sections(
    layout: Sequence[LayoutRow], report: Mapping[str, Any]
) -> tuple[OfficeSection, ...]:
    order: list[str] = []
    rows: dict[str, list[LayoutRow]] = {}
    labels: dict[str, str] = {}
    for row in layout:
        if row.section not in rows:
            order.append(row.section)
            rows[row.section] = []
            labels[row.section] = row.section_label
        rows[row.section].append(row)
    out = []
    for key in order:
        members = rows[key]
        if all(r.columns for r in members):
            columns = tuple(label for _p, _c, label in expand_row(members[0]))
            grid_rows = tuple(
                (
                    r.label,
                    r.unit or "",
                    tuple(format_value(r, lookup(report, path)) for path, _c, _l in expand_row(r)),
                )
                for r in members
            )
            out.append(
                OfficeSection(key, labels[key], grid=QuarterGrid(labels[key], columns, grid_rows))
            )
        else:
            lines = tuple(field_line(r, report) for r in members)
            out.append(OfficeSection(key, labels[key], lines=lines))
    return tuple(out)


def _breadcrumbs(registry: Registry, node: str, year: int, root: str) -> tuple[Link, ...]:
    crumbs = [Link("首页", root + url_for_index())]
    for code in registry.path(node):
        name = name_of(registry, code)
        if code == node:
            crumbs.append(Link(name))
        elif has_supervision_page(registry, code):
            crumbs.append(Link(name, root + url_for_supervision(year, code)))
        else:
            crumbs.append(Link(name, root + url_for_rollup(year, code)))
    return tuple(crumbs)


def _declared(report: Mapping[str, Any] | None, key: str) -> int | None:
    value = lookup(report, f"site_changes.{key}")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _named(
    registry: Registry, node: str, code: str, year: int, root: str, linked: bool
) -> NamedSite:
    site = registry.sites.get(code)
    if site is None:
        return NamedSite(code, Link(code), "", "")
    own = registry.nodes.get(site.admin_node)
    href = root + url_for_site(year, code) if linked else None
    group = "本级"
    for at_node in site.nodes():
        path = registry.path(at_node)
        if node in path and path.index(node) + 1 < len(path):
            group = name_of(registry, path[path.index(node) + 1])
    level = level_label(str(own.level)) if own else ""
    return NamedSite(code, Link(site.name, href), level, group)


def plan_supervision_page(
    registry: Registry,
    node: str,
    year: int,
    site_rows: Mapping[str, SiteRow],
    *,
    rollup: NodeRollup | None = None,
    child_rollups: Sequence[NodeRollup] = (),
    versions: Sequence[VersionRecord] = (),
    counted: VersionRecord | None = None,
    status: Status = "missing",
    layout: Sequence[LayoutRow] | None = None,
    base_url: str = "",
    publications: Mapping[str, PublicationStanding] | None = None,
) -> SupervisionPageData:
    """A node's supervision page: the office's report (provinces and departments), the figures
    derived from its sites, each child's completeness and timeliness, the site changes of the
    year checked against the office's declaration, and the sites missing, rejected or returned.

    A site without a row in ``site_rows`` counts as missing. Figures come from ``rollup`` when
    given (so the page agrees with the aggregator), else from the rows; the publication counts
    from ``rollup`` too, the sites not verified from ``publications`` (standings by site).
    """
    if node == NATIONAL or node not in registry.nodes:
        raise ValueError(f"no supervision page for {node!r}")
    paths = supervision_paths(year, node)
    root = paths.root
    rows = list(layout) if layout is not None else list(supervision_layout())
    name = name_of(registry, node)
    level = str(registry.nodes[node].level)
    office = files_supervision_report(registry, node)
    report = counted.report if counted is not None else None
    version_views = version_history(rows, list(versions), counted) if office else ()
    counted_view = next((v for v in version_views if v.counted), None)
    sections = _office_sections(rows, report) if office and report is not None else ()

    expected = registry.sites_under(node, year)
    statuses = {code: (site_rows.get(code) or SiteRow(code, "missing")).status for code in expected}
    figures = (
        Figures.from_rollup(rollup)
        if rollup is not None
        else Figures.from_statuses([statuses[c] for c in expected])
    )
    site_lists = tuple(
        SiteList(
            key,
            title,
            tuple(
                _named(registry, node, c, year, root, linked=key != "missing")
                for c in expected
                if statuses[c] == key
            ),
        )
        for key, title in (
            ("missing", "未报送网站"),
            ("rejected", "未通过校验、尚未重新报送的网站"),
            ("returned", "退回重填的网站"),
        )
    )

    sums, yes_counts = (
        count_totals(work_report_layout(), rollup.tally) if rollup is not None else ((), ())
    )
    version = report.get("form_version") if report is not None else None
    if not isinstance(version, str):
        version = DEFAULT_FORM_VERSION
    notes = form_instructions(SUPERVISION_REPORT, version) if office else ()

    derived = site_changes(registry, node, year)
    changes = tuple(
        SiteChangeLine(
            key,
            label,
            len(derived[key]),
            _declared(report, key) if office else None,
            tuple(Link(registry.sites[c].name) for c in derived[key]),
        )
        for key, label in SITE_CHANGES
    )

    kids = sorted(child_rollups, key=lambda r: r.node)
    children = tuple(
        ChildRollupLine(
            node=r.node,
            link=Link(
                r.name,
                root + url_for_supervision(year, r.node)
                if has_supervision_page(registry, r.node)
                else None,
            ),
            expected=r.tally.expected,
            reported=r.tally.reported,
            on_time=r.tally.on_time,
            completeness_pct=r.completeness_pct,
            timeliness_pct=r.timeliness_pct,
        )
        for r in kids
    )
    chart = tuple(ChartBar(r.name, r.completeness_pct, r.timeliness_pct) for r in kids)
    embed = (
        make_embed(
            base_url,
            paths.html,
            supervision_badge_path(year, node),
            make_badge(f"{year}年度监管报表", status, name),
            f"{name}{year}年度政府网站监管年度报表",
        )
        if office
        else None
    )

    publication = publication_lines(rollup)
    listed = publication_site_lists(registry, node, year, publications or {}, root)
    own_publication = office_publication_view(registry, rollup)

    json_doc: dict[str, Any] = {
        "year": year,
        "node": node,
        "name": name,
        "level": level,
        "office": None
        if not office
        else {
            "status": status,
            **filing_json(counted, report, version_views),
            "embed": embed.as_json() if embed else None,
        },
        "office_publication": office_publication_json(own_publication),
        "derived": {
            "figures": figures.as_json(),
            **{
                lst.key + "_sites": [{"code": s.code, "name": s.link.text} for s in lst.sites]
                for lst in site_lists
            },
            "site_changes": {
                c.key: {
                    "registry": c.derived,
                    "declared": c.declared,
                    "matches": c.matches,
                    "sites": derived[c.key],
                }
                for c in changes
            },
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
            "sums": {s.path: s.total for s in sums},
            "yes_counts": {y.path: y.yes for y in yes_counts},
            "publication": publication_json(publication),
            "publication_sites": publication_sites_json(listed),
        },
    }

    csv_rows: list[tuple[str, ...]] = []
    if office and report is not None:
        for row in rows:
            for path, _col, col_label in expand_row(row):
                text = format_value(row, lookup(report, path), grouping=False)
                csv_rows.append(
                    (
                        "本单位填报",
                        row.section_label,
                        row.label,
                        col_label,
                        row.unit or "",
                        csv_cell(text),
                        path,
                    )
                )
    for figure, (key, value) in zip(figures.items, figures.as_json().items(), strict=True):
        unit = "%" if key.endswith("_pct") else "个"
        csv_rows.append(("推算数据", "报送情况", figure.label, "", unit, str(value), key))
    for s in sums:
        total = str(s.total)
        csv_rows.append(("工作年度报表合计", s.section_label, s.label, "", s.unit, total, s.path))
    for c in changes:
        path = f"site_changes.{c.key}"
        for source, value in (("名录推算", c.derived), ("本单位填报", c.declared)):
            if value is not None:
                csv_rows.append(("网站开设整合", source, c.label, "", "个", str(value), path))
    for child in children:
        for label, unit, value in (
            ("应报", "个", str(child.expected)),
            ("已报", "个", str(child.reported)),
            ("按时", "个", str(child.on_time)),
            ("完整率", "%", str(round(child.completeness_pct, 4))),
            ("及时率", "%", str(round(child.timeliness_pct, 4))),
        ):
            csv_rows.append(
                ("下级报送情况", csv_cell(child.link.text), label, "", unit, value, child.node)
            )
    for lst in site_lists:
        for site in lst.sites:
            csv_rows.append(
                (lst.title, site.level_label, csv_cell(site.link.text), "", "", site.code, "")
            )
    for label, value, path in office_publication_csv_rows(own_publication):
        csv_rows.append(("本单位公开情况", "", label, "", "", csv_cell(value), path))
    for line in publication:
        path = f"publication.{line.key}"
        csv_rows.append(("网站公开情况", "", line.label, "", "个", str(line.count), path))
    for key, label, site_name, code in publication_sites_csv_rows(listed):
        path = f"publication.{key}"
        csv_rows.append(("尚未核验通过公开的网站", label, csv_cell(site_name), "", "", code, path))

    return SupervisionPageData(
        year=year,
        node=node,
        paths=paths,
        title=supervision_title(registry, node, year),
        breadcrumbs=_breadcrumbs(registry, node, year, root),
        name=name,
        level_label=level_label(level),
        files_report=office,
        status=status,
        status_label=SITE_STATUS_LABELS.get(status, status),
        counted=counted_view,
        sections=sections,
        figures=figures,
        children=children,
        chart=chart,
        chart_title=f"{name}下级各地区、系统工作年度报表完整率与及时率",
        changes=changes,
        site_lists=site_lists,
        versions=version_views,
        embed=embed,
        column_link=Link(f"{name}专栏", root + url_for_column(year, node)),
        rollup_link=Link(f"{name}汇总数据", root + url_for_rollup(year, node)),
        json_doc=json_doc,
        csv_header=("类别", "栏目", "项目", "列", "单位", "数值", "代码或字段路径"),
        csv_rows=tuple(csv_rows),
        sums=sums,
        yes_counts=yes_counts,
        instructions=notes,
        publication=publication,
        publication_sites=listed,
        office_publication=own_publication,
    )
