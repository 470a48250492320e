"""Two aggregators on one database, as replicas: each catches up with what the other stored."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import BaseModel

from services.aggregator.handlers import Aggregator
from services.aggregator.ports import Outlets, Ports
from services.aggregator.store import Journal, SupervisionStore, VersionStore, as_verdict
from shared.contracts import (
    DeadlineSet,
    ReportAggregated,
    ReportJudged,
    ReviewRecorded,
    RollupUpdated,
)
from shared.deadlines import DeadlinePolicy, national_deadline
from shared.filings import Outcome
from shared.registry.demo import demo_registry
from shared.runtime.db import make_engine
from shared.runtime.messaging import Envelope
from tests.support.reports import work_report_for

YEAR = 2026
CITY = "510900"
SITE = "5109030001"


class Replica:
    """One aggregator with its own connections to the shared database; what it published."""

    def __init__(self, database_url: str) -> None:
        self.engine = make_engine(database_url)
        self.versions = VersionStore(self.engine)
        self.supervision = SupervisionStore(self.engine)
        self.journal = Journal(self.engine)
        self.published: list[tuple[str, BaseModel, str]] = []
        outlets = Outlets(rollups=self.publish, progress=self.publish, reminders=self.publish)
        ports = Ports(self.versions, self.supervision, self.supervision, self.journal, outlets)
        policy = lambda year: DeadlinePolicy(year=year, national=national_deadline(year))  # noqa: E731
        self.aggregator = Aggregator(demo_registry(), policy, ports)

    async def publish(self, items: Sequence[tuple[str, BaseModel, str]]) -> None:
        self.published.extend(items)

    async def start(self) -> None:
        """What the service does at start: create the tables, load every stored fact."""
        await self.versions.create()
        await self.supervision.create()
        async with self.journal.exclusive():
            synced = await self.journal.last()
            self.aggregator.books.load(
                [as_verdict(row) for row in await self.versions.all()],
                await self.supervision.reviews(),
                await self.supervision.deadlines(),
            )
            self.aggregator.catch_up.synced = synced

    def events(self, kind: type[BaseModel]) -> list[Any]:
        return [event for _s, event, _id in self.published if isinstance(event, kind)]

    def city_tally(self) -> dict[str, Any]:
        latest = [e for e in self.events(RollupUpdated) if e.node == CITY]
        tally: dict[str, Any] = latest[-1].rollup["tally"]
        return tally


@pytest.fixture
async def replicas(database_url: str) -> AsyncIterator[tuple[Replica, Replica]]:
    first, second = Replica(database_url), Replica(database_url)
    await first.start()
    await second.start()
    try:
        yield first, second
    finally:
        await first.engine.dispose()
        await second.engine.dispose()


def envelope(event: BaseModel) -> Envelope[Any]:
    return Envelope(SimpleNamespace(subject="nianbao.test"), event)  # type: ignore[arg-type]


def verdict(code: str, receipt: str, at: datetime, outcome: Outcome = "accepted") -> ReportJudged:
    return ReportJudged(
        outcome=outcome,
        receipt_id=receipt,
        content_hash=receipt,
        form="work-report",
        form_version="2018",
        year=YEAR,
        code=code,
        version=1,
        received_at=at,
        judged_at=at,
        report=work_report_for(demo_registry().sites[code], YEAR),
        issues=[],
    )


async def test_a_replica_counts_what_the_other_stored(replicas: tuple[Replica, Replica]) -> None:
    first, second = replicas
    at = datetime(2026, 12, 1, tzinfo=UTC)
    other = "5109000001"
    await first.aggregator.on_verdicts([envelope(verdict(SITE, "r1", at))])
    await second.aggregator.on_verdicts([envelope(verdict(other, "r2", at, "rejected"))])
    assert second.city_tally()["on_time"] == 1 and second.city_tally()["rejected"] == 1

    review = ReviewRecorded(
        review_id="v1",
        action="return",
        receipt_id="r1",
        code=SITE,
        form="work-report",
        year=YEAR,
        office=CITY,
        reason="请更正",
        at=at,
    )
    await second.aggregator.on_reviews([envelope(review)])
    restated = second.events(ReportAggregated)[-1]
    assert restated.receipt_id == "r1" and restated.outcome == "accepted"
    assert restated.status.status == "returned" and restated.status.return_reason == "请更正"

    moved = DeadlineSet(
        year=YEAR, node="510000", deadline=at - timedelta(days=1), set_by="510000", at=at
    )
    await second.aggregator.on_deadlines([envelope(moved)])
    await first.aggregator.on_verdicts([envelope(verdict("5109000002", "r3", at))])
    tally = first.city_tally()
    assert (tally["returned"], tally["rejected"], tally["late"]) == (1, 1, 1)


async def test_a_restarted_replica_loads_every_fact_stored(
    replicas: tuple[Replica, Replica], database_url: str
) -> None:
    first, _second = replicas
    at = datetime(2026, 12, 1, tzinfo=UTC)
    await first.aggregator.on_verdicts([envelope(verdict(SITE, "r1", at, "rejected"))])
    moved = DeadlineSet(
        year=YEAR, node="510000", deadline=at - timedelta(days=1), set_by="510000", at=at
    )
    await first.aggregator.on_deadlines([envelope(moved)])
    await first.aggregator.on_verdicts([envelope(verdict(SITE, "r2", at))])
    restarted = Replica(database_url)
    try:
        await restarted.start()
        await restarted.aggregator.republish([YEAR])
        assert restarted.city_tally() == first.city_tally()
        assert restarted.city_tally()["late"] == 1
    finally:
        await restarted.engine.dispose()


async def test_a_replica_starting_late_republishes_what_the_other_counted_meanwhile(
    replicas: tuple[Replica, Replica],
) -> None:
    """Both replicas loaded an empty database; the first counts a report before the second
    reaches its start-up republish. The second's roll-ups then include it: each node keeps only
    its last roll-up, so stale ones would replace the counted ones for good."""
    first, second = replicas
    at = datetime(2026, 12, 1, tzinfo=UTC)
    await first.aggregator.on_verdicts([envelope(verdict(SITE, "r1", at))])
    assert first.city_tally()["reported"] == 1
    async with second.journal.exclusive():
        await second.aggregator.republish([YEAR])
    assert second.city_tally() == first.city_tally()


async def test_roll_ups_whose_send_failed_go_with_the_retry(
    replicas: tuple[Replica, Replica],
) -> None:
    """The roll-up send of a batch fails (no PubAck while a NATS node is lost) after the books
    counted it: the batch's retry finds nothing changed, yet the nodes' new roll-ups are sent
    (they were lost until the nodes' next change)."""
    first, _second = replicas
    at = datetime(2026, 12, 1, tzinfo=UTC)
    sent = first.publish
    refusing = True

    async def publish(items: Sequence[tuple[str, BaseModel, str]]) -> None:
        if refusing and any(isinstance(e, RollupUpdated) for _s, e, _i in items):
            raise TimeoutError("nats: no PubAck")  # as when the stream's leader was lost
        await sent(items)

    first.aggregator.rollups.publish = publish
    batch = [envelope(verdict(SITE, "r1", at))]
    with pytest.raises(TimeoutError):
        await first.aggregator.on_verdicts(batch)
    assert not first.events(RollupUpdated)
    refusing = False
    await first.aggregator.on_verdicts(batch)  # the redelivery: nothing changes in the books
    nodes = {e.node for e in first.events(RollupUpdated)}
    assert {CITY, "510000", "CN"} <= nodes
    assert first.city_tally()["on_time"] == 1
    assert not first.aggregator.rollups.owed


async def test_roll_ups_counted_before_a_failed_figures_put_go_with_the_retry(
    replicas: tuple[Replica, Replica], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The figures' put fails after the books counted the batch, before its roll-ups were
    sent: they are owed, and the retry sends them."""
    first, _second = replicas
    at = datetime(2026, 12, 1, tzinfo=UTC)

    async def refused(_keys: Any) -> None:
        raise TimeoutError("nats: no PubAck")

    monkeypatch.setattr(first.aggregator, "put_figures", refused)
    batch = [envelope(verdict(SITE, "r1", at))]
    with pytest.raises(TimeoutError):
        await first.aggregator.on_verdicts(batch)
    monkeypatch.undo()
    await first.aggregator.on_verdicts(batch)
    assert {CITY, "510000", "CN"} <= {e.node for e in first.events(RollupUpdated)}
    assert first.city_tally()["on_time"] == 1
