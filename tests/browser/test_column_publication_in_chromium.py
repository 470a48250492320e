"""A province's 专栏 with publication (issue 17) in headless Chromium: the office's own duty
(本单位公开情况), the counts with the sites by name, each site's state in its row, the filter by
state; at desktop and phone widths; the README's screenshot (``column-publication.png``).

The pages are planned from the demo registry with standings as the verifier and the aggregator
leave them (some verified on time, one late, some not linked, one unreachable, one judged by its
office, some declared and not checked yet, the rest undeclared) and served from 127.0.0.1.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from services.publisher import render
from services.publisher.pages.column import plan_column_page, site_standings
from services.publisher.pages.records import SiteRow
from shared.filings import Status
from shared.publication import OfficePublication, PublicationStanding
from shared.registry.demo import demo_registry
from shared.rollup import SiteState, full_rollups
from tests.support.reports import work_report_for

pytestmark = [pytest.mark.browser]

YEAR = 2025
PROVINCE = "510000"
REGISTRY = demo_registry()
DEADLINE = datetime(YEAR + 1, 1, 31, 16, tzinfo=UTC)
#: the first sites of the column (its first rows), each in a state a supervisor meets
FIRST_ROWS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("verified", {"verified": True, "on_time": True}),
    ("verified", {"verified": True, "on_time": True}),
    ("not_linked", {}),
    ("verified", {"verified": True, "on_time": False}),
    ("pending", {}),
    ("undeclared", {}),
    ("unreachable", {}),
    ("judged_not_published", {}),
    ("verified", {"verified": True, "on_time": True}),
    ("content_differs", {}),
    ("undeclared", {}),
    ("manual", {}),
)


def _status(i: int) -> Status:
    if i % 23 == 5:
        return "missing"
    if i % 31 == 7:
        return "returned"
    return "late" if i % 7 == 3 else "on_time"


def _standing(code: str, i: int) -> PublicationStanding | None:
    if i < len(FIRST_ROWS):
        state, more = FIRST_ROWS[i]
    elif i % 3 == 0:
        state, more = "verified", {"verified": True, "on_time": i % 2 == 0}
    elif i % 29 == 1:
        state, more = "not_linked", {}
    elif i % 17 == 2:
        state, more = "pending", {}
    else:
        return None
    if state == "undeclared":
        return None
    site = REGISTRY.sites[code]
    checked = DEADLINE - timedelta(days=6, hours=i % 24)
    first = checked - timedelta(days=2) if more.get("on_time") else DEADLINE + timedelta(days=2)
    judged = state == "judged_not_published"
    return PublicationStanding(
        state=state,
        declared=True,
        url=f"{site.homepage_url}/ndbb/{YEAR}/gzndbb.html",
        first_verified_at=first if more.get("verified") else None,
        checked_at=None if state == "pending" else checked,
        judged_by=site.admin_node if judged else None,
        reason="首页仅在二级页面底部链接，未在显著位置公开" if judged else "",
        judged_at=checked + timedelta(days=1) if judged else None,
        **more,
    )


def column_files() -> dict[str, bytes]:
    codes = REGISTRY.sites_under(PROVINCE, YEAR)
    rows: dict[str, SiteRow] = {}
    states: dict[str, SiteState] = {}
    for i, code in enumerate(codes):
        status = _status(i)
        filed = status in ("on_time", "late")
        report = work_report_for(REGISTRY.sites[code], YEAR, 1 + i % 5) if filed else None
        day = 20 if status == "on_time" else 1
        month = 1 if status == "on_time" else 2
        filed_at = datetime(YEAR + 1, month, day, 2, i % 60, tzinfo=UTC) if filed else None
        rows[code] = SiteRow(code, status, filed_at, report)
        standing = _standing(code, i)
        if status != "missing" or standing is not None:
            states[code] = SiteState(site=code, status=status, report=report, publication=standing)
    ups = full_rollups(REGISTRY, YEAR, states, (), ())
    covered = sum(1 for i in range(len(codes)) if i % 9 != 4)
    ups[PROVINCE] = ups[PROVINCE].model_copy(
        update={
            "office_publication": OfficePublication(
                catalogue_state="verified",
                catalogue_url=f"https://www.sc.gov.cn/zwgk/jgnb/{YEAR}.html",
                catalogue_checked_at=datetime(YEAR + 1, 1, 26, 2, 36, tzinfo=UTC),
                column_state="verified",
                column_url=f"https://www.sc.gov.cn/ndbb/{YEAR}/index.html",
                column_checked_at=datetime(YEAR + 1, 1, 27, 7, 15, tzinfo=UTC),
                column_covered=covered,
                column_sites=len(codes),
            )
        }
    )
    keyed = {(YEAR, node): rollup for node, rollup in ups.items()}
    data = plan_column_page(
        REGISTRY,
        PROVINCE,
        YEAR,
        rows,
        rollup=ups[PROVINCE],
        publication=site_standings(REGISTRY, PROVINCE, YEAR, keyed),
    )
    return render.column_page_files(data) | render.static_files()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The column and the static files, served over HTTP from 127.0.0.1."""
    root = tmp_path_factory.mktemp("column-publication")
    for path, content in column_files().items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=root))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def screenshot_dir() -> Path:
    folder = Path(os.environ.get("NIANBAO_SCREENSHOTS", "var/screenshots")).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def visible_rows(page: Any) -> int:
    return int(
        page.evaluate(
            "Array.from(document.querySelectorAll('#site-table tbody tr[data-publication]'))"
            ".filter(r => !r.hidden && r.offsetParent !== null).length"
        )
    )


