"""Page planning for the publisher: every published page's data, built from plain values.

No I/O and no clock here: each ``plan_*`` function turns registry values, report versions and
roll-ups into a frozen ``*PageData`` value that ``render.py`` serialises to HTML, JSON and CSV.
The URL scheme of the published tree lives here too (``*_paths`` / ``url_for_*``): every code is
checked against ``SAFE_CODE_RE`` before it becomes a path segment.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from functools import cache
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

from shared.registry.model import (
    LEVEL_LABELS,
    NATIONAL,
    SITE_TYPE_LABELS,
    Level,
    Registry,
    Site,
)

SAFE_CODE_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
#: China has kept UTC+8 without daylight saving since 1991: a fixed offset is exact.
SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")
WORK_REPORT = "work-report"
DEFAULT_FORM_VERSION = "2018"
GENERATOR_NOTE = "本页由 nianbao 生成"
EMPTY = "—"

STATIC_CSS = "static/site.css"
STATIC_COLUMN_JS = "static/column.js"
STATIC_FAVICON = "static/favicon.svg"
STATIC_FILES = (STATIC_CSS, STATIC_COLUMN_JS, STATIC_FAVICON)
BADGE_NAME = "badge.svg"
SUPERVISION_REPORT = "supervision-report"
#: the levels whose office files a supervision report (FORMS.md §1)
OFFICE_LEVELS = frozenset({Level.PROVINCE, Level.DEPARTMENT})

Status = Literal["on_time", "late", "missing", "rejected", "returned"]
STATUSES: tuple[Status, ...] = ("on_time", "late", "missing", "rejected", "returned")
#: the badge on a site's own page
SITE_STATUS_LABELS: dict[str, str] = {
    "on_time": "按时报送",
    "late": "逾期报送",
    "missing": "未报送",
    "rejected": "未通过校验",
    "returned": "退回重填",
}
#: the short status in a column's table
COLUMN_STATUS_LABELS: dict[str, str] = {
    "on_time": "按时",
    "late": "逾期",
    "missing": "未报",
    "rejected": "未通过",
    "returned": "退回",
}
OUTCOME_LABELS = {"accepted": "已受理", "rejected": "未通过校验"}
QUARTER_LABELS = {
    "q1": "第一季度",
    "q2": "第二季度",
    "q3": "第三季度",
    "q4": "第四季度",
    "year": "全年",
}
LEVEL_ORDER = ("national", "department", "province", "branch", "city", "county")
TYPE_ORDER = ("portal", "department")
BY_TYPE_KEY_LABELS = {
    "expected": "应报",
    "reported": "已报",
    "on_time": "按时",
    "late": "逾期",
    "missing": "未报",
    "rejected": "未通过",
    "returned": "退回",
}


# ---------------------------------------------------------------- the contracts we consume


class LayoutRowLike(Protocol):
    """One row of a form's official layout (``shared.forms.LayoutRow``)."""

    @property
    def section(self) -> str: ...
    @property
    def section_label(self) -> str: ...
    @property
    def label(self) -> str: ...
    @property
    def unit(self) -> str | None: ...
    @property
    def path(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def columns(self) -> tuple[str, ...]: ...
    @property
    def options(self) -> Mapping[str, str]: ...
    @property
    def item_fields(self) -> tuple[tuple[str, str, str | None, str], ...]: ...


class TallyLike(Protocol):
    """``shared.rollup.Tally``."""

    @property
    def expected(self) -> int: ...
    @property
    def reported(self) -> int: ...
    @property
    def on_time(self) -> int: ...
    @property
    def late(self) -> int: ...
    @property
    def missing(self) -> int: ...
    @property
    def rejected(self) -> int: ...
    @property
    def returned(self) -> int: ...
    @property
    def missing_sites(self) -> Sequence[str]: ...
    @property
    def sums(self) -> Mapping[str, int]: ...
    @property
    def yes_counts(self) -> Mapping[str, int]: ...
    @property
    def by_type(self) -> Mapping[str, Mapping[str, int]]: ...


class NodeRollupLike(Protocol):
    """``shared.rollup.NodeRollup``."""

    @property
    def node(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def level(self) -> str: ...
    @property
    def tree(self) -> str: ...
    @property
    def year(self) -> int: ...
    @property
    def path(self) -> Sequence[str]: ...
    @property
    def tally(self) -> TallyLike: ...
    @property
    def completeness_pct(self) -> float: ...
    @property
    def timeliness_pct(self) -> float: ...


@dataclass(frozen=True)
class VersionRecord:
    """One filed version of a site's report, as the publisher's store keeps it."""

    receipt_id: str
    version: int
    content_hash: str
    received_at: datetime
    outcome: Literal["accepted", "rejected"]
    report: dict[str, Any]
    issues: list[dict[str, Any]]


@dataclass(frozen=True)
class SiteRow:
    """Where one site stands in a column: its status, when it filed, the counted report."""

    code: str
    status: Status
    filed_at: datetime | None = None
    report: dict[str, Any] | None = None
    #: the report's count cells in ``count_columns`` order, instead of the whole report (what
    #: a column page shows of it; the publisher keeps these for every site, not the reports)
    counts: tuple[Any, ...] | None = None


@cache
def work_report_layout(version: str = DEFAULT_FORM_VERSION) -> tuple[LayoutRowLike, ...]:
    """The work report's official layout, from its form definition (packaged data)."""
    from shared.forms import layout, load_form

    return tuple(layout(load_form(WORK_REPORT, version)))


# ---------------------------------------------------------------- the URL scheme


def safe_segment(code: str) -> str:
    """A code allowed to become one path segment; anything else is refused."""
    if not isinstance(code, str) or not SAFE_CODE_RE.fullmatch(code):
        raise ValueError(f"not a safe path segment: {code!r}")
    return code


def _year(year: int) -> int:
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
    base = f"sites/{_year(year)}/{safe_segment(code)}/"
    return PagePaths(base + "index.html", base + "report.json", base + "report.csv")


def column_paths(year: int, node: str) -> PagePaths:
    base = f"columns/{_year(year)}/{safe_segment(node)}/"
    return PagePaths(base + "index.html", base + "column.json", base + "column.csv")


def rollup_paths(year: int, node: str) -> PagePaths:
    base = f"rollups/{_year(year)}/{safe_segment(node)}/"
    return PagePaths(base + "index.html", base + "rollup.json", base + "rollup.csv")


def supervision_paths(year: int, node: str) -> PagePaths:
    base = f"supervision/{_year(year)}/{safe_segment(node)}/"
    return PagePaths(base + "index.html", base + "supervision.json", base + "supervision.csv")


def index_paths() -> PagePaths:
    return PagePaths("index.html", "index.json", "index.csv")


def site_badge_path(year: int, code: str) -> str:
    """The image badge a site shows on its homepage, beside its report page."""
    return f"sites/{_year(year)}/{safe_segment(code)}/{BADGE_NAME}"


def supervision_badge_path(year: int, node: str) -> str:
    return f"supervision/{_year(year)}/{safe_segment(node)}/{BADGE_NAME}"


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
    refs = [PageRef("site", _year(year), site_code)]
    refs += [PageRef("column", year, n) for n in nodes]
    refs += [PageRef("rollup", year, n) for n in nodes]
    refs += [PageRef("supervision", year, n) for n in nodes if has_supervision_page(registry, n)]
    refs.append(PageRef("index", year))
    return refs


def pages_affected(registry: Registry, site_code: str, year: int) -> list[str]:
    """The HTML paths of ``affected_pages`` (each page's JSON and CSV change with it)."""
    return [ref.paths.html for ref in affected_pages(registry, site_code, year)]


# ---------------------------------------------------------------- value formatting


def to_shanghai(moment: datetime) -> datetime:
    """Beijing time; a naive datetime is taken to be UTC (servers keep UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(SHANGHAI)


def format_time(moment: datetime) -> str:
    return to_shanghai(moment).strftime("%Y-%m-%d %H:%M")


def format_day(moment: datetime) -> str:
    return to_shanghai(moment).strftime("%Y-%m-%d")


def iso_time(moment: datetime) -> str:
    return to_shanghai(moment).isoformat(timespec="seconds")


def format_pct(value: float) -> str:
    return f"{value:.1f}%"


def format_number(value: int | float, *, grouping: bool = True) -> str:
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, int):
        return f"{value:,}" if grouping else str(value)
    text = f"{value:,.4f}" if grouping else f"{value:.4f}"
    return text.rstrip("0").rstrip(".")


def is_web_url(text: Any) -> bool:
    """Only absolute http(s) URLs become links; anything else is shown as text."""
    if not isinstance(text, str) or any(ch.isspace() or ord(ch) < 32 for ch in text):
        return False
    try:
        parts = urlsplit(text)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


def lookup(report: Mapping[str, Any] | None, dotted: str) -> Any:
    """The value at a dotted path of a report, or None when any step is missing."""
    current: Any = report
    for key in dotted.split("."):
        if type(current) is not dict and not isinstance(current, Mapping):
            return None
        current = current.get(key)
    return current


def format_scalar(
    kind: str, value: Any, options: Mapping[str, str] | None = None, *, grouping: bool = True
) -> str:
    """A single answer as people read it: 是/否, option labels, numbers, '—' for nothing."""
    if value is None or value == "" or value == []:
        return EMPTY
    if kind == "yes_no" or isinstance(value, bool):
        return "是" if value else "否"
    if kind == "choice":
        return (options or {}).get(str(value), str(value))
    if kind == "multi_choice" and isinstance(value, list | tuple):
        return "、".join((options or {}).get(str(v), str(v)) for v in value)
    if isinstance(value, int | float):
        return format_number(value, grouping=grouping)
    return str(value)


def _count_cell(value: Any) -> Any:
    """A count in a CSV row: an int as it is (the CSV writer prints it as ``str`` would, and a
    national column of ~600,000 cells keeps no copy of each as text), else its text."""
    if type(value) is int:
        return value
    return "" if value is None else format_scalar("count", value, grouping=False)


def _records(value: Any) -> list[Mapping[str, Any]]:
    if not isinstance(value, list | tuple):
        return []
    return [item for item in value if isinstance(item, Mapping)]


def format_records_text(row: LayoutRowLike, value: Any, *, grouping: bool = True) -> str:
    """A records answer on one line (CSV cells, change lists)."""
    items = _records(value)
    if not items:
        return EMPTY
    parts = []
    for item in items:
        fields = [
            f"{label}：{format_scalar(kind, item.get(key), grouping=grouping)}"
            for key, label, _unit, kind in row.item_fields
        ]
        parts.append("，".join(fields))
    return "；".join(parts)


def format_value(row: LayoutRowLike, value: Any, *, grouping: bool = True) -> str:
    if row.type == "records":
        return format_records_text(row, value, grouping=grouping)
    return format_scalar(row.type, value, row.options, grouping=grouping)


def csv_cell(text: str) -> str:
    """Neutralise spreadsheet formulas in user text (a leading = + - @ or control character)."""
    if text and text[0] in "=+-@\t\r" and not _is_plain_number(text):
        return "'" + text
    return text


def _is_plain_number(text: str) -> bool:
    try:
        float(text.replace(",", ""))
    except ValueError:
        return False
    return True


def expand_row(row: LayoutRowLike) -> list[tuple[str, str, str]]:
    """(path, column id, column label) per cell: one for a plain row, five for a quarterly one."""
    if not row.columns:
        return [(row.path, "", "")]
    return [
        (row.path.replace("{col}", col), col, QUARTER_LABELS.get(col, col)) for col in row.columns
    ]


def with_unit(label: str, unit: str | None) -> str:
    """``label（unit）`` unless the label already ends with its unit."""
    if not unit or label.endswith(f"（{unit}）"):
        return label
    return f"{label}（{unit}）"


def count_columns(layout: Sequence[LayoutRowLike]) -> list[tuple[str, str]]:
    """(path, header) of every count cell of a form, in the official order."""
    out = []
    for row in layout:
        if row.type != "count":
            continue
        for path, _col, col_label in expand_row(row):
            header = with_unit(row.label, row.unit)
            if not header.startswith(row.section_label):
                header = f"{row.section_label}／{header}"
            if col_label:
                header += f"（{col_label}）"
            out.append((path, header))
    return out


# ---------------------------------------------------------------- shared view values


@dataclass(frozen=True)
class Link:
    """Text, and where it leads (already relative to the page); no href means plain text."""

    text: str
    href: str | None = None


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    value: str


@dataclass(frozen=True)
class Figures:
    """The counts at the top of a column or roll-up page."""

    expected: int
    reported: int
    on_time: int
    late: int
    missing: int
    rejected: int
    returned: int
    completeness_pct: float
    timeliness_pct: float

    @property
    def items(self) -> tuple[Figure, ...]:
        return (
            Figure("expected", "应报", format_number(self.expected)),
            Figure("reported", "已报", format_number(self.reported)),
            Figure("on_time", "按时", format_number(self.on_time)),
            Figure("late", "逾期", format_number(self.late)),
            Figure("missing", "未报", format_number(self.missing)),
            Figure("rejected", "未通过", format_number(self.rejected)),
            Figure("returned", "退回", format_number(self.returned)),
            Figure("completeness", "完整率", format_pct(self.completeness_pct)),
            Figure("timeliness", "及时率", format_pct(self.timeliness_pct)),
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "expected": self.expected,
            "reported": self.reported,
            "on_time": self.on_time,
            "late": self.late,
            "missing": self.missing,
            "rejected": self.rejected,
            "returned": self.returned,
            "completeness_pct": round(self.completeness_pct, 4),
            "timeliness_pct": round(self.timeliness_pct, 4),
        }

    @classmethod
    def from_rollup(cls, rollup: NodeRollupLike) -> Figures:
        t = rollup.tally
        return cls(
            t.expected,
            t.reported,
            t.on_time,
            t.late,
            t.missing,
            t.rejected,
            t.returned,
            rollup.completeness_pct,
            rollup.timeliness_pct,
        )

    @classmethod
    def from_statuses(cls, statuses: Sequence[str]) -> Figures:
        """Figures from the statuses of every expected site (completeness never above 100 %)."""
        n = {s: sum(1 for x in statuses if x == s) for s in STATUSES}
        expected = len(statuses)
        reported = n["on_time"] + n["late"]
        return cls(
            expected=expected,
            reported=reported,
            on_time=n["on_time"],
            late=n["late"],
            missing=n["missing"],
            rejected=n["rejected"],
            returned=n["returned"],
            completeness_pct=_pct(reported, expected),
            timeliness_pct=_pct(n["on_time"], expected),
        )


def _pct(part: int, whole: int) -> float:
    """As ``shared.rollup.percent``: 2 decimals, within [0, 100], 0 when nothing is expected."""
    return round(min(100.0, max(0.0, part * 100 / whole)), 2) if whole > 0 else 0.0


def _node_name(registry: Registry, code: str) -> str:
    node = registry.nodes.get(code)
    return node.name if node else code


_LEVEL_LABELS: dict[str, str] = {str(k): v for k, v in LEVEL_LABELS.items()}
_TYPE_LABELS: dict[str, str] = {str(k): v for k, v in SITE_TYPE_LABELS.items()}


def _level_label(level: str) -> str:
    return _LEVEL_LABELS.get(str(level), str(level))


def _type_label(site_type: str) -> str:
    return _TYPE_LABELS.get(str(site_type), str(site_type))


def _breadcrumbs(
    registry: Registry, node: str, year: int, root: str, kind: Literal["column", "rollup"]
) -> tuple[Link, ...]:
    """首页 › each ancestor's page of the same kind › the node itself (not linked)."""
    url = url_for_column if kind == "column" else url_for_rollup
    crumbs = [Link("首页", root + url_for_index())]
    for code in registry.path(node):
        if code == node:
            crumbs.append(Link(_node_name(registry, code)))
        else:
            crumbs.append(Link(_node_name(registry, code), root + url(year, code)))
    return tuple(crumbs)


def supervision_title(registry: Registry, node: str, year: int) -> str:
    name = _node_name(registry, node)
    if files_supervision_report(registry, node):
        return f"{name}政府网站监管年度报表（{year}年度）"
    return f"{name}政府网站监管情况（{year}年度）"


def _supervision_link(
    registry: Registry, node: str, year: int, root: str, name: str
) -> Link | None:
    if not has_supervision_page(registry, node):
        return None
    office = files_supervision_report(registry, node)
    text = "政府网站监管年度报表" if office else "政府网站监管情况"
    return Link(f"{name}{text}", root + url_for_supervision(year, node))


def _dumps_safe_json(value: Any) -> Any:
    """Report values for a JSON copy: only JSON types survive (pure, no I/O)."""
    if isinstance(value, Mapping):
        return {str(k): _dumps_safe_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_dumps_safe_json(v) for v in value]
    if isinstance(value, datetime):
        return iso_time(value)
    if isinstance(value, date):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


# ---------------------------------------------------------------- homepage embeds


#: the badge's message and tone per status (tone names a colour in render.py)
BADGE_MESSAGES: dict[str, tuple[str, str]] = {
    "on_time": ("已发布 按时", "ok"),
    "late": ("已发布 逾期", "warn"),
    "returned": ("退回重填", "alert"),
    "rejected": ("未通过校验", "alert"),
    "missing": ("未报送", "muted"),
}
BADGE_HEIGHT = 24
BADGE_FONT_SIZE = 13
BADGE_PADDING = 8


def text_width(text: str, size: int = BADGE_FONT_SIZE) -> int:
    """An estimate of a text's width: CJK characters are square, Latin ones about 0.6 em."""
    wide = sum(1 for ch in text if ord(ch) > 0x2E7F)
    return round(wide * size + (len(text) - wide) * size * 0.6)


@dataclass(frozen=True)
class Badge:
    """An image badge: a label, a message coloured by its tone, and the sentence it stands for."""

    label: str
    message: str
    tone: str
    title: str

    @property
    def label_width(self) -> int:
        return text_width(self.label) + 2 * BADGE_PADDING

    @property
    def message_width(self) -> int:
        return text_width(self.message) + 2 * BADGE_PADDING

    @property
    def width(self) -> int:
        return self.label_width + self.message_width

    @property
    def height(self) -> int:
        return BADGE_HEIGHT


def make_badge(label: str, status: str, subject: str) -> Badge:
    message, tone = BADGE_MESSAGES.get(status, (status, "muted"))
    return Badge(label, message, tone, f"{subject}{label}：{message}")


def absolute_url(base_url: str, relative: str) -> str:
    """A published path as a URL to paste elsewhere (kept relative when no base URL is known)."""
    return f"{base_url.rstrip('/')}/{relative}" if base_url else relative


@dataclass(frozen=True)
class Embed:
    """What a site or office puts in a prominent place on its homepage, linking to its page."""

    page_url: str
    badge_url: str
    badge_src: str
    badge: Badge
    link_text: str

    @property
    def image_snippet(self) -> str:
        return (
            f'<a href="{_attr(self.page_url)}" target="_blank" title="{_attr(self.link_text)}">'
            f'<img src="{_attr(self.badge_url)}" alt="{_attr(self.link_text)}" '
            f'width="{self.badge.width}" height="{self.badge.height}"></a>'
        )

    @property
    def text_snippet(self) -> str:
        return f'<a href="{_attr(self.page_url)}" target="_blank">{_attr(self.link_text)}</a>'

    def as_json(self) -> dict[str, Any]:
        return {
            "page_url": self.page_url,
            "badge_url": self.badge_url,
            "image_snippet": self.image_snippet,
            "text_snippet": self.text_snippet,
        }


def _attr(text: str) -> str:
    """Escape text for an HTML attribute or element of a snippet people paste."""
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&#39;")
    )


def make_embed(base_url: str, page: str, badge_path: str, badge: Badge, link_text: str) -> Embed:
    return Embed(
        page_url=absolute_url(base_url, page),
        badge_url=absolute_url(base_url, badge_path),
        badge_src=badge_path.rsplit("/", 1)[-1],
        badge=badge,
        link_text=link_text,
    )


# ---------------------------------------------------------------- site report page


@dataclass(frozen=True)
class RecordTable:
    caption: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class FieldLine:
    """One row of a section table: label | value | unit."""

    path: str
    label: str
    unit: str
    text: str
    href: str | None = None
    records: RecordTable | None = None
    quarters: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class SectionView:
    key: str
    label: str
    lines: tuple[FieldLine, ...]


@dataclass(frozen=True)
class Change:
    """One answer that differs between two versions, as people read it."""

    path: str
    section_label: str
    label: str
    old: str
    new: str


@dataclass(frozen=True)
class VersionView:
    version: int
    receipt_id: str
    content_hash: str
    received_at: str
    received_at_iso: str
    outcome: str
    outcome_label: str
    error_count: int
    warning_count: int
    counted: bool
    first: bool
    changes: tuple[Change, ...]


@dataclass(frozen=True)
class ReviewRecord:
    """A supervisory office's action on a site's filing, as the publisher keeps it."""

    review_id: str
    action: Literal["return", "approve", "unlock"]
    receipt_id: str | None
    office: str
    reason: str
    paths: tuple[str, ...]
    at: datetime


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
    status: str
    status_label: str
    counted: VersionView | None
    sections: tuple[SectionView, ...]
    versions: tuple[VersionView, ...]
    reviews: tuple[ReviewView, ...]
    embed: Embed
    json_doc: dict[str, Any]
    csv_header: tuple[str, ...]
    csv_rows: tuple[tuple[str, ...], ...]

    @property
    def root(self) -> str:
        return self.paths.root


def diff_reports(
    layout: Sequence[LayoutRowLike], old: Mapping[str, Any] | None, new: Mapping[str, Any] | None
) -> list[Change]:
    """Every answer of the form that differs between two reports, in the form's order."""
    changes = []
    for row in layout:
        for path, _col, col_label in expand_row(row):
            before, after = lookup(old, path), lookup(new, path)
            if _same(before, after):
                continue
            label = f"{row.label}（{col_label}）" if col_label else row.label
            changes.append(
                Change(
                    path,
                    row.section_label,
                    label,
                    format_value(row, before),
                    format_value(row, after),
                )
            )
    return changes


def _same(a: Any, b: Any) -> bool:
    """Equal answers, where a bool is never the number it equals (True is not 1)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)


def _field_line(row: LayoutRowLike, report: Mapping[str, Any]) -> FieldLine:
    unit = row.unit or ""
    if row.columns:
        quarters = tuple(
            (col_label, format_value(row, lookup(report, path)))
            for path, _col, col_label in expand_row(row)
        )
        return FieldLine(row.path, row.label, unit, "", quarters=quarters)
    value = lookup(report, row.path)
    if row.type == "records":
        items = _records(value)
        if not items:
            return FieldLine(row.path, row.label, unit, EMPTY)
        headers = tuple(with_unit(label, u) for _k, label, u, _t in row.item_fields)
        rows = tuple(
            tuple(format_scalar(kind, item.get(key)) for key, _l, _u, kind in row.item_fields)
            for item in items
        )
        return FieldLine(
            row.path, row.label, unit, "", records=RecordTable(row.label, headers, rows)
        )
    text = format_value(row, value)
    href = value if row.type == "url" and is_web_url(value) else None
    return FieldLine(row.path, row.label, unit, text, href=href)


def _sections(
    layout: Sequence[LayoutRowLike], report: Mapping[str, Any]
) -> tuple[SectionView, ...]:
    order: list[str] = []
    labels: dict[str, str] = {}
    lines: dict[str, list[FieldLine]] = {}
    for row in layout:
        if row.section not in lines:
            order.append(row.section)
            labels[row.section] = row.section_label
            lines[row.section] = []
        lines[row.section].append(_field_line(row, report))
    return tuple(SectionView(key, labels[key], tuple(lines[key])) for key in order)


def _severity_count(issues: Sequence[Mapping[str, Any]], severity: str) -> int:
    return sum(1 for issue in issues if issue.get("severity") == severity)


def _version_views(
    layout: Sequence[LayoutRowLike],
    versions: Sequence[VersionRecord],
    counted: VersionRecord | None,
) -> tuple[VersionView, ...]:
    ordered = sorted(versions, key=lambda v: (v.version, v.receipt_id))
    views = []
    previous: VersionRecord | None = None
    for record in ordered:
        changes = (
            () if previous is None else tuple(diff_reports(layout, previous.report, record.report))
        )
        views.append(
            VersionView(
                version=record.version,
                receipt_id=record.receipt_id,
                content_hash=record.content_hash,
                received_at=format_time(record.received_at),
                received_at_iso=iso_time(record.received_at),
                outcome=record.outcome,
                outcome_label=OUTCOME_LABELS.get(record.outcome, record.outcome),
                error_count=_severity_count(record.issues, "error"),
                warning_count=_severity_count(record.issues, "warning"),
                counted=counted is not None and record.receipt_id == counted.receipt_id,
                first=previous is None,
                changes=changes,
            )
        )
        previous = record
    return tuple(reversed(views))


def filing_json(
    counted: VersionRecord | None,
    report: dict[str, Any] | None,
    version_views: Sequence[VersionView],
) -> dict[str, Any]:
    """The counted version, its report and every version with its changes, for a JSON copy."""
    return {
        "counted": None
        if counted is None
        else {
            "receipt_id": counted.receipt_id,
            "version": counted.version,
            "content_hash": counted.content_hash,
            "received_at": iso_time(counted.received_at),
        },
        "report": None if report is None else _dumps_safe_json(report),
        "versions": [
            {
                "version": v.version,
                "receipt_id": v.receipt_id,
                "content_hash": v.content_hash,
                "received_at": v.received_at_iso,
                "outcome": v.outcome,
                "errors": v.error_count,
                "warnings": v.warning_count,
                "changes": [
                    {"path": c.path, "label": c.label, "old": c.old, "new": c.new}
                    for c in v.changes
                ],
            }
            for v in sorted(version_views, key=lambda v: v.version)
        ],
    }


def _review_views(
    registry: Registry,
    layout: Sequence[LayoutRowLike],
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
            office=_node_name(registry, r.office) if r.office in registry.nodes else r.office,
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
        Link(_node_name(registry, code), root + url_for_column(year, code))
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
    status: str,
    *,
    layout: Sequence[LayoutRowLike] | None = None,
    base_url: str = "",
    reviews: Sequence[ReviewRecord] = (),
) -> SitePageData:
    """A site's report page: header, status, the counted report by section, every version,
    and the badge and snippet the site puts on its homepage (``base_url`` makes their URLs
    absolute)."""
    paths = site_paths(year, site_code)
    root = paths.root
    rows = list(layout) if layout is not None else work_report_layout()
    site = registry.sites[site_code]
    version_views = _version_views(rows, versions, counted)
    counted_view = next((v for v in version_views if v.counted), None)
    review_views = _review_views(registry, rows, versions, reviews)
    report = counted.report if counted is not None else None
    sections = _sections(rows, report) if report is not None else ()
    homepage = Link(site.homepage_url, site.homepage_url if is_web_url(site.homepage_url) else None)
    admin_path = _tree_links(registry, site.admin_node, year, root)
    dept_path = _tree_links(registry, site.dept_node, year, root)
    crumbs = (
        Link("首页", root + url_for_index()),
        *(Link(link.text + "专栏", link.href) for link in (admin_path or dept_path)[:1]),
        Link(site.name),
    )
    csv_rows: list[tuple[str, ...]] = []
    if report is not None:
        for row in rows:
            for path, _col, col_label in expand_row(row):
                label = f"{row.label}（{col_label}）" if col_label else row.label
                text = format_value(row, lookup(report, path), grouping=False)
                csv_rows.append((row.section_label, label, row.unit or "", csv_cell(text), path))
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
        type_label=_type_label(site.type),
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
    )


# ---------------------------------------------------------------- special column (专栏)


@dataclass(frozen=True)
class ColumnSiteLine:
    code: str
    name: Link
    level: str
    level_label: str
    type: str
    type_label: str
    status: str
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


def _rank(order: Sequence[str], value: str) -> int:
    return order.index(value) if value in order else len(order)


def _options(
    values: set[str], order: Sequence[str], labels: Mapping[str, str]
) -> tuple[Option, ...]:
    ranked = sorted(values, key=lambda v: (_rank(order, v), v))
    return tuple(Option(v, labels.get(v, v)) for v in ranked)


def plan_column_page(
    registry: Registry,
    node: str,
    year: int,
    site_rows: Mapping[str, SiteRow],
    *,
    layout: Sequence[LayoutRowLike] | None = None,
    rollup: NodeRollupLike | None = None,
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
    node_name = _node_name(registry, node)
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
                level_label=_level_label(level),
                type=str(site.type),
                type_label=_type_label(site.type),
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
                _level_label(level),
                _type_label(site.type),
                COLUMN_STATUS_LABELS.get(row.status, row.status),
                "" if row.filed_at is None else format_day(row.filed_at),
                url_for_site(year, code) if filed else "",
                *(_count_cell(v) for v in values),
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
            Link(_node_name(registry, child), root + url_for_column(year, child)),
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
            {"node": child, "name": _node_name(registry, child), "url": url_for_column(year, child)}
            for child in registry.children(node)
            if registry.sites_under(child, year)
        ],
        "sites": json_sites,
    }
    return ColumnPageData(
        year=year,
        node=node,
        paths=paths,
        title=f"{node_name}政府网站工作年度报表专栏（{year}年度）",
        breadcrumbs=_breadcrumbs(registry, node, year, root, "column"),
        figures=figures,
        sites=tuple(lines),
        level_options=_options({x.level for x in lines}, LEVEL_ORDER, _LEVEL_LABELS),
        type_options=_options({x.type for x in lines}, TYPE_ORDER, _TYPE_LABELS),
        status_options=_options({x.status for x in lines}, STATUSES, COLUMN_STATUS_LABELS),
        children=children,
        rollup_link=Link(f"{node_name}汇总数据", root + url_for_rollup(year, node)),
        supervision_link=_supervision_link(registry, node, year, root, node_name),
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
    )


# ---------------------------------------------------------------- roll-up page


@dataclass(frozen=True)
class ChildRollupLine:
    node: str
    link: Link
    expected: int
    reported: int
    on_time: int
    completeness_pct: float
    timeliness_pct: float

    @property
    def completeness_text(self) -> str:
        return format_pct(self.completeness_pct)

    @property
    def timeliness_text(self) -> str:
        return format_pct(self.timeliness_pct)


@dataclass(frozen=True)
class ChartBar:
    label: str
    completeness_pct: float
    timeliness_pct: float


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

    @property
    def root(self) -> str:
        return self.paths.root


def plan_rollup_page(
    registry: Registry,
    rollup: NodeRollupLike,
    child_rollups: Sequence[NodeRollupLike],
    layout: Sequence[LayoutRowLike],
) -> RollupPageData:
    """A node's roll-up: figures, children, a chart, missing sites, every count's total."""
    year, node = rollup.year, rollup.node
    paths = rollup_paths(year, node)
    root = paths.root
    tally = rollup.tally
    name = rollup.name or _node_name(registry, node)
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
    sums: list[SumLine] = []
    yes_lines: list[YesLine] = []
    for row in layout:
        if row.type == "count":
            for path, _col, col_label in expand_row(row):
                label = f"{row.label}（{col_label}）" if col_label else row.label
                sums.append(
                    SumLine(path, row.section_label, label, row.unit or "", tally.sums.get(path, 0))
                )
        elif row.type == "yes_no" and not row.columns:
            yes_lines.append(
                YesLine(row.path, row.section_label, row.label, tally.yes_counts.get(row.path, 0))
            )
    type_keys = sorted(
        {k for counts in tally.by_type.values() for k in counts},
        key=lambda k: (list(BY_TYPE_KEY_LABELS).index(k) if k in BY_TYPE_KEY_LABELS else 99, k),
    )
    by_type_rows = tuple(
        (_type_label(t), *(format_number(tally.by_type[t].get(k, 0)) for k in type_keys))
        for t in sorted(tally.by_type, key=lambda t: (_rank(TYPE_ORDER, t), t))
    )
    csv_rows: list[tuple[str, ...]] = [
        ("报送情况", "", f.label, "%" if key.endswith("_pct") else "个", str(value), "")
        for f, (key, value) in zip(figures.items, figures.as_json().items(), strict=True)
    ]
    csv_rows += [("合计", s.section_label, s.label, s.unit, str(s.total), s.path) for s in sums]
    csv_rows += [
        ("回答“是”的网站数", y.section_label, y.label, "个", str(y.yes), y.path) for y in yes_lines
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
    }
    return RollupPageData(
        year=year,
        node=node,
        paths=paths,
        title=f"{name}政府网站工作年度报表汇总（{year}年度）",
        breadcrumbs=_breadcrumbs(registry, node, year, root, "rollup"),
        figures=figures,
        children=children,
        chart=chart,
        chart_title=f"{name}下级各地区、系统完整率与及时率",
        missing_sites=missing,
        sums=tuple(sums),
        yes_counts=tuple(yes_lines),
        by_type_header=("网站类型", *(BY_TYPE_KEY_LABELS.get(k, k) for k in type_keys)),
        by_type_rows=by_type_rows,
        column_link=Link(f"{name}专栏", root + url_for_column(year, node)),
        supervision_link=_supervision_link(registry, node, year, root, name),
        json_doc=json_doc,
        csv_header=("类别", "栏目", "项目", "单位", "数值", "字段路径"),
        csv_rows=tuple(csv_rows),
    )


# ---------------------------------------------------------------- index


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
    supervision_status: str = "missing"

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
    other_years: tuple[Link, ...]
    json_doc: dict[str, Any]
    csv_header: tuple[str, ...]
    csv_rows: tuple[tuple[str, ...], ...]

    @property
    def root(self) -> str:
        return self.paths.root


def _index_entry(
    registry: Registry,
    node: str,
    year: int,
    rollups: Mapping[str, NodeRollupLike],
    supervision: Mapping[str, str],
) -> IndexEntry:
    r = rollups.get(node)
    office = files_supervision_report(registry, node)
    return IndexEntry(
        node=node,
        name=_node_name(registry, node),
        column_href=url_for_column(year, node),
        rollup_href=url_for_rollup(year, node),
        expected=r.tally.expected if r else None,
        reported=r.tally.reported if r else None,
        completeness_text=format_pct(r.completeness_pct) if r else EMPTY,
        supervision_href=url_for_supervision(year, node) if office else None,
        supervision_status=supervision.get(node, "missing"),
    )


def plan_index(
    registry: Registry,
    year: int,
    rollups: Mapping[str, NodeRollupLike],
    *,
    years: Sequence[int] = (),
    supervision: Mapping[str, str] | None = None,
) -> IndexData:
    """The published root: the year, national links, province and department columns, and
    every office's supervision report highlighted (the notice asks for it on the homepage).

    ``years`` lists every published year; the others get links to their national roll-up.
    ``supervision`` gives the status of each office's supervision report (none: missing).
    """
    supervision = supervision or {}
    paths = index_paths()
    all_years = tuple(sorted({_year(year), *(_year(y) for y in years)}, reverse=True))
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
        ),
        csv_rows=csv_rows,
    )
