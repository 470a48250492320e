"""deploy/compose.yaml run as local processes: reports flow through a three-node JetStream
cluster and PostgreSQL (SQLite without one) to the pages; losing a NATS node loses nothing; the
aggregator and the pages rebuild from the streams as deploy/README.md says."""

from __future__ import annotations

import shutil
import signal
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from shared.filings import current_reporting_year
from shared.registry.demo import demo_registry
from tests.support.compose import NATS_NODES, Deployment, start
from tests.support.databases import execute
from tests.support.reports import work_report_for
from tests.support.waiting import wait_until

pytestmark = pytest.mark.deploy

YEAR = current_reporting_year(datetime.now(UTC))
REGISTRY = demo_registry()
#: Sichuan's sites (both trees: some are branches of the tax system) and Beijing's
SITES = list(
    dict.fromkeys([*REGISTRY.sites_under("510000", YEAR)[:16], "bm29230001", "1100000088"])
)
NODES = ("CN", "510000", "510900", "bm29", "110000")
MEASURE = "traffic.page_views"


@dataclass
class Ledger:
    """What the sites were told: every 202 (code, receipt id) and the latest report per site."""

    accepted: list[tuple[str, str]] = field(default_factory=list)
    latest: dict[str, dict[str, Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def expected(self, node: str) -> int:
        under = set(REGISTRY.sites_under(node, YEAR))
        return sum(r["traffic"]["page_views"] for c, r in self.latest.items() if c in under)


@pytest.fixture(scope="module")
def ledger() -> Ledger:
    return Ledger()


def file_report(
    deployment: Deployment, tokens: dict[str, str], ledger: Ledger, code: str, scale: int
) -> None:
    """POST until a 202 (a site retries what was refused while the cluster fails over)."""
    report = work_report_for(REGISTRY.sites[code], YEAR, scale)

    def attempt() -> dict[str, Any] | None:
        try:
            response = httpx.post(
                deployment.url("intake", 8000, "/v1/reports"),
                json=report,
                headers={"Authorization": f"Bearer {tokens[code]}"},
                timeout=15,
            )
        except httpx.HTTPError:
            return None
        if response.status_code == 202:
            body: dict[str, Any] = response.json()
            return body
        assert response.status_code in (500, 502, 503, 504), response.text
        return None

    body = wait_until(attempt, timeout=90, interval=0.5)
    with ledger.lock:
        ledger.accepted.append((code, body["receipt_id"]))
        ledger.latest[code] = report


def stage(deployment: Deployment, token: str, receipt_id: str) -> str:
    response = httpx.get(
        deployment.url("intake", 8000, f"/v1/receipts/{receipt_id}"),
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    response.raise_for_status()
    return str(response.json()["stage"])


def page_sum(deployment: Deployment, node: str) -> int | None:
    try:
        response = httpx.get(deployment.url("pages", 8080, f"/rollups/{YEAR}/{node}/rollup.json"))
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    return int(response.json()["sums"].get(MEASURE, 0))


def assert_everything_published(
    deployment: Deployment, tokens: dict[str, str], ledger: Ledger, timeout: float = 90
) -> None:
    """Every 202'd report reached `published`; every roll-up page sums the latest reports."""

    def unpublished() -> list[str]:
        return [
            rid
            for code, rid in ledger.accepted
            if stage(deployment, tokens[code], rid) != "published"
        ]

    wait_until(lambda: not unpublished(), timeout=timeout, interval=0.5)
    wanted = {node: ledger.expected(node) for node in NODES}
    seen: dict[str, int | None] = {}

    def pages_agree() -> bool:
        seen.clear()
        seen.update({n: page_sum(deployment, n) for n in NODES})
        return seen == wanted

    # as long as for the receipts: a roll-up whose ack died with a NATS node is redelivered only
    # after ack_wait (60 s), then rendered
    try:
        wait_until(pages_agree, timeout=timeout, interval=0.5)
    except AssertionError as missed:
        problems = deployment.logs(r"ERROR|Traceback|Error|exception")
        raise AssertionError(
            f"{missed}: pages sum {seen}, the reports {wanted}; logs:\n" + "\n".join(problems[-40:])
        ) from None
    for code in ledger.latest:
        page = httpx.get(deployment.url("pages", 8080, f"/sites/{YEAR}/{code}/index.html"))
        assert page.status_code == 200 and REGISTRY.sites[code].name in page.text


def assert_no_permission_refused(deployment: Deployment) -> None:
    refused = deployment.logs(r"Violation|authentication error")
    assert not refused, "\n".join(refused[:20])


@pytest.fixture(scope="module")
def first_batch(deployment: Deployment, tokens: dict[str, str], ledger: Ledger) -> Iterator[None]:
    for code in SITES:
        file_report(deployment, tokens, ledger, code, scale=1)
    yield


def test_reports_flow_through_the_cluster_to_the_pages(
    deployment: Deployment, tokens: dict[str, str], ledger: Ledger, first_batch: None
) -> None:
    assert_everything_published(deployment, tokens, ledger)
    assert ledger.expected("CN") > 0
    # every service ran on its own NATS user with only its permissions: nothing was refused
    assert_no_permission_refused(deployment)
    # the streams are replicated on the three nodes
    jsz = httpx.get(deployment.url("nats-1", 8222, "/jsz?streams=true&config=true")).json()
    streams = {s["name"]: s for a in jsz["account_details"] for s in a["stream_detail"]}
    assert streams["NIANBAO_SUBMISSIONS"]["config"]["num_replicas"] == 3
    assert streams["NIANBAO_SUBMISSIONS"]["state"]["messages"] >= len(SITES)


def meta_leader(deployment: Deployment) -> str:
    for node in NATS_NODES:
        if deployment.instances[node].alive():
            jsz = httpx.get(deployment.url(node, 8222, "/jsz"), timeout=3).json()
            leader = jsz.get("meta_cluster", {}).get("leader")
            if leader:
                return str(leader)
    raise AssertionError("no JetStream meta leader")


def test_losing_a_nats_node_loses_nothing(
    deployment: Deployment, tokens: dict[str, str], ledger: Ledger, first_batch: None
) -> None:
    victim = meta_leader(deployment)
    amendments = SITES[: len(SITES) // 2]
    half = len(amendments) // 2
    for code in amendments[:half]:
        file_report(deployment, tokens, ledger, code, scale=2)
    deployment.instances[victim].stop(signal.SIGKILL)
    for code in amendments[half:]:
        file_report(deployment, tokens, ledger, code, scale=3)
    assert_everything_published(deployment, tokens, ledger, timeout=120)
    # the node comes back with its store and catches up
    deployment.instances[victim].start()
    deployment.wait_healthy([victim], timeout=120)
    assert_no_permission_refused(deployment)


def test_aggregator_and_pages_rebuild_from_the_streams(
    deployment: Deployment, tokens: dict[str, str], ledger: Ledger, first_batch: None
) -> None:
    """deploy/README.md, "Rebuilding": stop, drop their databases and pages, delete their
    durable consumers, start: they replay the streams."""
    before = {node: page_sum(deployment, node) for node in NODES}
    assert before == {node: ledger.expected(node) for node in NODES}
    for name in ("publisher", "aggregator"):
        for instance in deployment.replicas(name):
            deployment.instances[instance].stop()
    if deployment.postgres_url is not None:
        for name in ("aggregator", "publisher"):
            full = f"{deployment.db_prefix}{name}"
            execute(
                deployment.postgres_url,
                f'DROP DATABASE "{full}" WITH (FORCE)',
                f'CREATE DATABASE "{full}" OWNER "{full}"',
            )
    else:
        for name in ("aggregator", "publisher"):
            shutil.rmtree(deployment.root / name / "data")
    pages = deployment.root / "volumes" / "pages"
    for child in pages.iterdir():
        shutil.rmtree(child) if child.is_dir() else child.unlink()
    # docker compose run --rm --no-deps -e NIANBAO_NATS_USER=admin -e NIANBAO_NATS_PASSWORD=...
    #   validator nianbao deploy drop-consumers aggregator publisher
    validator = deployment.instances[deployment.replicas("validator")[0]]
    admin = validator.env | {
        "NIANBAO_NATS_USER": "admin",
        "NIANBAO_NATS_PASSWORD": deployment.env_file["NATS_ADMIN_PASSWORD"],
    }
    dropped = subprocess.run(
        [validator.argv[0], "deploy", "drop-consumers", "aggregator", "publisher"],
        env=admin,
        cwd=validator.cwd,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "NIANBAO_VERDICTS/aggregator: deleted" in dropped, dropped
    assert "NIANBAO_ROLLUPS/publisher-rollups: deleted" in dropped, dropped
    names = start(deployment, ("aggregator", "publisher"))
    deployment.wait_healthy(names, timeout=90)
    assert_everything_published(deployment, tokens, ledger)
    assert_no_permission_refused(deployment)
