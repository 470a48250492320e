"""Supervisory offices end to end: the supervision report, return and refiling, approval and
its lock, an internal deadline making one site late, reminders, and subtree subscriptions."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.contracts import DEADLINES, DeadlineSet, deadline_subject
from shared.filings import current_reporting_year
from shared.registry.demo import demo_registry
from tests.support.pipeline import jetstream
from tests.support.reports import DATA, work_report_for
from tests.support.system import system_fixture
from tests.support.waiting import wait_until
from tools.launcher import System

pytestmark = pytest.mark.e2e

YEAR = current_reporting_year(datetime.now(UTC))
CITY = "510900"  # 遂宁市
ON_TIME, LATE, RETURNED, APPROVED = "5109030001", "5109040001", "5109210001", "5109220001"


office_system = system_fixture(
    scope="module",
    name="office_system",
    data_dir="supervision",
    env={"NIANBAO_REMINDER_INTERVAL_SECONDS": "0.3"},
)


class Api:
    def __init__(self, system: System) -> None:
        self.system = system
        self.tokens: dict[str, str] = json.loads(
            (system.data_dir / "demo-tokens.json").read_text(encoding="utf-8")
        )

    def call(self, method: str, path: str, who: str, body: Any = None) -> httpx.Response:
        return httpx.request(
            method,
            f"{self.system.intake_url}{path}",
            json=body,
            headers={"Authorization": f"Bearer {self.tokens[who]}"},
            timeout=10,
        )

    def file(self, who: str, report: dict[str, Any]) -> dict[str, Any]:
        response = self.call("POST", "/v1/reports", who, report)
        assert response.status_code == 202, response.text
        body: dict[str, Any] = response.json()
        return body

    def receipt(self, who: str, receipt_id: str) -> dict[str, Any]:
        body: dict[str, Any] = self.call("GET", f"/v1/receipts/{receipt_id}", who).json()
        return body

    def settled(self, who: str, receipt_id: str, **expected: Any) -> dict[str, Any]:
        """Wait until the receipt is published and its standing matches ``expected``."""

        def check() -> dict[str, Any] | None:
            body = self.receipt(who, receipt_id)
            standing = body.get("standing") or {}
            ok = body["stage"] == "published" and all(
                standing.get(k) == v for k, v in expected.items()
            )
            return body if ok else None

        return wait_until(check, timeout=60, interval=0.2)

    def rollup(self, node: str) -> dict[str, Any]:
        response = httpx.get(f"{self.system.pages_url}/rollups/{YEAR}/{node}/rollup.json")
        return response.json() if response.status_code == 200 else {}


def move_deadline(system: System, node: str, deadline: datetime) -> None:
    """Publish a DeadlineSet as the intake does after a PUT (set now, by the node's office)."""
    event = DeadlineSet(year=YEAR, node=node, deadline=deadline, set_by=node, at=datetime.now(UTC))

    async def publish() -> None:
        async with jetstream(system.nats.url) as js:
            await js.publish(
                deadline_subject(YEAR, node),
                event.model_dump_json().encode(),
                stream=DEADLINES.name,
                headers={"Nats-Msg-Id": f"test-deadline:{event.at.isoformat()}"},
            )

    asyncio.run(publish())


class Watch:
    """`nianbao subscribe` as a separate process, its JSON lines collected in a file."""

    def __init__(self, system: System, node: str) -> None:
        self.out = system.data_dir / f"watch-{node}.jsonl"
        self.process = subscriber(system, node, self.out)

    def lines(self) -> list[dict[str, Any]]:
        text = self.out.read_text(encoding="utf-8") if self.out.exists() else ""
        return [json.loads(line) for line in text.splitlines() if line.startswith("{")]

    def stop(self) -> list[dict[str, Any]]:
        self.process.terminate()
        self.process.wait(timeout=10)
        return self.lines()


def subscriber(system: System, node: str, out: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tools.cli",
            "subscribe",
            "--node",
            node,
            "--json",
            "--nats-url",
            system.nats.url,
            "--seconds",
            "300",
        ],
        stdout=out.open("wb"),
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def supervision_report() -> dict[str, Any]:
    report: dict[str, Any] = json.loads(
        (DATA / "supervision-report" / "clean.json").read_text(encoding="utf-8")
    )
    report["year"] = YEAR
    report["office"] = {"name": "四川省人民政府办公厅", "kind": "province", "code": "510000"}
    return report


def test_offices_supervise_their_sites(office_system: System) -> None:
    api = Api(office_system)
    registry = demo_registry()
    city_watch = Watch(office_system, CITY)
    other_watch = Watch(office_system, "510100")

    # the province files its own supervision report; a city office may not
    own = api.file("510000", supervision_report())
    assert api.call("POST", "/v1/reports", CITY, supervision_report()).status_code == 403
    assert api.settled("510000", own["receipt_id"])["outcome"] == "accepted"

    # an internal deadline in January, set by the province; a city may not, and no one may set
    # one before the year's end or in the past
    internal = {"deadline": f"{YEAR + 1}-01-29T23:59:59+08:00"}
    response = api.call("PUT", f"/v1/deadlines/{YEAR}/510000", "510000", internal)
    assert response.status_code == 202, response.text
    assert api.call("PUT", f"/v1/deadlines/{YEAR}/510000", CITY, internal).status_code == 403
    past = api.call(
        "PUT", f"/v1/deadlines/{YEAR}/510000", "510000", {"deadline": "2000-01-01T00:00:00+08:00"}
    )
    assert past.status_code == 422 and past.json()["issues"][0]["paths"] == ["deadline"]

    # the reminders and the lateness below need deadlines near the test's clock, which the API
    # takes only in January: the test moves the deadline by publishing the intake's event
    soon = datetime.now(UTC) + timedelta(days=2)
    move_deadline(office_system, "510000", soon)

    def reminders() -> dict[int, set[str]]:
        return {
            r["threshold_days"]: set(r["sites"])
            for r in city_watch.lines()
            if r["kind"] == "reminder" and r["node"] == CITY
        }

    city_sites = registry.sites_under(CITY, YEAR)
    assert wait_until(lambda: reminders().get(3), timeout=30) == set(city_sites)

    def sites(code: str) -> dict[str, Any]:
        return work_report_for(registry.sites[code], YEAR)

    on_time = api.file(ON_TIME, sites(ON_TIME))
    api.settled(ON_TIME, on_time["receipt_id"], status="on_time")
    # timeliness is judged to the second (23:59:59.9 is on time): file strictly after the cut
    cut = datetime.now(UTC).replace(microsecond=0)
    wait_until(lambda: datetime.now(UTC) >= cut + timedelta(seconds=1), interval=0.05)
    late = api.file(LATE, sites(LATE))

    # returned for correction, then refiled
    first = api.file(RETURNED, sites(RETURNED))
    api.settled(RETURNED, first["receipt_id"], status="on_time")
    back = api.call("POST", f"/v1/receipts/{first['receipt_id']}/return", CITY,
                    {"reason": "访问量数据有误", "paths": ["traffic.page_views"]})  # fmt: skip
    assert back.status_code == 202, back.text
    returned = api.settled(RETURNED, first["receipt_id"], status="returned")
    assert returned["standing"]["return_reason"] == "访问量数据有误"
    wait_until(lambda: api.rollup(CITY).get("figures", {}).get("returned") == 1, timeout=30)
    corrected = sites(RETURNED)
    corrected["traffic"]["page_views"] += 10
    second = api.file(RETURNED, corrected)
    assert second["version"] == 2
    api.settled(RETURNED, second["receipt_id"], status="on_time")
    history = api.call("GET", f"/v1/filings/{RETURNED}/work-report/{YEAR}", CITY).json()
    assert [r["action"] for r in history["reviews"]] == ["return"]
    assert [v["version"] for v in history["versions"]] == [1, 2]
    # a site may not return its own report, nor read another's filing
    assert api.call("POST", f"/v1/receipts/{second['receipt_id']}/return", RETURNED,
                    {"reason": "x"}).status_code == 403  # fmt: skip

    # approved and locked: a new version is refused until unlocked
    filed = api.file(APPROVED, sites(APPROVED))
    api.settled(APPROVED, filed["receipt_id"], status="on_time")
    ok = api.call("POST", f"/v1/receipts/{filed['receipt_id']}/approve", "510000", {})
    assert ok.status_code == 202, ok.text
    changed = sites(APPROVED)
    changed["traffic"]["page_views"] += 1
    refused = api.call("POST", "/v1/reports", APPROVED, changed)
    assert refused.status_code == 409 and refused.json()["error"] == "locked"
    assert "锁定" in refused.json()["message_zh"]
    # the city is below the approving province: it may not unlock
    path = f"/v1/filings/{APPROVED}/work-report/{YEAR}/unlock"
    assert api.call("POST", path, CITY, {}).status_code == 403
    assert api.call("POST", path, "510000", {"reason": "允许更正"}).status_code == 202
    wait_until(lambda: api.call("POST", "/v1/reports", APPROVED, changed).status_code == 202)

    # the province moves its deadline back to the cut: every site that filed after it is late
    move_deadline(office_system, "510000", cut)
    api.settled(LATE, late["receipt_id"], status="late")
    api.settled(ON_TIME, on_time["receipt_id"], status="on_time")

    def city_figures() -> dict[str, Any]:
        figures = api.rollup(CITY).get("figures", {})
        expected = {"reported": 4, "late": 3, "on_time": 1, "returned": 0}
        return figures if all(figures.get(k) == v for k, v in expected.items()) else {}

    figures = wait_until(city_figures, timeout=30)
    assert figures["expected"] == len(city_sites)
    assert figures["missing"] == len(city_sites) - 4

    # the one-day reminder lists only the sites still missing
    one_day = wait_until(lambda: reminders().get(1), timeout=30)
    assert one_day == set(city_sites) - {ON_TIME, LATE, RETURNED, APPROVED}
    city_lines, other_lines = city_watch.stop(), other_watch.stop()

    # the city's subscriber saw its subtree and nothing of another city
    city_nodes = {n for n in registry.descendants(CITY)}
    rollups = [line for line in city_lines if line["kind"] == "rollup"]
    assert rollups and {line["node"] for line in rollups} <= city_nodes
    reviews = [line for line in city_lines if line["kind"] == "review"]
    assert {(r["action"], r["code"]) for r in reviews} >= {
        ("return", RETURNED),
        ("approve", APPROVED),
        ("unlock", APPROVED),
    }
    assert all(line["code"].startswith("5109") for line in reviews)
    other_codes = {line.get("code") for line in other_lines} | {
        line.get("node") for line in other_lines
    }
    assert not any(str(code).startswith("5109") for code in other_codes if code)
    assert any(line["kind"] == "rollup" for line in other_lines)
