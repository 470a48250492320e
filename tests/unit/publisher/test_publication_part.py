"""The pages show publication (issue 17): the roll-up, column, supervision pages and the index
the counts of their nodes, the roll-up and supervision pages the sites not verified by name, a
site's page its own standing with the summary of its latest check; in the HTML, the JSON and the
CSV beside them."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from typing import Any

from services.publisher import render
from services.publisher.pages.column import plan_column_page
from services.publisher.pages.index import plan_index
from services.publisher.pages.rollup import plan_rollup_page
from services.publisher.pages.site import plan_site_page
from services.publisher.pages.supervision import plan_supervision_page
from shared.publication import (
    MAX_FINDINGS,
    MAX_TEXT,
    Finding,
    PublicationChecked,
    PublicationStanding,
    with_evidence,
)
from shared.rollup import SiteState, full_rollups
from tests.support.publisher import (
    COUNT_PATHS,
    LAYOUT,
    PUBLICATIONS,
    YEAR,
    YES_NO_PATHS,
    assert_inert,
    hostile_registry,
    registry,
    rollups,
    site_rows,
)

VERIFIED = PublicationStanding(state="verified", declared=True, verified=True, on_time=True)
NOT_LINKED = PublicationStanding(state="not_linked", declared=True)


def test_rollup_and_column_pages_carry_the_publication_counts() -> None:
    reg = registry()
    rows = site_rows()
    standings = {"5100000001": VERIFIED, "5101070001": NOT_LINKED}
    states = {
        code: SiteState(
            site=code, status=row.status, report=row.report, publication=standings.get(code)
        )
        for code, row in rows.items()
        if row.status != "missing" or code in standings
    }
    ups = full_rollups(reg, YEAR, states, COUNT_PATHS, YES_NO_PATHS)
    page = plan_rollup_page(reg, ups["510000"], [], LAYOUT)
    files = render.rollup_page_files(page)
    html = next(v for k, v in files.items() if k.endswith(".html")).decode()
    assert "网站公开情况" in html and "按时公开" in html and "首页未链接" in html
    doc = json.loads(next(v for k, v in files.items() if k.endswith(".json")))
    assert doc["publication"]["declared"] == 2
    assert doc["publication"]["verified_on_time"] == 1
    assert doc["publication"]["not_linked"] == 1
    text = next(v for k, v in files.items() if k.endswith(".csv")).decode("utf-8-sig")
    lines = {r[5]: r[4] for r in csv.reader(io.StringIO(text)) if len(r) > 5}
    assert lines["publication.verified"] == "1" and lines["publication.declared"] == "2"
    column = plan_column_page(reg, "510000", YEAR, rows, rollup=ups["510000"])
    column_files = render.column_page_files(column)
    html = next(v for k, v in column_files.items() if k.endswith(".html")).decode()
    assert "网站公开情况" in html
    column_doc = json.loads(next(v for k, v in column_files.items() if k.endswith(".json")))
    assert column_doc["publication"]["verified"] == 1


# ---------------------------------------------------------------- sites by name, site page


def _files_text(files: dict[str, bytes]) -> tuple[str, dict[str, Any], list[list[str]]]:
    html = next(v for k, v in files.items() if k.endswith(".html")).decode()
    doc = json.loads(next(v for k, v in files.items() if k.endswith(".json")))
    text = next(v for k, v in files.items() if k.endswith(".csv")).decode("utf-8-sig")
    return html, doc, list(csv.reader(io.StringIO(text)))


def test_a_rollup_page_names_the_sites_not_verified_by_state() -> None:
    reg = registry()
    ups = rollups(reg)
    page = plan_rollup_page(reg, ups["510000"], [], LAYOUT, PUBLICATIONS)
    assert [(lst.label, [s.link.text for s in lst.sites]) for lst in page.publication_sites] == [
        ("首页未链接", ["成都市人民政府网站", "成都市武侯区人民政府网站"]),
        ("待核验", ["国家税务总局四川省税务局网站"]),
    ]
    html, doc, rows = _files_text(render.rollup_page_files(page))
    table = html[html.index('id="h-publication-sites"') :]
    assert "尚未核验通过公开的网站" in table
    assert "成都市人民政府网站</a>、" in table
    assert "成都市武侯区人民政府网站</a>（监管单位认定未公开）" in table
    # the verified site is not listed; each name links to its site page
    assert "四川省人民政府网站" not in table
    assert 'href="../../../sites/2025/5101000001/index.html"' in table
    assert doc["publication"]["not_linked"] == 2 and doc["publication"]["declared"] == 4
    assert [s["code"] for s in doc["publication_sites"]["not_linked"]] == [
        "5101000001",
        "5101070001",
    ]
    assert doc["publication_sites"]["not_linked"][1]["note"] == "监管单位认定未公开"
    listed = [r for r in rows if r[0] == "尚未核验通过公开的网站"]
    assert listed[0][1:5] == ["首页未链接", "成都市人民政府网站", "网站标识码", "5101000001"]
    assert listed[-1][5] == "publication.pending"


def test_a_rollup_page_without_unverified_sites_says_none() -> None:
    reg = registry()
    verified = {"5100000001": PUBLICATIONS["5100000001"]}
    page = plan_rollup_page(reg, rollups(reg)["510000"], [], LAYOUT, verified)
    html = render.render_rollup_page(page)
    section = html[html.index('id="h-publication-sites"') :]
    assert section.split("</section>")[0].endswith('<p class="empty">无。</p>\n')


def test_the_supervision_page_shows_the_counts_and_names() -> None:
    reg = registry()
    ups = rollups(reg)
    data = plan_supervision_page(
        reg, "510100", YEAR, site_rows(), rollup=ups["510100"], publications=PUBLICATIONS
    )
    html, doc, rows = _files_text(render.supervision_page_files(data))
    assert data.name == "成都市" and ">成都市专栏</a>" in html  # the node's own name throughout
    assert 'href="#h-publication-sites"' in html  # in the page's table of contents
    counts = html[html.index('id="h-publication"') : html.index('id="h-publication-sites"')]
    assert '<th scope="row">首页未链接</th><td>2</td>' in counts
    names = html[html.index('id="h-publication-sites"') :]
    assert "成都市人民政府网站" in names and "国家税务总局四川省税务局网站" not in names
    assert doc["derived"]["publication"]["not_linked"] == 2
    assert [s["name"] for s in doc["derived"]["publication_sites"]["not_linked"]] == [
        "成都市人民政府网站",
        "成都市武侯区人民政府网站",
    ]
    assert ["网站公开情况", "", "已声明", "", "个", "2", "publication.declared"] in rows
    assert any(r[0] == "尚未核验通过公开的网站" and r[5] == "5101070001" for r in rows)


def test_the_index_shows_the_counts_of_every_node_listed() -> None:
    reg = registry()
    data = plan_index(reg, YEAR, rollups(reg))
    html, doc, rows = _files_text(render.index_files(data))
    table = html[html.index('id="h-publication"') :]
    assert '<th scope="col">按时公开</th>' in table and '<th scope="col">需人工核验</th>' in table
    assert '<th scope="row"><a href="rollups/2025/510000/index.html">四川省</a></th>' in table
    by_node = {n["node"]: n for n in doc["nodes"]}
    assert by_node["510000"]["publication"]["declared"] == 4
    assert by_node["bm29"]["publication"]["declared"] == 1
    header, province = rows[0], next(r for r in rows if r[0] == "510000")
    assert dict(zip(header, province, strict=True))["网站公开：首页未链接"] == "2"


def test_the_site_page_shows_a_judgement_and_the_findings() -> None:
    reg = registry()
    judged = plan_site_page(
        reg, "5101070001", YEAR, [], None, "late", publication=PUBLICATIONS["5101070001"]
    )
    html, doc, rows = _files_text(render.site_page_files(judged))
    part = html[html.index('id="h-site-publication"') :].split("</section>")[0]
    assert "监管单位认定未公开" in part
    assert '<th scope="row">认定单位</th><td>成都市（' in part
    assert "首页仅在二级页面底部链接" in part
    assert 'href="https://5101070001.example.gov.cn/nb.html"' in part
    assert "尚未核验通过" in part and "2026-01-25 12:00" in part  # last checked, Beijing time
    assert doc["publication"]["state"] == "judged_not_published"
    assert doc["publication"]["judged_by"] == "510100"
    assert next(r[:4] for r in rows if r[4] == "publication.reason") == [
        "网站公开情况",
        "认定理由",
        "",
        "首页仅在二级页面底部链接",
    ]
    not_linked = plan_site_page(
        reg, "5101000001", YEAR, [], None, "on_time", publication=PUBLICATIONS["5101000001"]
    )
    html = render.render_site_page(not_linked)
    part = html[html.index('id="h-site-publication"') :].split("</section>")[0]
    assert "首页未链接" in part and "核验内容" in part
    assert "<li>首页未找到指向声明页面的链接</li>" in part
    assert "<li>首页页脚的ICP备案号与报表不一致</li>" in part


def test_the_site_page_of_a_site_that_never_declared() -> None:
    page = plan_site_page(registry(), "5101000002", YEAR, [], None, "returned")
    html, doc, rows = _files_text(render.site_page_files(page))
    part = html[html.index('id="h-site-publication"') :].split("</section>")[0]
    assert "未声明" in part and "nianbao declare" in part and "核验发现" not in part
    assert doc["publication"] == {"state": "undeclared", "state_label": "未声明"}
    assert not any(r[0] == "网站公开情况" for r in rows[1:])


def test_an_evidence_summary_is_capped() -> None:
    check = PublicationChecked(
        check_id="c1",
        kind="report",
        code="5101000001",
        year=YEAR,
        url="https://5101000001.example.gov.cn/nb.html",
        state="content_differs",
        checked_at=datetime(2026, 1, 25, tzinfo=UTC),
        findings=[Finding(kind="figure", message_zh="数" * 500, message_en="x")] * 9,
        link_text="链" * 300,
    )
    summary = with_evidence(PublicationStanding(state="content_differs", declared=True), check)
    assert len(summary.findings) == MAX_FINDINGS
    assert summary.findings[-1] == "另有 5 项"
    assert all(len(f) <= MAX_TEXT for f in summary.findings)
    assert summary.link_text is not None and len(summary.link_text) == MAX_TEXT


def test_text_from_a_crawled_site_stays_text() -> None:
    """Link text and findings come from pages on the web: escaped in HTML, neutralised in CSV;
    a declared URL that is not http(s) is shown, never linked."""
    reg = hostile_registry()
    hostile = PublicationStanding(
        state="manual",
        declared=True,
        url="javascript:alert(1)",
        checked_at=datetime(2026, 1, 25, tzinfo=UTC),
        link_text="<script>alert(1)</script>",
        link_position="=HYPERLINK(1)",
        findings=('"><img src=x onerror=alert(2)>',),
    )
    page = plan_site_page(reg, "1100000001", YEAR, [], None, "missing", publication=hostile)
    html, _doc, rows = _files_text(render.site_page_files(page))
    assert_inert(html)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    position = next(r for r in rows if r[4] == "publication.link_position")
    assert position[3] == "'=HYPERLINK(1)"
    ups = full_rollups(
        reg,
        YEAR,
        {"1100000001": SiteState(site="1100000001", status="missing", publication=hostile)},
        COUNT_PATHS,
        YES_NO_PATHS,
    )
    rollup = plan_rollup_page(reg, ups["110000"], [], LAYOUT, {"1100000001": hostile})
    assert_inert(render.render_rollup_page(rollup))
