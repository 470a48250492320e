"""Golden files of every page kind (HTML, JSON, CSV) and byte-identical re-renders.

UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/publisher rewrites the golden files.
"""

from __future__ import annotations

from services.publisher import pages, render
from tests.unit.publisher.publisher_support import (
    LAYOUT,
    YEAR,
    check_golden,
    check_html,
    registry,
    rollups,
    site_rows,
    versions,
)

COLUMN_FILES = ("index.html", "column.json", "column.csv")
ROLLUP_FILES = ("index.html", "rollup.json", "rollup.csv")


def all_files() -> dict[str, bytes]:
    reg = registry()
    ups = rollups(reg)
    vs = versions()
    files: dict[str, bytes] = {}
    site = pages.plan_site_page(reg, "5100000001", YEAR, vs, vs[-1], "on_time", layout=LAYOUT)
    files |= render.site_page_files(site)
    for node in ("510000", "bm29"):
        column = pages.plan_column_page(reg, node, YEAR, site_rows(), layout=LAYOUT)
        files |= render.column_page_files(column)
    for node in ("CN", "510000"):
        kids = [ups[c] for c in reg.children(node)]
        files |= render.rollup_page_files(pages.plan_rollup_page(reg, ups[node], kids, LAYOUT))
    files |= render.index_files(pages.plan_index(reg, YEAR, ups, years=[2024]))
    return files


def test_every_page_kind_matches_its_golden_files() -> None:
    files = all_files()
    assert sorted(files) == sorted(
        [
            *(f"columns/2025/{n}/{f}" for n in ("510000", "bm29") for f in COLUMN_FILES),
            *(f"rollups/2025/{n}/{f}" for n in ("CN", "510000") for f in ROLLUP_FILES),
            *(f"sites/2025/5100000001/{f}" for f in ("index.html", "report.json", "report.csv")),
            "index.html",
            "index.json",
            "index.csv",
        ]
    )
    check_golden(files)


def test_every_page_passes_the_html_checks() -> None:
    for path, content in all_files().items():
        if path.endswith(".html"):
            check_html(content.decode("utf-8"))


def test_a_full_re_render_is_byte_identical() -> None:
    assert all_files() == all_files()


def test_rendering_ignores_the_order_values_arrive_in() -> None:
    reg = registry()
    rows = site_rows()
    shuffled = dict(reversed(list(rows.items())))
    first = render.column_page_files(pages.plan_column_page(reg, "CN", YEAR, rows, layout=LAYOUT))
    again = pages.plan_column_page(reg, "CN", YEAR, shuffled, layout=LAYOUT)
    assert render.column_page_files(again) == first
    vs = versions()
    a = pages.plan_site_page(reg, "5100000001", YEAR, vs, vs[-1], "on_time", layout=LAYOUT)
    b = pages.plan_site_page(reg, "5100000001", YEAR, vs[::-1], vs[-1], "on_time", layout=LAYOUT)
    assert render.site_page_files(a) == render.site_page_files(b)
