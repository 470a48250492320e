"""Moves receipts along their stages as the other services report progress."""

from __future__ import annotations

from datetime import datetime
from typing import Any

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


class AggregatedSeen(VerdictSeen):
    """The aggregated event carries its verdict: an accepted receipt learns its verdict from it
    (the intake reads only rejected verdicts, to show a rejection's errors at once)."""

    aggregated_at: datetime
    status: SiteStatus


def verdict_columns(seen: VerdictSeen) -> dict[str, Any]:
    return {
        "rid": seen.receipt_id,
        "outcome": seen.outcome,
        "judged_at": seen.judged_at,
        "issues": [i.model_dump() for i in seen.issues],
    }


class ReceiptProgress:
    """Three small handlers, one per stage event; each is an idempotent column update. Each
    report takes two: its aggregated event (its verdict too) and its published event; a rejected
    one also its verdict, at once."""

    def __init__(self, store: IntakeStore) -> None:
        self.store = store

    async def on_verdicts(self, batch: list[Envelope[VerdictSeen]]) -> None:
        await self.store.record([verdict_columns(e.event) for e in batch])

    async def on_aggregated(self, batch: list[Envelope[AggregatedSeen]]) -> None:
        await self.store.record(
            [
                {
                    **verdict_columns(e.event),
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
