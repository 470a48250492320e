"""Judges each submission by its form's rules and the registry: accepted or rejected."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

from shared.contracts import (
    IssueOut,
    ReportAccepted,
    ReportJudged,
    ReportRejected,
    ReportSubmitted,
    accepted_subject,
    rejected_subject,
)
from shared.forms import check_report
from shared.registry import Registry
from shared.runtime.messaging import Envelope

Publish = Callable[[Sequence[tuple[str, ReportJudged, str]]], Awaitable[None]]


def judge(submitted: ReportSubmitted, registry: Registry, now: datetime) -> ReportJudged:
    """The verdict on one submission: the same judgement `nianbao forms check` gives."""
    result = check_report(submitted.report, registry)
    fields = submitted.model_dump(exclude={"schema_version", "submitted_by"})
    issues = [IssueOut(**issue.model_dump()) for issue in result.issues]
    verdict = ReportAccepted if result.accepted else ReportRejected
    return verdict(**fields, judged_at=now, issues=issues)


def verdict_subject(verdict: ReportJudged) -> str:
    """``nianbao.accepted.…`` or ``nianbao.rejected.…``, by the verdict's outcome."""
    subject = accepted_subject if verdict.outcome == "accepted" else rejected_subject
    return subject(verdict.form, verdict.code)


class Validator:
    """The validator's only handler: judge a batch, publish the verdicts (confirmed)."""

    def __init__(self, registry: Registry, publish: Publish) -> None:
        self.registry = registry
        self.publish = publish

    async def on_submitted(self, batch: list[Envelope[ReportSubmitted]]) -> None:
        now = datetime.now(UTC)
        verdicts = [judge(e.event, self.registry, now) for e in batch]
        await self.publish([(verdict_subject(v), v, f"verdict:{v.receipt_id}") for v in verdicts])
