"""Plausibility live: last year's figures and the peers' reach the validator through the bucket
the aggregator keeps, and give warnings that never reject."""

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

YEAR = current_reporting_year(datetime.now(UTC))
#: county portals of 遂宁 and 成都 (county.none peers); the first jumps, the last stands out
COUNTIES = ["5109040001", "5109210001", "5109220001", "5101040001", "5101050001", "5101080001"]
JUMPER = "5109230001"
OUTLIER = "5101060001"


def file(system: System, token: str, report: dict[str, Any]) -> dict[str, Any]:
    """POST a report and wait until it is counted; its receipt then."""
    response = httpx.post(
        f"{system.intake_url}/v1/reports",
        json=report,
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    receipt_id = response.json()["receipt_id"]

    def counted() -> dict[str, Any] | None:
        body: dict[str, Any] = httpx.get(
            f"{system.intake_url}/v1/receipts/{receipt_id}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        ).json()
        return body if body["stage"] in ("aggregated", "published") else None

    return wait_until(counted, timeout=90, interval=0.2)


def rules(receipt: dict[str, Any]) -> set[str]:
    return {w["rule_id"] for w in receipt["warnings"]}


def test_a_jump_from_last_year_and_a_peer_outlier_are_warned_live(
    system: System, tokens: dict[str, str]
) -> None:
    registry = demo_registry()
    sites = registry.sites
    last_year = file(system, tokens[JUMPER], work_report_for(sites[JUMPER], YEAR - 1))
    assert last_year["outcome"] == "accepted"
    jumped = file(system, tokens[JUMPER], work_report_for(sites[JUMPER], YEAR, scale=40))
    assert jumped["outcome"] == "accepted"
    assert "wr.plausibility_year_over_year" in rules(jumped)
    jumps = [w for w in jumped["warnings"] if w["rule_id"] == "wr.plausibility_year_over_year"]
    assert "traffic.unique_visitors" in {p for w in jumps for p in w["paths"]}
    assert "与上年" in jumps[0]["message_zh"]

    for scale, code in enumerate(COUNTIES, start=1):
        peer = file(system, tokens[code], work_report_for(sites[code], YEAR, scale))
        assert "wr.plausibility_peers" not in rules(peer)
    outlier = file(system, tokens[OUTLIER], work_report_for(sites[OUTLIER], YEAR, scale=2000))
    assert outlier["outcome"] == "accepted"
    assert "wr.plausibility_peers" in rules(outlier)
    assert all(w["severity"] == "warning" for w in outlier["warnings"])
