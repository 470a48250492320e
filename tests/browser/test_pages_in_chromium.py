"""The published pages in headless Chromium, served by a running system: filters, local-only
requests, layout at desktop, phone and 200 % zoom widths, and screenshots of every page kind."""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.publisher.writer import SHARED_DIR
from shared.filings import current_reporting_year
from shared.registry.demo import demo_registry
from tests.support.reports import DATA, work_report_for
from tests.support.system import running_system, tokens_of
from tests.support.waiting import wait_until
from tools.launcher import System

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

YEAR = current_reporting_year(datetime.now(UTC))
REGISTRY = demo_registry()
#: site -> counts scale; 5109030001 files twice (a version history), 5109040001 is rejected
FILINGS = {"5100000001": 1, "5109000001": 2, "5109030001": 3, "bm29230001": 5}
AMENDED = "5109030001"
REJECTED = "5109040001"
WIDTHS = {"desktop": 1280, "phone": 390}
PAGES = {
    "index": "index.html",
    "site": f"sites/{YEAR}/{AMENDED}/index.html",
    "column": f"columns/{YEAR}/510900/index.html",
    "rollup": f"rollups/{YEAR}/510000/index.html",
    "supervision": f"supervision/{YEAR}/510000/index.html",
    "supervision-city": f"supervision/{YEAR}/510900/index.html",
}


def screenshot_dir() -> Path:
    folder = Path(os.environ.get("NIANBAO_SCREENSHOTS", "var/screenshots")).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def supervision_report() -> dict[str, Any]:
    report: dict[str, Any] = json.loads(
        (DATA / "supervision-report" / "clean.json").read_text(encoding="utf-8")
    )
    report["year"] = YEAR
    report["office"] = {"name": "四川省人民政府办公厅", "kind": "province", "code": "510000"}
    report["site_changes"]["closed"] = 1  # the registry knows of none: flagged on the page
    return report


def get_json(system: System, path: str) -> dict[str, Any] | None:
    response = httpx.get(f"{system.pages_url}/{path}", timeout=10)
    return response.json() if response.status_code == 200 else None


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    """A running system where sites and the province have filed, every page rendered."""
    with running_system(tmp_path_factory.mktemp("browser")) as running:
        tokens = tokens_of(running)

        def post(code: str, report: dict[str, Any]) -> str:
            response = httpx.post(
                f"{running.intake_url}/v1/reports",
                json=report,
                headers={"Authorization": f"Bearer {tokens[code]}"},
                timeout=10,
            )
            assert response.status_code == 202, response.text
            return str(response.json()["receipt_id"])

        receipts = {
            code: post(code, work_report_for(REGISTRY.sites[code], YEAR, scale))
            for code, scale in FILINGS.items()
        }
        bad = work_report_for(REGISTRY.sites[REJECTED], YEAR)
        bad["traffic"]["unique_visitors"] = bad["traffic"]["page_views"] + 1
        receipts[REJECTED] = post(REJECTED, bad)
        receipts["510000"] = post("510000", supervision_report())
        wait_until(lambda: get_json(running, f"sites/{YEAR}/{AMENDED}/report.json"), timeout=60)
        receipts[AMENDED] = post(AMENDED, work_report_for(REGISTRY.sites[AMENDED], YEAR, 4))

        def settled() -> bool:
            site = get_json(running, f"sites/{YEAR}/{AMENDED}/report.json") or {}
            office = get_json(running, f"supervision/{YEAR}/510000/supervision.json") or {}
            column = get_json(running, f"columns/{YEAR}/510900/column.json") or {}
            province = get_json(running, f"columns/{YEAR}/510000/column.json") or {}
            index = get_json(running, "index.json") or {}
            offices = {n["node"]: n.get("supervision_status") for n in index.get("nodes", [])}
            return (
                len(site.get("versions", [])) == 2
                and (office.get("office") or {}).get("status") == "on_time"
                and column.get("figures", {}).get("reported") == 2
                and column.get("figures", {}).get("rejected") == 1
                and province.get("figures", {}).get("reported") == 4
                and offices.get("510000") == "on_time"
            )

        wait_until(settled, timeout=90, interval=0.25)
        yield running


