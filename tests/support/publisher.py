"""The publisher's tests: a small hand-built world, every page kind's files, shared checks.

Registry: 全国 CN → 四川省 510000 → 成都市 510100 → 武侯区 510107, and the tax system bm29 →
bm29-510000; seven sites in every status. Layout: a hand-built subset of the work report with
every kind of answer, so the golden files do not move when the official form is corrected.
A hostile registry (names and URLs that try to become markup) for the escaping checks.
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from services.publisher import render
from services.publisher.pages.column import plan_column_page
from services.publisher.pages.index import plan_index
from services.publisher.pages.records import SiteRow, VersionRecord
from services.publisher.pages.rollup import plan_rollup_page
from services.publisher.pages.site import plan_site_page
from services.publisher.pages.supervision import plan_supervision_page
from shared.forms import LayoutRow
from shared.publication import OfficePublication, PublicationStanding
from shared.registry.model import Level, Node, Registry, Site, SiteType, Tree
from shared.rollup import NodeRollup, SiteState, full_rollups

YEAR = 2025
TESTS = Path(__file__).resolve().parents[1]
GOLDEN = TESTS / "unit" / "publisher" / "golden"


def layout_row(
    section: str,
    section_label: str,
    label: str,
    unit: str | None,
    path: str,
    kind: str,
    columns: tuple[str, ...] = (),
    options: dict[str, str] | None = None,
    item_fields: tuple[tuple[str, str, str | None, str], ...] = (),
) -> LayoutRow:
    """A row of a form's layout, its fields in ``shared.forms.LayoutRow``'s order."""
    return LayoutRow(
        section=section,
        section_label=section_label,
        label=label,
        unit=unit,
        path=path,
        type=kind,
        columns=columns,
        options=options or {},
        item_fields=item_fields,
    )


LAYOUT: list[LayoutRow] = [
    layout_row("site", "基本信息", "网站名称", None, "site.name", "text"),
    layout_row("site", "基本信息", "首页网址", None, "site.homepage_url", "url"),
    layout_row(
        "site",
        "基本信息",
        "网站类型",
        None,
        "site.type",
        "choice",
        options={"portal": "政府门户网站", "department": "部门网站"},
    ),
    layout_row(
        "traffic", "网站访问", "独立用户访问总量（个）", "个", "traffic.unique_visitors", "count"
    ),
    layout_row("traffic", "网站访问", "网站总访问量（次）", "次", "traffic.page_views", "count"),
    layout_row(
        "interaction",
        "互动交流",
        "是否使用统一平台",
        None,
        "interaction.unified_platform",
        "yes_no",
    ),
    layout_row(
        "interaction",
        "互动交流",
        "收到留言数量（条）",
        "条",
        "interaction.messages.received",
        "count",
    ),
    layout_row(
        "interaction",
        "互动交流",
        "平均办理时间（天）",
        "天",
        "interaction.messages.avg_days",
        "decimal",
    ),
    layout_row(
        "security", "安全防护", "是否开展应急演练", None, "security.emergency_drill", "yes_no"
    ),
    layout_row(
        "new_media",
        "移动新媒体",
        "其他",
        None,
        "new_media.other",
        "records",
        item_fields=(
            ("type", "类型", None, "text"),
            ("name", "名称", None, "text"),
            ("posts", "信息发布量（条）", "条", "count"),
        ),
    ),
    layout_row(
        "innovation",
        "创新发展",
        "创新发展",
        None,
        "innovation.features",
        "multi_choice",
        options={"search_as_service": "搜索即服务", "multilingual": "多语言版本", "other": "其他"},
    ),
]
COUNT_PATHS = [r.path for r in LAYOUT if r.type == "count"]
YES_NO_PATHS = [r.path for r in LAYOUT if r.type == "yes_no"]


def registry() -> Registry:
    nodes = [
        Node(code="CN", name="全国", level=Level.NATIONAL, tree=Tree.ADMIN),
        Node(code="510000", name="四川省", level=Level.PROVINCE, tree=Tree.ADMIN, parent="CN"),
        Node(code="510100", name="成都市", level=Level.CITY, tree=Tree.ADMIN, parent="510000"),
        Node(code="510107", name="武侯区", level=Level.COUNTY, tree=Tree.ADMIN, parent="510100"),
        Node(code="bm29", name="国家税务总局", level=Level.DEPARTMENT, tree=Tree.DEPT),
        Node(
            code="bm29-510000",
            name="国家税务总局四川省税务局",
            level=Level.BRANCH,
            tree=Tree.DEPT,
            parent="bm29",
        ),
    ]

    def site(code: str, name: str, admin: str, kind: SiteType, dept: str | None = None) -> Site:
        return Site(
            code=code,
            name=name,
            homepage_url=f"https://{code}.example.gov.cn/",
            type=kind,
            sponsor=name.replace("网站", "") + "办公室",
            admin_node=admin,
            dept_node=dept,
        )

    sites = [
        site("5100000001", "四川省人民政府网站", "510000", SiteType.PORTAL),
        site("5101000001", "成都市人民政府网站", "510100", SiteType.PORTAL),
        site("5101000002", "成都市教育局网站", "510100", SiteType.DEPARTMENT),
        site("5101070001", "成都市武侯区人民政府网站", "510107", SiteType.PORTAL),
        site("5101070002", "成都市武侯区教育局网站", "510107", SiteType.DEPARTMENT),
        site("bm29000002", "国家税务总局网站", "CN", SiteType.DEPARTMENT, "bm29"),
        site(
            "bm29230001",
            "国家税务总局四川省税务局网站",
            "510000",
            SiteType.DEPARTMENT,
            "bm29-510000",
        ),
    ]
    return Registry(nodes, sites)


def report(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "site": {
            "name": "四川省人民政府网站",
            "homepage_url": "https://5100000001.example.gov.cn/",
            "type": "portal",
        },
        "traffic": {"unique_visitors": 1200000, "page_views": 35000000},
        "interaction": {
            "unified_platform": True,
            "messages": {"received": 5321, "avg_days": 3.5},
        },
        "security": {"emergency_drill": False},
        "new_media": {"other": [{"type": "客户端", "name": "天府通办", "posts": 860}]},
        "innovation": {"features": ["search_as_service", "multilingual"]},
    }
    for dotted, value in overrides.items():
        node = base
        keys = dotted.split("__")
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value
    return base


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A UTC moment in January 2026."""
    return datetime(2026, 1, day, hour, minute, tzinfo=UTC)


