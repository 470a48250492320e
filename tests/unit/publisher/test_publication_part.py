"""The roll-up and column pages show the publication counts of their node (issue 17), in the
HTML, the JSON and the CSV beside them."""

from __future__ import annotations

import csv
import io
import json

from services.publisher import render
from services.publisher.pages.column import plan_column_page
from services.publisher.pages.rollup import plan_rollup_page
from shared.publication import PublicationStanding
from shared.rollup import SiteState, full_rollups
from tests.support.publisher import (
    COUNT_PATHS,
    LAYOUT,
    YEAR,
    YES_NO_PATHS,
    registry,
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
