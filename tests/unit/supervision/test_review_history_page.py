"""The site page shows the return and the refiling in its history, as text."""

from __future__ import annotations

from services.publisher.pages import ReviewRecord, plan_site_page
from services.publisher.render import render_site_page
from tests.support.publisher import at, registry, versions


def test_returns_and_locks_appear_in_the_history_escaped() -> None:
    reg = registry()
    history = versions()
    site = "5100000001"
    first = min(history, key=lambda v: v.version)
    reviews = [
        ReviewRecord(
            review_id="a",
            action="return",
            receipt_id=first.receipt_id,
            office="510000",
            reason="<script>alert(1)</script>访问量有误",
            paths=("traffic.page_views",),
            at=at(15, 9),
        ),
        ReviewRecord(
            review_id="b",
            action="approve",
            receipt_id=max(history, key=lambda v: v.version).receipt_id,
            office="510000",
            reason="",
            paths=(),
            at=at(18, 9),
        ),
    ]
    counted = max(history, key=lambda v: v.version)
    page = plan_site_page(reg, site, 2025, history, counted, "on_time", reviews=reviews)
    assert [r.action_label for r in page.reviews] == ["退回修改", "审核通过（锁定）"]
    assert page.reviews[0].version == first.version
    assert page.reviews[0].fields == ("网站总访问量（次）",)
    assert page.json_doc["reviews"][0]["reason"].startswith("<script>")
    html = render_site_page(page)
    assert "审核记录" in html and "退回修改" in html and "四川省" in html
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;访问量有误" in html
