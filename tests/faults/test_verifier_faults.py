"""Fault run of the verifier: the fleet of fake sites and the verifier process are killed and
restarted while checks run. Afterwards every count equals an independent recount from the
stored evidence, every published check has its evidence, and nothing is counted twice."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from services.verifier.main import VerifierSettings, standalone
from shared.contracts import ReportAccepted
from shared.publication import PublicationChecked, PublicationDeclared
from shared.registry import registry_document
from shared.runtime.messaging import Envelope
from tests.support.fleet import (
    FIGURES,
    IDENTIFIERS,
    YEAR,
    cases,
    content_hash,
    fleet_server,
    fleet_spec,
    free_port,
    registry,
)
from tests.support.waiting import wait_until

pytestmark = pytest.mark.faults
#: the hanging server slows every pass; a private address needs the resolver the driver lacks
CASES = [c for c in cases() if c.name not in ("hanging server", "redirect to a private address")]


def events(path: Path) -> list[PublicationChecked]:
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [PublicationChecked.model_validate_json(line) for line in lines if line.strip()]


def start_driver(registry_file: Path, url: str, out: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as sink:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.support.verifier_driver",
                str(registry_file),
                url,
                str(out),
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )


async def seed(url: str, port: int) -> None:
    settings = VerifierSettings(verifier_database_url=url)

    async def nowhere(_event: PublicationChecked) -> None:
        raise AssertionError("the seeding verifier checks nothing")

    verifier, close = await standalone(settings, registry(port, CASES), nowhere)
    now = datetime.now(UTC)
    report: dict[str, Any] = {
        "site": IDENTIFIERS,
        "traffic": {
            "unique_visitors": FIGURES["traffic.unique_visitors"],
            "page_views": FIGURES["traffic.page_views"],
        },
        "info": {"total": FIGURES["info.total"]},
    }
    accepted = [
        ReportAccepted(
            receipt_id=f"r{c.code}",
            content_hash=content_hash(c.code),
            form="work-report",
            form_version="2018",
            year=YEAR,
            code=c.code,
            version=1,
            received_at=now,
            judged_at=now,
            report={**report, "site": {**IDENTIFIERS, "site_code": c.code}},
            issues=[],
        )
        for c in CASES
    ]
    declared = [
        PublicationDeclared(
            declaration_id=f"d{c.code}",
            kind="report",
            code=c.code,
            year=YEAR,
            url=c.url(port),
            declared_by=c.code,
            at=now,
        )
        for c in CASES
    ]
    await verifier.on_accepted([Envelope(None, e) for e in accepted])  # type: ignore[arg-type]
    await verifier.on_declared([Envelope(None, e) for e in declared])  # type: ignore[arg-type]
    await close()


async def stored(url: str) -> tuple[list[Any], list[Any], list[Any]]:
    settings = VerifierSettings(verifier_database_url=url)

    async def nowhere(_event: PublicationChecked) -> None:
        raise AssertionError

    verifier, close = await standalone(settings, registry(1, CASES), nowhere)
    checks = await verifier.store.all_checks()
    fetches = await verifier.store.fetches([c.check_id for c in checks])
    watched = await verifier.store.all_watched(YEAR)
    await close()
    return checks, fetches, watched


def test_kills_and_restarts_leave_counts_equal_to_the_evidence(tmp_path: Path) -> None:
    port = free_port()
    url = f"sqlite+aiosqlite:///{tmp_path / 'verifier.db'}"
    registry_file = tmp_path / "registry.json"
    registry_file.write_text(json.dumps(registry_document(registry(port, CASES))), "utf-8")
    out, log = tmp_path / "events.jsonl", tmp_path / "driver.log"
    asyncio.run(seed(url, port))
    spec = fleet_spec(port, CASES)
    with fleet_server(spec, tmp_path, port, delay=0.3) as fleet:
        driver = start_driver(registry_file, url, out, log)
        wait_until(lambda: len(events(out)) >= 8, timeout=90)
        driver.send_signal(signal.SIGKILL)  # mid-run: some checks half done
        driver.wait()
        fleet.kill()  # the sites go down: checks end unreachable, retried with backoff
        driver = start_driver(registry_file, url, out, log)
        wait_until(lambda: len(events(out)) >= 20, timeout=90)
        fleet.start()  # back up: retried checks find them
        driver.send_signal(signal.SIGKILL)
        driver.wait()
        driver = start_driver(registry_file, url, out, log)

        def settled() -> bool:
            latest: dict[str, PublicationChecked] = {}
            for e in events(out):
                if e.code not in latest or e.checked_at >= latest[e.code].checked_at:
                    latest[e.code] = e
            want = {c.code: c.state for c in CASES}
            return len(latest) == len(CASES) and all(latest[c].state == want[c] for c in want)

        try:
            wait_until(settled, timeout=180, interval=0.5)
        finally:
            driver.send_signal(signal.SIGTERM)
            driver.wait(10)
    published = events(out)
    by_id: dict[str, PublicationChecked] = {}
    for event in published:
        assert by_id.setdefault(event.check_id, event) == event, "one id, two events"
    checks, fetches, watched = asyncio.run(stored(url))
    stored_ids = {c.check_id for c in checks}
    assert set(by_id) <= stored_ids, "an event without stored evidence"
    unpublished = stored_ids - set(by_id)
    assert all(not c.published for c in checks if c.check_id in unpublished)
    # every check kept its evidence: at least the declared page was fetched
    fetched = Counter(f.check_id for f in fetches)
    assert all(fetched[c.check_id] >= 1 for c in checks)
    # the independent recount: each site's latest stored check, against the latest event
    latest_stored: dict[str, Any] = {}
    for check in checks:
        if check.check_id in by_id:
            held = latest_stored.get(check.code)
            if held is None or check.checked_at >= held.checked_at:
                latest_stored[check.code] = check
    latest_event: dict[str, PublicationChecked] = {}
    for event in by_id.values():
        held_event = latest_event.get(event.code)
        if held_event is None or event.checked_at >= held_event.checked_at:
            latest_event[event.code] = event
    recount = Counter(c.state for c in latest_stored.values())
    counted = Counter(e.state for e in latest_event.values())
    assert recount == counted
    assert counted == Counter(c.state for c in CASES)
    assert {w.code: w.state for w in watched} == {c: e.state for c, e in latest_event.items()}
