"""Moves receipts along their stages as the other services report progress."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from services.intake.store import IntakeStore
from shared.contracts import IssueOut, PagesPublished, SiteStatus
from shared.filings import Outcome
from shared.runtime.messaging import Envelope


class ProgressView(BaseModel):
    """The part of a stage event a receipt records. The verdict and aggregated events carry the
    whole report, which the intake already has: it is skipped, not decoded (decoding it was an
    eighth of the intake's time in a burst)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    receipt_id: str


class VerdictSeen(ProgressView):
    #: the verdict's outcome as carried; None in verdicts written before it was
    carried: Outcome | None = Field(default=None, alias="outcome")
    judged_at: datetime
    issues: list[IssueOut]

    @property
    def outcome(self) -> Outcome:
        """As carried, or derived as the contract derives it for earlier verdicts: rejected
        exactly when an error (not with a "before" validator: that would decode the report)."""
        if self.carried is not None:
            return self.carried
        return "rejected" if any(i.severity == "error" for i in self.issues) else "accepted"


class AggregatedSeen(ProgressView):
    aggregated_at: datetime
    status: SiteStatus


class ReceiptProgress:
    """Three small handlers, one per stage event; each is an idempotent column update."""

    def __init__(self, store: IntakeStore) -> None:
        self.store = store

    async def on_verdicts(self, batch: list[Envelope[VerdictSeen]]) -> None:
        await self.store.record(
            [
                {
                    "rid": e.event.receipt_id,
                    "outcome": e.event.outcome,
                    "judged_at": e.event.judged_at,
                    "issues": [i.model_dump() for i in e.event.issues],
                }
                for e in batch
            ]
        )

    async def on_aggregated(self, batch: list[Envelope[AggregatedSeen]]) -> None:
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
