"""Judges each submission by its form's rules and the registry: accepted or rejected."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from shared.contracts import (
    IssueOut,
    ReportAccepted,
    ReportJudged,
    ReportRejected,
    ReportSubmitted,
    accepted_subject,
    rejected_subject,
)
from shared.forms import WORK_REPORT, CheckContext, check_report
from shared.plausibility import PeerStats, peer_group, peers_key, plausibility_context, site_key
from shared.registry import Registry
from shared.runtime.messaging import Envelope

log = logging.getLogger(__name__)

Publish = Callable[[Sequence[tuple[str, ReportJudged, str]]], Awaitable[None]]
#: reads keys of the plausibility figures bucket: key -> decoded JSON (absent keys left out)
ReadFigures = Callable[[Sequence[str]], Awaitable[dict[str, Any]]]


def judge(
    submitted: ReportSubmitted,
    registry: Registry,
    now: datetime,
    context: CheckContext | None = None,
) -> ReportJudged:
    """The verdict on one submission: the same judgement `nianbao forms check` gives, with the
    plausibility context when there is one."""
    result = check_report(submitted.report, registry, context)
    # the submission was validated when it was decoded: its fields (the report too) are taken
    # as they are, not dumped and validated again
    fields = {name: getattr(submitted, name) for name in _CARRIED}
    issues = [IssueOut(**issue.model_dump()) for issue in result.issues]
    verdict = ReportAccepted if result.accepted else ReportRejected
    return verdict.model_construct(**fields, judged_at=now, issues=issues)


#: what a verdict carries over from its submission
_CARRIED = tuple(
    name
    for name in ReportSubmitted.model_fields
    if name in ReportJudged.model_fields and name != "schema_version"
)


def verdict_subject(verdict: ReportJudged) -> str:
    """``nianbao.accepted.…`` or ``nianbao.rejected.…``, by the verdict's outcome."""
    subject = accepted_subject if verdict.outcome == "accepted" else rejected_subject
    return subject(verdict.form, verdict.code)


def context_keys(registry: Registry, submitted: ReportSubmitted) -> tuple[str, str, str] | None:
    """(last year's figures, this year's counted figures, the peer group) of a site's report."""
    if submitted.form != WORK_REPORT:
        return None
    group = peer_group(registry, submitted.code)
    if group is None:
        return None
    year, code = submitted.year, submitted.code
    return site_key(year - 1, code), site_key(year, code), peers_key(year, group)


class Validator:
    """The validator's only handler: judge a batch, publish the verdicts (confirmed)."""

    def __init__(
        self, registry: Registry, publish: Publish, figures: ReadFigures | None = None
    ) -> None:
        self.registry = registry
        self.publish = publish
        self.figures = figures

    async def contexts(self, batch: Sequence[ReportSubmitted]) -> dict[str, CheckContext]:
        """The plausibility context of each work report (receipt id -> context); none when
        the figures cannot be read: plausibility only warns, it never holds a verdict up."""
        wanted = {s.receipt_id: context_keys(self.registry, s) for s in batch}
        keys = sorted({k for ks in wanted.values() if ks for k in ks})
        if self.figures is None or not keys:
            return {}
        try:
            found = await self.figures(keys)
        except Exception:
            log.warning("plausibility figures unavailable; judging without them", exc_info=True)
            return {}
        out: dict[str, CheckContext] = {}
        groups: dict[str, PeerStats | None] = {}  # each group read once per batch
        for receipt, ks in wanted.items():
            if ks is None:
                continue
            previous, own = found.get(ks[0]), found.get(ks[1])
            if ks[2] not in groups:
                peers = found.get(ks[2])
                groups[ks[2]] = PeerStats.model_validate(peers) if isinstance(peers, dict) else None
            stats = groups[ks[2]]
            out[receipt] = plausibility_context(
                previous if isinstance(previous, dict) else None,
                own if isinstance(own, dict) else None,
                stats,
            )
        return out

    async def on_submitted(self, batch: list[Envelope[ReportSubmitted]]) -> None:
        now = datetime.now(UTC)
        submissions = [e.event for e in batch]
        contexts = await self.contexts(submissions)
        verdicts = [judge(s, self.registry, now, contexts.get(s.receipt_id)) for s in submissions]
        await self.publish([(verdict_subject(v), v, f"verdict:{v.receipt_id}") for v in verdicts])
