"""The plain values the planners take: filed versions, review actions, a site's row in a column."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.filings import Action, Outcome, Status


@dataclass(frozen=True)
class VersionRecord:
    """One filed version of a site's report, as the publisher's store keeps it."""

    receipt_id: str
    version: int
    content_hash: str
    received_at: datetime
    outcome: Outcome
    report: dict[str, Any]
    issues: list[dict[str, Any]]


@dataclass(frozen=True)
class SiteRow:
    """Where one site stands in a column: its status, when it filed, the counted report."""

    code: str
    status: Status
    filed_at: datetime | None = None
    report: dict[str, Any] | None = None
    #: the report's count cells in ``count_columns`` order, instead of the whole report (what
    #: a column page shows of it; the publisher keeps these for every site, not the reports)
    counts: tuple[Any, ...] | None = None


@dataclass(frozen=True)
class ReviewRecord:
    """A supervisory office's action on a site's filing, as the publisher keeps it."""

    review_id: str
    action: Action
    receipt_id: str | None
    office: str
    reason: str
    paths: tuple[str, ...]
    at: datetime