def versions() -> list[VersionRecord]:
    v1 = report(traffic__unique_visitors=40000000)
    v2 = report()
    v3 = report(
        traffic__page_views=36000000,
        security__emergency_drill=True,
        innovation__features=["search_as_service", "multilingual", "other"],
    )
    error = {"rule_id": "wr.uv_le_pv", "severity": "error", "paths": ["traffic.unique_visitors"]}
    return [
        VersionRecord("R-0001", 1, "a" * 64, at(10, 1, 5), "rejected", v1, [error]),
        VersionRecord("R-0002", 2, "b" * 64, at(12, 6, 3), "accepted", v2, []),
        VersionRecord("R-0003", 3, "c" * 64, at(20, 6, 3), "accepted", v3, []),
    ]


STATES: dict[str, tuple[str, datetime | None]] = {
    "5100000001": ("on_time", at(20, 6, 3)),
    "5101000001": ("on_time", at(15, 2)),
    "5101000002": ("returned", None),
    "5101070001": ("late", at(31, 17)),
    "5101070002": ("missing", None),
    "bm29000002": ("rejected", None),
    "bm29230001": ("late", at(30, 18)),
}


def site_rows() -> dict[str, SiteRow]:
    out = {}
    for n, (code, (status, filed_at)) in enumerate(sorted(STATES.items())):
        filed = status in ("on_time", "late")
        body = report(traffic__unique_visitors=1000 * (n + 1), traffic__page_views=5000 * (n + 1))
        if code == "5100000001":
            body = versions()[-1].report
        out[code] = SiteRow(code, status, filed_at, body if filed else None)  # type: ignore[arg-type]
    return out