def test_the_column_shows_the_office_duty_the_counts_and_each_sites_state(
    served: str, browser: Any
) -> None:
    url = f"{served}/columns/{YEAR}/{PROVINCE}/index.html"
    seen: list[str] = []
    errors: list[str] = []
    context = browser.new_context(viewport={"width": 1100, "height": 900}, locale="zh-CN")
    try:
        page = context.new_page()
        page.on("request", lambda request: seen.append(request.url))
        page.on("pageerror", lambda error: errors.append(str(error)))
        response = page.goto(url, wait_until="load")
        assert response is not None and response.status == 200
        doc = page.evaluate("fetch('column.json').then(r => r.json())")
        own = page.inner_text("#h-office-publication ~ .table-wrap")
        column = doc["office_publication"]["column"]
        assert f"已链接 {column['covered']} / {column['sites']} 家网站" in own
        assert "已核验" in own and f"{YEAR + 1}-01-26 10:36" in own
        counts = doc["publication"]
        assert page.inner_text("tr.publication-not_linked td >> nth=0") == str(counts["not_linked"])
        states = [
            s["publication"]["state"] if s["publication"] else "undeclared" for s in doc["sites"]
        ]
        assert visible_rows(page) == len(states) == len(REGISTRY.sites_under(PROVINCE, YEAR))
        for state in ("verified", "not_linked", "undeclared", "judged_not_published"):
            page.select_option("select[name=publication]", state)
            assert visible_rows(page) == states.count(state) > 0, state
        page.select_option("select[name=publication]", "")
        assert visible_rows(page) == len(states)
        # the README's picture: the office's duty, the counts, the first rows of the list
        bottom = page.evaluate(
            "(() => { const r = document.querySelectorAll('#site-table tbody tr')[7]"
            ".getBoundingClientRect(); return r.bottom + window.scrollY + 8; })()"
        )
        shot = screenshot_dir() / "column-publication.png"
        page.screenshot(
            path=str(shot), full_page=True, clip={"x": 0, "y": 0, "width": 1100, "height": bottom}
        )
        assert shot.stat().st_size < 600 * 1024
        assert errors == []
        assert all(u.startswith(served) for u in seen), [
            u for u in seen if not u.startswith(served)
        ]
    finally:
        context.close()


def test_at_phone_width_nothing_scrolls_sideways(served: str, browser: Any) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 800}, locale="zh-CN")
    try:
        page = context.new_page()
        page.goto(f"{served}/columns/{YEAR}/{PROVINCE}/index.html", wait_until="load")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        assert page.is_visible("#h-office-publication")
        # the office's two duties read as cards: each row's label is visible
        assert page.is_visible("tr.office-column td[data-label='专栏链接的网站']")
    finally:
        context.close()
