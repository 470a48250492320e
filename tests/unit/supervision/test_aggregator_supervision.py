"""The aggregator's supervision handlers in memory: returns, deadlines and reminders."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from pydantic import BaseModel

from services.aggregator.handlers import Aggregator, Ports
from shared.contracts import (
    DeadlineSet,
    ReminderDue,
    ReportAggregated,
    ReportJudged,
    ReviewRecorded,
    RollupUpdated,
)
from shared.deadlines import DeadlinePolicy, national_deadline
from shared.registry.demo import demo_registry
from shared.runtime.messaging import Envelope
from tests.reports import work_report_for

YEAR = 2026
CITY = "510900"
SITE = "5109030001"


class Recorder:
    """Hand-written fake ports: remember what was saved and published."""

    def __init__(self) -> None:
        self.published: list[tuple[str, BaseModel, str]] = []
        self.saved: dict[str, ReportJudged] = {}
        self.outcomes: dict[str, str] = {}
        self.marks: list[dict[str, Any]] = []

    async def save_verdicts(self, verdicts: Sequence[tuple[ReportJudged, str]]) -> None:
        for verdict, outcome in verdicts:
            self.saved[verdict.receipt_id] = verdict
            self.outcomes[verdict.receipt_id] = outcome

    async def load_verdicts(self, ids: Sequence[str]) -> list[tuple[ReportJudged, str]]:
        return [(self.saved[i], self.outcomes[i]) for i in ids if i in self.saved]

    async def nothing(self, _rows: Sequence[dict[str, Any]]) -> None:
        return None

    async def mark(self, rows: Sequence[dict[str, Any]]) -> None:
        self.marks.extend(rows)

    async def publish(self, items: Sequence[tuple[str, BaseModel, str]]) -> None:
        self.published.extend(items)

    def events(self, kind: type[BaseModel]) -> list[Any]:
        return [event for _s, event, _id in self.published if isinstance(event, kind)]


def aggregator() -> tuple[Aggregator, Recorder]:
    recorder = Recorder()
    ports = Ports(
        save_verdicts=recorder.save_verdicts,
        load_verdicts=recorder.load_verdicts,
        save_reviews=recorder.nothing,
        save_deadlines=recorder.nothing,
        mark_reminded=recorder.mark,
        publish_rollups=recorder.publish,
        publish_progress=recorder.publish,
        publish_reminders=recorder.publish,
    )
    policy = lambda year: DeadlinePolicy(year=year, national=national_deadline(year))  # noqa: E731
    return Aggregator(demo_registry(), policy, ports), recorder


def envelope(subject: str, event: BaseModel) -> Envelope[Any]:
    return Envelope(SimpleNamespace(subject=subject), event)  # type: ignore[arg-type]


def accepted(code: str, receipt: str, at: datetime, version: int = 1) -> Envelope[Any]:
    report = work_report_for(demo_registry().sites[code], YEAR)
    verdict = ReportJudged(
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


def city_rollup(recorder: Recorder) -> dict[str, Any]:
    latest = [e for e in recorder.events(RollupUpdated) if e.node == CITY]
    tally: dict[str, Any] = latest[-1].rollup["tally"]
    return tally


async def test_a_return_counts_as_returned_and_restates_the_receipt() -> None:
    agg, recorder = aggregator()
    at = datetime(2026, 12, 1, tzinfo=UTC)
    await agg.on_verdicts([accepted(SITE, "r1", at)])
    assert city_rollup(recorder)["on_time"] == 1
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
    assert city_rollup(recorder)["returned"] == 1 and city_rollup(recorder)["on_time"] == 0
    restated = recorder.events(ReportAggregated)[-1]
    assert restated.receipt_id == "r1" and restated.status.status == "returned"
    assert restated.status.return_reason == "请更正"
    ids = [msg_id for _s, e, msg_id in recorder.published if isinstance(e, ReportAggregated)]
    assert len(set(ids)) == len(ids)  # a restatement is not dropped as a duplicate
    await agg.on_verdicts([accepted(SITE, "r2", at + timedelta(hours=1), version=2)])
    assert city_rollup(recorder)["returned"] == 0 and city_rollup(recorder)["on_time"] == 1


async def test_an_earlier_internal_deadline_makes_a_filing_late() -> None:
    agg, recorder = aggregator()
    filed = datetime(2026, 12, 20, tzinfo=UTC)
    await agg.on_verdicts([accepted(SITE, "r1", filed)])
    moved = DeadlineSet(
        year=YEAR, node="510000", deadline=filed - timedelta(days=1), set_by="510000", at=filed
    )
    await agg.on_deadlines([envelope("nianbao.deadline.2026.510000", moved)])
    assert city_rollup(recorder)["late"] == 1
    assert recorder.events(ReportAggregated)[-1].status.status == "late"
    stale = moved.model_copy(
        update={"deadline": filed + timedelta(days=1), "at": filed - timedelta(days=1)}
    )
    await agg.on_deadlines([envelope("nianbao.deadline.2026.510000", stale)])
    assert city_rollup(recorder)["late"] == 1  # an older setting does not win


async def test_reminders_list_missing_sites_once_per_node_and_threshold() -> None:
    agg, recorder = aggregator()
    registry = demo_registry()
    deadline = national_deadline(YEAR)
    await agg.on_verdicts([accepted(SITE, "r1", deadline - timedelta(days=20))])
    sent = await agg.remind(deadline - timedelta(days=2))
    reminders = {e.node: e for e in recorder.events(ReminderDue)}
    assert sent == len(reminders) and CITY in reminders and "CN" in reminders
    assert reminders[CITY].threshold_days == 3
    assert {s.code for s in reminders[CITY].sites} == set(registry.sites_under(CITY, YEAR)) - {SITE}
    assert "5109030001" not in {s.code for s in reminders["510000"].sites}
    assert await agg.remind(deadline - timedelta(days=2)) == 0
    recorded = {(m["node"], m["threshold_days"]) for m in recorder.marks}
    assert {(CITY, 3), (CITY, 7)} <= recorded
    assert await agg.remind(deadline - timedelta(hours=12)) > 0
    assert {e.threshold_days for e in recorder.events(ReminderDue) if e.node == CITY} == {3, 1}
