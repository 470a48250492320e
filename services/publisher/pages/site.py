"""The site report page: status, the counted report by section, every version, reviews, embed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from services.publisher.pages.answers import CsvRow, SectionView, report_answers
from services.publisher.pages.embed import Embed, make_badge, make_embed
from services.publisher.pages.filing import (
    DEFAULT_FORM_VERSION,
    VersionView,
    filing_json,
    form_instructions,
    version_history,
    work_report_layout,
)
from services.publisher.pages.formatting import (
    csv_cell,
    format_time,
    is_web_url,
    iso_time,
)
from services.publisher.pages.paths import (
    PagePaths,
    site_badge_path,
    site_paths,
    url_for_column,
    url_for_index,
)
from services.publisher.pages.publication import (
    SitePublicationView,
    site_publication_csv_rows,
    site_publication_json,
    site_publication_view,
)
from services.publisher.pages.records import ReviewRecord, VersionRecord
from services.publisher.pages.views import SITE_STATUS_LABELS, Link, name_of, type_label
from shared.filings import Status
from shared.forms import WORK_REPORT, LayoutRow
from shared.forms.instructions import Instruction
from shared.publication import PublicationStanding
from shared.registry.model import NATIONAL, Registry, Site

REVIEW_LABELS = {"return": "退回修改", "approve": "审核通过（锁定）", "unlock": "解除锁定"}


@dataclass(frozen=True)
class ReviewView:
    at: str
    at_iso: str
    action: str
    action_label: str
    office: str
    version: int | None
    reason: str
    fields: tuple[str, ...]


@dataclass(frozen=True)
class SitePageData:
    year: int
    code: str
    paths: PagePaths
    title: str
    breadcrumbs: tuple[Link, ...]
    name: str
    homepage: Link
    sponsor: str
    type_label: str
    admin_path: tuple[Link, ...]
    dept_path: tuple[Link, ...]
    status: Status
    status_label: str
    counted: VersionView | None
    sections: tuple[SectionView, ...]
    versions: tuple[VersionView, ...]
    reviews: tuple[ReviewView, ...]
    embed: Embed
    json_doc: dict[str, Any]
    csv_header: tuple[str, ...]
    csv_rows: tuple[tuple[str, ...], ...]
    #: the form's filling instructions (填报说明), shown after the form
    instructions: tuple[Instruction, ...] = ()
    #: where the site published its report and what the latest check found (issue 17)
    publication: SitePublicationView | None = None

    @property
    def root(self) -> str:
        return self.paths.root


def report_sections(
    layout: Sequence[LayoutRow], report: Mapping[str, Any]
) -> tuple[SectionView, ...]:
    """A report by section of its form, a line per field, in the form's order."""
    return report_answers(layout, report)[0]


def _review_views(
    registry: Registry,
    layout: Sequence[LayoutRow],
    versions: Sequence[VersionRecord],
    reviews: Sequence[ReviewRecord],
) -> tuple[ReviewView, ...]:
    """Review actions in time order, with the office's name and the fields' labels."""
    version_of = {v.receipt_id: v.version for v in versions}
    labels = {row.path: row.label for row in layout}
    return tuple(
        ReviewView(
            at=format_time(r.at),
            at_iso=iso_time(r.at),
            action=r.action,
            action_label=REVIEW_LABELS.get(r.action, r.action),
            office=name_of(registry, r.office) if r.office in registry.nodes else r.office,
            version=version_of.get(r.receipt_id or ""),
            reason=r.reason,
            fields=tuple(labels.get(p, p) for p in r.paths),
        )
        for r in sorted(reviews, key=lambda r: (r.at, r.review_id))
    )


def _tree_links(registry: Registry, node: str | None, year: int, root: str) -> tuple[Link, ...]:
    """The names of a node's ancestors below the national root, each linking to its column."""
    if node is None:
        return ()
    return tuple(
        Link(name_of(registry, code), root + url_for_column(year, code))
        for code in registry.path(node)
        if code != NATIONAL
    )


