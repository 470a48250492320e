"""The supervision report page, the homepage badges and snippets, and the supervision links."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET

import pytest

from services.publisher import render
from services.publisher.pages.column import plan_column_page
from services.publisher.pages.embed import BADGE_FONT_SIZE, make_badge, text_width
from services.publisher.pages.filing import work_report_layout
from services.publisher.pages.formatting import expand_row
from services.publisher.pages.index import plan_index
from services.publisher.pages.paths import files_supervision_report, has_supervision_page
from services.publisher.pages.records import SiteRow, VersionRecord
from services.publisher.pages.rollup import plan_rollup_page
from services.publisher.pages.site import plan_site_page
from services.publisher.pages.supervision import (
    SupervisionPageData,
    plan_supervision_page,
    site_changes,
    supervision_layout,
)
from services.publisher.pages.views import Figures, Link
from tests.support.publisher import (
    YEAR,
    assert_inert,
    at,
    changes_registry,
    check_html,
    hostile_registry,
    registry,
    rollups,
    site_rows,
    supervision_report,
    supervision_versions,
)

SVG = "{http://www.w3.org/2000/svg}"
BASE = "https://nianbao.example.gov.cn"


def province_page(**kwargs: object) -> SupervisionPageData:
    reg = changes_registry()
    ups = rollups(reg)
    vs = supervision_versions()
    params: dict[str, object] = {
        "rollup": ups["510000"],
        "child_rollups": [ups["510100"]],
        "versions": vs,
        "counted": vs[-1],
        "status": "on_time",
        "base_url": BASE,
    }
    params.update(kwargs)
    return plan_supervision_page(reg, "510000", YEAR, site_rows(), **params)  # type: ignore[arg-type]


def test_site_changes_come_from_the_dated_registry() -> None:
    reg = changes_registry()
    assert site_changes(reg, "510000", YEAR) == {
        "opened": ["5101070003"],
        "integrated": ["5101000008"],
        "closed": ["5101000009"],  # 5101000007 closed the year before: not counted
    }
    assert site_changes(reg, "510107", YEAR) == {
        "opened": ["5101070003"],
        "integrated": [],
        "closed": [],
    }
    assert site_changes(reg, "510000", YEAR - 1)["closed"] == ["5101000007"]


def test_declared_changes_are_set_beside_the_registry_and_a_mismatch_is_flagged() -> None:
    data = province_page()
    lines = {c.key: c for c in data.changes}
    assert (lines["opened"].derived, lines["opened"].declared) == (1, 1)
    assert lines["opened"].check_label == "一致"
    assert (lines["closed"].derived, lines["closed"].declared) == (1, 2)
    assert lines["closed"].matches is False and data.mismatches == (lines["closed"],)
    assert [s.text for s in lines["closed"].sites] == ["成都市档案局网站"]
    html = render.render_supervision_page(data)
    assert '<tr class="mismatch"><th scope="row">关停下线</th>' in html
    assert "“关停下线”填报 2 个，政府网站信息库推算 1 个" in html
    doc = data.json_doc["derived"]["site_changes"]
    assert doc["closed"] == {
        "registry": 1,
        "declared": 2,
        "matches": False,
        "sites": ["5101000009"],
    }


def test_the_office_figures_follow_the_form_with_a_quarterly_table() -> None:
    data = province_page()
    layout = supervision_layout()
    assert [s.label for s in data.sections] == list(
        dict.fromkeys(row.section_label for row in layout)
    )
    grids = [s for s in data.sections if s.grid is not None]
    assert [s.key for s in grids] == ["spot_checks"]
    grid = grids[0].grid
    assert grid is not None
    assert grid.columns == ("第一季度", "第二季度", "第三季度", "第四季度", "全年")
    quarterly = [r for r in layout if r.section == "spot_checks"]
    assert [label for label, _u, _c in grid.rows] == [r.label for r in quarterly]
    sampled = next(cells for label, _u, cells in grid.rows if label == "抽查网站数量（个）")
    assert sampled == ("31", "28", "27", "89", "174")
    html = render.render_supervision_page(data)
    check_html(html)
    assert '<table class="quarters numeric">' in html
    assert '<th scope="col">第一季度</th>' in html


def test_the_derived_part_names_every_site_that_did_not_report() -> None:
    data = province_page()
    lists = {lst.key: lst for lst in data.site_lists}
    assert [s.code for s in lists["missing"].sites] == [
        "5101000008",
        "5101000009",
        "5101070002",
        "5101070003",
    ]
    assert all(s.link.href is None for s in lists["missing"].sites)
    assert [(g.label, len(g.sites)) for g in lists["missing"].groups] == [("成都市", 4)]
    html = render.render_supervision_page(data)
    assert '<tr><th scope="row">成都市</th><td class="count">4</td>' in html
    [returned] = lists["returned"].sites
    assert returned.link.href == "../../../sites/2025/5101000002/index.html"
    assert data.figures == Figures.from_rollup(rollups(changes_registry())["510000"])
    assert [c.link.href for c in data.children] == ["../../../supervision/2025/510100/index.html"]
    assert len(data.chart) == 1


def test_figures_come_from_the_rows_without_a_rollup() -> None:
    reg = changes_registry()
    data = plan_supervision_page(reg, "510107", YEAR, site_rows())
    assert data.figures.expected == 3 and data.figures.late == 1 and data.figures.missing == 2


def test_cities_and_counties_get_the_derived_part_only() -> None:
    reg = changes_registry()
    ups = rollups(reg)
    data = plan_supervision_page(
        reg, "510100", YEAR, site_rows(), rollup=ups["510100"], child_rollups=[ups["510107"]]
    )
    assert not data.files_report and data.embed is None and data.sections == ()
    assert data.title == "成都市政府网站监管情况（2025年度）"
    assert all(c.declared is None and c.check_label == "—" for c in data.changes)
    html = render.render_supervision_page(data)
    check_html(html)
    assert "市级不单独填报政府网站监管年度报表" in html
    assert "在首页显著位置展示" not in html and "版本记录" not in html
    files = render.supervision_page_files(data)
    assert "supervision/2025/510100/badge.svg" not in files


def test_an_office_that_has_not_filed_still_gets_its_page_and_badge() -> None:
    reg = registry()
    data = plan_supervision_page(reg, "bm29", YEAR, site_rows())
    assert data.files_report and data.status == "missing" and data.counted is None
    html = render.render_supervision_page(data)
    check_html(html)
    assert "国家税务总局尚未报送2025年度政府网站监管年度报表" in html
    badge = render.supervision_page_files(data)["supervision/2025/bm29/badge.svg"].decode()
    assert "未报送" in badge and "2025年度监管报表" in badge


def test_there_is_no_supervision_page_for_the_nation() -> None:
    with pytest.raises(ValueError):
        plan_supervision_page(registry(), "CN", YEAR, site_rows())
    assert not has_supervision_page(registry(), "CN")
    assert has_supervision_page(registry(), "510107")
    assert files_supervision_report(registry(), "bm29")
    assert not files_supervision_report(registry(), "bm29-510000")


def test_version_history_lists_what_changed() -> None:
    data = province_page()
    assert [v.version for v in data.versions] == [2, 1]
    changed = {(c.label, c.old, c.new) for c in data.versions[0].changes}
    assert changed == {
        ("抽查网站数量（个）（第一季度）", "30", "31"),
        ("人员培训 培训次数", "6", "7"),
    }
    assert data.counted is not None and data.counted.receipt_id == "S-0002"


def test_supervision_copies_are_complete() -> None:
    data = province_page()
    files = render.supervision_page_files(data)
    raw = files["supervision/2025/510000/supervision.csv"]
    assert raw.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8")[1:], newline="")))
    assert rows[0] == ["类别", "栏目", "项目", "列", "单位", "数值", "代码或字段路径"]
    office = [r for r in rows[1:] if r[0] == "本单位填报"]
    cells = sum(len(expand_row(r)) for r in supervision_layout())
    assert len(office) == cells
    assert office[[r[6] for r in office].index("spot_checks.year.sampled")][:6] == [
        "本单位填报",
        "抽查情况",
        "抽查网站数量（个）",
        "全年",
        "个",
        "174",
    ]
    assert ["网站开设整合", "本单位填报", "关停下线", "", "个", "2", "site_changes.closed"] in rows
    assert ["未报送网站", "县级", "成都市武侯区政务服务网", "", "", "5101070003", ""] in rows
    doc = json.loads(files["supervision/2025/510000/supervision.json"])
    assert doc["office"]["report"]["training"]["sessions"] == 7
    assert doc["derived"]["figures"]["expected"] == 9
    assert [s["code"] for s in doc["derived"]["returned_sites"]] == ["5101000002"]


# ---------------------------------------------------------------- badges and snippets


@pytest.mark.parametrize(
    ("status", "message"),
    [
        ("on_time", "已发布 按时"),
        ("late", "已发布 逾期"),
        ("returned", "退回重填"),
        ("rejected", "未通过校验"),
        ("missing", "未报送"),
    ],
)
def test_badges_say_where_the_report_stands(status: str, message: str) -> None:
    badge = make_badge("2026年度报表", status, "某网站")
    assert badge.message == message and badge.title == f"某网站2026年度报表：{message}"
    root = ET.fromstring(render.badge_svg(badge))
    assert root.tag == SVG + "svg" and root.get("width") == str(badge.width)
    texts = [t.text for t in root.iter(SVG + "text")]
    assert texts == ["2026年度报表", message]
    # the image's title is what it shows; the snippet's alt names the site
    assert root.find(SVG + "title").text == f"2026年度报表：{message}"  # type: ignore[union-attr]
    # every site's badge of a year and status is the same bytes (one shared file on disk)
    other = make_badge("2026年度报表", status, "另一网站")
    assert render.badge_svg(other) == render.badge_svg(badge)


def test_badge_text_is_escaped_and_sized() -> None:
    badge = make_badge("<script>&", "on_time", "某网站")
    svg = render.badge_svg(badge).decode()
    assert "<script>" not in svg and "&lt;script&gt;&amp;" in svg
    ET.fromstring(svg)
    badge = make_badge("2026年度报表", "on_time", "")
    longer = make_badge("2026年度监管报表", "on_time", "")
    assert longer.width > badge.width
    assert text_width("年度") == 2 * BADGE_FONT_SIZE
    assert text_width("2026") < text_width("年度年度")


def test_the_site_page_documents_its_homepage_embed() -> None:
    reg = registry()
    vs = [VersionRecord("R-1", 1, "f" * 64, at(3, 4), "accepted", {}, [])]
    data = plan_site_page(reg, "5101000001", YEAR, vs, vs[0], "on_time", base_url=BASE)
    embed = data.embed
    assert embed.page_url == f"{BASE}/sites/2025/5101000001/index.html"
    assert embed.badge_url == f"{BASE}/sites/2025/5101000001/badge.svg"
    assert embed.image_snippet == (
        f'<a href="{BASE}/sites/2025/5101000001/index.html" target="_blank" '
        'title="成都市人民政府网站2025年度政府网站工作年度报表">'
        f'<img src="{BASE}/sites/2025/5101000001/badge.svg" '
        f'alt="成都市人民政府网站2025年度政府网站工作年度报表" width="{embed.badge.width}" '
        'height="24"></a>'
    )
    html = render.render_site_page(data)
    assert '<h2 id="h-embed">在首页显著位置展示</h2>' in html
    assert '<pre class="snippet"><code>&lt;a href=&#34;https://nianbao' in html
    assert '<img src="badge.svg" alt="成都市人民政府网站2025年度报表：已发布 按时"' in html
    files = render.site_page_files(data)
    assert "已发布 按时" in files["sites/2025/5101000001/badge.svg"].decode()
    assert data.json_doc["embed"]["image_snippet"] == embed.image_snippet
    local = plan_site_page(reg, "5101000001", YEAR, vs, vs[0], "on_time")
    assert local.embed.page_url == "sites/2025/5101000001/index.html"


def test_snippets_escape_what_they_quote() -> None:
    reg = hostile_registry()
    data = plan_site_page(reg, "1100000001", YEAR, [], None, "missing", base_url=BASE)
    snippet = data.embed.image_snippet
    assert "<script>" not in snippet and "&lt;script&gt;alert(1)&lt;/script&gt;" in snippet
    assert "未报送" in render.site_page_files(data)["sites/2025/1100000001/badge.svg"].decode()


# ---------------------------------------------------------------- escaping and links


def test_supervision_pages_show_user_text_as_text() -> None:
    reg = hostile_registry()
    body = supervision_report(
        office={"name": "<script>alert(9)</script>", "kind": "province", "code": "110000"},
        signoff__filler='"><img src=x onerror=alert(2)>',
        year=YEAR,
    )
    record = VersionRecord("<R>", 1, "<h>", at(2, 3), "accepted", body, [])
    rows = {"1100000001": SiteRow("1100000001", "returned", None, None)}
    data = plan_supervision_page(
        reg, "110000", YEAR, rows, versions=[record], counted=record, status="on_time"
    )
    html = render.render_supervision_page(data)
    assert_inert(html)
    assert "&lt;script&gt;alert(9)&lt;/script&gt;" in html
    assert "&lt;b&gt;未报&lt;/b&gt;网站" in html  # the missing site, listed by name
    assert "&lt;i&gt;北京&lt;/i&gt;市政府网站监管年度报表" in html
    badge = render.supervision_page_files(data)["supervision/2025/110000/badge.svg"].decode()
    assert "<i>" not in badge
    ET.fromstring(badge)


def test_column_rollup_and_index_link_the_supervision_pages() -> None:
    reg = registry()
    ups = rollups(reg)
    column = plan_column_page(reg, "510000", YEAR, site_rows())
    assert column.supervision_link == Link(
        "四川省政府网站监管年度报表", "../../../supervision/2025/510000/index.html"
    )
    city = plan_column_page(reg, "510100", YEAR, site_rows())
    assert (
        city.supervision_link is not None and city.supervision_link.text == "成都市政府网站监管情况"
    )
    assert plan_column_page(reg, "CN", YEAR, site_rows()).supervision_link is None
    rollup = plan_rollup_page(reg, ups["bm29"], [ups["bm29-510000"]], [])
    assert rollup.supervision_link is not None
    assert rollup.supervision_link.href == "../../../supervision/2025/bm29/index.html"
    assert plan_rollup_page(reg, ups["CN"], [], []).supervision_link is None

    index = plan_index(reg, YEAR, ups, supervision={"510000": "late"})
    by_node = {e.node: e for e in (*index.provinces, *index.departments)}
    assert by_node["510000"].supervision_href == "supervision/2025/510000/index.html"
    assert by_node["510000"].supervision_label == "已发布（逾期）"
    assert by_node["bm29"].supervision_label == "未报送"
    html = render.render_index(index)
    assert '<section class="highlight" aria-labelledby="h-supervision">' in html
    assert '<a href="supervision/2025/510000/index.html">四川省政府网站监管年度报表</a>' in html
    assert index.csv_rows[1][6:8] == ("supervision/2025/510000/index.html", "已发布（逾期）")


def test_the_page_shows_the_total_of_every_work_report_count_of_the_subtree() -> None:
    data = province_page()
    tally = rollups(changes_registry())["510000"].tally
    counts = [
        path
        for row in work_report_layout()
        if row.type == "count"
        for path, _c, _l in expand_row(row)
    ]
    assert [s.path for s in data.sums] == counts
    assert {s.path: s.total for s in data.sums} == {p: tally.sums.get(p, 0) for p in counts}
    assert any(s.total > 0 for s in data.sums)
    assert data.json_doc["derived"]["sums"] == {s.path: s.total for s in data.sums}
    html = render.render_supervision_page(data)
    uv = next(s for s in data.sums if s.path == "traffic.unique_visitors")
    assert f'<th scope="row">{uv.label}</th><td>个</td><td>{uv.total_text}</td>' in html
    assert "工作年度报表各项数据合计" in html


def test_the_supervision_form_is_followed_by_its_filling_instructions() -> None:
    data = province_page()
    assert [i.number for i in data.instructions] == list(range(1, len(data.instructions) + 1))
    html = render.render_supervision_page(data)
    assert html.index('id="h-office"') < html.index('id="h-instructions"')
    assert "按问责程度最重的统计" in html
    derived_only = plan_supervision_page(changes_registry(), "510100", YEAR, site_rows())
    assert derived_only.instructions == ()
