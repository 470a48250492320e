"""Moves receipts along their stages as the other services report progress."""

from __future__ import annotations

from services.intake.store import IntakeStore
from shared.contracts import PagesPublished, ReportAggregated, ReportJudged
from shared.messaging import Envelope


class ReceiptProgress:
    """Three small handlers, one per stage event; each is an idempotent column update."""

    def __init__(self, store: IntakeStore) -> None:
        self.store = store

    async def on_verdicts(self, batch: list[Envelope[ReportJudged]]) -> None:
        await self.store.record(
            [
                {
                    "rid": e.event.receipt_id,
                    "outcome": e.msg.subject.split(".")[1],
                    "judged_at": e.event.judged_at,
                    "issues": [i.model_dump() for i in e.event.issues],
                }
                for e in batch
            ]
        )

    async def on_aggregated(self, batch: list[Envelope[ReportAggregated]]) -> None:
        await self.store.record(
            [
                {
                    "rid": e.event.receipt_id,
                    "aggregated_at": e.event.aggregated_at,
                    "standing": e.event.status.model_dump(mode="json"),
                }
                for e in batch
            ]
        )

    async def on_published(self, batch: list[Envelope[PagesPublished]]) -> None:
        await self.store.record(
            [
                {
                    "rid": e.event.receipt_id,
                    "published_at": e.event.published_at,
                    "urls": e.event.urls,
                }
                for e in batch
                if e.event.receipt_id is not None
            ]
        )