#: where the sites published (issue 17): verified with its link, not linked with findings,
#: judged by the city's office, declared but not checked yet; the others never declared
PUBLICATIONS: dict[str, PublicationStanding] = {
    "5100000001": PublicationStanding(
        state="verified",
        declared=True,
        url="https://5100000001.example.gov.cn/nb/2025.html",
        verified=True,
        on_time=True,
        first_verified_at=at(21, 2),
        checked_at=at(25, 2),
        link_text="2025年度政府网站工作年度报表",
        link_position="首页 · 页脚",
    ),
    "5101000001": PublicationStanding(
        state="not_linked",
        declared=True,
        url="https://5101000001.example.gov.cn/nb.html",
        checked_at=at(25, 3),
        findings=("首页未找到指向声明页面的链接", "首页页脚的ICP备案号与报表不一致"),
    ),
    "5101070001": PublicationStanding(
        state="judged_not_published",
        declared=True,
        url="https://5101070001.example.gov.cn/nb.html",
        checked_at=at(25, 4),
        judged_by="510100",
        reason="首页仅在二级页面底部链接",
        judged_at=at(26, 1),
    ),
    "bm29230001": PublicationStanding(
        state="pending", declared=True, url="https://bm29230001.example.gov.cn/nb.html"
    ),
}


#: the province's own duty (issue 17): its supervision report verified in the catalogue, its
#: 专栏 checked and linking to some of the sites below; the department declared nothing
OFFICE_PUBLICATIONS: dict[str, OfficePublication] = {
    "510000": OfficePublication(
        catalogue_state="verified",
        catalogue_url="https://www.sc.gov.cn/zwgk/jgnb/2025.html",
        catalogue_checked_at=at(25, 5),
        column_state="not_linked",
        column_url="https://www.sc.gov.cn/ndbb/2025/index.html",
        column_checked_at=at(25, 6),
        column_covered=3,
        column_sites=5,
    ),
}


def rollups(reg: Registry | None = None) -> dict[str, NodeRollup]:
    """Every node's roll-up, the province's with its own catalogue entry and 专栏."""
    rows = site_rows()
    states = {
        code: SiteState(
            site=code, status=row.status, report=row.report, publication=PUBLICATIONS.get(code)
        )
        for code, row in rows.items()
        if row.status != "missing" or code in PUBLICATIONS
    }
    ups = full_rollups(reg or registry(), YEAR, states, COUNT_PATHS, YES_NO_PATHS)
    for node, office in OFFICE_PUBLICATIONS.items():
        ups[node] = ups[node].model_copy(update={"office_publication": office})
    return ups


# ---------------------------------------------------------------- supervision reports

REPORTS = TESTS / "data" / "reports"


def changes_registry() -> Registry:
    """``registry()`` plus sites opened, integrated and closed in YEAR (and one long gone)."""
    base = registry()

    def dated(code: str, name: str, admin: str, **dates: Any) -> Site:
        return Site(
            code=code,
            name=name,
            homepage_url=f"https://{code}.example.gov.cn/",
            type=SiteType.DEPARTMENT,
            sponsor=name.replace("网站", ""),
            admin_node=admin,
            **dates,
        )

    extra = [
        dated("5101070003", "成都市武侯区政务服务网", "510107", active_from=YEAR),
        dated("5101000008", "成都市信息中心网站", "510100", active_to=YEAR, ended_by="integrated"),
        dated("5101000009", "成都市档案局网站", "510100", active_to=YEAR, ended_by="closed"),
        dated("5101000007", "成都市粮食局网站", "510100", active_to=YEAR - 1, ended_by="closed"),
    ]
    return Registry(base.nodes.values(), [*base.sites.values(), *extra])


