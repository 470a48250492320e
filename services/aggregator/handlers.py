"""Counts each verdict and review: keeps every version, recomputes the affected nodes, emits
roll-ups, re-states a filing when a review or a deadline changes it, and sends reminders."""

from __future__ import annotations

import hashlib
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import BaseModel

from shared.contracts import (
    DeadlineSet,
    ReminderDue,
    ReportAggregated,
    ReportJudged,
    ReviewRecorded,
    RollupUpdated,
    SiteOverdue,
    SiteStatus,
    aggregated_subject,
    reminder_subject,
    rollup_subject,
)
from shared.deadlines import DeadlinePolicy, deadline_for, deadline_for_node
from shared.filings import FiledVersion, Review, Standing, current_reporting_year, standing
from shared.forms import count_paths, load_form, yes_no_paths
from shared.registry import Level, Registry
from shared.reminders import due_threshold, skipped_thresholds
from shared.rollup import NodeRollup, RollupBook, SiteState, rollup_view
from shared.runtime.messaging import Envelope

WORK_REPORT = "work-report"
#: a roll-up event lists at most this many missing sites; pages list them all
MISSING_IN_EVENT = 200
REMINDED_LEVELS = {Level.NATIONAL, Level.PROVINCE, Level.CITY, Level.DEPARTMENT}
OVERDUE = ("missing", "returned", "rejected")

FilingKey = tuple[str, str, int]  # (code, form, year)
Message = tuple[str, BaseModel, str]
Publish = Callable[[Sequence[Message]], Awaitable[None]]
Verdicts = Sequence[tuple[ReportJudged, str]]


def outcome_of(subject: str) -> str:
    return "accepted" if subject.split(".")[1] == "accepted" else "rejected"


def rollup_event(rollup: NodeRollup) -> RollupUpdated:
    body: dict[str, Any] = rollup.model_dump(mode="json")
    # of the whole roll-up, every missing site included; a tally's keys come in a fixed order
    # (every tally starts from the zero tally), so equal roll-ups give equal bytes
    digest = hashlib.sha256(rollup.model_dump_json().encode()).hexdigest()
    missing = body["tally"]["missing_sites"]
    body["tally"]["missing_sites"] = missing[:MISSING_IN_EVENT]
    return RollupUpdated(
        year=rollup.year,
        tree=rollup.tree,
        node=rollup.node,
        path=rollup.path,
        rollup=body,
        missing_sites_truncated=len(missing) > MISSING_IN_EVENT,
        digest=digest,
    )


def rollup_message(rollup: NodeRollup) -> Message:
    event = rollup_event(rollup)
    subject = rollup_subject(event.year, event.tree, event.path)
    # a roll-up is state, kept last per subject: never deduplicated by its content, or a node
    # that goes A -> B -> A within the duplicate window (a replay, an amendment undone) keeps B
    return subject, event, f"rollup:{event.year}:{event.node}:{event.digest}:{uuid.uuid4().hex}"


class JournalLine(Protocol):
    seq: int | None
    kind: str
    ref: str


@asynccontextmanager
async def _alone() -> AsyncIterator[None]:
    yield


async def _nothing_since(_seq: int) -> Sequence[JournalLine]:
    return []


async def _no_reviews(_ids: Sequence[str]) -> list[ReviewRecorded]:
    return []


async def _no_deadlines() -> list[tuple[int, str, datetime, datetime]]:
    return []


async def _no_marks() -> set[tuple[int, str, int]]:
    return set()


@dataclass
class Ports:
    """What the aggregator's handlers reach outside the pure core.

    Replicas share one database: each handler takes an exclusive turn, catches up with what the
    others stored (the journal), stores its own facts, recomputes and publishes. The defaults
    serve a single process that keeps everything in memory (tests).
    """

    save_verdicts: Callable[[Verdicts], Awaitable[None]]
    load_verdicts: Callable[[Sequence[str]], Awaitable[list[tuple[ReportJudged, str]]]]
    save_reviews: Callable[[Sequence[dict[str, Any]]], Awaitable[None]]
    save_deadlines: Callable[[Sequence[dict[str, Any]]], Awaitable[None]]
    mark_reminded: Callable[[Sequence[dict[str, Any]]], Awaitable[None]]
    publish_rollups: Publish
    publish_progress: Publish
    publish_reminders: Publish
    exclusive: Callable[[], AbstractAsyncContextManager[None]] = _alone
    journal_since: Callable[[int], Awaitable[Sequence[JournalLine]]] = _nothing_since
    load_reviews: Callable[[Sequence[str]], Awaitable[list[ReviewRecorded]]] = _no_reviews
    load_deadlines: Callable[[], Awaitable[list[tuple[int, str, datetime, datetime]]]] = (
        _no_deadlines
    )
    load_reminded: Callable[[], Awaitable[set[tuple[int, str, int]]]] = _no_marks


