"""Escaping, end to end: markup and script a filer or an office sends (media names, other-media
entries, sign-off names, a supervision office's name, the reason of a return) travel through the
running system and come out as text on every page kind: never as a tag or a javascript: link."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from markupsafe import escape

from shared.registry.demo import demo_registry
from tests.support.figures import SECURITY_FIGURES
from tests.support.pipeline import YEAR, service_consumers, settled_pages
from tests.support.reports import DATA, work_report_for
from tests.support.waiting import wait_until
from tools.launcher import System

pytestmark = pytest.mark.e2e

SITE = "5109000001"  # 遂宁市人民政府 portal: city 510900, province 510000
OFFICE = "110000"  # 北京市: files its supervision report
PAYLOADS = {
    "weibo": "<script>alert('weibo')</script>",
    "wechat": '<img src=x onerror="alert(1)">',
    "other type": "<script>alert('type')</script>",
    "other platform": "javascript:alert('platform')",
    "other name": "<svg onload=alert('svg')>",
    "innovation": "</td></tr><script>alert('innovation')</script>",
    "filler": "<b onmouseover=alert(1)>王芳</b>",
    "office": "<script>alert('office')</script>北京市人民政府办公厅",
    "reason": "请核对<script>alert('reason')</script><a href=\"javascript:alert(1)\">链接</a>",
}
#: what must never appear in a page (a tag or an attribute the browser would act on)
FORBIDDEN = [
    re.compile(r"<script>alert", re.I),
    re.compile(r"<img src=x", re.I),
    re.compile(r"<svg onload", re.I),
    re.compile(r"<b onmouseover", re.I),
    re.compile(r"""href\s*=\s*["']?\s*javascript:""", re.I),
    re.compile(r"</td></tr><script", re.I),
]


@pytest.fixture(scope="module")
def http(system: System) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=system.intake_url, timeout=30) as client:
        yield client


def hostile_report() -> dict[str, Any]:
    report = work_report_for(demo_registry().sites[SITE], YEAR)
    media = report["new_media"]
    media["weibo"]["name"] = PAYLOADS["weibo"]
    media["wechat"]["name"] = PAYLOADS["wechat"]
    media["other"] = [
        {
            "type": PAYLOADS["other type"],
            "platform": PAYLOADS["other platform"],
            "name": PAYLOADS["other name"],
            "posts": 1,
            "followers_or_downloads": 2,
        }
    ]
    report["innovation"]["features"] = ["accessibility", "other"]
    report["innovation"]["other_text"] = PAYLOADS["innovation"]
    report["signoff"]["filler"] = PAYLOADS["filler"]
    return report


def office_report() -> dict[str, Any]:
    report: dict[str, Any] = json.loads(
        (DATA / "supervision-report" / "clean.json").read_text(encoding="utf-8")
    )
    report["year"] = YEAR
    report["office"]["name"] = PAYLOADS["office"]
    return report


def stage_of(http: httpx.Client, token: str, receipt_id: str, wanted: str) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        body: dict[str, Any] = http.get(
            f"/v1/receipts/{receipt_id}", headers={"Authorization": f"Bearer {token}"}
        ).json()
        return body if wanted in {s["stage"] for s in body["stages"]} else None

    return wait_until(reached, timeout=90, interval=0.2)


def test_user_text_is_text_on_every_page(
    system: System, tokens: dict[str, str], http: httpx.Client
) -> None:
    site = {"Authorization": f"Bearer {tokens[SITE]}"}
    bad_name = work_report_for(demo_registry().sites[SITE], YEAR)
    bad_name["site"]["name"] = "<script>alert('name')</script>"
    rejected = http.post("/v1/reports", json=bad_name, headers=site)
    assert rejected.status_code == 202, rejected.text
    filed = http.post("/v1/reports", json=hostile_report(), headers=site)
    assert filed.status_code == 202, filed.text
    receipt = filed.json()["receipt_id"]
    final = stage_of(http, tokens[SITE], receipt, "published")
    assert final["outcome"] == "accepted", final["errors"]
    returned = http.post(
        f"/v1/receipts/{receipt}/return",
        json={"reason": PAYLOADS["reason"], "paths": ["new_media.other"]},
        headers={"Authorization": f"Bearer {tokens['510900']}"},
    )
    assert returned.status_code == 202, returned.text
    office = {"Authorization": f"Bearer {tokens[OFFICE]}"}
    supervision = http.post("/v1/reports", json=office_report(), headers=office)
    assert supervision.status_code == 202, supervision.text
    stage_of(http, tokens[OFFICE], supervision.json()["receipt_id"], "published")

    pages = system.data_dir / "pages"

    def returned_on_page() -> bool:
        page = pages / "sites" / str(YEAR) / SITE / "report.json"
        if not page.exists():
            return False
        reviews = json.loads(page.read_text(encoding="utf-8")).get("reviews") or []
        return any(r.get("reason") == PAYLOADS["reason"] for r in reviews)

    wait_until(returned_on_page, timeout=90, interval=0.3)
    asyncio.run(settled_pages(system, service_consumers(), within=120))

    html = {p: p.read_text(encoding="utf-8") for p in pages.rglob("*.html")}
    kinds = {p.relative_to(pages).parts[0] for p in html}
    assert {"sites", "columns", "rollups", "supervision", "index.html"} <= kinds
    unescaped = [
        (str(p.relative_to(pages)), pattern.pattern)
        for p, text in html.items()
        for pattern in FORBIDDEN
        if pattern.search(text)
    ]
    assert unescaped == []
    # the text is there, as text: escaped where it was placed
    site_page = html[pages / "sites" / str(YEAR) / SITE / "index.html"]
    absent = [
        name
        for name in ("weibo", "wechat", "other type", "other name", "innovation", "reason")
        if str(escape(PAYLOADS[name])) not in site_page
    ]
    assert absent == []
    supervision_page = html[pages / "supervision" / str(YEAR) / OFFICE / "index.html"]
    assert str(escape(PAYLOADS["office"])) in supervision_page
    scripts = sorted({m for text in html.values() for m in re.findall(r"<script[^>]*>", text)})
    assert all("alert" not in tag for tag in scripts), scripts
    SECURITY_FIGURES["escaping"] = (
        f"{len(html)} HTML pages of {len(kinds)} kinds scanned; page scripts: {scripts or 'none'}"
    )