@pytest.fixture(scope="module")
def requests_seen() -> list[str]:
    return []


def open_page(
    browser: Any, system: System, path: str, width: int, seen: list[str], scale: float = 1
) -> tuple[Any, Any, list[str]]:
    """A page at this width (CSS pixels), recording every request and every script error."""
    context = browser.new_context(
        viewport={"width": width, "height": 900}, device_scale_factor=scale, locale="zh-CN"
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("request", lambda request: seen.append(request.url))
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    response = page.goto(f"{system.pages_url}/{path}", wait_until="load")
    assert response is not None and response.status == 200, path
    return context, page, errors


def visible_rows(page: Any) -> int:
    return int(
        page.evaluate(
            "Array.from(document.querySelectorAll('#site-table tbody tr[data-status]'))"
            ".filter(r => !r.hidden && r.offsetParent !== null).length"
        )
    )


def test_column_filters_and_sorting_work_in_the_page(
    system: System, browser: Any, requests_seen: list[str]
) -> None:
    path = f"columns/{YEAR}/510000/index.html"
    data = get_json(system, f"columns/{YEAR}/510000/column.json")
    assert data is not None
    sites = data["sites"]
    context, page, errors = open_page(browser, system, path, 1280, requests_seen)
    try:
        assert page.is_visible("#site-filters")  # the script revealed the filters
        assert visible_rows(page) == len(sites) == len(REGISTRY.sites_under("510000", YEAR))
        for status in ("on_time", "rejected", "missing"):
            page.select_option("select[name=status]", status)
            expected = sum(1 for s in sites if s["status"] == status)
            assert visible_rows(page) == expected == data["figures"][status], status
            assert page.inner_text(".filter-count") == f"显示 {expected} / {len(sites)} 个网站"
        page.select_option("select[name=status]", "")
        page.select_option("select[name=level]", "county")
        counties = sum(1 for s in sites if s["level"] == "county")
        assert visible_rows(page) == counties > 0
        page.select_option("select[name=type]", "portal")
        both = sum(1 for s in sites if s["level"] == "county" and s["type"] == "portal")
        assert visible_rows(page) == both > 0
        page.select_option("select[name=level]", "")
        page.select_option("select[name=type]", "")

        page.click("#site-table thead th:nth-child(5) button")  # 报送日期, ascending
        page.click("#site-table thead th:nth-child(5) button")  # descending: filed first
        first = page.eval_on_selector_all(
            "#site-table tbody tr", "rows => rows.slice(0, 4).map(r => r.dataset.status)"
        )
        assert set(first) <= {"on_time", "late"} and len(first) == 4
        sorted_header = "#site-table thead th:nth-child(5)"
        assert page.get_attribute(sorted_header, "aria-sort") == "descending"
        assert errors == []
    finally:
        context.close()


def test_every_page_kind_renders_locally_at_every_width(
    system: System, browser: Any, requests_seen: list[str]
) -> None:
    folder = screenshot_dir()
    for kind, path in PAGES.items():
        for label, width in WIDTHS.items():
            context, page, errors = open_page(browser, system, path, width, requests_seen)
            try:
                overflow = page.evaluate("document.documentElement.scrollWidth")
                assert overflow <= width, f"{kind} at {width}px scrolls sideways ({overflow}px)"
                assert page.evaluate("document.documentElement.lang") == "zh-CN"
                broken = page.evaluate(
                    "Array.from(document.images).filter(i => !i.complete || !i.naturalWidth)"
                    ".map(i => i.src)"
                )
                assert broken == [], broken
                assert errors == [], (kind, errors)
                page.screenshot(path=str(folder / f"{kind}-{label}.png"), full_page=True)
                page.screenshot(path=str(folder / f"{kind}-{label}-top.png"))
            finally:
                context.close()
    print(f"\nscreenshots: {folder}")


def test_pages_stay_readable_at_200_percent_zoom(
    system: System, browser: Any, requests_seen: list[str]
) -> None:
    """200 % zoom of a 1280 px window is a 640 px layout: nothing may scroll sideways."""
    for kind in ("site", "supervision", "column"):
        context, page, _errors = open_page(
            browser, system, PAGES[kind], 640, requests_seen, scale=2
        )
        try:
            assert page.evaluate("document.documentElement.scrollWidth") <= 640, kind
            size = page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")
            assert size >= 15
        finally:
            context.close()


def test_the_embed_snippet_and_badge_work(
    system: System, browser: Any, requests_seen: list[str]
) -> None:
    context, page, _errors = open_page(browser, system, PAGES["supervision"], 1280, requests_seen)
    try:
        snippet = page.inner_text("#h-embed ~ pre.snippet code >> nth=0")
        badge = f"{system.pages_url}/supervision/{YEAR}/510000/badge.svg"
        assert f'src="{badge}"' in snippet
        assert f'href="{system.pages_url}/{PAGES["supervision"]}"' in snippet
        # the snippet pasted into another page shows the badge and links back
        page.set_content(f"<!doctype html><html><body>{snippet}</body></html>")
        page.wait_for_function("document.images[0].complete && document.images[0].naturalWidth")
        assert page.evaluate("document.images[0].naturalWidth") > 100
        assert page.get_attribute("a", "href") == f"{system.pages_url}/{PAGES['supervision']}"
    finally:
        context.close()
    svg = httpx.get(badge, timeout=10)
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert "已发布 按时" in svg.text


def test_the_site_report_prints_on_a4(
    system: System, browser: Any, requests_seen: list[str]
) -> None:
    context, page, _errors = open_page(browser, system, PAGES["site"], 1280, requests_seen)
    try:
        page.emulate_media(media="print")
        for hidden in (".masthead", ".breadcrumbs", ".embed", ".downloads", ".site-footer"):
            assert page.is_hidden(hidden), hidden
        assert page.is_visible("table.report-section")
        pdf = page.pdf(prefer_css_page_size=True, print_background=False)
        (screenshot_dir() / "site-print.pdf").write_bytes(pdf)
        # A4 is 595.28 x 841.89 points (Chromium rounds it to whole CSS pixels)
        boxes = set(re.findall(rb"/MediaBox \[0 0 ([\d.]+) ([\d.]+)\]", pdf))
        assert len(boxes) == 1
        width, height = (float(v) for v in boxes.pop())
        assert abs(width - 595.28) < 2 and abs(height - 841.89) < 2
        assert len(re.findall(rb"/Type /Page\b(?!s)", pdf)) >= 2
    finally:
        context.close()


def test_publish_all_rewrites_nothing_when_nothing_changed(system: System) -> None:
    """`nianbao publish --all` into the live tree: every file comes out byte-identical."""
    pages = system.data_dir / "pages"

    def idle() -> bool:
        with sqlite3.connect(system.data_dir / "publisher.db") as db:
            return db.execute("select count(*) from publisher_dirty").fetchone()[0] == 0

    wait_until(idle, timeout=60, interval=0.2)
    before = tree_digest(pages)
    result = subprocess.run(
        [str(Path(sys.executable).parent / "nianbao"), "publish", "--all"],
        env=system.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    print(f"\n{result.stdout.strip()}")
    assert tree_digest(pages) == before
    # the published files, not the shared copies the badges link to
    published = [name for name in before if not name.startswith(f"{SHARED_DIR}/")]
    assert f"({len(published)} files, 0 changed)" in result.stdout, result.stdout


def tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith(".tmp-")
    }


def test_no_request_leaves_the_local_server(system: System, requests_seen: list[str]) -> None:
    assert requests_seen, "the other browser tests record their requests"
    outside = [url for url in requests_seen if not url.startswith(system.pages_url + "/")]
    assert outside == []
