"""The intake's group commit against a real nats-server: concurrent reports share transactions,
yet each gets a gapless, unique version, a 202 only once in the stream, a 503 that keeps its row
in the outbox when the stream does not acknowledge, and a row the database refuses fails only
its own report (on PostgreSQL when NIANBAO_TEST_POSTGRES_URL is set). The per-filing reads are
batched too, and still see an approval's lock."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import nats
import pytest
from nats.js import JetStreamContext
from sqlalchemy import text

from services.intake import filing
from services.intake.app import create_app
from services.intake.filing import Intake
from services.intake.review import Reviews
from services.intake.review_store import ReviewAction, ReviewStore
from services.intake.store import IntakeStore, Receipt
from shared.contracts import SUBMISSIONS, ReportSubmitted, submitted_subject
from shared.forms import ParseResult, parse_report
from shared.registry.demo import demo_registry
from shared.runtime.db import make_engine
from shared.runtime.messaging import ensure_streams
from tests.support.pipeline import YEAR
from tests.support.reports import work_report_for
from tools.natsserver import NatsServer

pytestmark = pytest.mark.nats

REGISTRY = demo_registry()
SITES = sorted(REGISTRY.sites)[:24]
#: the site that files several different versions at once
BUSY = SITES[0]


def token_of(code: str) -> str:
    return f"nb_test_{code}"


class RecordingStore(IntakeStore):
    """The real store, noting the size of each insert transaction it is asked for."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.insert_batches: list[int] = []

    async def insert_all(self, receipts: Sequence[Receipt]) -> None:
        self.insert_batches.append(len(receipts))
        await super().insert_all(receipts)


@dataclass
class IntakeUnderTest:
    js: JetStreamContext
    store: RecordingStore
    reviews: ReviewStore
    client: httpx.AsyncClient

    async def post(self, code: str, report: dict[str, Any]) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token_of(code)}"}
        return await self.client.post("/v1/reports", json=report, headers=headers)

    async def stream_receipts(self) -> list[str]:
        """The receipt id of each message in the submissions stream."""
        info = await self.js.stream_info(SUBMISSIONS.name)
        if not info.state.messages:
            return []
        return [
            ReportSubmitted.model_validate_json(
                (await self.js.get_msg(SUBMISSIONS.name, seq)).data
            ).receipt_id
            for seq in range(info.state.first_seq, info.state.last_seq + 1)
        ]


async def unused(_event: Any) -> None:
    raise AssertionError("no review is published in these tests")


@pytest.fixture
async def intake(nats_server: NatsServer, database_url: str) -> AsyncIterator[IntakeUnderTest]:
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    await ensure_streams(js, [SUBMISSIONS], 1)
    store = RecordingStore(make_engine(database_url))
    await store.create()
    review_store = ReviewStore(store.engine)
    await review_store.create()
    await store.add_tokens([(token_of(code), "site", code, code) for code in SITES])

    async def publish(event: ReportSubmitted) -> None:
        await js.publish(
            submitted_subject(event.form, event.code),
            event.model_dump_json().encode(),
            stream=SUBMISSIONS.name,
            headers={"Nats-Msg-Id": event.receipt_id},
            timeout=5,
        )

    reviews = Reviews(REGISTRY, store, review_store, unused, unused)
    app = create_app(
        Intake(REGISTRY, store, publish, "http://intake", read_filing=reviews.filing_state),
        256 * 1024,
    )
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
        try:
            yield IntakeUnderTest(js, store, review_store, client)
        finally:
            await store.engine.dispose()
            await nc.close()


def busy_versions(count: int) -> list[dict[str, Any]]:
    """``count`` different reports of the busy site (different counts, so different content)."""
    return [work_report_for(REGISTRY.sites[BUSY], YEAR, scale=k) for k in range(1, count + 1)]


async def test_concurrent_reports_share_transactions_and_keep_versions_gapless(
    intake: IntakeUnderTest,
) -> None:
    posts = [(code, work_report_for(REGISTRY.sites[code], YEAR)) for code in SITES[1:]]
    posts += [(BUSY, report) for report in busy_versions(6)]
    answers = await asyncio.gather(*(intake.post(code, report) for code, report in posts))

    assert [a.status_code for a in answers] == [202] * len(posts), answers[0].text
    receipts = [a.json() for a in answers]
    assert len({r["receipt_id"] for r in receipts}) == len(posts)
    assert sorted(r["version"] for r in receipts if r["code"] == BUSY) == [1, 2, 3, 4, 5, 6]
    assert {r["version"] for r in receipts if r["code"] != BUSY} == {1}
    history = await intake.store.history(BUSY, "work-report", YEAR)
    assert [row.version for row in history] == [1, 2, 3, 4, 5, 6]
    assert await intake.store.outbox() == []  # every 202 was marked in the stream
    assert sorted(await intake.stream_receipts()) == sorted(r["receipt_id"] for r in receipts)
    # the rows went in shared transactions, not one each
    assert sum(intake.store.insert_batches) == len(posts)
    assert max(intake.store.insert_batches) > 1, intake.store.insert_batches


