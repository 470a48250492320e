"""Counts each verdict: keeps every version, recomputes the affected nodes, emits roll-ups."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from shared.contracts import (
    ReportAggregated,
    ReportJudged,
    RollupUpdated,
    SiteStatus,
    aggregated_subject,
    content_hash,
    rollup_subject,
)
from shared.deadlines import DeadlinePolicy, deadline_for
from shared.filings import FiledVersion, Standing, standing
from shared.forms import count_paths, load_form, yes_no_paths
from shared.messaging import Envelope
from shared.registry import Registry
from shared.rollup import NodeRollup, RollupBook, SiteState

WORK_REPORT = "work-report"
#: a roll-up event lists at most this many missing sites; pages list them all
MISSING_IN_EVENT = 200

FilingKey = tuple[str, str, int]  # (code, form, year)
Publish = Callable[[Sequence[tuple[str, BaseModel, str]]], Awaitable[None]]


def outcome_of(subject: str) -> str:
    return "accepted" if subject.split(".")[1] == "accepted" else "rejected"


def rollup_event(rollup: NodeRollup) -> RollupUpdated:
    body: dict[str, Any] = rollup.model_dump(mode="json")
    missing = body["tally"]["missing_sites"]
    body["tally"]["missing_sites"] = missing[:MISSING_IN_EVENT]
    return RollupUpdated(
        year=rollup.year,
        tree=rollup.tree,
        node=rollup.node,
        path=rollup.path,
        rollup=body,
        missing_sites_truncated=len(missing) > MISSING_IN_EVENT,
        digest=content_hash(rollup.model_dump(mode="json")),
    )


def rollup_message(rollup: NodeRollup) -> tuple[str, BaseModel, str]:
    event = rollup_event(rollup)
    subject = rollup_subject(event.year, event.tree, event.path)
    return subject, event, f"rollup:{event.year}:{event.node}:{event.digest}"


class Aggregator:
    """Holds the versions of every filing and one incremental roll-up book per year."""

    def __init__(
        self,
        registry: Registry,
        deadlines: Callable[[int], DeadlinePolicy],
        save: Callable[[Sequence[tuple[ReportJudged, str]]], Awaitable[None]],
        publish_rollups: Publish,
        publish_progress: Publish,
    ) -> None:
        self.registry = registry
        self.save = save
        self.deadlines = deadlines
        self.publish_rollups = publish_rollups
        self.publish_progress = publish_progress
        self.filings: dict[FilingKey, dict[str, FiledVersion]] = defaultdict(dict)
        self.books: dict[int, RollupBook] = {}
        definition = load_form(WORK_REPORT)
        self.count_paths = count_paths(definition)
        self.yes_no_paths = yes_no_paths(definition)

    # ---------------------------------------------------------------- state
    def deadline(self, code: str, year: int) -> datetime:
        policy = self.deadlines(year)
        if code in self.registry.sites:
            return deadline_for(policy, self.registry, code)
        return policy.national

    def standing(self, key: FilingKey) -> Standing:
        code, _form, year = key
        return standing(list(self.filings.get(key, {}).values()), self.deadline(code, year))

    def site_state(self, key: FilingKey) -> SiteState:
        current = self.standing(key)
        report = current.counted.report if current.counted else None
        return SiteState(site=key[0], status=current.status, report=report)

    def book(self, year: int) -> RollupBook:
        if year not in self.books:
            book = RollupBook(self.registry, year, self.count_paths, self.yes_no_paths)
            book.load(
                {
                    code: self.site_state((code, form, y))
                    for (code, form, y) in self.filings
                    if y == year and form == WORK_REPORT and code in self.registry.sites
                }
            )
            self.books[year] = book
        return self.books[year]

    def remember(self, verdict: ReportJudged, outcome: str) -> FilingKey:
        key = (verdict.code, verdict.form, verdict.year)
        self.filings[key][verdict.receipt_id] = FiledVersion(
            receipt_id=verdict.receipt_id,
            version=verdict.version,
            outcome="accepted" if outcome == "accepted" else "rejected",
            received_at=verdict.received_at,
            content_hash=verdict.content_hash,
            report=verdict.report if outcome == "accepted" else None,
        )
        return key

    def load(self, verdicts: Iterable[tuple[ReportJudged, str]]) -> None:
        """Rebuild memory from stored versions; books are built lazily per year."""
        for verdict, outcome in verdicts:
            self.remember(verdict, outcome)
        self.books.clear()

    def all_rollups(self, years: Iterable[int] = ()) -> list[NodeRollup]:
        """Every node's roll-up for the given years and every year with a filing."""
        filed = {year for (_c, form, year) in self.filings if form == WORK_REPORT}
        return [
            r for year in sorted(filed | set(years)) for r in self.book(year).rollups().values()
        ]

    # ---------------------------------------------------------------- handler
    async def count(self, verdicts: Sequence[tuple[ReportJudged, str]]) -> None:
        """Count a batch: remember versions, update books, publish roll-ups then progress."""
        touched: dict[int, set[str]] = defaultdict(set)
        for verdict, outcome in verdicts:
            code, form, year = self.remember(verdict, outcome)
            if form == WORK_REPORT and code in self.registry.sites:
                touched[year].add(code)
        changed: list[NodeRollup] = []
        for year, codes in touched.items():
            states = [self.site_state((code, WORK_REPORT, year)) for code in sorted(codes)]
            changed.extend(self.book(year).update(states).values())
        await self.publish_rollups([rollup_message(r) for r in changed])
        await self.publish_progress([self.aggregated(v, o) for v, o in verdicts])

    def aggregated(self, verdict: ReportJudged, outcome: str) -> tuple[str, BaseModel, str]:
        key = (verdict.code, verdict.form, verdict.year)
        current = self.standing(key)
        counted = current.counted
        in_tree = verdict.form == WORK_REPORT and verdict.code in self.registry.sites
        event = ReportAggregated(
            **verdict.model_dump(exclude={"schema_version"}),
            outcome="accepted" if outcome == "accepted" else "rejected",
            aggregated_at=datetime.now(UTC),
            status=SiteStatus(
                code=verdict.code,
                form=verdict.form,
                year=verdict.year,
                status=current.status,
                counted_receipt=counted.receipt_id if counted else None,
                counted_version=counted.version if counted else None,
                received_at=counted.received_at if counted else None,
                deadline=self.deadline(verdict.code, verdict.year),
            ),
            nodes=self.registry.site_ancestors(verdict.code) if in_tree else [],
        )
        subject = aggregated_subject(verdict.form, verdict.code)
        return subject, event, f"aggregated:{verdict.receipt_id}"

    async def on_verdicts(self, batch: list[Envelope[ReportJudged]]) -> None:
        verdicts = [(e.event, outcome_of(e.msg.subject)) for e in batch]
        await self.save(verdicts)
        await self.count(verdicts)

    async def republish(self, years: Iterable[int]) -> None:
        """Publish every node's current roll-up (at start: nothing counted is left unpublished;
        identical ones are dropped by the server's dedupe or ignored downstream by digest)."""
        await self.publish_rollups([rollup_message(r) for r in self.all_rollups(years)])
