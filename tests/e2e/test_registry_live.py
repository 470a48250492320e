"""A registry import reaches every running service: nothing restarted, roll-ups equal the oracle.

Reports flow while the operator imports a registry in which a site closed, a site opened, a site
moved to other nodes of both trees and a site was removed. Afterwards every process is the one
started at first, and every node's roll-up (in NIANBAO_ROLLUPS and on its page) equals an
independent SQL computation on the new registry.
"""

from __future__ import annotations

import asyncio
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from bench.oracle import AcceptedVersion, compare, sqlite_oracle
from bench.rollup_check import system_rollups
from shared.deadlines import national_deadline
from shared.filings import current_reporting_year
from shared.forms import WORK_REPORT, count_paths, load_form, yes_no_paths
from shared.registry import Registry, Site, registry_document
from shared.registry.demo import demo_registry
from tests.support.chaos import page_tallies
from tests.support.reports import work_report_for
from tests.support.system import system_fixture, tokens_fixture
from tests.support.waiting import eventually, wait_until
from tools.launcher import System

pytestmark = pytest.mark.e2e

system = system_fixture(scope="module", data_dir="registry-live")
tokens = tokens_fixture(scope="module")

YEAR = current_reporting_year(datetime.now(UTC))
CLOSED = "5109030001"  # 船山区 portal: files, then is closed the year before
MOVED = "bm07230001"  # 四川省通信管理局: files, then moves to the 工信部 headquarters (CN, bm07)
REMOVED = "5109210001"  # never files, then is taken out of the registry
OPENED = "5109040099"  # a new site at 安居区, active from this year: missing


def new_registry(before: Registry) -> Registry:
    sites = {code: site for code, site in before.sites.items() if code != REMOVED}
    sites[CLOSED] = sites[CLOSED].model_copy(update={"active_to": YEAR - 1, "ended_by": "closed"})
    sites[MOVED] = sites[MOVED].model_copy(update={"admin_node": "CN", "dept_node": "bm07"})
    portal = sites["5109040001"]
    sites[OPENED] = Site(
        code=OPENED,
        name="遂宁市安居区新建网站",
        homepage_url="https://new.510904.gov.cn",
        type=portal.type,
        sponsor=portal.sponsor,
        admin_node="510904",
        active_from=YEAR,
    )
    return Registry(before.nodes.values(), sites.values())


