"""End to end: reports POSTed over HTTP become receipts, roll-ups and pages, through JetStream."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from shared.filings import current_reporting_year
from shared.registry.demo import demo_registry
from tests.support.reports import work_report_for
from tests.support.waiting import wait_until
from tools.launcher import System

pytestmark = pytest.mark.e2e

#: the year being filed now, so that reports made by the test are on time
YEAR = current_reporting_year(datetime.now(UTC))
COUNTY_SITE = "5109030001"  # a county (船山区) portal in Sichuan
CITY_SITE = "5109000001"  # the city (遂宁市) portal
BRANCH_SITE = "bm29230001"  # the tax system's Sichuan branch: both trees
PROVINCE_SITE = "5100000001"


def post(system: System, token: str, report: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{system.intake_url}/v1/reports",
        json=report,
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )


def receipt(system: System, token: str, receipt_id: str) -> dict[str, Any]:
    response = httpx.get(
        f"{system.intake_url}/v1/receipts/{receipt_id}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def published(system: System, token: str, receipt_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        body = receipt(system, token, receipt_id)
        return body if body["stage"] == "published" else None

    return wait_until(done, timeout=60, interval=0.2)


def page_json(system: System, path: str) -> dict[str, Any]:
    """A published JSON copy, or {} while the page is not written yet."""
    response = httpx.get(f"{system.pages_url}/{path}", timeout=10)
    if response.status_code == 404:
        return {}
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def test_reports_flow_to_receipts_rollups_and_pages(system: System, tokens: dict[str, str]) -> None:
    registry = demo_registry()
    scales = {PROVINCE_SITE: 1, CITY_SITE: 2, COUNTY_SITE: 3, BRANCH_SITE: 5}
    receipts = {}
    for code, scale in scales.items():
        response = post(system, tokens[code], work_report_for(registry.sites[code], YEAR, scale))
        assert response.status_code == 202, response.text
        body = response.json()
        assert body["stage"] == "submitted" and body["version"] == 1
        assert len(body["content_hash"]) == 64
        receipts[code] = body["receipt_id"]

    finals = {code: published(system, tokens[code], rid) for code, rid in receipts.items()}
    for code, final in finals.items():
        stages = [s["stage"] for s in final["stages"]]
        assert stages == ["submitted", "accepted", "aggregated", "published"], (code, final)
        assert final["errors"] == []
        assert any(code in url for url in final["urls"])

    base = work_report_for(registry.sites[COUNTY_SITE], YEAR)["services"]["cases"]["total"]

    def cases_total(path: str) -> int:
        return int(page_json(system, path).get("sums", {}).get("services.cases.total", -1))

    # the county's figures reach its city, province, the nation; the branch its department system
    def rolled_up() -> bool:
        return (
            cases_total(f"rollups/{YEAR}/510903/rollup.json") == 3 * base
            and cases_total(f"rollups/{YEAR}/510900/rollup.json") == (2 + 3) * base
            and cases_total(f"rollups/{YEAR}/510000/rollup.json") == (1 + 2 + 3 + 5) * base
            and cases_total(f"rollups/{YEAR}/CN/rollup.json") == (1 + 2 + 3 + 5) * base
            and cases_total(f"rollups/{YEAR}/bm29/rollup.json") == 5 * base
            and cases_total(f"rollups/{YEAR}/bm29-510000/rollup.json") == 5 * base
        )

    wait_until(rolled_up, timeout=30, interval=0.2)
    national = page_json(system, f"rollups/{YEAR}/CN/rollup.json")
    assert national["figures"]["reported"] == national["figures"]["on_time"] == 4
    assert national["figures"]["expected"] == len(registry.sites_under("CN", YEAR))

    site_page = httpx.get(f"{system.pages_url}/sites/{YEAR}/{COUNTY_SITE}/index.html").text
    assert registry.sites[COUNTY_SITE].name in site_page
    assert receipts[COUNTY_SITE] in site_page

    def column_lists_the_county() -> bool:
        rows = page_json(system, f"columns/{YEAR}/510900/column.json").get("sites", [])
        return any(r["code"] == COUNTY_SITE and r["status"] == "on_time" for r in rows)

    wait_until(column_lists_the_county, timeout=30, interval=0.2)
    column = httpx.get(f"{system.pages_url}/columns/{YEAR}/510900/index.html").text
    assert registry.sites[COUNTY_SITE].name in column and "专栏" in column


def test_identical_report_twice_is_one_version_and_a_change_is_a_new_one(
    system: System, tokens: dict[str, str]
) -> None:
    registry = demo_registry()
    code = "1100000088"
    report = work_report_for(registry.sites[code], YEAR)
    first = post(system, tokens[code], report).json()
    again = post(system, tokens[code], report).json()
    assert again["receipt_id"] == first["receipt_id"] and again["duplicate"] is True
    report["traffic"]["page_views"] += 1
    changed = post(system, tokens[code], report).json()
    assert changed["version"] == first["version"] + 1
    final = published(system, tokens[code], changed["receipt_id"])
    assert final["standing"]["counted_receipt"] == changed["receipt_id"]

    def page_counts_new_version() -> bool:
        doc = page_json(system, f"sites/{YEAR}/{code}/report.json")
        return bool((doc.get("counted") or {}).get("receipt_id") == changed["receipt_id"])

    wait_until(page_counts_new_version, timeout=30, interval=0.2)


def test_rejected_report_gets_every_error_with_its_field(
    system: System, tokens: dict[str, str]
) -> None:
    registry = demo_registry()
    code = "5109000001"
    report = work_report_for(registry.sites[code], YEAR + 1)
    report["traffic"]["unique_visitors"] = report["traffic"]["page_views"] + 1
    report["services"]["cases"]["total"] += 1
    response = post(system, tokens[code], report)
    assert response.status_code == 202
    final = published(system, tokens[code], response.json()["receipt_id"])
    assert final["outcome"] == "rejected"
    paths = {p for issue in final["errors"] for p in issue["paths"]}
    assert {"traffic.unique_visitors", "services.cases.total"} <= paths
    assert all(issue["message_zh"] and issue["message_en"] for issue in final["errors"])


@pytest.mark.parametrize(
    ("mutate", "status", "error"),
    [
        (lambda r: r["traffic"].update(extra=1), 422, "invalid_report"),
        (lambda r: r["traffic"].update(page_views="12"), 422, "invalid_report"),
        (lambda r: r.update(form_version="1999"), 422, "invalid_report"),
    ],
)
def test_malformed_reports_get_field_level_4xx(
    system: System, tokens: dict[str, str], mutate: Any, status: int, error: str
) -> None:
    registry = demo_registry()
    code = "1100000088"
    report = work_report_for(registry.sites[code], YEAR)
    mutate(report)
    response = post(system, tokens[code], report)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error and body["issues"]
    assert all(issue["paths"] for issue in body["issues"])


def test_edge_refusals(system: System, tokens: dict[str, str]) -> None:
    registry = demo_registry()
    report = work_report_for(registry.sites["1100000088"], YEAR)
    url = f"{system.intake_url}/v1/reports"
    assert post(system, "wrong", report).status_code == 401
    assert httpx.post(url, json=report).status_code == 401
    # a site token may file only its own code
    assert post(system, tokens[COUNTY_SITE], report).status_code == 403
    auth = {"Authorization": f"Bearer {tokens['1100000088']}"}
    not_json = httpx.post(url, content=b"{", headers={**auth, "content-type": "application/json"})
    assert not_json.status_code == 400 and not_json.json()["error"] == "invalid_json"
    text = httpx.post(url, content=b"x", headers={**auth, "content-type": "text/plain"})
    assert text.status_code == 415
    huge = httpx.post(url, content=b" " * (300 * 1024),
                      headers={**auth, "content-type": "application/json"})  # fmt: skip
    assert huge.status_code == 413
    report["site"]["site_code"] = "9999990001"
    unknown = post(system, tokens["1100000088"], report)
    assert unknown.status_code == 422 and unknown.json()["error"] == "unknown_code"


def test_registry_lookups(system: System) -> None:
    site = httpx.get(f"{system.intake_url}/v1/sites/{COUNTY_SITE}").json()
    assert site["code"] == COUNTY_SITE
    assert [n["code"] for n in site["nodes"]][:3] == ["510903", "510900", "510000"]
    node = httpx.get(f"{system.intake_url}/v1/nodes/510900").json()
    assert "510903" in [c["code"] for c in node["children"]]
    assert httpx.get(f"{system.intake_url}/v1/nodes/..%2F..").status_code in (404, 422)
