"""Two aggregator replicas on one durable consumer and one PostgreSQL database: correct
roll-ups, as `docker compose up --scale aggregator=2` runs them."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.aggregator.main import CONSUMER as AGGREGATOR_CONSUMER
from shared.contracts import VERDICTS
from shared.filings import current_reporting_year
from shared.registry.demo import demo_registry
from tests.support.pipeline import jetstream
from tests.support.reports import work_report_for
from tests.support.system import running_system
from tests.support.waiting import wait_until
from tools.launcher import System

pytestmark = pytest.mark.e2e

YEAR = current_reporting_year(datetime.now(UTC))


@pytest.fixture
def replicated(
    tmp_path: Path, database_url: str
) -> Iterator[tuple[System, subprocess.Popen[bytes]]]:
    if not database_url.startswith("postgresql"):
        pytest.skip(
            "aggregator replicas share a PostgreSQL database (set NIANBAO_TEST_POSTGRES_URL)"
        )
    env = {"NIANBAO_AGGREGATOR_DATABASE_URL": database_url}
    with running_system(tmp_path, env=env) as system:
        second = subprocess.Popen(
            [sys.executable, "-m", "services.aggregator"],
            env={**system.env, "NIANBAO_HEALTH_PORT": "0"},
            stdout=(tmp_path / "logs" / "aggregator-2.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        try:
            # both replicas are waiting on the durable consumer before any report is filed (a
            # fast burst could otherwise be over before the second one has started)
            wait_until(lambda: asyncio.run(pull_requests(system.nats.url)) >= 2, timeout=60)
            yield system, second
        finally:
            second.terminate()
            second.wait(15)


async def pull_requests(url: str) -> int:
    """Pull requests waiting on the aggregators' durable consumer (one or more per replica)."""
    async with jetstream(url) as js:
        info = await js.consumer_info(VERDICTS.name, AGGREGATOR_CONSUMER.durable)
        return int(info.num_waiting or 0)


def test_two_aggregators_count_every_report_once(
    replicated: tuple[System, subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    system, second = replicated
    registry = demo_registry()
    tokens = json.loads((system.data_dir / "demo-tokens.json").read_text(encoding="utf-8"))
    sites = sorted(registry.sites_under("510000", YEAR))[:80]
    latest: dict[str, dict[str, Any]] = {}

    def file(code: str, scale: int) -> str:
        report = work_report_for(registry.sites[code], YEAR, scale)
        response = httpx.post(
            f"{system.intake_url}/v1/reports",
            json=report,
            headers={"Authorization": f"Bearer {tokens[code]}"},
            timeout=30,
        )
        assert response.status_code == 202, response.text
        latest[code] = report
        return str(response.json()["receipt_id"])

    logs = [tmp_path / "logs" / "aggregator.log", tmp_path / "logs" / "aggregator-2.log"]

    def batches(log: Path) -> int:
        """Batches the replica handled (one JSON log line each)."""
        lines = log.read_text(encoding="utf-8").splitlines()
        return sum(1 for line in lines if '"aggregator"' in line and is_batch(line))

    def is_batch(line: str) -> bool:
        try:
            return bool(json.loads(line).get("consumer") == "aggregator")
        except ValueError:
            return False

    def all_published(receipts: list[str]) -> bool:
        states = [
            httpx.get(
                f"{system.intake_url}/v1/receipts/{rid}",
                headers={"Authorization": f"Bearer {tokens['operator']}"},
            ).json()["stage"]
            for rid in receipts
        ]
        return all(state == "published" for state in states)

    with ThreadPoolExecutor(8) as pool:
        receipts = list(pool.map(lambda c: file(c, 1), sites))
        wait_until(lambda: all_published(receipts), timeout=120, interval=1)
        # a lingering stage may gather a short burst alone: the replica that counted the first
        # wave goes away, and the other catches up from the shared journal and counts the
        # amendments on top of it
        if batches(logs[0]) > 0:
            system.stop_service("aggregator")
        else:
            second.terminate()
            second.wait(15)
        amendments = list(pool.map(lambda c: file(c, 2), sites[::4]))
        wait_until(lambda: all_published(amendments), timeout=120, interval=1)

    expected_total = sum(r["services"]["cases"]["total"] for r in latest.values())

    def province_counts_everything() -> dict[str, Any]:
        response = httpx.get(f"{system.pages_url}/rollups/{YEAR}/510000/rollup.json")
        if response.status_code != 200:
            return {}
        doc: dict[str, Any] = response.json()
        ok = (
            doc["figures"]["reported"] == len(sites)
            and doc["sums"]["services.cases.total"] == expected_total
        )
        return doc if ok else {}

    wait_until(province_counts_everything, timeout=60, interval=0.5)
    handled = [batches(log) for log in logs]
    assert all(count > 0 for count in handled), f"both replicas took batches: {handled}"