async def test_without_a_puback_every_row_stays_in_the_outbox_and_the_retry_is_the_same(
    intake: IntakeUnderTest,
) -> None:
    await intake.js.delete_stream(SUBMISSIONS.name)  # nothing acknowledges the submissions
    posts = [(code, work_report_for(REGISTRY.sites[code], YEAR)) for code in SITES[:10]]
    refused = await asyncio.gather(*(intake.post(code, report) for code, report in posts))

    assert [a.status_code for a in refused] == [503] * len(posts)
    assert {a.json()["error"] for a in refused} == {"unavailable"}
    kept = await intake.store.outbox()
    assert sorted(row.code for row in kept) == sorted(code for code, _report in posts)
    assert {row.version for row in kept} == {1}

    await ensure_streams(intake.js, [SUBMISSIONS], 1)  # the stream is back: clients retry
    retried = await asyncio.gather(*(intake.post(code, report) for code, report in posts))
    assert [a.status_code for a in retried] == [202] * len(posts)
    assert all(a.json()["duplicate"] for a in retried)  # the same receipts, not new versions
    assert sorted(a.json()["receipt_id"] for a in retried) == sorted(r.receipt_id for r in kept)
    assert await intake.store.outbox() == []
    assert sorted(await intake.stream_receipts()) == sorted(r.receipt_id for r in kept)


async def test_a_row_the_database_refuses_fails_its_own_report_and_no_other(
    intake: IntakeUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One site's report the database refuses among honest ones filed at the same time: on
    PostgreSQL a NUL in the report (JSONB refuses it; the wire model, which refuses it first,
    is bypassed here): 422; on SQLite a trigger raising a constraint error, as a duplicate
    version would: 409. The shared transaction fails, is retried row by row, and only that
    site gets an answer other than 202, nothing of it stored."""
    poisoned = SITES[5]
    expected = (422, "unstorable_report")
    if intake.store.engine.dialect.name == "sqlite":
        expected = (409, "concurrent_version")
        async with intake.store.engine.begin() as conn:
            await conn.execute(
                text(
                    "CREATE TRIGGER refuse BEFORE INSERT ON intake_receipts "
                    f"WHEN NEW.code = '{poisoned}' BEGIN SELECT RAISE(ABORT, 'refused'); END"
                )
            )
    else:

        def lenient(raw: Any) -> ParseResult:
            name = raw["site"]["name"]
            parsed = parse_report({**raw, "site": {**raw["site"], "name": "北京"}})
            assert parsed.report is not None
            parsed.report["site"]["name"] = name  # as sent, NUL and all
            return parsed

        monkeypatch.setattr(filing, "parse_report", lenient)
    posts = [(code, work_report_for(REGISTRY.sites[code], YEAR)) for code in SITES]
    if intake.store.engine.dialect.name != "sqlite":
        posts[5][1]["site"]["name"] = "北京\u0000发布"
    answers = await asyncio.gather(*(intake.post(code, report) for code, report in posts))

    by_code = {code: a for (code, _r), a in zip(posts, answers, strict=True)}
    refused = by_code.pop(poisoned)
    assert (refused.status_code, refused.json()["error"]) == expected, refused.text
    assert {code: a.status_code for code, a in by_code.items()} == dict.fromkeys(by_code, 202)
    assert max(intake.store.insert_batches) > 1  # the poisoned row shared a transaction
    assert await intake.store.history(poisoned, "work-report", YEAR) == []
    filed = [a.json()["receipt_id"] for a in by_code.values()]
    assert sorted(await intake.stream_receipts()) == sorted(filed)
    assert await intake.store.outbox() == []


async def test_an_approved_filing_is_locked_until_unlocked(intake: IntakeUnderTest) -> None:
    site = SITES[2]
    first = await intake.post(site, work_report_for(REGISTRY.sites[site], YEAR))
    assert first.status_code == 202

    async def act(action: str, receipt_id: str | None) -> None:
        await intake.reviews.add(
            ReviewAction(
                review_id=uuid.uuid4().hex,
                action=action,
                receipt_id=receipt_id,
                code=site,
                form="work-report",
                year=YEAR,
                office="510000",
                at=datetime.now(UTC),
            )
        )

    amended = work_report_for(REGISTRY.sites[site], YEAR, scale=2)
    await act("return", first.json()["receipt_id"])  # returned, not locked: amend at will
    assert (await intake.post(site, amended)).status_code == 202
    await act("approve", None)
    answers = await asyncio.gather(  # the lock is read with other filings' reads
        intake.post(site, work_report_for(REGISTRY.sites[site], YEAR, scale=3)),
        *(intake.post(c, work_report_for(REGISTRY.sites[c], YEAR)) for c in SITES[3:8]),
    )
    assert answers[0].status_code == 409 and answers[0].json()["error"] == "locked"
    assert [a.status_code for a in answers[1:]] == [202] * 5
    await act("unlock", None)
    again = await intake.post(site, work_report_for(REGISTRY.sites[site], YEAR, scale=3))
    assert again.status_code == 202 and again.json()["version"] == 3
