"""Golden files of every page kind (HTML, JSON, CSV) and byte-identical re-renders.

UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/publisher rewrites the golden files (golden/).
"""

from __future__ import annotations

import gc

from services.publisher import render
from services.publisher.pages.column import plan_column_page
from services.publisher.pages.site import plan_site_page
from tests.support.publisher import (
    LAYOUT,
    YEAR,
    all_files,
    check_golden,
    check_html,
    registry,
    site_rows,
    versions,
)

COLUMN_FILES = ("index.html", "column.json", "column.csv")
ROLLUP_FILES = ("index.html", "rollup.json", "rollup.csv")
SUPERVISION_FILES = ("index.html", "supervision.json", "supervision.csv")


def test_every_page_kind_matches_its_golden_files() -> None:
    files = all_files()
    assert sorted(files) == sorted(
        [
            *(f"columns/2025/{n}/{f}" for n in ("510000", "bm29") for f in COLUMN_FILES),
            *(f"rollups/2025/{n}/{f}" for n in ("CN", "510000") for f in ROLLUP_FILES),
            *(f"sites/2025/5100000001/{f}" for f in ("index.html", "report.json", "report.csv")),
            "sites/2025/5100000001/badge.svg",
            *(
                f"supervision/2025/{n}/{f}"
                for n in ("510000", "510100", "bm29")
                for f in SUPERVISION_FILES
            ),
            "supervision/2025/510000/badge.svg",
            "supervision/2025/bm29/badge.svg",
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
    first = render.column_page_files(plan_column_page(reg, "CN", YEAR, rows, layout=LAYOUT))
    again = plan_column_page(reg, "CN", YEAR, shuffled, layout=LAYOUT)
    assert render.column_page_files(again) == first
    vs = versions()
    a = plan_site_page(reg, "5100000001", YEAR, vs, vs[-1], "on_time", layout=LAYOUT)
    b = plan_site_page(reg, "5100000001", YEAR, vs[::-1], vs[-1], "on_time", layout=LAYOUT)
    assert render.site_page_files(a) == render.site_page_files(b)


def test_rendering_leaves_no_garbage_for_the_cyclic_collector() -> None:
    """A page's render frees all it made at once (a macro holding its render's context kept
    the page's data alive until the next collection, which then had it all to walk)."""
    all_files()  # the templates loaded, the imported macros made once
    gc.collect()
    gc.disable()
    try:
        all_files()
        assert gc.collect() == 0
    finally:
        gc.enable()