def post(client: httpx.Client, token: str, report: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/v1/reports", json=report, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


def receipt(client: httpx.Client, token: str, receipt_id: str) -> dict[str, Any]:
    response = client.get(
        f"/v1/receipts/{receipt_id}", headers={"Authorization": f"Bearer {token}"}
    )
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def all_published(
    client: httpx.Client, filed: list[tuple[str, dict[str, Any]]]
) -> list[dict[str, Any]]:
    last: list[dict[str, Any]] = []

    def done() -> list[dict[str, Any]] | None:
        last[:] = [receipt(client, token, body["receipt_id"]) for token, body in filed]
        return last if all(f["stage"] == "published" for f in last) else None

    try:
        return wait_until(done, timeout=180, interval=0.5)
    except AssertionError as missed:
        stuck = [(f["code"], f["stage"]) for f in last if f["stage"] != "published"]
        raise AssertionError(f"{missed}; not published (code, stage): {stuck}") from None


def test_an_import_reaches_every_running_service(system: System, tokens: dict[str, str]) -> None:
    before = demo_registry()
    after = new_registry(before)
    pids = {name: process.pid for name, process in system.processes.items()}
    client = httpx.Client(base_url=system.intake_url, timeout=30)

    # ---- the sites that change file first, under the old registry
    filed = [
        (tokens[code], post(client, tokens[code], work_report_for(before.sites[code], YEAR, 2)))
        for code in (CLOSED, MOVED)
    ]
    all_published(client, filed)

    # ---- other sites keep filing while the operator imports
    flowing = sorted(
        code
        for code in before.sites
        if code not in {CLOSED, MOVED, REMOVED} and code in tokens and code[:2] == "51"
    )[:60]
    posted: list[tuple[str, dict[str, Any]]] = []
    lock = threading.Lock()
    third = threading.Event()

    def file(code: str) -> None:
        with httpx.Client(base_url=system.intake_url, timeout=30) as own:
            body = post(own, tokens[code], work_report_for(before.sites[code], YEAR, 3))
        with lock:
            posted.append((tokens[code], body))
            if len(posted) >= len(flowing) // 3:
                third.set()

    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(file, code) for code in flowing]
        assert third.wait(60)
        imported = client.put(
            "/v1/registry",
            json=registry_document(after),
            headers={"Authorization": f"Bearer {tokens['operator']}"},
        )
        with lock:
            during = len(posted)
        for future in futures:
            future.result()
    assert imported.status_code == 200, imported.text
    diff = imported.json()
    assert diff["applied"] and diff["digest"], diff
    assert diff["sites"]["added"] == [OPENED] and diff["sites"]["removed"] == [REMOVED]
    assert during < len(flowing), "the import came after every report: nothing flowed"

    # ---- the intake switched: the new site is public, the removed one is not
    assert wait_until(lambda: client.get(f"/v1/sites/{OPENED}").status_code == 200, timeout=30)
    assert client.get(f"/v1/sites/{REMOVED}").status_code == 404

    # ---- the validator switched: the closed site's report for this year is now warned about
    late = post(client, tokens[CLOSED], work_report_for(before.sites[CLOSED], YEAR, 4))
    finals = all_published(client, [*filed, *posted, (tokens[CLOSED], late)])
    warned = finals[-1]
    assert [w["rule_id"] for w in warned["warnings"]] == ["wr.site_active_in_year"], warned

    # ---- every roll-up, in the stream and on its page, equals the oracle on the new registry
    accepted = [
        AcceptedVersion(
            final["code"],
            int(final["version"]),
            datetime.fromisoformat(final["received_at"]),
            final_report,
        )
        for final, final_report in zip(
            finals,
            [
                work_report_for(before.sites[CLOSED], YEAR, 2),
                work_report_for(before.sites[MOVED], YEAR, 2),
                *(work_report_for(before.sites[b["code"]], YEAR, 3) for _t, b in posted),
                work_report_for(before.sites[CLOSED], YEAR, 4),
            ],
            strict=True,
        )
        if final["outcome"] == "accepted"
    ]
    definition = load_form(WORK_REPORT)
    oracle = sqlite_oracle(
        after,
        YEAR,
        accepted,
        count_paths(definition),
        yes_no_paths(definition),
        national_deadline(YEAR),
    )
    active = [code for code, site in after.sites.items() if site.active_in(YEAR)]
    assert oracle["CN"]["expected"] == len(active) and OPENED in active and CLOSED not in active

    async def agreeing() -> bool:
        streamed = await system_rollups(system.nats.url, YEAR)
        published = page_tallies(system.data_dir / "pages", YEAR, sorted(after.nodes))
        return not compare(after, streamed, oracle) and not compare(after, published, oracle)

    asyncio.run(eventually(agreeing, within=120, interval=1))

    # ---- the moved site's pages follow it: listed in its new column, gone from the old one
    column = system.data_dir / "pages" / "columns" / str(YEAR)

    def moved_column() -> bool:
        new, old = (column / node / "column.json" for node in ("bm07", "bm07-510000"))
        if not (new.exists() and old.exists()):  # bm07's column is first rendered by the move
            return False
        return MOVED in new.read_text("utf-8") and MOVED not in old.read_text("utf-8")

    assert wait_until(moved_column, timeout=60, interval=0.5)
    site_page = system.data_dir / "pages" / "sites" / str(YEAR) / MOVED / "report.json"

    def moved_site_page() -> bool:
        site = json.loads(site_page.read_text("utf-8"))["site"]
        return (site["admin_node"], site["dept_node"]) == ("CN", "bm07")

    assert wait_until(moved_site_page, timeout=60, interval=0.5)

    # ---- nothing was restarted
    assert {name: process.pid for name, process in system.processes.items()} == pids
    assert all(process.poll() is None for process in system.processes.values())
