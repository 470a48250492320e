"""The parts of a supervision page: the office's sections, site changes, listed sites."""

from __future__ import annotations

from dataclasses import dataclass

from services.publisher.pages.filing import FieldLine
from services.publisher.pages.formatting import EMPTY, format_number
from services.publisher.pages.views import Link

CHANGE_CHECK_LABELS = {True: "一致", False: "不一致"}


@dataclass(frozen=True)
class QuarterGrid:
    """A quarterly section of the form: one row per field, one column per quarter and the year."""

    caption: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, str, tuple[str, ...]], ...]  # (label, unit, cells)


@dataclass(frozen=True)
class OfficeSection:
    """One section of the office's report: a label | value | unit table, or a quarterly grid."""

    key: str
    label: str
    lines: tuple[FieldLine, ...] = ()
    grid: QuarterGrid | None = None


@dataclass(frozen=True)
class SiteChangeLine:
    """One kind of site change: what the registry says beside what the office declared."""

    key: str
    label: str
    derived: int
    declared: int | None
    sites: tuple[Link, ...]

    @property
    def matches(self) -> bool | None:
        return None if self.declared is None else self.declared == self.derived

    @property
    def declared_text(self) -> str:
        return EMPTY if self.declared is None else format_number(self.declared)

    @property
    def check_label(self) -> str:
        return EMPTY if self.matches is None else CHANGE_CHECK_LABELS[self.matches]


@dataclass(frozen=True)
class NamedSite:
    """A site listed by name on the page (missing, rejected or returned)."""

    code: str
    link: Link
    level_label: str
    #: the child node of the page's node the site lies under, or 本级
    group: str = ""


@dataclass(frozen=True)
class SiteGroup:
    """The listed sites under one child node (or at the node itself: 本级)."""

    label: str
    sites: tuple[NamedSite, ...]


@dataclass(frozen=True)
class SiteList:
    key: str
    title: str
    sites: tuple[NamedSite, ...]

    @property
    def groups(self) -> tuple[SiteGroup, ...]:
        order: list[str] = []
        members: dict[str, list[NamedSite]] = {}
        for site in self.sites:
            if site.group not in members:
                order.append(site.group)
                members[site.group] = []
            members[site.group].append(site)
        return tuple(SiteGroup(label, tuple(members[label])) for label in order)