def supervision_report(**overrides: Any) -> dict[str, Any]:
    """The clean example re-headed for 四川省 and YEAR; ``a__b=v`` overrides a value."""
    body: dict[str, Any] = json.loads(
        (REPORTS / "supervision-report" / "clean.json").read_text(encoding="utf-8")
    )
    body["year"] = YEAR
    body["office"] = {"name": "四川省人民政府办公厅", "kind": "province", "code": "510000"}
    body["site_changes"] = {"opened": 1, "integrated": 1, "closed": 2}
    for dotted, value in overrides.items():
        node = body
        keys = dotted.split("__")
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value
    return body


def supervision_versions() -> list[VersionRecord]:
    v1 = supervision_report()
    v2 = supervision_report(training__sessions=7, spot_checks__q1__sampled=31)
    return [
        VersionRecord("S-0001", 1, "d" * 64, at(14, 2), "accepted", v1, []),
        VersionRecord("S-0002", 2, "e" * 64, at(18, 9, 30), "accepted", v2, []),
    ]


# ---------------------------------------------------------------- golden files


def check_golden(files: Mapping[str, bytes]) -> None:
    """Compare with golden/<relative path>; UPDATE_GOLDEN=1 rewrites them instead."""
    update = os.environ.get("UPDATE_GOLDEN") == "1"
    for rel, content in sorted(files.items()):
        path = GOLDEN / rel
        if update:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
            continue
        assert path.exists(), f"no golden file {rel}: run the tests with UPDATE_GOLDEN=1"
        expected = path.read_bytes()
        if content != expected:
            diff = "\n".join(
                difflib.unified_diff(
                    expected.decode("utf-8").splitlines(),
                    content.decode("utf-8").splitlines(),
                    "golden/" + rel,
                    "rendered",
                    lineterm="",
                    n=2,
                )
            )
            raise AssertionError(f"{rel} differs from its golden file:\n{diff[:4000]}")


# ---------------------------------------------------------------- HTML sanity


class PageChecker(HTMLParser):
    """Collects what the html5 sanity checks look at."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.doctype = ""
        self.lang: str | None = None
        self.headings: list[int] = []
        self.viewport = False
        self.tables = 0
        self.captions = 0
        self.th_without_scope = 0
        self.resource_urls: list[str] = []
        self.hrefs: list[str] = []
        self.inline_handlers: list[str] = []
        self.inline_scripts = 0
        self.style_attrs = 0
        self.text: list[str] = []
        self._in_script = False

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "html":
            self.lang = a.get("lang")
        if tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self.headings.append(int(tag[1]))
        if tag == "meta" and a.get("name") == "viewport":
            self.viewport = True
        if tag == "table":
            self.tables += 1
        if tag == "caption":
            self.captions += 1
        if tag == "th" and not a.get("scope"):
            self.th_without_scope += 1
        if tag in ("script", "img", "iframe") and "src" in a:
            self.resource_urls.append(a["src"] or "")
        if tag == "link":
            self.resource_urls.append(a.get("href") or "")
        if tag == "a":
            self.hrefs.append(a.get("href") or "")
        if tag == "script":
            self._in_script = True
            if "src" not in a:
                self.inline_scripts += 1
        if "style" in a:
            self.style_attrs += 1
        self.inline_handlers += [k for k in a if k.startswith("on")]

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if not self._in_script:
            self.text.append(data)


def check_html(html: str) -> PageChecker:
    """Parse a page and assert the structure every page must have."""
    page = PageChecker()
    page.feed(html)
    page.close()
    assert html.startswith("<!doctype html>\n")
    assert page.lang == "zh-CN"
    assert page.viewport
    assert page.headings.count(1) == 1 and page.headings[0] == 1
    for before, after in zip(page.headings, page.headings[1:], strict=False):
        assert after <= before + 1, f"heading h{after} after h{before}"
    assert page.tables == page.captions, "every table needs a caption"
    assert page.th_without_scope == 0, "every th needs a scope"
    for url in page.resource_urls:
        assert "://" not in url and not url.startswith("/"), f"non-relative resource {url}"
    assert not page.inline_handlers and page.inline_scripts == 0 and page.style_attrs == 0
    assert "本页由 nianbao 生成" in "".join(page.text)
    return page


# ---------------------------------------------------------------- every page kind's files

BASE_URL = "https://nianbao.example.gov.cn"


def supervision_files() -> dict[str, bytes]:
    """The province's own report (two versions, a declared site change that does not match),
    a city's derived page, and a department that has not filed."""
    reg = changes_registry()
    ups = rollups(reg)
    vs = supervision_versions()
    files: dict[str, bytes] = {}
    for node, kwargs in (
        ("510000", {"versions": vs, "counted": vs[-1], "status": "on_time"}),
        ("510100", {}),
        ("bm29", {}),
    ):
        data = plan_supervision_page(
            reg,
            node,
            YEAR,
            site_rows(),
            rollup=ups[node],
            child_rollups=[ups[c] for c in reg.children(node)],
            base_url=BASE_URL,
            publications=PUBLICATIONS,
            **kwargs,  # type: ignore[arg-type]
        )
        files |= render.supervision_page_files(data)
    return files


