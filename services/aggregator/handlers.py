"""Counts each verdict, review and deadline: stores it, recomputes the nodes, publishes."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from services.aggregator.books import Books, FilingKey
from services.aggregator.catch_up import CatchUp
from services.aggregator.deadlines import Deadlines
from services.aggregator.events import RollupSender, aggregated_message, rollup_event
from services.aggregator.figures import FiguresBook
from services.aggregator.ports import Ports
from services.aggregator.reminders import Reminders
from shared.contracts import DeadlineSet, ReportJudged, ReviewRecorded
from shared.deadlines import DeadlinePolicy
from shared.registry import Registry
from shared.runtime.messaging import Envelope

__all__ = ["Aggregator", "rollup_event"]


class Aggregator:
    """The aggregator's handlers. Each takes the replicas' exclusive turn, catches up with what
    the others stored, stores its own facts, recomputes the roll-ups and publishes."""

    def __init__(
        self, registry: Registry, base_policy: Callable[[int], DeadlinePolicy], ports: Ports
    ) -> None:
        self.books = Books(registry, Deadlines(registry, base_policy))
        self.figures = FiguresBook(self.books)
        self.ports = ports
        #: every roll-up event goes through it (one left unsent by a failure goes with the next)
        self.rollups = RollupSender(self.books, ports.outlets.rollups)
        self.catch_up = CatchUp(self.books, ports.journal, ports.versions, ports.supervision)
        self.reminders = Reminders(
            self.books, self.catch_up, ports.journal, ports.reminders, ports.outlets.reminders
        )

    async def on_verdicts(self, batch: list[Envelope[ReportJudged]]) -> None:
        verdicts = [e.event for e in batch]
        async with self.ports.journal.exclusive():
            others = await self.catch_up()
            await self.ports.versions.add(verdicts)
            keys = [self.books.remember(verdict) for verdict in verdicts]
            changed = self.books.recount([*keys, *others])
            self.rollups.owe(changed)
            await self.put_figures([*keys, *others])
            await self.rollups.send(changed)
            progress = [aggregated_message(self.books, verdict) for verdict in verdicts]
            await self.ports.outlets.progress(progress)

    async def on_reviews(self, batch: list[Envelope[ReviewRecorded]]) -> None:
        events = [e.event for e in batch]
        async with self.ports.journal.exclusive():
            others = await self.catch_up()
            await self.ports.supervision.add_reviews(events)
            keys = [self.books.remember_review(event) for event in events]
            changed = self.books.recount([*keys, *others])
            self.rollups.owe(changed)
            await self.put_figures([*keys, *others])
            await self.rollups.send(changed)
            restated: dict[str, str] = {}
            for event, key in zip(events, keys, strict=True):
                target = event.receipt_id or self.books.standing(key).counted_receipt_id()
                if target is not None:
                    restated[target] = f"review:{event.review_id}"
            await self.restate(restated)

    async def on_deadlines(self, batch: list[Envelope[DeadlineSet]]) -> None:
        events = [e.event for e in batch]
        async with self.ports.journal.exclusive():
            others = await self.catch_up()
            await self.ports.supervision.set_deadlines(events)
            changed = self.books.recount(others)
            restated: dict[str, str] = {}
            for event in events:
                rollups, receipts = self.books.move_deadline(event)
                changed.extend(rollups)
                cause = f"deadline:{event.node}:{event.at.isoformat()}"
                restated.update(dict.fromkeys(receipts, cause))
            await self.rollups.send(changed)
            await self.restate(restated)

    async def switch_registry(
        self,
        new: Registry,
        adopt: Callable[[Registry], Registry],
        years: Iterable[int],
        cause: str,
    ) -> None:
        """Count under an imported registry: publish every roll-up that changes with it, and
        re-state the filings of the sites that opened, closed or moved (their nodes, deadline)."""
        async with self.ports.journal.exclusive():
            others = await self.catch_up()
            changed = self.books.recount(others)
            rollups, moved = self.books.switch_registry(new, adopt, years)
            await self.rollups.send([*changed, *rollups])
            receipts = {self.books.latest_receipt(key) for key in moved}
            await self.restate(dict.fromkeys(sorted(r for r in receipts if r), cause))

    async def put_figures(self, keys: list[FilingKey]) -> None:
        """Keep the plausibility figures current (before the verdicts are announced counted)."""
        put = self.ports.outlets.figures
        if put is not None:
            writes = self.figures.writes(keys)
            if writes:
                await put(writes)

    async def restate(self, causes: dict[str, str]) -> None:
        """Announce the new standing of filings whose status changed without a new verdict
        (receipt -> cause): intake and publisher learn it as a fresh 'aggregated' event."""
        if not causes:
            return
        verdicts = await self.ports.versions.verdicts(sorted(causes))
        await self.ports.outlets.progress(
            [aggregated_message(self.books, v, causes[v.receipt_id]) for v in verdicts]
        )

    async def republish(self, years: Iterable[int], also: Iterable[FilingKey] = ()) -> None:
        """Publish every node's current roll-up (at start: nothing counted is left unpublished;
        identical ones are dropped by the server's dedupe or ignored downstream by digest).

        Under the exclusive turn, and after taking in what the other replicas stored since this
        one loaded (and ``also``, filings touched by facts caught up elsewhere): each node keeps
        only its last roll-up, so an older one published now would replace a newer one for good.
        """
        self.books.recount([*await self.catch_up(), *also])
        await self.rollups.send(self.books.all_rollups(years))