class Aggregator:
    """Versions and reviews of every filing, deadlines, one incremental roll-up book per year."""

    def __init__(
        self, registry: Registry, base_policy: Callable[[int], DeadlinePolicy], ports: Ports
    ) -> None:
        self.registry = registry
        self.base_policy = base_policy
        self.ports = ports
        self.filings: dict[FilingKey, dict[str, FiledVersion]] = defaultdict(dict)
        self.reviews: dict[FilingKey, dict[str, Review]] = defaultdict(dict)
        #: internal deadlines set through the intake: year -> node -> (deadline, set at)
        self.overrides: dict[int, dict[str, tuple[datetime, datetime]]] = defaultdict(dict)
        self.reminded: set[tuple[int, str, int]] = set()
        #: the journal position this replica has caught up with, and the facts it knows
        self.synced = 0
        self.known_receipts: set[str] = set()
        self.known_reviews: set[str] = set()
        self.books: dict[int, RollupBook] = {}
        self._policies: dict[int, DeadlinePolicy] = {}
        definition = load_form(WORK_REPORT)
        self.count_paths = count_paths(definition)
        self.yes_no_paths = yes_no_paths(definition)
        self.view_paths = (*self.count_paths, *self.yes_no_paths)

    # ---------------------------------------------------------------- state
    def policy(self, year: int) -> DeadlinePolicy:
        if year not in self._policies:
            base = self.base_policy(year)
            given = {node: at for node, (at, _set) in self.overrides.get(year, {}).items()}
            self._policies[year] = base.model_copy(
                update={"overrides": {**base.overrides, **given}}
            )
        return self._policies[year]

    def deadline(self, code: str, year: int) -> datetime:
        policy = self.policy(year)
        if code in self.registry.sites:
            return deadline_for(policy, self.registry, code)
        if code in self.registry.nodes:
            return deadline_for_node(policy, self.registry, code)
        return policy.national

    def standing(self, key: FilingKey) -> Standing:
        code, _form, year = key
        versions = list(self.filings.get(key, {}).values())
        reviews = list(self.reviews.get(key, {}).values())
        return standing(versions, self.deadline(code, year), reviews)

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
        self.known_receipts.add(verdict.receipt_id)
        self.filings[key][verdict.receipt_id] = FiledVersion(
            receipt_id=verdict.receipt_id,
            version=verdict.version,
            outcome="accepted" if outcome == "accepted" else "rejected",
            received_at=verdict.received_at,
            content_hash=verdict.content_hash,
            # only what a roll-up reads: every version stays in memory, its report need not
            report=rollup_view(verdict.report, self.view_paths) if outcome == "accepted" else None,
        )
        return key

    def remember_review(self, event: ReviewRecorded) -> FilingKey:
        key = (event.code, event.form, event.year)
        self.known_reviews.add(event.review_id)
        self.reviews[key][event.review_id] = Review(
            review_id=event.review_id,
            action=event.action,
            receipt_id=event.receipt_id,
            at=event.at,
            reason=event.reason,
        )
        return key

    def remember_deadline(self, year: int, node: str, deadline: datetime, at: datetime) -> bool:
        current = self.overrides[year].get(node)
        if current is not None and current[1] >= at:
            return False
        self.overrides[year][node] = (deadline, at)
        self._policies.pop(year, None)
        return True

    def load(
        self,
        verdicts: Iterable[tuple[ReportJudged, str]],
        reviews: Iterable[ReviewRecorded] = (),
        deadlines: Iterable[tuple[int, str, datetime, datetime]] = (),
        reminded: Iterable[tuple[int, str, int]] = (),
    ) -> None:
        """Rebuild memory from stored facts; books are built lazily per year."""
        for verdict, outcome in verdicts:
            self.remember(verdict, outcome)
        for review in reviews:
            self.remember_review(review)
        for year, node, deadline, at in deadlines:
            self.remember_deadline(year, node, deadline, at)
        self.reminded = set(reminded)
        self.books.clear()

    def all_rollups(self, years: Iterable[int] = ()) -> list[NodeRollup]:
        """Every node's roll-up for the given years and every year with a filing."""
        filed = {year for (_c, form, year) in self.filings if form == WORK_REPORT}
        return [
            r for year in sorted(filed | set(years)) for r in self.book(year).rollups().values()
        ]

    # ---------------------------------------------------------------- counting
    def recount(self, keys: Iterable[FilingKey]) -> list[NodeRollup]:
        """Re-state these filings in their year's book; the roll-ups that changed."""
        touched: dict[int, set[str]] = defaultdict(set)
        for code, form, year in keys:
            if form == WORK_REPORT and code in self.registry.sites:
                touched[year].add(code)
        changed: list[NodeRollup] = []
        for year, codes in sorted(touched.items()):
            if year not in self.books:  # a new year's book is built from every filing: all new
                changed.extend(self.book(year).rollups().values())
                continue
            states = [self.site_state((code, WORK_REPORT, year)) for code in sorted(codes)]
            changed.extend(self.book(year).update(states).values())
        return changed

    async def count(self, verdicts: Verdicts, others: Sequence[FilingKey] = ()) -> None:
        """Count a batch: remember versions, update books, publish roll-ups then progress."""
        keys = [self.remember(verdict, outcome) for verdict, outcome in verdicts]
        changed = self.recount([*keys, *others])
        await self.ports.publish_rollups([rollup_message(r) for r in changed])
        await self.ports.publish_progress([self.aggregated(v, o) for v, o in verdicts])

    def site_status(self, key: FilingKey) -> SiteStatus:
        code, form, year = key
        current = self.standing(key)
        counted = current.counted
        returned = current.returned
        return SiteStatus(
            code=code,
            form=form,
            year=year,
            status=current.status,
            counted_receipt=counted.receipt_id if counted else None,
            counted_version=counted.version if counted else None,
            received_at=counted.received_at if counted else None,
            deadline=self.deadline(code, year),
            locked=current.locked,
            returned_receipt=returned.receipt_id if returned else None,
            return_reason=returned.reason if returned else None,
        )

    def aggregated(self, verdict: ReportJudged, outcome: str, cause: str = "") -> Message:
        key = (verdict.code, verdict.form, verdict.year)
        in_tree = verdict.form == WORK_REPORT and verdict.code in self.registry.sites
        event = ReportAggregated(
            **verdict.model_dump(exclude={"schema_version", "outcome"}),
            outcome="accepted" if outcome == "accepted" else "rejected",
            aggregated_at=datetime.now(UTC),
            status=self.site_status(key),
            nodes=self.registry.site_ancestors(verdict.code) if in_tree else [],
        )
        subject = aggregated_subject(verdict.form, verdict.code)
        suffix = f":{cause}" if cause else ""
        return subject, event, f"aggregated:{verdict.receipt_id}{suffix}"

    async def restate(self, receipts: dict[str, str]) -> None:
        """Announce the new standing of filings whose status changed without a new verdict
        (receipt -> cause): intake and publisher learn it as a fresh 'aggregated' event."""
        if not receipts:
            return
        verdicts = await self.ports.load_verdicts(sorted(receipts))
        await self.ports.publish_progress(
            [self.aggregated(v, o, receipts[v.receipt_id]) for v, o in verdicts]
        )

    # ---------------------------------------------------------------- handlers
    async def catch_up(self) -> list[FilingKey]:
        """Remember what other replicas stored since this one last looked; the filings touched."""
        entries = await self.ports.journal_since(self.synced)
        if not entries:
            return []
        self.synced = max(int(e.seq or 0) for e in entries)
        receipts = sorted({e.ref for e in entries if e.kind == "verdict"} - self.known_receipts)
        reviews = sorted({e.ref for e in entries if e.kind == "review"} - self.known_reviews)
        keys = [self.remember(v, o) for v, o in await self.ports.load_verdicts(receipts)]
        if reviews:
            keys += [self.remember_review(r) for r in await self.ports.load_reviews(reviews)]
        if any(e.kind == "deadline" for e in entries):
            for year, node, deadline, at in await self.ports.load_deadlines():
                if self.remember_deadline(year, node, deadline, at):
                    codes = self.registry.sites_under(node, year)
                    keys += [(code, WORK_REPORT, year) for code in codes]
        return keys

    async def on_verdicts(self, batch: list[Envelope[ReportJudged]]) -> None:
        verdicts = [(e.event, outcome_of(e.msg.subject)) for e in batch]
        async with self.ports.exclusive():
            others = await self.catch_up()
            await self.ports.save_verdicts(verdicts)
            await self.count(verdicts, others)

    async def on_reviews(self, batch: list[Envelope[ReviewRecorded]]) -> None:
        events = [e.event for e in batch]
        async with self.ports.exclusive():
            others = await self.catch_up()
            await self.ports.save_reviews(
                [e.model_dump(exclude={"schema_version", "paths"}) for e in events]
            )
            keys = [self.remember_review(e) for e in events]
            changed = self.recount([*keys, *others])
            await self.ports.publish_rollups([rollup_message(r) for r in changed])
            receipts: dict[str, str] = {}
            for event, key in zip(events, keys, strict=True):
                target = event.receipt_id or self.standing(key).counted_receipt_id()
                if target is not None:
                    receipts[target] = f"review:{event.review_id}"
            await self.restate(receipts)

    async def on_deadlines(self, batch: list[Envelope[DeadlineSet]]) -> None:
        events = [e.event for e in batch]
        async with self.ports.exclusive():
            others = await self.catch_up()
            await self.ports.save_deadlines(
                [
                    {"year": e.year, "node": e.node, "deadline": e.deadline, "at": e.at}
                    for e in events
                ]
            )
            receipts: dict[str, str] = {}
            rollups = self.recount(others)
            for event in events:
                codes = self.registry.sites_under(event.node, event.year)
                keys = [(code, WORK_REPORT, event.year) for code in codes]
                before = {key: self.standing(key).status for key in keys}
                if not self.remember_deadline(event.year, event.node, event.deadline, event.at):
                    continue
                rollups.extend(self.recount(keys))
                for key in keys:
                    counted = self.standing(key).counted
                    if counted is not None and self.standing(key).status != before[key]:
                        cause = f"deadline:{event.node}:{event.at.isoformat()}"
                        receipts[counted.receipt_id] = cause
            await self.ports.publish_rollups([rollup_message(r) for r in rollups])
            await self.restate(receipts)

    async def republish(self, years: Iterable[int]) -> None:
        """Publish every node's current roll-up (at start: nothing counted is left unpublished;
        identical ones are dropped by the server's dedupe or ignored downstream by digest)."""
        await self.ports.publish_rollups([rollup_message(r) for r in self.all_rollups(years)])

    # ---------------------------------------------------------------- reminders
    def reminders_due(self, now: datetime) -> tuple[list[Message], list[dict[str, Any]]]:
        """Reminder events due now for every supervisory node, and the thresholds to record."""
        year = current_reporting_year(now)
        policy = self.policy(year)
        messages: list[Message] = []
        marks: list[dict[str, Any]] = []
        for code, node in sorted(self.registry.nodes.items()):
            if node.level not in REMINDED_LEVELS:
                continue
            deadline = deadline_for_node(policy, self.registry, code)
            sent = {t for (y, n, t) in self.reminded if y == year and n == code}
            threshold = due_threshold(now, deadline, sent)
            if threshold is None:
                continue
            for t in [threshold, *skipped_thresholds(threshold)]:
                marks.append({"year": year, "node": code, "threshold_days": t})
            overdue = [
                SiteOverdue(code=s, name=self.registry.sites[s].name, status=status)
                for s in self.registry.sites_under(code, year)
                if (status := self.standing((s, WORK_REPORT, year)).status) in OVERDUE
            ]
            if not overdue:
                continue
            path = self.registry.path(code)
            event = ReminderDue(
                year=year,
                tree=node.tree.value,
                node=code,
                path=path,
                threshold_days=threshold,
                deadline=deadline,
                sites=overdue,
                at=now,
            )
            subject = reminder_subject(year, node.tree.value, path)
            messages.append((subject, event, f"reminder:{year}:{code}:{threshold}"))
        return messages, marks

    async def remind(self, now: datetime) -> int:
        """Emit the reminders due; record them so none is sent twice, even across restarts
        and replicas."""
        async with self.ports.exclusive():
            self.recount(await self.catch_up())
            self.reminded |= await self.ports.load_reminded()
            messages, marks = self.reminders_due(now)
            if not marks:
                return 0
            await self.ports.publish_reminders(messages)
            await self.ports.mark_reminded(marks)
            self.reminded.update((m["year"], m["node"], m["threshold_days"]) for m in marks)
            return len(messages)
