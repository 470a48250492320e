"""Page planning and rendering: paths, diffs, escaping, the SVG chart, CSV copies, page checks."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from datetime import datetime

import pytest

from services.publisher import render
from services.publisher.pages.column import plan_column_page
from services.publisher.pages.filing import diff_reports, work_report_layout
from services.publisher.pages.formatting import (
    count_columns,
    csv_cell,
    format_time,
    format_value,
    iso_time,
)
from services.publisher.pages.index import plan_index
from services.publisher.pages.paths import (
    affected_pages,
    column_paths,
    index_paths,
    pages_affected,
    rollup_paths,
    site_paths,
    url_for_column,
    url_for_index,
    url_for_site,
)
from services.publisher.pages.records import SiteRow, VersionRecord
from services.publisher.pages.rollup import plan_rollup_page
from services.publisher.pages.site import plan_site_page, report_sections
from services.publisher.pages.views import ChartBar, Figures
from shared.registry.model import Registry
from tests.support.publisher import (
    COUNT_PATHS,
    LAYOUT,
    YEAR,
    assert_inert,
    at,
    check_html,
    hostile_registry,
    layout_row,
    registry,
    report,
    rollups,
    site_rows,
    versions,
)

SVG = "{http://www.w3.org/2000/svg}"


# ---------------------------------------------------------------- paths


def test_paths_follow_one_scheme() -> None:
    assert url_for_site(2025, "5101070001") == "sites/2025/5101070001/index.html"
    assert site_paths(2025, "x").csv == "sites/2025/x/report.csv"
    assert column_paths(2025, "bm29-510000").json == "columns/2025/bm29-510000/column.json"
    assert rollup_paths(2025, "CN").csv == "rollups/2025/CN/rollup.csv"
    assert url_for_index() == "index.html"
    assert site_paths(2025, "x").root == "../../../"
    assert index_paths().root == ""


@pytest.mark.parametrize(
    "code", ["", "../etc", "a/b", "a.b", "a b", "x" * 65, "5101\n", "%2e%2e", "名称"]
)
def test_unsafe_codes_never_become_paths(code: str) -> None:
    with pytest.raises(ValueError):
        site_paths(2025, code)
    with pytest.raises(ValueError):
        url_for_column(2025, code)


def test_years_are_checked_too() -> None:
    with pytest.raises(ValueError):
        site_paths("2025/../x", "5100000001")  # type: ignore[arg-type]


def test_pages_affected_cover_both_trees_and_the_index() -> None:
    reg = registry()
    assert pages_affected(reg, "bm29230001", YEAR) == [
        "sites/2025/bm29230001/index.html",
        "columns/2025/510000/index.html",
        "columns/2025/CN/index.html",
        "columns/2025/bm29-510000/index.html",
        "columns/2025/bm29/index.html",
        "rollups/2025/510000/index.html",
        "rollups/2025/CN/index.html",
        "rollups/2025/bm29-510000/index.html",
        "rollups/2025/bm29/index.html",
        "supervision/2025/510000/index.html",
        "supervision/2025/bm29-510000/index.html",
        "supervision/2025/bm29/index.html",
        "index.html",
    ]
    county = pages_affected(reg, "5101070002", YEAR)
    assert "columns/2025/510107/index.html" in county
    assert "rollups/2025/510100/index.html" in county
    refs = affected_pages(reg, "5101070002", YEAR)
    assert {r.kind for r in refs} == {"site", "column", "rollup", "supervision", "index"}
    assert "supervision/2025/510107/index.html" in county
    assert "supervision/2025/CN/index.html" not in county


# ---------------------------------------------------------------- formatting and diffs


def test_times_are_shown_in_beijing_time() -> None:
    assert format_time(at(20, 6, 3)) == "2026-01-20 14:03"
    assert format_time(datetime(2026, 1, 31, 16, 30)) == "2026-02-01 00:30"
    assert iso_time(at(20, 6, 3)) == "2026-01-20T14:03:00+08:00"


def test_values_read_as_people_expect() -> None:
    rows = {r.path: r for r in LAYOUT}
    assert format_value(rows["interaction.unified_platform"], True) == "是"
    assert format_value(rows["security.emergency_drill"], False) == "否"
    assert format_value(rows["traffic.page_views"], None) == "—"
    assert format_value(rows["traffic.page_views"], 1234567) == "1,234,567"
    assert format_value(rows["traffic.page_views"], 1234567, grouping=False) == "1234567"
    assert format_value(rows["interaction.messages.avg_days"], 2.50) == "2.5"
    assert format_value(rows["site.type"], "department") == "部门网站"
    features = rows["innovation.features"]
    assert format_value(features, ["multilingual", "other"]) == "多语言版本、其他"
    assert format_value(features, []) == "—"


def test_diff_reports_lists_every_changed_answer_in_form_order() -> None:
    old = report()
    new = report(
        traffic__page_views=36000001,
        interaction__unified_platform=False,
        innovation__features=["multilingual"],
        new_media__other=[{"type": "客户端", "name": "天府通办", "posts": 900}],
    )
    changes = diff_reports(LAYOUT, old, new)
    assert [(c.path, c.old, c.new) for c in changes] == [
        ("traffic.page_views", "35,000,000", "36,000,001"),
        ("interaction.unified_platform", "是", "否"),
        (
            "new_media.other",
            "类型：客户端，名称：天府通办，信息发布量（条）：860",
            "类型：客户端，名称：天府通办，信息发布量（条）：900",
        ),
        ("innovation.features", "搜索即服务、多语言版本", "多语言版本"),
    ]
    assert changes[0].label == "网站总访问量（次）" and changes[0].section_label == "网站访问"


def test_diff_reports_of_equal_reports_is_empty_and_handles_absence() -> None:
    assert diff_reports(LAYOUT, report(), report()) == []
    first = diff_reports(LAYOUT, None, report())
    assert {c.old for c in first} == {"—"}
    assert len(first) == len(LAYOUT)
    gone = report()
    del gone["interaction"]["messages"]["avg_days"]
    [change] = diff_reports(LAYOUT, report(), gone)
    assert (change.path, change.old, change.new) == ("interaction.messages.avg_days", "3.5", "—")


def test_diff_reports_does_not_confuse_true_with_one() -> None:
    old = report(security__emergency_drill=1)
    [change] = diff_reports(LAYOUT, old, report(security__emergency_drill=True))
    assert change.path == "security.emergency_drill"


# ---------------------------------------------------------------- the site page


def test_site_page_shows_history_newest_first_with_the_counted_version() -> None:
    vs = versions()
    data = plan_site_page(registry(), "5100000001", YEAR, vs, vs[1], "on_time", layout=LAYOUT)
    assert [v.version for v in data.versions] == [3, 2, 1]
    assert [v.counted for v in data.versions] == [False, True, False]
    assert data.versions[-1].first and data.versions[-1].error_count == 1
    assert data.versions[-1].outcome_label == "未通过校验"
    html = render.render_site_page(data)
    assert "未通过校验（1 个错误）" in html
    assert "2026-01-12 14:03" in html and "R-0002" in html and "b" * 64 in html


def test_site_page_follows_the_form_with_its_filling_instructions() -> None:
    vs = versions()
    data = plan_site_page(registry(), "5100000001", YEAR, vs, vs[1], "on_time", layout=LAYOUT)
    html = render.render_site_page(data)
    check_html(html)
    assert html.index('id="h-content"') < html.index('id="h-instructions"')
    uv = next(i for i in data.instructions if i.ids == ("traffic.unique_visitors",))
    assert f'<li value="{uv.number}"><strong>{uv.title}</strong>' in html
    assert "同一用户每日多次访问不重复计算，只计一次。" in html


def test_site_page_without_an_accepted_version() -> None:
    vs = versions()[:1]
    data = plan_site_page(registry(), "5100000001", YEAR, vs, None, "rejected", layout=LAYOUT)
    assert data.sections == () and data.counted is None
    html = render.render_site_page(data)
    check_html(html)
    assert "暂无已受理的报表" in html and "未通过校验" in html
    files = render.site_page_files(data)
    assert json.loads(files["sites/2025/5100000001/report.json"])["report"] is None


def test_quarterly_rows_render_as_a_small_table() -> None:
    quarterly = layout_row(
        "spot_checks",
        "抽查情况",
        "抽查网站数量（个）",
        "个",
        "spot_checks.{col}.sampled",
        "count",
        columns=("q1", "q2", "q3", "q4", "year"),
    )
    body = {"spot_checks": {"q1": {"sampled": 3}, "q2": {"sampled": 4}, "year": {"sampled": 7}}}
    [section] = report_sections([quarterly], body)
    assert section.lines[0].quarters == (
        ("第一季度", "3"),
        ("第二季度", "4"),
        ("第三季度", "—"),
        ("第四季度", "—"),
        ("全年", "7"),
    )
    refiled = {"spot_checks": {**body["spot_checks"], "q3": {"sampled": 2}}}
    [change] = diff_reports([quarterly], body, refiled)
    assert (change.path, change.label, change.old, change.new) == (
        "spot_checks.q3.sampled",
        "抽查网站数量（个）（第三季度）",
        "—",
        "2",
    )
    assert count_columns([quarterly])[0] == (
        "spot_checks.q1.sampled",
        "抽查情况／抽查网站数量（个）（第一季度）",
    )


# ---------------------------------------------------------------- escaping


def test_user_text_is_always_shown_as_text() -> None:
    reg = hostile_registry()
    body = report(
        site__homepage_url="javascript:alert(1)",
        new_media__other=[{"type": "<svg onload=alert(3)>", "name": "<a href=x>n</a>", "posts": 1}],
    )
    record = VersionRecord("<R>", 1, "h", at(2, 3), "accepted", body, [])
    site = plan_site_page(reg, "1100000001", YEAR, [record], record, "on_time", layout=LAYOUT)
    html = render.render_site_page(site)
    assert_inert(html)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "javascript:alert(1)" in html  # shown, not linked
    assert "&lt;svg onload=alert(3)&gt;" in html and "<svg" not in html
    assert "&#34;&gt;&lt;img src=x onerror=alert(2)&gt;" in html

    rows = {"1100000001": SiteRow("1100000001", "on_time", at(2, 3), body)}
    column = plan_column_page(reg, "110000", YEAR, rows, layout=LAYOUT)
    assert_inert(render.render_column_page(column))

    ups = _hostile_rollups(reg, rows)
    rollup = plan_rollup_page(reg, ups["CN"], [ups["110000"]], LAYOUT)
    rendered = render.render_rollup_page(rollup)
    assert_inert(rendered)
    assert "&lt;b&gt;未报&lt;/b&gt;网站" in rendered
    assert "&lt;i&gt;北京&lt;/i&gt;市" in rendered
    chart_start = rendered.index("<svg")
    ET.fromstring(rendered[chart_start : rendered.index("</svg>") + 6])
    assert_inert(render.render_index(plan_index(reg, YEAR, ups)))


def _hostile_rollups(reg: Registry, rows: dict[str, SiteRow]) -> dict[str, object]:
    from shared.rollup import SiteState, full_rollups

    states = {c: SiteState(site=c, status=r.status, report=r.report) for c, r in rows.items()}
    return full_rollups(reg, YEAR, states, COUNT_PATHS, [])  # type: ignore[return-value]


def test_csv_cells_cannot_start_a_formula() -> None:
    assert csv_cell('=HYPERLINK("x")') == '\'=HYPERLINK("x")'
    assert csv_cell("@SUM(A1)") == "'@SUM(A1)"
    assert csv_cell("-12") == "-12"
    assert csv_cell("成都") == "成都"


# ---------------------------------------------------------------- the chart


def test_chart_is_well_formed_accessible_and_proportional() -> None:
    bars = [ChartBar("四川省", 80.0, 40.0), ChartBar("<北京&>", 100.0, 0.0), ChartBar("x", 25, 150)]
    svg = str(render.bar_chart_svg(bars, title="完整率与及时率", desc="说明"))
    root = ET.fromstring(svg)
    assert root.tag == SVG + "svg" and root.get("role") == "img"
    assert root.find(SVG + "title").text == "完整率与及时率"  # type: ignore[union-attr]
    assert root.find(SVG + "desc").text == "说明"  # type: ignore[union-attr]
    ids = root.get("aria-labelledby", "").split()
    assert {e.get("id") for e in root.iter() if e.get("id")} == set(ids)
    full = [r for r in root.iter(SVG + "rect") if "bar-completeness" in (r.get("class") or "")]
    timely = [r for r in root.iter(SVG + "rect") if "bar-timeliness" in (r.get("class") or "")]
    widths = [float(r.get("width", "0")) for r in full]
    assert widths[0] / widths[1] == pytest.approx(0.8)
    assert widths[2] / widths[1] == pytest.approx(0.25)
    t_widths = [float(r.get("width", "0")) for r in timely]
    assert t_widths[0] == pytest.approx(widths[1] * 0.4)
    assert t_widths[1] == 0 and t_widths[2] == pytest.approx(widths[1])  # clamped to 100 %
    assert "<北京&>" in "".join(root.itertext())
    assert "script" not in svg and "style=" not in svg and "href" not in svg


# ---------------------------------------------------------------- JSON and CSV copies


def read_csv(data: bytes) -> list[list[str]]:
    assert data.startswith("\ufeff".encode())
    text = data.decode("utf-8")
    assert "\r\n" in text and "\n" not in text.replace("\r\n", "")
    return list(csv.reader(io.StringIO(text[1:], newline="")))


def test_column_csv_has_a_row_per_site_and_every_count_field() -> None:
    reg = registry()
    data = plan_column_page(reg, "CN", YEAR, site_rows(), layout=LAYOUT)
    rows = read_csv(render.column_page_files(data)["columns/2025/CN/column.csv"])
    header = rows[0]
    counts = [r for r in LAYOUT if r.type == "count"]
    assert header[:5] == ["政府网站标识码", "网站名称", "层级", "网站类型", "报送状态"]
    assert len(header) == 7 + len(counts) + 4
    assert header[-4:] == ["公开状态", "公开网址", "是否按时公开", "监管单位认定"]
    for row in counts:
        assert any(row.label in h for h in header[7:])
    assert [r[0] for r in rows[1:]] == reg.sites_under("CN", YEAR)
    by_code = {r[0]: r for r in rows[1:]}
    assert by_code["5100000001"][7:10] == ["1200000", "36000000", "5321"]
    assert by_code["5101070002"][4] == "未报" and by_code["5101070002"][7:10] == ["", "", ""]
    assert by_code["5101070002"][10:] == ["未声明", "", "", ""]


def test_every_copy_is_utf8_and_csv_has_a_bom() -> None:
    reg = registry()
    ups = rollups(reg)
    vs = versions()
    site = plan_site_page(reg, "5100000001", YEAR, vs, vs[-1], "on_time", layout=LAYOUT)
    files = {
        **render.site_page_files(site),
        **render.rollup_page_files(plan_rollup_page(reg, ups["CN"], [ups["510000"]], LAYOUT)),
        **render.index_files(plan_index(reg, YEAR, ups)),
    }
    for path, content in files.items():
        if path.endswith(".csv"):
            read_csv(content)
        elif path.endswith(".json"):
            json.loads(content.decode("utf-8"))
            assert "四川省" in content.decode("utf-8")  # not \u-escaped


def test_rollup_page_totals_every_count_and_yes_answer() -> None:
    reg = registry()
    ups = rollups(reg)
    data = plan_rollup_page(reg, ups["510000"], [ups["510100"]], LAYOUT)
    assert [s.path for s in data.sums] == COUNT_PATHS
    assert {s.path: s.total for s in data.sums} == dict(ups["510000"].tally.sums)
    assert [y.text for y in data.yes_counts] == ["是 4 个网站", "是 1 个网站"]
    assert [m.text for m in data.missing_sites] == ["成都市武侯区教育局网站"]
    assert data.figures.completeness_pct == ups["510000"].completeness_pct


# ---------------------------------------------------------------- the column page


def test_column_links_only_filed_reports_and_lists_child_columns() -> None:
    reg = registry()
    data = plan_column_page(reg, "510100", YEAR, site_rows(), layout=LAYOUT)
    assert data.title == "成都市政府网站工作年度报表专栏（2025年度）"
    lines = {line.code: line for line in data.sites}
    assert lines["5101000001"].name.href == "../../../sites/2025/5101000001/index.html"
    assert lines["5101000002"].name.href is None and lines["5101000002"].status_label == "退回"
    assert lines["5101070002"].level_label == "县级"
    assert [c.link.text for c in data.children] == ["武侯区"]
    assert data.figures == Figures.from_statuses(["on_time", "returned", "late", "missing"])


def test_column_figures_follow_the_aggregator_when_given_its_rollup() -> None:
    reg = registry()
    ups = rollups(reg)
    data = plan_column_page(reg, "CN", YEAR, site_rows(), layout=LAYOUT, rollup=ups["CN"])
    alone = plan_column_page(reg, "CN", YEAR, site_rows(), layout=LAYOUT)
    assert data.figures == alone.figures == Figures.from_rollup(ups["CN"])


def test_department_column_shows_levels_in_its_own_tree() -> None:
    data = plan_column_page(registry(), "bm29", YEAR, site_rows(), layout=LAYOUT)
    assert [(s.code, s.level_label) for s in data.sites] == [
        ("bm29000002", "国务院部门"),
        ("bm29230001", "部门省级分支"),
    ]
    html = render.render_column_page(data)
    assert '<script src="../../../static/column.js" defer></script>' in html
    assert '<form class="filters" id="site-filters" data-table="site-table" hidden>' in html


# ---------------------------------------------------------------- static files and the real form


def test_static_files_are_local_and_print_ready() -> None:
    files = render.static_files()
    css = files["static/site.css"].decode()
    js = files["static/column.js"].decode()
    assert "@page { size: A4; margin: 15mm; }" in css and "@media print" in css
    assert "break-inside: avoid" in css and "#b5192a" in css
    for text in (css, js):
        assert "http://" not in text and "https://" not in text and "@import" not in text
    assert "eval(" not in js and "innerHTML" not in js


def test_the_official_work_report_renders() -> None:
    forms = pytest.importorskip("shared.forms")
    if not hasattr(forms, "load_form"):
        pytest.skip("shared.forms does not export load_form yet")
    layout = work_report_layout()
    vs = versions()
    data = plan_site_page(registry(), "5100000001", YEAR, vs, vs[-1], "on_time")
    html = render.render_site_page(data)
    check_html(html)
    assert [s.label for s in data.sections][:2] == [layout[0].section_label, "网站访问"]
    column = plan_column_page(registry(), "510000", YEAR, site_rows())
    assert len(column.csv_header) == 7 + len([r for r in layout if r.type == "count"]) + 4