def _site_json(site: Site) -> dict[str, Any]:
    return {
        "code": site.code,
        "name": site.name,
        "homepage_url": site.homepage_url,
        "sponsor": site.sponsor,
        "type": str(site.type),
        "admin_node": site.admin_node,
        "dept_node": site.dept_node,
    }


def plan_site_page(
    registry: Registry,
    site_code: str,
    year: int,
    versions: list[VersionRecord],
    counted: VersionRecord | None,
    status: Status,
    *,
    layout: Sequence[LayoutRow] | None = None,
    base_url: str = "",
    reviews: Sequence[ReviewRecord] = (),
    publication: PublicationStanding | None = None,
) -> SitePageData:
    """A site's report page: header, status, the counted report by section, every version,
    the badge and snippet the site puts on its homepage (``base_url`` makes their URLs
    absolute), and where it published the report (``publication``, from its node's roll-up)."""
    paths = site_paths(year, site_code)
    root = paths.root
    rows = layout if layout is not None else work_report_layout()
    site = registry.sites[site_code]
    version_views = version_history(rows, versions, counted)
    counted_view = next((v for v in version_views if v.counted), None)
    review_views = _review_views(registry, rows, versions, reviews)
    report = counted.report if counted is not None else None
    sections: tuple[SectionView, ...] = ()
    csv_rows: list[CsvRow] = []
    if report is not None:
        sections, csv_rows = report_answers(rows, report)
    homepage = Link(site.homepage_url, site.homepage_url if is_web_url(site.homepage_url) else None)
    admin_path = _tree_links(registry, site.admin_node, year, root)
    dept_path = _tree_links(registry, site.dept_node, year, root)
    crumbs = (
        Link("首页", root + url_for_index()),
        *(Link(link.text + "专栏", link.href) for link in (admin_path or dept_path)[:1]),
        Link(site.name),
    )
    published = site_publication_view(registry, publication)
    if publication is not None:
        csv_rows += [
            ("网站公开情况", label, "", csv_cell(value), path)
            for label, value, path in site_publication_csv_rows(published)
        ]
    title = f"{site.name}工作年度报表（{year}年度）"
    embed = make_embed(
        base_url,
        paths.html,
        site_badge_path(year, site_code),
        make_badge(f"{year}年度报表", status, site.name),
        f"{site.name}{year}年度政府网站工作年度报表",
    )
    json_doc = {
        "year": year,
        "form": WORK_REPORT,
        "site": _site_json(site),
        "status": status,
        "embed": embed.as_json(),
        **filing_json(counted, report, version_views),
        "reviews": [
            {
                "at": r.at_iso,
                "action": r.action,
                "office": r.office,
                "version": r.version,
                "reason": r.reason,
                "fields": list(r.fields),
            }
            for r in review_views
        ],
        "publication": site_publication_json(publication),
    }
    return SitePageData(
        year=year,
        code=site_code,
        paths=paths,
        title=title,
        breadcrumbs=crumbs,
        name=site.name,
        homepage=homepage,
        sponsor=site.sponsor,
        type_label=type_label(site.type),
        admin_path=admin_path,
        dept_path=dept_path,
        status=status,
        status_label=SITE_STATUS_LABELS.get(status, status),
        counted=counted_view,
        sections=sections,
        versions=version_views,
        reviews=review_views,
        embed=embed,
        json_doc=json_doc,
        csv_header=("栏目", "项目", "单位", "填报值", "字段路径"),
        csv_rows=tuple(csv_rows),
        instructions=form_instructions(WORK_REPORT, _version_of(report)),
        publication=published,
    )


def _version_of(report: Mapping[str, Any] | None) -> str:
    version = report.get("form_version") if report is not None else None
    return version if isinstance(version, str) else DEFAULT_FORM_VERSION
