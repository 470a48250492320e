"""The verifier against a fleet of 56 fake government sites on a real local HTTP server (one
process, dispatching on the Host header; every host resolved to 127.0.0.1 by the verifier's
resolver setting): every case of the issue ends in its state, with its evidence; no host ever
sees two requests at once; nothing reaches a private address."""

from __future__ import annotations

import gzip
import hashlib
import ipaddress
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.verifier.accepted import AcceptedSeen
from services.verifier.checks import Checker
from services.verifier.fetching import Fetcher, FetchPolicy, fixed_resolver
from services.verifier.runs import Timing, Verifier
from services.verifier.store import VerifierStore
from shared.contracts import ReportAccepted
from shared.publication import PublicationChecked, PublicationDeclared
from shared.runtime.db import make_engine
from shared.runtime.messaging import Envelope
from tests.support.fleet import (
    FIGURES,
    IDENTIFIERS,
    PORTAL,
    PROVINCE,
    YEAR,
    Case,
    FleetProcess,
    cases,
    content_hash,
    fleet_server,
    fleet_spec,
    free_port,
    private_addresses,
    registry,
)

CASES = cases()


def accepted(code: str) -> AcceptedSeen:
    """As the verifier's consumer reads it off the stream (the report along a few paths)."""
    now = datetime.now(UTC)
    report: dict[str, Any] = {
        "site": {"site_code": code, **IDENTIFIERS},
        "traffic": {
            "unique_visitors": FIGURES["traffic.unique_visitors"],
            "page_views": FIGURES["traffic.page_views"],
        },
        "info": {"total": FIGURES["info.total"]},
    }
    event = ReportAccepted(
        receipt_id=f"r{code}",
        content_hash=content_hash(code),
        form="work-report",
        form_version="2018",
        year=YEAR,
        code=code,
        version=1,
        received_at=now,
        judged_at=now,
        report=report,
        issues=[],
    )
    return AcceptedSeen.model_validate_json(event.model_dump_json())


def declared(kind: str, code: str, url: str) -> PublicationDeclared:
    return PublicationDeclared(
        declaration_id=f"d{kind}{code}",
        kind=kind,
        code=code,
        year=YEAR,
        url=url,
        declared_by=code,
        at=datetime.now(UTC),
    )


def wrap(events: list[Any]) -> list[Envelope[Any]]:
    return [Envelope(None, e) for e in events]  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetProcess]:
    directory = tmp_path_factory.mktemp("fleet")
    port = free_port()
    spec = fleet_spec(port, CASES)
    column_links = "".join(
        f'<a href="{c.url(port)}">{c.code}</a>' for c in CASES[:30]
    )  # 30 of the 56 sites
    spec[f"p{PROVINCE}.gov.test"] = {
        "/": {"body": '<a href="/zl/">政府网站年度报表专栏</a>'},
        "/zl/": {"body": f"<html><body>{column_links}</body></html>"},
    }
    with fleet_server(spec, directory, port) as server:
        yield server


class Published:
    def __init__(self) -> None:
        self.events: list[PublicationChecked] = []

    async def __call__(self, event: PublicationChecked) -> None:
        self.events.append(event)


def policy(**kw: Any) -> FetchPolicy:
    return FetchPolicy(
        total_timeout=5,
        connect_timeout=2,
        host_pause=0.05,
        user_agent="nianbao-verifier/1 (tests; ops@example.gov.cn)",
        allowed_networks=(ipaddress.ip_network("127.0.0.0/8"),),
        **kw,
    )


@pytest.fixture
async def verifier(
    fleet: FleetProcess, database_url: str
) -> AsyncIterator[tuple[Verifier, Published, VerifierStore]]:
    resolve = fixed_resolver({**private_addresses(CASES), "*": "127.0.0.1"})
    fetcher = Fetcher(policy(), resolve)
    store = VerifierStore(make_engine(database_url))
    await store.create()
    published = Published()
    reg = registry(fleet.port, CASES)
    verifier = Verifier(
        reg, store, Checker(fetcher.get), published, timing=Timing(), concurrency=64
    )
    yield verifier, published, store
    await fetcher.close()
    await store.engine.dispose()


async def run_all(verifier: Verifier, until: int, seconds: float = 60) -> None:
    deadline = datetime.now(UTC) + timedelta(seconds=seconds)
    while verifier.checked < until:
        assert datetime.now(UTC) < deadline, f"{verifier.checked} of {until} checks done"
        await verifier.run_due()
        await verifier.drain()


