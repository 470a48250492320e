"""Reminders: as a deadline nears or passes, each supervisory node hears which sites lag."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from services.aggregator.books import Books
from services.aggregator.catch_up import CatchUp
from services.aggregator.ports import Journal, Message, Publish, ReminderLog, ReminderMark
from shared.contracts import ReminderDue, SiteOverdue, SiteUnpublished, reminder_subject
from shared.deadlines import deadline_for_node
from shared.filings import Status, current_reporting_year
from shared.forms import WORK_REPORT
from shared.registry import Level
from shared.reminders import due_threshold, skipped_thresholds

REMINDED_LEVELS: Final = frozenset({Level.NATIONAL, Level.PROVINCE, Level.CITY, Level.DEPARTMENT})
OVERDUE: Final[tuple[Status, ...]] = ("missing", "returned", "rejected")


def unpublished_sites(
    books: Books, node: str, year: int, overdue: set[str]
) -> list[SiteUnpublished]:
    """The sites below the node that filed but whose publication is not verified."""
    registry = books.registry
    out = []
    for code in registry.sites_under(node, year):
        if code in overdue:
            continue
        standing = None
        if books.publication is not None:
            deadline = books.deadlines.deadline(code, year)
            standing = books.publication.standing(code, year, deadline)
        if standing is None or not standing.verified:
            state = standing.state if standing is not None else "undeclared"
            out.append(SiteUnpublished(code=code, name=registry.sites[code].name, state=state))
    return out


def reminders_due(
    books: Books, reminded: set[ReminderMark], now: datetime
) -> tuple[list[Message], list[dict[str, Any]]]:
    """Reminder events due now for every supervisory node, and the thresholds to record."""
    registry = books.registry
    year = current_reporting_year(now)
    policy = books.deadlines.policy(year)
    messages: list[Message] = []
    marks: list[dict[str, Any]] = []
    for code, node in sorted(registry.nodes.items()):
        if node.level not in REMINDED_LEVELS:
            continue
        deadline = deadline_for_node(policy, registry, code)
        sent = {t for (y, n, t) in reminded if y == year and n == code}
        threshold = due_threshold(now, deadline, sent)
        if threshold is None:
            continue
        for t in [threshold, *skipped_thresholds(threshold)]:
            marks.append({"year": year, "node": code, "threshold_days": t})
        overdue = [
            SiteOverdue(code=s, name=registry.sites[s].name, status=status)
            for s in registry.sites_under(code, year)
            if (status := books.standing((s, WORK_REPORT, year)).status) in OVERDUE
        ]
        unpublished = unpublished_sites(books, code, year, {s.code for s in overdue})
        if not overdue and not unpublished:
            continue
        path = registry.path(code)
        event = ReminderDue(
            year=year,
            tree=node.tree.value,
            node=code,
            path=path,
            threshold_days=threshold,
            deadline=deadline,
            sites=overdue,
            unpublished=unpublished,
            at=now,
        )
        subject = reminder_subject(year, node.tree.value, path)
        messages.append((subject, event, f"reminder:{year}:{code}:{threshold}"))
    return messages, marks


class Reminders:
    """The reminder clock's pass: emit what is due, record it so none is sent twice."""

    def __init__(
        self,
        books: Books,
        catch_up: CatchUp,
        journal: Journal,
        log: ReminderLog,
        publish: Publish,
    ) -> None:
        self.books = books
        self.catch_up = catch_up
        self.journal = journal
        self.log = log
        self.publish = publish
        self.reminded: set[ReminderMark] = set()

    async def remind(self, now: datetime) -> int:
        """Emit the reminders due; record them so none is sent twice, even across restarts
        and replicas. How many were emitted."""
        async with self.journal.exclusive():
            self.books.recount(await self.catch_up())
            self.reminded |= await self.log.reminded()
            messages, marks = reminders_due(self.books, self.reminded, now)
            if not marks:
                return 0
            await self.publish(messages)
            await self.log.mark_reminded(marks)
            self.reminded.update((m["year"], m["node"], m["threshold_days"]) for m in marks)
            return len(messages)
