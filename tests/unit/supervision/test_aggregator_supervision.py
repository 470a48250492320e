"""The aggregator's supervision handlers on in-memory ports: returns, deadlines and reminders."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from pydantic import BaseModel

from services.aggregator.deadlines import DeadlineSetting
from services.aggregator.handlers import Aggregator
from services.aggregator.ports import JournalLine, Outlets, Ports, ReminderMark
from shared.contracts import (
    DeadlineSet,
    ReminderDue,
    ReportAggregated,
    ReportJudged,
    ReviewRecorded,
    RollupUpdated,
)
from shared.deadlines import BEIJING_TIME, DeadlinePolicy, national_deadline
from shared.registry.demo import demo_registry
from shared.runtime.messaging import Envelope
from tests.support.reports import work_report_for

YEAR = 2026
CITY = "510900"
SITE = "5109030001"


class Memory:
    """Hand-written fakes of the small ports, one process alone: remember what was stored and
    published."""

    def __init__(self) -> None:
        self.published: list[tuple[str, BaseModel, str]] = []
        self.figures: dict[str, Any] = {}
        self.saved: dict[str, ReportJudged] = {}
        self.marks: list[dict[str, Any]] = []

    # versions
    async def add(self, verdicts: Sequence[ReportJudged]) -> None:
        self.saved.update((v.receipt_id, v) for v in verdicts)

    async def verdicts(self, receipt_ids: Sequence[str]) -> list[ReportJudged]:
        return [self.saved[i] for i in receipt_ids if i in self.saved]

    async def put_figures(self, writes: Sequence[tuple[str, bytes]]) -> None:
        self.figures.update((key, json.loads(value)) for key, value in writes)

    # supervision: nothing to catch up with, alone
    async def add_reviews(self, events: Sequence[ReviewRecorded]) -> None:
        return None

    async def reviews_by_id(self, review_ids: Sequence[str]) -> list[ReviewRecorded]:
        return []

    async def set_deadlines(self, events: Sequence[DeadlineSet]) -> None:
        return None

    async def deadlines(self) -> list[DeadlineSetting]:
        return []

    # reminders
    async def mark_reminded(self, rows: Sequence[dict[str, Any]]) -> None:
        self.marks.extend(rows)

    async def reminded(self) -> set[ReminderMark]:
        return set()

    # journal
    @asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        yield

    async def since(self, seq: int) -> Sequence[JournalLine]:
        return []

    # outlets
    async def publish(self, items: Sequence[tuple[str, BaseModel, str]]) -> None:
        self.published.extend(items)

    def events(self, kind: type[BaseModel]) -> list[Any]:
        return [event for _s, event, _id in self.published if isinstance(event, kind)]


def aggregator() -> tuple[Aggregator, Memory]:
    memory = Memory()
    outlets = Outlets(
        rollups=memory.publish,
        progress=memory.publish,
        reminders=memory.publish,
        figures=memory.put_figures,
    )
    ports = Ports(
        versions=memory, supervision=memory, reminders=memory, journal=memory, outlets=outlets
    )
    policy = lambda year: DeadlinePolicy(year=year, national=national_deadline(year))  # noqa: E731
    return Aggregator(demo_registry(), policy, ports), memory


def envelope(subject: str, event: BaseModel) -> Envelope[Any]:
    return Envelope(SimpleNamespace(subject=subject), event)  # type: ignore[arg-type]


def accepted(code: str, receipt: str, at: datetime, version: int = 1) -> Envelope[Any]:
    report = work_report_for(demo_registry().sites[code], YEAR)
    verdict = ReportJudged(
        outcome="accepted",
        receipt_id=receipt,
        content_hash=receipt,
        form="work-report",
        form_version="2018",
        year=YEAR,
        code=code,
        version=version,
        received_at=at,
        judged_at=at,
        report=report,
        issues=[],
    )
    return envelope(f"nianbao.accepted.work-report.{code}", verdict)


def city_rollup(memory: Memory) -> dict[str, Any]:
    latest = [e for e in memory.events(RollupUpdated) if e.node == CITY]
    tally: dict[str, Any] = latest[-1].rollup["tally"]
    return tally


async def test_a_return_counts_as_returned_and_restates_the_receipt() -> None:
    agg, memory = aggregator()
    at = datetime(2026, 12, 1, tzinfo=UTC)
    await agg.on_verdicts([accepted(SITE, "r1", at)])
    assert city_rollup(memory)["on_time"] == 1
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
    await agg.on_reviews([envelope("nianbao.review.x", review)])
    assert city_rollup(memory)["returned"] == 1 and city_rollup(memory)["on_time"] == 0
    restated = memory.events(ReportAggregated)[-1]
    assert restated.receipt_id == "r1" and restated.status.status == "returned"
    assert restated.status.return_reason == "请更正"
    ids = [msg_id for _s, e, msg_id in memory.published if isinstance(e, ReportAggregated)]
    assert len(set(ids)) == len(ids)  # a restatement is not dropped as a duplicate
    await agg.on_verdicts([accepted(SITE, "r2", at + timedelta(hours=1), version=2)])
    assert city_rollup(memory)["returned"] == 0 and city_rollup(memory)["on_time"] == 1


async def test_the_outcome_is_read_from_the_verdict_not_its_subject() -> None:
    agg, memory = aggregator()
    at = datetime(2026, 12, 1, tzinfo=UTC)
    rejected = accepted(SITE, "r1", at).event.model_copy(update={"outcome": "rejected"})
    await agg.on_verdicts([envelope(f"nianbao.accepted.work-report.{SITE}", rejected)])
    assert city_rollup(memory)["rejected"] == 1 and city_rollup(memory)["on_time"] == 0
    aggregated = memory.events(ReportAggregated)[-1]
    assert aggregated.outcome == "rejected" and aggregated.status.status == "rejected"


async def test_an_earlier_internal_deadline_makes_a_filing_late() -> None:
    agg, memory = aggregator()
    filed = datetime(2026, 12, 20, tzinfo=UTC)
    await agg.on_verdicts([accepted(SITE, "r1", filed)])
    moved = DeadlineSet(
        year=YEAR, node="510000", deadline=filed - timedelta(days=1), set_by="510000", at=filed
    )
    await agg.on_deadlines([envelope("nianbao.deadline.2026.510000", moved)])
    assert city_rollup(memory)["late"] == 1
    assert memory.events(ReportAggregated)[-1].status.status == "late"
    stale = moved.model_copy(
        update={"deadline": filed + timedelta(days=1), "at": filed - timedelta(days=1)}
    )
    await agg.on_deadlines([envelope("nianbao.deadline.2026.510000", stale)])
    assert city_rollup(memory)["late"] == 1  # an older setting does not win


async def test_an_office_deadline_binds_its_sites_not_its_own_supervision_report() -> None:
    """四川 sets 29 January for its sites; its own supervision report is due by the national
    deadline (31 January), so filing it on the 30th is on time while a site is late."""
    agg, memory = aggregator()
    jan29 = datetime(YEAR + 1, 1, 29, 23, 59, 59, tzinfo=BEIJING_TIME)
    moved = DeadlineSet(
        year=YEAR, node="510000", deadline=jan29, set_by="510000", at=jan29 - timedelta(days=30)
    )
    await agg.on_deadlines([envelope("nianbao.deadline.2026.510000", moved)])
    jan30 = jan29 + timedelta(hours=12)
    await agg.on_verdicts([accepted(SITE, "r1", jan30)])
    assert memory.events(ReportAggregated)[-1].status.status == "late"
    office = accepted(SITE, "s1", jan30).event.model_copy(
        update={"form": "supervision-report", "code": "510000", "report": {}}
    )
    await agg.on_verdicts([envelope("nianbao.accepted.supervision-report.510000", office)])
    own = memory.events(ReportAggregated)[-1]
    assert (own.code, own.form, own.status.status) == ("510000", "supervision-report", "on_time")
    assert agg.books.deadlines.deadline("510000", YEAR) == national_deadline(YEAR)


async def test_reminders_list_missing_sites_once_per_node_and_threshold() -> None:
    agg, memory = aggregator()
    registry = demo_registry()
    deadline = national_deadline(YEAR)
    await agg.on_verdicts([accepted(SITE, "r1", deadline - timedelta(days=20))])
    sent = await agg.reminders.remind(deadline - timedelta(days=2))
    reminders = {e.node: e for e in memory.events(ReminderDue)}
    assert sent == len(reminders) and CITY in reminders and "CN" in reminders
    assert reminders[CITY].threshold_days == 3
    assert {s.code for s in reminders[CITY].sites} == set(registry.sites_under(CITY, YEAR)) - {SITE}
    assert "5109030001" not in {s.code for s in reminders["510000"].sites}
    assert await agg.reminders.remind(deadline - timedelta(days=2)) == 0
    recorded = {(m["node"], m["threshold_days"]) for m in memory.marks}
    assert {(CITY, 3), (CITY, 7)} <= recorded
    assert await agg.reminders.remind(deadline - timedelta(hours=12)) > 0
    assert {e.threshold_days for e in memory.events(ReminderDue) if e.node == CITY} == {3, 1}


async def test_reminders_name_the_sites_that_filed_but_have_not_published() -> None:
    from services.aggregator.publication import PublicationFacts
    from shared.publication import PublicationChecked, PublicationDeclared

    agg, memory = aggregator()
    facts = PublicationFacts()
    agg.books.publication = facts
    deadline = national_deadline(YEAR)
    await agg.on_verdicts([accepted(SITE, "r1", deadline - timedelta(days=20))])
    await agg.reminders.remind(deadline - timedelta(days=6))
    first = {e.node: e for e in memory.events(ReminderDue)}[CITY]
    assert [(s.code, s.state) for s in first.unpublished] == [(SITE, "undeclared")]
    url = "https://www.510903.gov.cn/nb/2026.html"
    at = deadline - timedelta(days=5)
    facts.apply(
        PublicationDeclared(
            declaration_id="d1",
            kind="report",
            code=SITE,
            year=YEAR,
            url=url,
            declared_by=SITE,
            at=at,
        )
    )
    facts.apply(
        PublicationChecked(
            check_id="c1",
            kind="report",
            code=SITE,
            year=YEAR,
            url=url,
            state="verified",
            checked_at=at,
            first_verified_at=at,
        )
    )
    await agg.reminders.remind(deadline - timedelta(days=2))
    later = [e for e in memory.events(ReminderDue) if e.node == CITY and e.threshold_days == 3]
    assert later and later[0].unpublished == []


async def test_counted_figures_and_peer_sums_are_kept_current_for_the_validator() -> None:
    agg, memory = aggregator()
    at = datetime(2026, 12, 1, tzinfo=UTC)
    await agg.on_verdicts([accepted(SITE, "r1", at), accepted("5109040001", "r2", at)])
    uv = work_report_for(demo_registry().sites[SITE], YEAR)["traffic"]["unique_visitors"]
    assert memory.figures[f"site.{YEAR}.{SITE}"]["traffic.unique_visitors"] == uv
    peers = memory.figures[f"peers.{YEAR}.county.none"]
    assert peers["n"]["traffic.unique_visitors"] == 2
    assert peers["total"]["traffic.unique_visitors"] == 2 * uv
    # a rejected later version leaves the counted figures; a return takes them out
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
    await agg.on_reviews([envelope("nianbao.review.x", review)])
    assert memory.figures[f"site.{YEAR}.{SITE}"] is None
    assert memory.figures[f"peers.{YEAR}.county.none"]["n"]["traffic.unique_visitors"] == 1
