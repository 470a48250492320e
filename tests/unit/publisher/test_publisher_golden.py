"""Golden files of every page kind (HTML, JSON, CSV) and byte-identical re-renders.

UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/publisher rewrites the golden files.
"""

from __future__ import annotations

from services.publisher import pages, render, supervision
from tests.unit.publisher.publisher_support import (
    LAYOUT,
    YEAR,
    changes_registry,
    check_golden,
    check_html,
    registry,
    rollups,
    site_rows,
    supervision_versions,
    versions,
)

BASE_URL = "https://nianbao.example.gov.cn"
COLUMN_FILES = ("index.html", "column.json", "column.csv")
ROLLUP_FILES = ("index.html", "rollup.json", "rollup.csv")
SUPERVISION_FILES = ("index.html", "supervision.json", "supervision.csv")


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
        data = supervision.plan_supervision_page(
            reg,
            node,
            YEAR,
            site_rows(),
            rollup=ups[node],
            child_rollups=[ups[c] for c in reg.children(node)],
            base_url=BASE_URL,
            **kwargs,  # type: ignore[arg-type]
        )
        files |= render.supervision_page_files(data)
    return files


def all_files() -> dict[str, bytes]:
    reg = registry()
    ups = rollups(reg)
    vs = versions()
    files: dict[str, bytes] = {}
    site = pages.plan_site_page(
        reg, "5100000001", YEAR, vs, vs[-1], "on_time", layout=LAYOUT, base_url=BASE_URL
    )
    files |= render.site_page_files(site)
    for node in ("510000", "bm29"):
        column = pages.plan_column_page(reg, node, YEAR, site_rows(), layout=LAYOUT)
        files |= render.column_page_files(column)
    for node in ("CN", "510000"):
        kids = [ups[c] for c in reg.children(node)]
        files |= render.rollup_page_files(pages.plan_rollup_page(reg, ups[node], kids, LAYOUT))
    statuses = {"510000": "on_time"}
    files |= render.index_files(
        pages.plan_index(reg, YEAR, ups, years=[2024], supervision=statuses)
    )
    return files | supervision_files()


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
    first = render.column_page_files(pages.plan_column_page(reg, "CN", YEAR, rows, layout=LAYOUT))
    again = pages.plan_column_page(reg, "CN", YEAR, shuffled, layout=LAYOUT)
    assert render.column_page_files(again) == first
    vs = versions()
    a = pages.plan_site_page(reg, "5100000001", YEAR, vs, vs[-1], "on_time", layout=LAYOUT)
    b = pages.plan_site_page(reg, "5100000001", YEAR, vs[::-1], vs[-1], "on_time", layout=LAYOUT)
    assert render.site_page_files(a) == render.site_page_files(b)
