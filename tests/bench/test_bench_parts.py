"""The benchmark's parts that need no system: generated reports, the SQL oracle, the client."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bench.load import encode_post, push
from bench.measure import percentile
from bench.oracle import AcceptedVersion, compare, postgres_oracle, sqlite_oracle
from bench.reports import amended, work_report
from shared.deadlines import national_deadline
from shared.forms import check_report, count_paths, load_form, yes_no_paths
from shared.registry.national import national_registry
from shared.rollup import SiteState, full_rollups
from tests.support.databases import postgres_url

YEAR = 2026
REGISTRY = national_registry(600, seed=3)


def test_generated_reports_pass_every_rule_without_warnings_and_vary_per_site() -> None:
    reports = [work_report(site, YEAR, seed=1) for site in list(REGISTRY.sites.values())[::5]]
    for report in reports:
        result = check_report(report, REGISTRY)
        assert result.accepted and result.issues == [], (report["site"]["site_code"], result)
    totals = {r["services"]["cases"]["total"] for r in reports}
    assert len(totals) > len(reports) * 0.9
    site = REGISTRY.sites[sorted(REGISTRY.sites)[0]]
    assert work_report(site, YEAR, seed=1) == work_report(site, YEAR, seed=1)
    corrected = amended(work_report(site, YEAR, seed=1), 7)
    assert check_report(corrected, REGISTRY).issues == []


def versions_and_states() -> tuple[list[AcceptedVersion], dict[str, SiteState]]:
    """Most sites file (some late, some twice); the states the roll-ups should reflect."""
    deadline = national_deadline(YEAR)
    versions, states = [], {}
    for i, code in enumerate(sorted(REGISTRY.sites)):
        if i % 7 == 0:
            continue
        report = work_report(REGISTRY.sites[code], YEAR, seed=2)
        late = i % 11 == 0
        at = deadline + timedelta(seconds=1) if late else deadline - timedelta(days=2)
        versions.append(AcceptedVersion(code, 1, at, report))
        if i % 5 == 0:
            report = amended(report, i)
            versions.append(AcceptedVersion(code, 2, at + timedelta(days=3), report))
        states[code] = SiteState(site=code, status="late" if late else "on_time", report=report)
    return versions, states


def system_tallies(states: dict[str, SiteState]) -> dict[str, dict[str, object]]:
    definition = load_form("work-report")
    rollups = full_rollups(
        REGISTRY, YEAR, states, count_paths(definition), yes_no_paths(definition)
    )
    return {node: rollup.tally.model_dump() for node, rollup in rollups.items()}


def oracle_args() -> tuple[list[str], list[str]]:
    definition = load_form("work-report")
    return count_paths(definition), yes_no_paths(definition)


def test_sqlite_oracle_agrees_with_the_rollups_and_catches_a_difference() -> None:
    versions, states = versions_and_states()
    system = system_tallies(states)
    counts, yes_no = oracle_args()
    oracle = sqlite_oracle(REGISTRY, YEAR, versions, counts, yes_no, national_deadline(YEAR))
    assert oracle["CN"]["late"] > 0 and oracle["CN"]["reported"] < len(REGISTRY.sites)
    assert compare(REGISTRY, system, oracle) == []
    system["bm29"]["on_time"] = int(system["bm29"]["on_time"]) + 1  # type: ignore[call-overload]
    assert compare(REGISTRY, system, oracle) == [
        {
            "node": "bm29",
            "field": "on_time",
            "system": oracle["bm29"]["on_time"] + 1,
            "oracle": oracle["bm29"]["on_time"],
        }
    ]


@pytest.mark.skipif(postgres_url() is None, reason="no PostgreSQL (NIANBAO_TEST_POSTGRES_URL)")
def test_postgres_rollup_oracle_agrees_with_the_rollups() -> None:
    versions, states = versions_and_states()
    counts, yes_no = oracle_args()
    url = postgres_url()
    assert url is not None
    oracle = asyncio.run(
        postgres_oracle(url, REGISTRY, YEAR, versions, counts, yes_no, national_deadline(YEAR))
    )
    assert compare(REGISTRY, system_tallies(states), oracle) == []


async def test_the_load_client_posts_over_keep_alive_connections() -> None:
    seen: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                break
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )
            seen.append(await reader.readexactly(length))
            body = b'{"receipt_id": "r%d"}' % len(seen)
            writer.write(b"HTTP/1.1 202 Accepted\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    requests = [
        (f"s{i}", encode_post(f"127.0.0.1:{port}", "/v1/reports", "t", b'{"n": %d}' % i))
        for i in range(20)
    ]
    async with server:
        posted = await push(f"http://127.0.0.1:{port}", requests, concurrency=4)
    assert sorted(seen) == sorted(b'{"n": %d}' % i for i in range(20))
    assert {p.status for p in posted} == {202} and len(posted) == 20
    assert all(p.done >= p.sent and p.body["receipt_id"] for p in posted)


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50 and percentile(values, 99) == 99
    assert percentile(values, 100) == 100 and percentile([], 50) is None
