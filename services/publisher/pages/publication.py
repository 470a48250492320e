"""The publication part of the pages (issue 17): how many sites below a node declared where they
published, were verified (on time), and how many checks ended in each other state, with the
sites not verified by name; and one site's standing with the summary of its latest check."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.publisher.pages.formatting import EMPTY, format_time, is_web_url, iso_time
from services.publisher.pages.paths import url_for_site
from services.publisher.pages.views import Link, name_of
from shared.publication import (
    CHECK_STATES,
    COUNT_LABELS,
    PUBLICATION_COUNTS,
    STATE_LABELS,
    PublicationStanding,
)
from shared.registry.model import Registry
from shared.rollup import NodeRollup, percent


@dataclass(frozen=True)
class PublicationLine:
    key: str
    label: str
    count: int
    #: of the sites expected to report
    share_text: str


def publication_lines(rollup: NodeRollup | None) -> tuple[PublicationLine, ...]:
    """One line per count, in the documented order; none when the roll-up has no counts yet."""
    if rollup is None or not rollup.tally.publication:
        return ()
    expected = rollup.tally.expected
    return tuple(
        PublicationLine(
            key,
            COUNT_LABELS[key],
            count := int(rollup.tally.publication.get(key, 0)),
            f"{percent(count, expected):.2f}%",
        )
        for key in PUBLICATION_COUNTS
    )


def publication_json(lines: tuple[PublicationLine, ...]) -> dict[str, Any]:
    return {line.key: line.count for line in lines}


def publication_csv_rows(lines: tuple[PublicationLine, ...]) -> list[tuple[str, ...]]:
    """Rows for a roll-up's CSV (类别, 栏目, 项目, 单位, 数值, 字段路径)."""
    return [
        ("网站公开情况", "", line.label, "个", str(line.count), f"publication.{line.key}")
        for line in lines
    ]


# ---------------------------------------------------------------- sites by name, on node pages

#: the standings node pages list by name, in this order: every count other than the verified
#: ones (a judgement "not published" counts as not linked: listed there, with a note), and the
#: declared sites not checked yet
LISTED: tuple[str, ...] = (*[k for k in PUBLICATION_COUNTS if k in CHECK_STATES[1:]], "pending")
LISTED_LABELS: dict[str, str] = {**COUNT_LABELS, "pending": STATE_LABELS["pending"]}


@dataclass(frozen=True)
class PublicationSite:
    code: str
    link: Link
    #: why a site is listed where its check alone would not put it (an office's judgement)
    note: str = ""


@dataclass(frozen=True)
class PublicationSiteList:
    key: str
    label: str
    sites: tuple[PublicationSite, ...]


def listed_key(standing: PublicationStanding) -> str | None:
    """The list a site's standing puts it on, or None (undeclared, verified)."""
    if standing.state == "pending":
        return "pending"
    counted = standing.counted_state
    return counted if counted in LISTED else None


def publication_site_lists(
    registry: Registry,
    node: str,
    year: int,
    standings: Mapping[str, PublicationStanding],
    root: str,
) -> tuple[PublicationSiteList, ...]:
    """The sites below ``node`` not verified, by name, one list per state that has any (in
    ``LISTED`` order); each name links to the site's page."""
    members: dict[str, list[PublicationSite]] = {key: [] for key in LISTED}
    for code in registry.sites_under(node, year):
        standing = standings.get(code)
        key = listed_key(standing) if standing is not None else None
        if standing is None or key is None:
            continue
        site = registry.sites[code]
        note = STATE_LABELS[standing.state] if standing.state.startswith("judged_") else ""
        link = Link(site.name, root + url_for_site(year, code))
        members[key].append(PublicationSite(code, link, note))
    return tuple(
        PublicationSiteList(key, LISTED_LABELS[key], tuple(sites))
        for key, sites in members.items()
        if sites
    )


def publication_sites_json(lists: tuple[PublicationSiteList, ...]) -> dict[str, Any]:
    return {
        lst.key: [{"code": s.code, "name": s.link.text, "note": s.note} for s in lst.sites]
        for lst in lists
    }


def publication_sites_csv_rows(
    lists: tuple[PublicationSiteList, ...],
) -> list[tuple[str, str, str, str]]:
    """(key, label, site name, site code) per listed site, for a page's CSV to place in its own
    columns."""
    return [(lst.key, lst.label, s.link.text, s.code) for lst in lists for s in lst.sites]


