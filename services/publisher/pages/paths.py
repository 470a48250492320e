"""The published tree's URL scheme: page paths from checked codes, the pages a change touches."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from shared.contracts import TOKEN_RE
from shared.registry.model import Level, Registry

STATIC_CSS = "static/site.css"
STATIC_COLUMN_JS = "static/column.js"
STATIC_FAVICON = "static/favicon.svg"
STATIC_FILES = (STATIC_CSS, STATIC_COLUMN_JS, STATIC_FAVICON)
BADGE_NAME = "badge.svg"
#: the levels whose office files a supervision report (FORMS.md §1)
OFFICE_LEVELS = frozenset({Level.PROVINCE, Level.DEPARTMENT})


def safe_segment(code: str) -> str:
    """A code allowed to become one path segment (``shared.contracts.TOKEN_RE``), else refused."""
    if not isinstance(code, str) or not TOKEN_RE.fullmatch(code):
        raise ValueError(f"not a safe path segment: {code!r}")
    return code


def report_year(year: int) -> int:
    """A year allowed to become one path segment, else refused."""
    if isinstance(year, bool) or not isinstance(year, int) or not 1900 <= year <= 9999:
        raise ValueError(f"not a report year: {year!r}")
    return year


@dataclass(frozen=True)
class PagePaths:
    """A page's HTML file and its JSON and CSV copies, relative to the published root."""

    html: str
    json: str
    csv: str

    @property
    def root(self) -> str:
        """The relative prefix from this page back to the published root."""
        return "../" * self.html.count("/")

    @property
    def json_name(self) -> str:
        return self.json.rsplit("/", 1)[-1]

    @property
    def csv_name(self) -> str:
        return self.csv.rsplit("/", 1)[-1]


def site_paths(year: int, code: str) -> PagePaths:
    base = f"sites/{report_year(year)}/{safe_segment(code)}/"
    return PagePaths(base + "index.html", base + "report.json", base + "report.csv")


def column_paths(year: int, node: str) -> PagePaths:
    base = f"columns/{report_year(year)}/{safe_segment(node)}/"
    return PagePaths(base + "index.html", base + "column.json", base + "column.csv")


def rollup_paths(year: int, node: str) -> PagePaths:
    base = f"rollups/{report_year(year)}/{safe_segment(node)}/"
    return PagePaths(base + "index.html", base + "rollup.json", base + "rollup.csv")


def supervision_paths(year: int, node: str) -> PagePaths:
    base = f"supervision/{report_year(year)}/{safe_segment(node)}/"
    return PagePaths(base + "index.html", base + "supervision.json", base + "supervision.csv")


def index_paths() -> PagePaths:
    return PagePaths("index.html", "index.json", "index.csv")


def site_badge_path(year: int, code: str) -> str:
    """The image badge a site shows on its homepage, beside its report page."""
    return f"sites/{report_year(year)}/{safe_segment(code)}/{BADGE_NAME}"


def supervision_badge_path(year: int, node: str) -> str:
    return f"supervision/{report_year(year)}/{safe_segment(node)}/{BADGE_NAME}"


def url_for_site(year: int, code: str) -> str:
    return site_paths(year, code).html


def url_for_column(year: int, node: str) -> str:
    return column_paths(year, node).html


def url_for_rollup(year: int, node: str) -> str:
    return rollup_paths(year, node).html


def url_for_supervision(year: int, node: str) -> str:
    return supervision_paths(year, node).html


def url_for_index() -> str:
    return index_paths().html


def has_supervision_page(registry: Registry, node: str) -> bool:
    """Every node below the national root has one: the office's own report for provinces and
    departments, the figures derived from the registry and the filings for every node."""
    found = registry.nodes.get(node)
    return found is not None and found.level != Level.NATIONAL


def files_supervision_report(registry: Registry, node: str) -> bool:
    """Provinces and State Council departments file the supervision report themselves."""
    found = registry.nodes.get(node)
    return found is not None and found.level in OFFICE_LEVELS


PageKind = Literal["site", "column", "rollup", "supervision", "index"]


@dataclass(frozen=True)
class PageRef:
    """Which page to (re)render: its kind, year and code (node or site)."""

    kind: PageKind
    year: int
    code: str = ""

    @property
    def paths(self) -> PagePaths:
        if self.kind == "site":
            return site_paths(self.year, self.code)
        if self.kind == "column":
            return column_paths(self.year, self.code)
        if self.kind == "rollup":
            return rollup_paths(self.year, self.code)
        if self.kind == "supervision":
            return supervision_paths(self.year, self.code)
        return index_paths()


def affected_pages(registry: Registry, site_code: str, year: int) -> list[PageRef]:
    """The pages a change of one site's report touches, site page first, index last."""
    nodes = registry.site_ancestors(safe_segment(site_code))
    refs = [PageRef("site", report_year(year), site_code)]
    refs += [PageRef("column", year, n) for n in nodes]
    refs += [PageRef("rollup", year, n) for n in nodes]
    refs += [PageRef("supervision", year, n) for n in nodes if has_supervision_page(registry, n)]
    refs.append(PageRef("index", year))
    return refs


def pages_affected(registry: Registry, site_code: str, year: int) -> list[str]:
    """The HTML paths of ``affected_pages`` (each page's JSON and CSV change with it)."""
    return [ref.paths.html for ref in affected_pages(registry, site_code, year)]
