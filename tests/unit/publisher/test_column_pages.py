"""A special column in pages (issue 19 item 3) and its publication column (issue 17 item 5).

The paging plan is pure (groups of rows → pages); at national scale every page stays under
500 KB and lists each site exactly once; a site that changes rewrites its own page only (with
the first page, which carries the counts, and the whole list's JSON, CSV and index).
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime
from functools import cache
from itertools import pairwise

import pytest

from services.publisher import render
from services.publisher.pages.column import column_plan, plan_column_page, site_standings
from services.publisher.pages.column_pages import (
    KEY_ALPHABET,
    MAX_ROWS,
    PagePart,
    RowGroup,
    index_doc,
    page_name,
    plan_pages,
)
from services.publisher.pages.records import SiteRow
from shared.publication import PublicationStanding
from shared.registry.model import Registry
from shared.registry.national import national_registry
from shared.rollup import SiteState, full_rollups
from tests.support.publisher import COUNT_PATHS, LAYOUT, YEAR, YES_NO_PATHS, registry, site_rows

MAX_PAGE_BYTES = 500 * 1024
FILED = datetime(2026, 1, 20, 6, 0, tzinfo=UTC)
DEADLINE = datetime(2026, 1, 31, 16, 0, tzinfo=UTC)


def group(key: str, rows: int) -> RowGroup:
    return RowGroup(key, f"名{key}", tuple(f"{key}-{i:04d}" for i in range(rows)))


# ---------------------------------------------------------------- the paging plan (pure)


def test_small_groups_share_a_page_and_a_big_one_is_split() -> None:
    pages = plan_pages([group("a", 120), group("b", 300), group("c", 1100), group("d", 40)])
    assert [(p.number, p.start, p.stop) for p in pages] == [
        (1, 0, 420),
        (2, 420, 920),
        (3, 920, 1420),
        (4, 1420, 1560),
    ]
    assert pages[0].parts == (PagePart("a", "名a", 120, False), PagePart("b", "名b", 300, False))
    assert [p.continued for p in pages[2].parts] == [True]
    assert pages[3].parts == (PagePart("c", "名c", 100, True), PagePart("d", "名d", 40, False))
    assert pages[3].label == "名c（续）、名d"
    assert [p.name for p in pages] == ["index.html", *(f"page-{n}.html" for n in range(2, 5))]


def test_a_group_that_would_overflow_the_page_starts_the_next() -> None:
    pages = plan_pages([group("a", 300), group("b", 250)], max_rows=500)
    assert [(p.start, p.stop) for p in pages] == [(0, 300), (300, 550)]


def test_every_row_is_on_exactly_one_page_and_no_page_is_over_the_limit() -> None:
    sizes = [0, 1, 499, 500, 501, 7, 0, 999, 1000, 1001, 3, 250, 250, 250]
    groups = [group(f"g{i}", n) for i, n in enumerate(sizes)]
    for limit in (1, 7, 250, 500):
        pages = plan_pages(groups, max_rows=limit)
        assert pages[0].start == 0 and pages[-1].stop == sum(sizes)
        assert all(a.stop == b.start for a, b in pairwise(pages))
        assert all(0 < p.stop - p.start <= limit for p in pages)
        assert all(sum(part.rows for part in p.parts) == p.stop - p.start for p in pages)
        assert [p.number for p in pages] == list(range(1, len(pages) + 1))


def test_no_rows_give_one_empty_first_page() -> None:
    (only,) = plan_pages([group("a", 0)])
    assert (only.number, only.start, only.stop, only.parts, only.name) == (
        1,
        0,
        0,
        (),
        "index.html",
    )
    with pytest.raises(ValueError):
        plan_pages([group("a", 1)], max_rows=0)
    with pytest.raises(ValueError):
        page_name(0)


def test_the_index_codes_each_rows_keys_in_one_character_per_key() -> None:
    pages = plan_pages([group("a", 2), group("b", 2)], max_rows=3)
    keys = {"status": ["on_time", "missing"], "publication": ["undeclared", "verified"]}
    rows = [
        {"status": "on_time", "publication": "verified"},
        {"status": "missing", "publication": "undeclared"},
        {"status": "missing", "publication": "verified"},
        {"status": "on_time", "publication": "undeclared"},
    ]
    doc = index_doc(pages, keys, rows)
    assert doc["keys"] == ["status", "publication"] and doc["total"] == 4
    assert [(p["href"], p["start"], p["count"], p["rows"]) for p in doc["pages"]] == [
        ("index.html", 0, 2, "0110"),
        ("page-2.html", 2, 2, "1100"),
    ]
    with pytest.raises(ValueError):
        index_doc(pages, {"status": [str(i) for i in range(len(KEY_ALPHABET) + 1)]}, [])


# ---------------------------------------------------------------- the publication column


def standing(state: str, url: str, **more: object) -> PublicationStanding:
    return PublicationStanding.model_validate(
        {"state": state, "declared": True, "url": url, **more}
    )


def test_each_row_shows_its_publication_and_the_counts_name_the_sites_not_verified() -> None:
    reg = registry()
    rows = site_rows()
    standings = {
        "5100000001": standing(
            "verified", "https://www.sc.gov.cn/nb/2025.html", verified=True, on_time=True
        ),
        "5101070001": standing("unreachable", "https://www.wuhou.gov.cn/nb.html"),
        "5101000001": PublicationStanding(
            state="judged_not_published", judged_by="510000", reason="首页未见链接"
        ),
        "5101070002": standing("pending", "javascript:alert(1)"),
    }
    states = {
        code: SiteState(
            site=code, status=row.status, report=row.report, publication=standings.get(code)
        )
        for code, row in rows.items()
    }
    ups = full_rollups(reg, YEAR, states, COUNT_PATHS, YES_NO_PATHS)
    found = site_standings(reg, "510000", YEAR, {(YEAR, n): r for n, r in ups.items()})
    assert found == {c: s for c, s in standings.items() if c in reg.sites_under("510000", YEAR)}
    data = plan_column_page(
        reg, "510000", YEAR, rows, layout=LAYOUT, rollup=ups["510000"], publication=found
    )
    files = render.column_page_files(data)
    html = files["columns/2025/510000/index.html"].decode()
    assert 'data-publication="verified"' in html and "已核验</span> 按时公开" in html
    assert '<a href="https://www.sc.gov.cn/nb/2025.html" rel="nofollow noopener noreferrer"' in html
    assert "监管单位认定未公开" in html and "四川省：首页未见链接" in html
    assert "javascript:" not in html  # a URL that is not http(s) is never a link
    assert '<option value="unreachable">无法访问</option>' in html
    counts = {line.key: line for line in data.publication}
    assert counts["verified"].count == 1 and counts["verified"].sites == ()
    assert [s.text for s in counts["unreachable"].sites] == ["成都市武侯区人民政府网站"]
    assert [s.text for s in counts["not_linked"].sites] == ["成都市人民政府网站"]
    doc = json.loads(files["columns/2025/510000/column.json"])
    by_code = {s["code"]: s for s in doc["sites"]}
    assert by_code["5100000001"]["publication"]["on_time"] is True
    assert by_code["5101070001"]["publication"]["state"] == "unreachable"
    assert by_code["5101000002"]["publication"] is None
    assert doc["publication"]["unreachable"] == 1
    table = list(
        csv.reader(io.StringIO(files["columns/2025/510000/column.csv"].decode("utf-8-sig")))
    )
    csv_rows = {r[0]: r for r in table[1:]}
    assert csv_rows["5100000001"][-4:] == ["已核验", "https://www.sc.gov.cn/nb/2025.html", "是", ""]
    assert csv_rows["5101000001"][-4:] == ["监管单位认定未公开", "", "", "四川省：首页未见链接"]


# ---------------------------------------------------------------- at national scale


@cache
def national() -> Registry:
    return national_registry()


STATES = ("verified", "not_linked", "unreachable", "content_differs", "manual", "pending")


def national_rows(
    changed: str | None = None,
) -> tuple[dict[str, SiteRow], dict[str, PublicationStanding]]:
    """Every site filed; every site declared a realistic URL, in one of several states."""
    rows: dict[str, SiteRow] = {}
    standings: dict[str, PublicationStanding] = {}
    for i, code in enumerate(sorted(national().sites)):
        status = "late" if code == changed else ("on_time", "missing", "late")[i % 3]
        filed = status != "missing"
        rows[code] = SiteRow(
            code, status, FILED if filed else None, counts=(12345, 678901, 23) if filed else None
        )
        state = STATES[i % len(STATES)]
        standings[code] = standing(
            state,
            f"https://www.{code}.gov.cn/zwgk/ndbb/2025/art_{i:05d}.html",
            verified=state == "verified",
            on_time=state == "verified" and i % 2 == 0,
            first_verified_at=FILED if state == "verified" else None,
        )
    return rows, standings


@cache
def national_files(node: str, changed: str | None = None) -> dict[str, bytes]:
    rows, standings = national_rows(changed)
    data = plan_column_page(national(), node, YEAR, rows, publication=standings)
    return render.column_page_files(data)


def listed_sites(files: dict[str, bytes]) -> list[str]:
    codes: list[str] = []
    for path, content in files.items():
        if path.endswith(".html"):
            codes += re.findall(r'<a href="https://www\.([^.]+)\.gov\.cn/', content.decode())
    return codes


@pytest.mark.parametrize("node", ["CN", "510000"])
def test_at_national_scale_every_page_is_under_500_kb_and_lists_each_site_once(node: str) -> None:
    files = national_files(node)
    reg = national()
    pages = {p: c for p, c in files.items() if p.endswith(".html")}
    expected = reg.sites_under(node, YEAR)
    assert len(pages) >= -(-len(expected) // MAX_ROWS) > 1
    assert max(len(c) for c in pages.values()) <= MAX_PAGE_BYTES, {
        p: len(c) for p, c in pages.items()
    }
    listed = listed_sites(files)
    assert sorted(listed) == sorted(expected) and len(set(listed)) == len(listed)
    index = json.loads(files[f"columns/2025/{node}/column-index.json"])
    assert index["total"] == len(expected)
    assert sum(p["count"] for p in index["pages"]) == len(expected)
    assert sorted(p["href"] for p in index["pages"]) == sorted(p.rsplit("/", 1)[1] for p in pages)
    assert len(files[f"columns/2025/{node}/column-index.json"]) < 100 * 1024
    # the whole list beside the pages
    assert len(json.loads(files[f"columns/2025/{node}/column.json"])["sites"]) == len(expected)


def test_at_national_scale_one_changed_site_rewrites_its_own_page_only() -> None:
    reg = national()
    codes, pages = column_plan(reg, "CN", YEAR)
    # a site on a later page whose status changes (late instead of what it was)
    rows, _ = national_rows()
    site = next(c for c in codes[pages[5].start : pages[5].stop] if rows[c].status != "late")
    before = national_files("CN")
    after = national_files("CN", changed=site)
    differ = sorted(p for p in before if before[p] != after.get(p))
    assert differ == sorted(
        f"columns/2025/CN/{name}"
        for name in ("index.html", pages[5].name, "column.json", "column.csv", "column-index.json")
    )
