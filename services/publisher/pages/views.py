"""View values every page kind shares: links, figures, names and labels, breadcrumbs, chart bars."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from services.publisher.pages.formatting import format_number, format_pct
from services.publisher.pages.paths import (
    files_supervision_report,
    has_supervision_page,
    url_for_column,
    url_for_index,
    url_for_rollup,
    url_for_supervision,
)
from shared.filings import Status
from shared.registry.model import LEVEL_LABELS, SITE_TYPE_LABELS, Registry
from shared.rollup import NodeRollup, percent

GENERATOR_NOTE = "本页由 nianbao 生成"
#: the statuses in the order pages list them
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
#: site types in the order pages list them
TYPE_ORDER = ("portal", "department")


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
    def from_rollup(cls, rollup: NodeRollup) -> Figures:
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
    def from_statuses(cls, statuses: Sequence[Status]) -> Figures:
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
            completeness_pct=percent(reported, expected),
            timeliness_pct=percent(n["on_time"], expected),
        )


def name_of(registry: Registry, code: str) -> str:
    """A node's name, or its code when the registry does not know it."""
    node = registry.nodes.get(code)
    return node.name if node else code


LEVEL_NAMES: dict[str, str] = {str(k): v for k, v in LEVEL_LABELS.items()}
TYPE_NAMES: dict[str, str] = {str(k): v for k, v in SITE_TYPE_LABELS.items()}


def level_label(level: str) -> str:
    return LEVEL_NAMES.get(str(level), str(level))


def type_label(site_type: str) -> str:
    return TYPE_NAMES.get(str(site_type), str(site_type))


def tree_breadcrumbs(
    registry: Registry, node: str, year: int, root: str, kind: Literal["column", "rollup"]
) -> tuple[Link, ...]:
    """首页 › each ancestor's page of the same kind › the node itself (not linked)."""
    url = url_for_column if kind == "column" else url_for_rollup
    crumbs = [Link("首页", root + url_for_index())]
    for code in registry.path(node):
        if code == node:
            crumbs.append(Link(name_of(registry, code)))
        else:
            crumbs.append(Link(name_of(registry, code), root + url(year, code)))
    return tuple(crumbs)


def supervision_title(registry: Registry, node: str, year: int) -> str:
    name = name_of(registry, node)
    if files_supervision_report(registry, node):
        return f"{name}政府网站监管年度报表（{year}年度）"
    return f"{name}政府网站监管情况（{year}年度）"


def supervision_link(registry: Registry, node: str, year: int, root: str, name: str) -> Link | None:
    if not has_supervision_page(registry, node):
        return None
    office = files_supervision_report(registry, node)
    text = "政府网站监管年度报表" if office else "政府网站监管情况"
    return Link(f"{name}{text}", root + url_for_supervision(year, node))


def rank(order: Sequence[str], value: str) -> int:
    """Where ``value`` comes in ``order`` (anything unlisted after everything listed)."""
    return order.index(value) if value in order else len(order)


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