async def test_every_case_ends_in_its_state_with_its_evidence(
    fleet: FleetProcess, verifier: tuple[Verifier, Published, VerifierStore]
) -> None:
    checker, published, store = verifier
    fixed_resolver_case = "evil."
    assert len(CASES) >= 50
    await checker.on_accepted(wrap([accepted(c.code) for c in CASES]))
    await checker.on_declared(wrap([declared("report", c.code, c.url(fleet.port)) for c in CASES]))
    column = f"http://p{PROVINCE}.gov.test:{fleet.port}/zl/"
    await checker.on_declared(wrap([declared("column", PROVINCE, column)]))
    await run_all(checker, len(CASES) + 1)

    states = {(e.kind, e.code): e for e in published.events}
    wrong = {
        c.name: (states[("report", c.code)].state, c.state, states[("report", c.code)].findings)
        for c in CASES
        if states[("report", c.code)].state != c.state
    }
    assert not wrong, wrong
    for case in CASES:
        event = states[("report", case.code)]
        if case.finding is not None:
            text = " ".join(f.message_zh for f in event.findings)
            assert case.finding in text, (case.name, text)
        if case.state == "verified":
            assert event.first_verified_at is not None and event.link_position, case.name
    column_check = states[("column", PROVINCE)]
    assert column_check.coverage == (30, len(CASES) + 1)  # the portal's own site too
    assert column_check.state == "content_differs"

    by_name = {c.name: c for c in CASES}
    stats = fleet.stats()
    assert max(stats["max_in_flight"].values()) == 1, "a host saw two requests at once"
    assert all("nianbao" in ua for ua in stats["user_agents"])
    assert not any(host.startswith(fixed_resolver_case) for host in stats["requests"])

    async def fetches(case: Case) -> list[Any]:
        checks = await store.checks(case.code, YEAR)
        return await store.fetches([c.check_id for c in checks], with_copy=True)

    chain = (await fetches(by_name["redirect chain"]))[0]
    assert chain.final_url.endswith("/nb/final.html") and len(chain.redirects) == 3
    gbk = (await fetches(by_name["GBK pages"]))[0]
    assert gbk.charset == "gb18030"
    assert "年度报表" in gzip.decompress(gbk.copy_gz or b"").decode("gb18030")
    huge = (await fetches(by_name["a 50 MiB body"]))[0]
    assert huge.truncated and huge.size == 2 * 1024 * 1024
    assert len(huge.copy_gz or b"") <= 256 * 1024
    compliant = await fetches(by_name["compliant"])
    for fetched in compliant:
        body = gzip.decompress(fetched.copy_gz or b"")
        assert fetched.sha256 == hashlib.sha256(body).hexdigest()
        assert fetched.status == 200 and fetched.fetched_at is not None
    hanging = (await fetches(by_name["hanging server"]))[0]
    assert hanging.error == "timeout" and hanging.seconds < 8
    portal = [c for c in await store.all_watched(YEAR) if c.code == PORTAL]
    assert portal == []


async def test_timing_daily_until_the_deadline_once_after_and_backoff() -> None:
    timing = Timing(interval=timedelta(days=1), backoff=timedelta(minutes=10))
    before = datetime(2027, 1, 10, tzinfo=UTC)
    assert timing.next_check(YEAR, "verified", 0, before) == before + timedelta(days=1)
    last_day = datetime(2027, 1, 31, 10, tzinfo=UTC)
    after = timing.next_check(YEAR, "not_linked", 0, last_day)
    assert after is not None and after > datetime(2027, 1, 31, 15, 59, 59, tzinfo=UTC)
    assert after < datetime(2027, 1, 31, 16, 1, tzinfo=UTC)
    assert timing.next_check(YEAR, "not_linked", 0, datetime(2027, 2, 1, tzinfo=UTC)) is None
    retries = [timing.next_check(YEAR, "unreachable", n, before) for n in (1, 2, 3, 9)]
    assert [r - before for r in retries if r] == [
        timedelta(minutes=10),
        timedelta(minutes=20),
        timedelta(minutes=40),
        timedelta(days=1),
    ]


async def test_a_recheck_is_refused_while_one_runs(
    fleet: FleetProcess, verifier: tuple[Verifier, Published, VerifierStore]
) -> None:
    checker, published, _store = verifier
    sample = CASES[:3]
    await checker.on_accepted(wrap([accepted(c.code) for c in sample]))
    await checker.on_declared(wrap([declared("report", c.code, c.url(fleet.port)) for c in sample]))
    await run_all(checker, 3)
    started = await checker.recheck(YEAR, "510900")
    assert started["started"] is True and started["queued"] == 3
    refused = await checker.recheck(YEAR, PROVINCE)
    assert refused["started"] is False and refused["running"] == "510900"
    await run_all(checker, 6)
    assert (await checker.recheck(YEAR, PROVINCE))["started"] is True
    assert len(published.events) >= 6


async def test_a_declaration_below_a_column_refreshes_its_coverage(
    fleet: FleetProcess, verifier: tuple[Verifier, Published, VerifierStore]
) -> None:
    """The province's 专栏 links 30 sites' reports; as more of them declare, the column is
    checked again on its own (after the settle time) and its coverage follows."""
    checker, published, store = verifier
    linked = CASES[:30]
    column = f"http://p{PROVINCE}.gov.test:{fleet.port}/zl/"
    await checker.on_declared(wrap([declared("column", PROVINCE, column)]))
    first = linked[:3]
    await checker.on_declared(wrap([declared("report", c.code, c.url(fleet.port)) for c in first]))
    await run_all(checker, 4)

    def coverage() -> tuple[int, int] | None:
        columns = [e for e in published.events if e.kind == "column"]
        return columns[-1].coverage if columns else None

    assert coverage() == (3, len(CASES) + 1)
    # the default settle time: the column waits a while after a declaration, not a day
    more = linked[3:8]
    before = datetime.now(UTC)
    await checker.on_declared(wrap([declared("report", c.code, c.url(fleet.port)) for c in more]))
    watched = await store.watched("column", PROVINCE, YEAR)
    assert watched is not None and watched.next_check_at is not None
    due_in = watched.next_check_at - before
    assert timedelta(minutes=4) < due_in <= timedelta(minutes=5, seconds=5), due_in
    # settled at once: the next round checks the five reports and the column again
    checker.timing = Timing(column_settle=timedelta(0))
    await checker.on_declared(wrap([declared("report", c.code, c.url(fleet.port)) for c in more]))
    await run_all(checker, 4 + len(more) + 1, seconds=30)
    assert coverage() == (8, len(CASES) + 1)