# ---------------------------------------------------------------- one site's standing

#: what a check of a site's report looks at (README, 公开核验)
CHECKED_WHAT: tuple[str, ...] = (
    "本网站首页（或首页上的一个年度报表栏目页）是否在可见位置链接到声明的报表页面",
    "声明的页面是否为已受理的版本（回执的内容摘要或链接，或报表主要数据一致）",
    "首页页脚的网站标识码、ICP备案号、公安机关备案号是否与报表、信息库一致",
)


@dataclass(frozen=True)
class SitePublicationView:
    """A site's publication of its report for the year, as its page shows it."""

    state: str
    state_label: str
    declared: bool
    url: Link | None = None
    on_time_label: str = EMPTY
    first_verified_at: str = EMPTY
    first_verified_iso: str = ""
    checked_at: str = EMPTY
    checked_iso: str = ""
    judged_by: str = ""
    judged_at: str = EMPTY
    judged_iso: str = ""
    reason: str = ""
    link_text: str = ""
    link_position: str = ""
    findings: tuple[str, ...] = ()
    checked_what: tuple[str, ...] = CHECKED_WHAT

    @property
    def checked(self) -> bool:
        return bool(self.checked_iso)


ON_TIME, LATE = "按时公开", "逾期公开"


def timing_label(standing: PublicationStanding) -> str:
    """按时公开 / 逾期公开 for a verified publication, else empty (the 专栏 row's short form)."""
    if not standing.verified:
        return ""
    return ON_TIME if standing.on_time else LATE


def on_time_label(standing: PublicationStanding) -> str:
    """The site page's long form: says why late, and what an unverified publication lacks."""
    if standing.verified:
        return ON_TIME if standing.on_time else f"{LATE}（截止时间后才核验通过）"
    if standing.declared:
        return "尚未核验通过"
    return "尚未声明公开网址"


def site_publication_view(
    registry: Registry, standing: PublicationStanding | None
) -> SitePublicationView:
    if standing is None:
        standing = PublicationStanding(state="undeclared")
    url = standing.url
    office = standing.judged_by
    return SitePublicationView(
        state=standing.state,
        state_label=STATE_LABELS.get(standing.state, standing.state),
        declared=standing.declared,
        url=Link(url, url if is_web_url(url) else None) if url else None,
        on_time_label=on_time_label(standing),
        first_verified_at=_time(standing.first_verified_at),
        first_verified_iso=_iso(standing.first_verified_at),
        checked_at=_time(standing.checked_at),
        checked_iso=_iso(standing.checked_at),
        judged_by=(name_of(registry, office) if office in registry.nodes else office)
        if office
        else "",
        judged_at=_time(standing.judged_at),
        judged_iso=_iso(standing.judged_at),
        reason=standing.reason,
        link_text=standing.link_text or "",
        link_position=standing.link_position or "",
        findings=standing.findings,
    )


def site_publication_json(standing: PublicationStanding | None) -> dict[str, Any]:
    if standing is None:
        return {"state": "undeclared", "state_label": STATE_LABELS["undeclared"]}
    return {
        **standing.model_dump(mode="json"),
        "findings": list(standing.findings),
        "state_label": STATE_LABELS.get(standing.state, standing.state),
    }


def site_publication_csv_rows(view: SitePublicationView) -> list[tuple[str, str, str]]:
    """(项目, 值, 字段路径) rows of a site's CSV."""
    rows = [
        ("公开状态", view.state_label, "publication.state"),
        ("声明的公开网址", view.url.text if view.url else "", "publication.url"),
        ("是否按时", view.on_time_label, "publication.on_time"),
        ("首次核验通过时间", view.first_verified_iso, "publication.first_verified_at"),
        ("最近核验时间", view.checked_iso, "publication.checked_at"),
    ]
    if view.judged_by:
        rows += [
            ("监管单位认定", view.judged_by, "publication.judged_by"),
            ("认定理由", view.reason, "publication.reason"),
        ]
    if view.link_text or view.link_position:
        rows += [
            ("首页链接文字", view.link_text, "publication.link_text"),
            ("链接位置", view.link_position, "publication.link_position"),
        ]
    rows += [("核验发现", f, "publication.findings") for f in view.findings]
    return rows


def _time(moment: datetime | None) -> str:
    return format_time(moment) if moment is not None else EMPTY


def _iso(moment: datetime | None) -> str:
    return iso_time(moment) if moment is not None else ""
