"""A lost PubAck of a review or a deadline is not a lost action: the intake keeps the action and
its event in its outbox, answers 503, and sends the event again (same message id) until the
stream acknowledges it, so the intake and the roll-ups agree afterwards. The intake runs in this
process (its publishing wrapped to lose PubAcks) against a real nats-server, validator and
aggregator."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

import services.intake.main as intake_main
from services.intake.main import IntakeSettings, build
from services.intake.outbox import Outbox
from shared.contracts import (
    DEADLINES,
    REVIEWS,
    ROLLUPS,
    StreamSpec,
    deadline_subject,
    rollup_subject,
)
from shared.deadlines import national_deadline
from shared.registry.demo import demo_registry
from shared.runtime.messaging import publish_all
from shared.runtime.service import make_broker
from tests.support.pipeline import YEAR, jetstream
from tests.support.reports import work_report_for
from tests.support.system import running_system, tokens_of
from tests.support.waiting import eventually
from tools.launcher import System

pytestmark = [pytest.mark.faults, pytest.mark.e2e, pytest.mark.timeout(300)]

REGISTRY = demo_registry()
CITY, PROVINCE = "510900", "510000"
PublishAll = Callable[[Any, StreamSpec, Sequence[tuple[str, BaseModel, str]]], Awaitable[None]]


class LosePubAcks:
    """publish_all whose first publish to ``stream`` gets no PubAck: JetStream stored the
    messages and the acknowledgement was lost (``stored``), or they never reached it."""

    def __init__(self, stream: StreamSpec, stored: bool) -> None:
        self.stream, self.stored, self.lost = stream, stored, 0

    async def __call__(
        self, broker: Any, stream: StreamSpec, items: Sequence[tuple[str, BaseModel, str]]
    ) -> None:
        if stream.name == self.stream.name and not self.lost:
            self.lost += 1
            if self.stored:
                await publish_all(broker, stream, items)
            raise TimeoutError("nats: timeout (PubAck lost)")
        await publish_all(broker, stream, items)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    """nats-server, validator and aggregator as processes; the intake comes in each test."""
    with running_system(
        tmp_path_factory.mktemp("lost-review"), services=("validator", "aggregator")
    ) as system:
        yield system


@asynccontextmanager
async def intake(
    system: System, monkeypatch: pytest.MonkeyPatch, publish: PublishAll
) -> AsyncIterator[tuple[httpx.AsyncClient, Outbox]]:
    """The intake as `nianbao serve intake` builds it, started in this process, and its store of
    reviews (to read its outbox)."""
    monkeypatch.setattr(intake_main, "publish_all", publish)
    monkeypatch.setenv("NIANBAO_HEALTH_PORT", "0")  # no health server: its port may be taken
    settings = IntakeSettings(data_dir=system.data_dir, nats_url=system.nats.url)
    app, built = build(settings, make_broker(settings, "intake"))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://intake", timeout=30
        ) as client:
            yield client, Outbox(built.store.engine)


def outbox_empty(store: Outbox) -> Callable[[], Awaitable[bool]]:
    async def empty() -> bool:
        return await store.pending() == []

    return empty


def bearer(system: System, code: str) -> dict[str, str]:
    return {"authorization": f"Bearer {tokens_of(system)[code]}"}


async def accepted_filing(system: System, client: httpx.AsyncClient, site: str) -> str:
    filed = await client.post(
        "/v1/reports",
        json=work_report_for(REGISTRY.sites[site], YEAR),
        headers=bearer(system, site),
    )
    assert filed.status_code == 202, filed.text
    receipt_id: str = filed.json()["receipt_id"]

    async def judged() -> bool:
        body = (await client.get(f"/v1/receipts/{receipt_id}", headers=bearer(system, site))).json()
        return body.get("outcome") == "accepted"

    await eventually(judged, within=60, interval=0.1)
    return receipt_id


async def county_rollup(system: System, site: str) -> dict[str, Any]:
    county = REGISTRY.sites[site].admin_node
    async with jetstream(system.nats.url) as js:
        try:
            msg = await js.get_last_msg(
                ROLLUPS.name, rollup_subject(YEAR, "admin", REGISTRY.path(county))
            )
        except Exception:
            return {}
    rollup: dict[str, Any] = json.loads(msg.data)["rollup"]
    return rollup


async def review_messages(system: System, review_id: str) -> int:
    """How many messages of this review the stream holds (one per tree of the site)."""
    async with jetstream(system.nats.url) as js:
        info = await js.stream_info(REVIEWS.name)
        found = 0
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            msg = await js.get_msg(REVIEWS.name, seq)
            found += json.loads(msg.data)["review_id"] == review_id
        return found


@pytest.mark.parametrize(
    ("site", "stored"),
    [("5109030001", True), ("5109040001", False)],
    ids=["puback-lost-after-store", "never-stored"],
)
async def test_a_return_without_its_puback_is_kept_and_counted_once_everywhere(
    pipeline: System, monkeypatch: pytest.MonkeyPatch, site: str, stored: bool
) -> None:
    lose = LosePubAcks(REVIEWS, stored)
    async with intake(pipeline, monkeypatch, lose) as (client, reviews_kept):
        receipt_id = await accepted_filing(pipeline, client, site)
        back = await client.post(
            f"/v1/receipts/{receipt_id}/return",
            json={"reason": "访问量数据有误", "paths": ["traffic.page_views"]},
            headers=bearer(pipeline, CITY),
        )
        assert back.status_code == 503 and back.json()["error"] == "unavailable", back.text
        assert lose.lost == 1

        # the intake kept the return: its history shows it and the lock logic sees it
        history = await client.get(
            f"/v1/filings/{site}/work-report/{YEAR}", headers=bearer(pipeline, CITY)
        )
        reviews = history.json()["reviews"]
        assert [r["action"] for r in reviews] == ["return"], history.text

        # ... and sends it again: the aggregator counts it, the receipt shows it, once
        async def returned_everywhere() -> bool:
            receipt = (
                await client.get(f"/v1/receipts/{receipt_id}", headers=bearer(pipeline, site))
            ).json()
            tally = (await county_rollup(pipeline, site)).get("tally", {})
            return (receipt.get("standing") or {}).get("status") == "returned" and (
                tally.get("returned") == 1
            )

        await eventually(returned_everywhere, within=60, interval=0.2)
        await eventually(outbox_empty(reviews_kept), within=30, interval=0.2)
        trees = len(REGISTRY.sites[site].nodes())
        assert await review_messages(pipeline, reviews[0]["review_id"]) == trees


async def test_a_deadline_without_its_puback_is_kept_and_sent_again(
    pipeline: System, monkeypatch: pytest.MonkeyPatch
) -> None:
    deadline = national_deadline(YEAR) - timedelta(hours=1)
    if deadline <= datetime.now(UTC) + timedelta(minutes=1):
        pytest.skip("no internal deadline can be set for this year any more")
    lose = LosePubAcks(DEADLINES, stored=False)
    async with intake(pipeline, monkeypatch, lose) as (client, reviews_kept):
        answer = await client.put(
            f"/v1/deadlines/{YEAR}/{PROVINCE}",
            json={"deadline": deadline.isoformat()},
            headers=bearer(pipeline, PROVINCE),
        )
        assert answer.status_code == 503, answer.text

        async def in_stream() -> dict[str, Any] | None:
            async with jetstream(pipeline.nats.url) as js:
                try:
                    msg = await js.get_last_msg(DEADLINES.name, deadline_subject(YEAR, PROVINCE))
                except Exception:
                    return None
            event: dict[str, Any] = json.loads(msg.data)
            return event

        event = await eventually(in_stream, within=30, interval=0.2)
        await eventually(outbox_empty(reviews_kept), within=30, interval=0.2)
        assert datetime.fromisoformat(event["deadline"]) == deadline
        assert event["set_by"] == PROVINCE
