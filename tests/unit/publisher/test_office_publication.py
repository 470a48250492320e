"""An office's own publication on its pages (issue 17): "本单位公开情况" on the supervision page,
the roll-up page and the first page of the 专栏 of a province or department, with its JSON and
CSV; the catalogue entry and 专栏 with state (Chinese label), URL, check time and coverage."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

from services.publisher import render
from services.publisher.pages.column import plan_column_page
from services.publisher.pages.office_publication import (
    office_publication_csv_rows,
    office_publication_json,
    office_publication_view,
)
from services.publisher.pages.rollup import plan_rollup_page
from services.publisher.pages.supervision import plan_supervision_page
from shared.publication import STATE_LABELS, OfficePublication
from shared.rollup import NodeRollup
from tests.support.publisher import (
    LAYOUT,
    OFFICE_PUBLICATIONS,
    PUBLICATIONS,
    YEAR,
    check_html,
    registry,
    rollups,
    site_rows,
)

PROVINCE = "510000"
CATALOGUE_URL = "https://www.sc.gov.cn/zwgk/jgnb/2025.html"
COLUMN_URL = "https://www.sc.gov.cn/ndbb/2025/index.html"


def _with(rollup: NodeRollup, office: OfficePublication | None) -> NodeRollup:
    return rollup.model_copy(update={"office_publication": office})


def _section(html: str) -> str:
    start = html.index('<section aria-labelledby="h-office-publication"')
    return html[start : html.index("</section>", start)]


def _csv(files: dict[str, bytes]) -> list[list[str]]:
    text = next(v for k, v in files.items() if k.endswith(".csv")).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


def _json(files: dict[str, bytes]) -> dict[str, object]:
    doc = json.loads(next(v for k, v in files.items() if k.endswith(".json")))
    assert isinstance(doc, dict)
    return doc


# ---------------------------------------------------------------- planning


def test_a_province_shows_its_catalogue_entry_and_column_with_labels_and_coverage() -> None:
    reg = registry()
    view = office_publication_view(reg, rollups(reg)[PROVINCE])
    assert view is not None and view.office == "四川省"
    catalogue, column = view.duties
    assert (catalogue.label, catalogue.state_label) == ("监管年度报表在政府信息公开目录", "已核验")
    assert catalogue.url is not None and catalogue.url.href == CATALOGUE_URL
    assert (catalogue.checked_at, catalogue.checked_iso) == (
        "2026-01-25 13:00",
        "2026-01-25T13:00:00+08:00",
    )
    assert catalogue.coverage_text == ""
    assert column.state_label == STATE_LABELS["not_linked"] == "首页未链接"
    assert column.coverage_text == "已链接 3 / 5 家网站"
    assert office_publication_json(view) == {
        "catalogue": {
            "kind_label": "政府信息公开目录中的监管年度报表",
            "state": "verified",
            "state_label": "已核验",
            "url": CATALOGUE_URL,
            "checked_at": "2026-01-25T13:00:00+08:00",
        },
        "column": {
            "kind_label": "年度报表专栏",
            "state": "not_linked",
            "state_label": "首页未链接",
            "url": COLUMN_URL,
            "checked_at": "2026-01-25T14:00:00+08:00",
            "covered": 3,
            "sites": 5,
        },
    }
    rows = {path: value for _label, value, path in office_publication_csv_rows(view)}
    assert rows["office_publication.column.covered"] == "3"
    assert rows["office_publication.column.sites"] == "5"
    assert rows["office_publication.catalogue.state"] == "已核验"


def test_an_office_that_declared_nothing_shows_undeclared_and_other_nodes_nothing() -> None:
    reg = registry()
    ups = rollups(reg)
    department = office_publication_view(reg, ups["bm29"])
    assert department is not None
    assert [(d.state, d.state_label, d.url) for d in department.duties] == [
        ("undeclared", "未声明", None),
        ("undeclared", "未声明", None),
    ]
    assert department.column.coverage_text == "" and not department.column.checked
    # a city and the national root have no such duty; no roll-up: nothing known yet
    assert office_publication_view(reg, ups["510100"]) is None
    assert office_publication_view(reg, ups["CN"]) is None
    assert office_publication_view(reg, None) is None
    assert office_publication_json(None) is None and office_publication_csv_rows(None) == []


def test_a_declared_column_not_yet_checked_is_pending_without_coverage() -> None:
    reg = registry()
    pending = OfficePublication(column_state="pending", column_url=COLUMN_URL)
    view = office_publication_view(reg, _with(rollups(reg)[PROVINCE], pending))
    assert view is not None
    assert view.column.state_label == "待核验" and view.column.coverage_text == ""
    assert view.catalogue.state_label == "未声明"
    rows = [path for _label, _value, path in office_publication_csv_rows(view)]
    assert "office_publication.column.covered" not in rows


def test_a_url_that_is_not_http_is_shown_as_text_never_as_a_link() -> None:
    reg = registry()
    odd = OfficePublication(catalogue_state="pending", catalogue_url="javascript:alert(1)")
    view = office_publication_view(reg, _with(rollups(reg)[PROVINCE], odd))
    assert view is not None and view.catalogue.url is not None
    assert view.catalogue.url.href is None
    page = plan_rollup_page(reg, _with(rollups(reg)[PROVINCE], odd), [], LAYOUT)
    assert 'href="javascript:' not in render.render_rollup_page(page)


# ---------------------------------------------------------------- the three pages


def test_the_supervision_page_shows_the_office_publication_in_html_json_and_csv() -> None:
    reg = registry()
    ups = rollups(reg)
    data = plan_supervision_page(
        reg, PROVINCE, YEAR, site_rows(), rollup=ups[PROVINCE], publications=PUBLICATIONS
    )
    assert data.office_publication is not None
    files = render.supervision_page_files(data)
    html = files[data.paths.html].decode()
    check_html(html)
    assert '<a href="#h-office-publication">本单位公开情况</a>' in html
    section = _section(html)
    assert "监管年度报表在政府信息公开目录" in section and "门户网站年度报表专栏" in section
    assert f'<a href="{CATALOGUE_URL}" rel="external noopener nofollow">' in section
    assert '<time datetime="2026-01-25T13:00:00+08:00">2026-01-25 13:00</time>' in section
    assert "已链接 3 / 5 家网站" in section and "首页未链接" in section
    doc = _json(files)
    assert doc["office_publication"] == office_publication_json(data.office_publication)
    own = [r for r in _csv(files) if r[0] == "本单位公开情况"]
    assert ["门户网站年度报表专栏：已链接网站数", "3", "office_publication.column.covered"] in [
        [r[2], r[5], r[6]] for r in own
    ]


def test_a_city_supervision_page_has_no_office_publication() -> None:
    reg = registry()
    ups = rollups(reg)
    data = plan_supervision_page(reg, "510100", YEAR, site_rows(), rollup=ups["510100"])
    assert data.office_publication is None
    html = render.render_supervision_page(data)
    assert "h-office-publication" not in html
    assert data.json_doc["office_publication"] is None


def test_the_rollup_page_shows_the_office_publication_in_html_json_and_csv() -> None:
    reg = registry()
    ups = rollups(reg)
    page = plan_rollup_page(reg, ups[PROVINCE], [ups["510100"]], LAYOUT, PUBLICATIONS)
    files = render.rollup_page_files(page)
    html = files[page.paths.html].decode()
    check_html(html)
    section = _section(html)
    assert "已核验" in section and COLUMN_URL in section and "已链接 3 / 5 家网站" in section
    assert _json(files)["office_publication"] == office_publication_json(page.office_publication)
    own = {r[5]: r[4] for r in _csv(files) if r[0] == "本单位公开情况"}
    assert own["office_publication.column.state"] == "首页未链接"
    assert own["office_publication.catalogue.checked_at"] == "2026-01-25T13:00:00+08:00"


def test_the_column_shows_it_on_its_first_page_only_and_in_its_json() -> None:
    reg = registry()
    ups = rollups(reg)
    data = plan_column_page(
        reg,
        PROVINCE,
        YEAR,
        site_rows(),
        layout=LAYOUT,
        rollup=ups[PROVINCE],
        publication=PUBLICATIONS,
        max_rows=2,
    )
    assert len(data.parts) > 1  # paged: the section stays on the first page
    files = render.column_page_files(data)
    first = files[data.parts[0].html].decode()
    check_html(first)
    assert "已链接 3 / 5 家网站" in _section(first)
    for part in data.parts[1:]:
        later = files[part.html].decode()
        check_html(later)
        assert "h-office-publication" not in later
    assert _json(files)["office_publication"] == office_publication_json(data.office_publication)
    # the CSV stays one row per site, its header unchanged
    assert _csv(files)[0][0] == "政府网站标识码"


def test_a_new_check_of_the_column_changes_the_first_page_only() -> None:
    reg = registry()
    ups = rollups(reg)
    later = OFFICE_PUBLICATIONS[PROVINCE].model_copy(
        update={
            "column_state": "verified",
            "column_covered": 5,
            "column_checked_at": datetime(2026, 1, 28, 2, tzinfo=UTC),
        }
    )
    before, after = (
        render.column_page_files(
            plan_column_page(
                reg, PROVINCE, YEAR, site_rows(), layout=LAYOUT, rollup=rollup, max_rows=2
            )
        )
        for rollup in (ups[PROVINCE], _with(ups[PROVINCE], later))
    )
    changed = sorted(path for path in before if before[path] != after[path])
    folder = "columns/2025/510000/"
    assert changed == [folder + "column.json", folder + "index.html"]
    assert "已链接 5 / 5 家网站" in _section(after[folder + "index.html"].decode())
