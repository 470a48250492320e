"""202 means stored: what the intake acknowledged survives a stopped validator and a crashed
intake (the outbox is re-published at start). Services as real processes on a test server."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.intake.store import IntakeStore, Receipt
from shared.contracts import SUBMISSIONS, ReportSubmitted, content_hash, submitted_subject
from shared.forms import parse_report
from shared.registry.demo import demo_registry
from shared.runtime.db import make_engine
from tests.support.pipeline import YEAR, jetstream, post, reaches, receipt
from tests.support.reports import work_report_for
from tests.support.system import system_fixture, tokens_of
from tools.launcher import System

pytestmark = pytest.mark.e2e


#: the system started without its validator
system = system_fixture(
    scope="module", data_dir="restarts", services=["intake", "aggregator", "publisher"]
)


def ensure_running(system: System, *names: str) -> None:
    for name in names:
        process = system.processes.get(name)
        if process is None or process.poll() is not None:
            system.start_service(name)


async def test_a_202_is_in_the_stream_before_anyone_judges_it(system: System) -> None:
    system.stop_service("validator")  # not started, or stopped: nobody consumes submissions
    code = "5109030001"
    token = tokens_of(system)[code]
    response = await post(system, token, work_report_for(demo_registry().sites[code], YEAR))
    assert response.status_code == 202, response.text
    sent = response.json()

    async with jetstream(system.nats.url) as js:
        stored = await js.get_last_msg(SUBMISSIONS.name, submitted_subject("work-report", code))
    assert stored.headers is not None and stored.headers["Nats-Msg-Id"] == sent["receipt_id"]
    event = ReportSubmitted.model_validate_json(stored.data or b"")
    assert (event.receipt_id, event.content_hash, event.version) == (
        sent["receipt_id"],
        sent["content_hash"],
        1,
    )
    assert (await receipt(system, token, sent["receipt_id"]))["stage"] == "submitted"

    system.start_service("validator")
    final = await reaches(system, token, sent["receipt_id"], "published")
    assert [s["stage"] for s in final["stages"]] == [
        "submitted",
        "accepted",
        "aggregated",
        "published",
    ]


async def test_the_outbox_is_published_when_the_intake_starts(system: System) -> None:
    ensure_running(system, "validator")
    system.stop_service("intake")  # as after a crash between its insert and the PubAck
    code = "5100000001"
    report = parse_report(work_report_for(demo_registry().sites[code], YEAR)).report
    assert report is not None
    row = Receipt(
        receipt_id=uuid.uuid4().hex,
        code=code,
        form="work-report",
        form_version="2018",
        year=YEAR,
        version=1,
        content_hash=content_hash(report),
        received_at=datetime.now(UTC),
        submitted_by=f"site:{code}",
        report=report,
        in_stream=False,
    )
    store = IntakeStore(make_engine(f"sqlite+aiosqlite:///{Path(system.data_dir) / 'intake.db'}"))
    await store.insert(row)
    async with jetstream(system.nats.url) as js:
        info = await js.stream_info(SUBMISSIONS.name, subjects_filter=f"nianbao.submitted.*.{code}")
        assert not info.state.subjects  # nothing of this site in the stream yet

    system.start_service("intake")
    await asyncio.to_thread(system.wait_ready)
    final = await reaches(system, tokens_of(system)[code], row.receipt_id, "published")
    assert final["outcome"] == "accepted" and final["version"] == 1

    stored = await store.get(row.receipt_id)
    assert stored is not None and stored.in_stream
    await store.engine.dispose()
    async with jetstream(system.nats.url) as js:
        last = await js.get_last_msg(SUBMISSIONS.name, submitted_subject("work-report", code))
    assert last.headers is not None and last.headers["Nats-Msg-Id"] == row.receipt_id
