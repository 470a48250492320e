"""A lost PubAck is not a lost message: the intake keeps the receipt and re-sends the same
message id, so the client's retry gets the same receipt and the stream one submission."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nats
import pytest

from services.intake.errors import Unavailable
from services.intake.filing import Intake
from services.intake.problems import status_of
from services.intake.store import IntakeStore
from shared.access import Caller
from shared.contracts import SUBMISSIONS, ReportSubmitted, submitted_subject
from shared.registry.demo import demo_registry
from shared.runtime.db import make_engine
from shared.runtime.messaging import ensure_streams
from tests.support.pipeline import YEAR
from tests.support.reports import work_report_for
from tools.natsserver import NatsServer

pytestmark = [pytest.mark.faults, pytest.mark.nats]

CODE = "5109030001"


class FlakyStream:
    """Publishes to JetStream for real; the first ``lose`` PubAcks are 'lost' on the way back
    (the message is stored, the caller sees a timeout), as when the server dies after storing."""

    def __init__(self, js: Any, lose: int) -> None:
        self.js, self.lose = js, lose

    async def __call__(self, event: ReportSubmitted) -> None:
        await self.js.publish(
            submitted_subject(event.form, event.code),
            event.model_dump_json().encode(),
            stream=SUBMISSIONS.name,
            headers={"Nats-Msg-Id": event.receipt_id},
        )
        if self.lose:
            self.lose -= 1
            raise TimeoutError("nats: timeout (PubAck lost)")


@pytest.fixture
async def intake_parts(
    nats_server: NatsServer, tmp_path: Path
) -> AsyncIterator[tuple[Any, IntakeStore]]:
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    await ensure_streams(js, [SUBMISSIONS], 1)
    store = IntakeStore(make_engine(f"sqlite+aiosqlite:///{tmp_path / 'intake.db'}"))
    await store.create()
    try:
        yield js, store
    finally:
        await store.engine.dispose()
        await nc.close()


async def stored_submissions(js: Any) -> list[ReportSubmitted]:
    info = await js.stream_info(SUBMISSIONS.name)
    return [
        ReportSubmitted.model_validate_json((await js.get_msg(SUBMISSIONS.name, seq)).data)
        for seq in range(info.state.first_seq, info.state.last_seq + 1)
    ]


async def test_a_retry_after_a_lost_puback_gets_the_same_receipt(
    intake_parts: tuple[Any, IntakeStore],
) -> None:
    js, store = intake_parts
    registry = demo_registry()
    intake = Intake(registry, store, FlakyStream(js, lose=1), "http://intake")
    caller = Caller(kind="site", code=CODE)
    report = work_report_for(registry.sites[CODE], YEAR)

    with pytest.raises(Unavailable) as refused:
        await intake.file(caller, report)
    assert status_of(refused.value) == 503
    kept = await store.outbox()  # the receipt stays, waiting for its PubAck
    assert [row.version for row in kept] == [1]

    receipt, new = await intake.file(caller, report)  # the client retries the same body
    assert not new and receipt.receipt_id == kept[0].receipt_id and receipt.version == 1
    assert await store.outbox() == []
    stored = await stored_submissions(js)
    assert [(s.receipt_id, s.version) for s in stored] == [(receipt.receipt_id, 1)]
    assert [r.receipt_id for r in await store.history(CODE, "work-report", YEAR)] == [
        receipt.receipt_id
    ]


async def test_a_kept_submission_goes_out_with_the_next_filing(
    intake_parts: tuple[Any, IntakeStore],
) -> None:
    """The client gave up after its 503: the next successful publish sends what was kept."""
    js, store = intake_parts
    registry = demo_registry()
    intake = Intake(registry, store, FlakyStream(js, lose=1), "http://intake")
    first = work_report_for(registry.sites[CODE], YEAR)
    with pytest.raises(Unavailable):
        await intake.file(Caller(kind="site", code=CODE), first)
    other = "5109000001"
    receipt, new = await intake.file(
        Caller(kind="site", code=other), work_report_for(registry.sites[other], YEAR)
    )
    assert new and await store.outbox() == []
    stored = await stored_submissions(js)
    # the first message reached the stream once (its re-send was a duplicate of the same id)
    assert sorted((s.code, s.version) for s in stored) == [(other, 1), (CODE, 1)]
    assert len({s.receipt_id for s in stored}) == len(stored) == 2
    assert receipt.receipt_id in {s.receipt_id for s in stored}
    for submission in stored:  # nothing in the audit log without its receipt
        assert await store.get(submission.receipt_id) is not None, submission.code