def all_files() -> dict[str, bytes]:
    reg = registry()
    ups = rollups(reg)
    vs = versions()
    files: dict[str, bytes] = {}
    site = plan_site_page(
        reg,
        "5100000001",
        YEAR,
        vs,
        vs[-1],
        "on_time",
        layout=LAYOUT,
        base_url=BASE_URL,
        publication=PUBLICATIONS["5100000001"],
    )
    files |= render.site_page_files(site)
    for node in ("510000", "bm29"):
        column = plan_column_page(
            reg, node, YEAR, site_rows(), layout=LAYOUT, rollup=ups[node], publication=PUBLICATIONS
        )
        files |= render.column_page_files(column)
    for node in ("CN", "510000"):
        kids = [ups[c] for c in reg.children(node)]
        data = plan_rollup_page(reg, ups[node], kids, LAYOUT, PUBLICATIONS)
        files |= render.rollup_page_files(data)
    statuses = {"510000": "on_time"}
    files |= render.index_files(plan_index(reg, YEAR, ups, years=[2024], supervision=statuses))
    return files | supervision_files()


# ---------------------------------------------------------------- hostile text


def hostile_registry() -> Registry:
    nodes = [
        Node(code="CN", name="全国", level=Level.NATIONAL, tree=Tree.ADMIN),
        Node(
            code="110000", name="<i>北京</i>市", level=Level.PROVINCE, tree=Tree.ADMIN, parent="CN"
        ),
    ]
    sites = [
        Site(
            code="1100000001",
            name="<script>alert(1)</script>",
            homepage_url="javascript:alert(1)",
            type=SiteType.PORTAL,
            sponsor='"><img src=x onerror=alert(2)>',
            admin_node="110000",
        ),
        Site(
            code="1100000002",
            name="<b>未报</b>网站",
            homepage_url="http://ok.example/",
            type=SiteType.DEPARTMENT,
            sponsor="x",
            admin_node="110000",
        ),
    ]
    return Registry(nodes, sites)


def assert_inert(html: str) -> None:
    """No user text became markup (the only image is the page's own badge preview)."""
    html = html.replace('<p class="badge-preview"><img src="badge.svg" ', "")
    for raw in ("<script>alert", "<img", "<i>", "<b>", "onerror=alert"):
        assert raw not in html.replace("onerror=alert(2)&gt;", ""), raw
    assert 'href="javascript:' not in html
    check_html(html)
