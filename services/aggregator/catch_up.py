"""Replica catch-up: remember what the other replicas stored since this one last looked."""

from __future__ import annotations

from services.aggregator.books import Books, FilingKey
from services.aggregator.ports import Journal, SupervisionLog, VersionLog


class CatchUp:
    """This replica's place in the journal, and how it takes in the facts stored past it."""

    def __init__(
        self, books: Books, journal: Journal, versions: VersionLog, supervision: SupervisionLog
    ) -> None:
        self.books = books
        self.journal = journal
        self.versions = versions
        self.supervision = supervision
        #: the journal position this replica has caught up with
        self.synced = 0

    async def __call__(self) -> list[FilingKey]:
        """Remember the facts stored since the last call (under the exclusive turn); the
        filings they touch."""
        books = self.books
        entries = await self.journal.since(self.synced)
        if not entries:
            return []
        self.synced = max(int(e.seq or 0) for e in entries)
        receipts = sorted({e.ref for e in entries if e.kind == "verdict"} - books.known_receipts)
        reviews = sorted({e.ref for e in entries if e.kind == "review"} - books.known_reviews)
        # the entries of this replica's own last batch are known already: no query for them
        keys = (
            [books.remember(v) for v in await self.versions.verdicts(receipts)] if receipts else []
        )
        if reviews:
            events = await self.supervision.reviews_by_id(reviews)
            keys += [books.remember_review(r) for r in events]
        if any(e.kind == "deadline" for e in entries):
            for setting in await self.supervision.deadlines():
                if books.deadlines.remember(setting):
                    keys += books.work_reports_under(setting.node, setting.year)
        return keys
