"""Where a filing stands, from its versions and reviews: which version counts, on time or late,
returned for correction, locked by an approval."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from shared.deadlines import is_on_time

Outcome = Literal["accepted", "rejected"]
Status = Literal["on_time", "late", "rejected", "returned", "missing"]
Action = Literal["return", "approve", "unlock"]


class FiledVersion(BaseModel):
    """One judged version of a (site or office, form, year) filing."""

    model_config = ConfigDict(frozen=True)

    receipt_id: str
    version: int
    outcome: Outcome
    received_at: datetime
    content_hash: str
    report: dict[str, Any] | None = None


class Review(BaseModel):
    """A supervisory office's action on a filing."""

    model_config = ConfigDict(frozen=True)

    review_id: str
    action: Action
    receipt_id: str | None
    at: datetime
    reason: str = ""


class Standing(BaseModel):
    """The filing's standing: its status and the version that counts (the latest accepted)."""

    model_config = ConfigDict(frozen=True)

    status: Status
    counted: FiledVersion | None = None
    locked: bool = False
    returned: Review | None = None

    def counted_receipt_id(self) -> str | None:
        return self.counted.receipt_id if self.counted else None


def standing(
    versions: Sequence[FiledVersion], deadline: datetime, reviews: Sequence[Review] = ()
) -> Standing:
    """The latest accepted version counts; the filing is on time when its first accepted version
    reached the server by the deadline (a correction after the deadline keeps it on time). A
    returned version makes the filing 'returned' until a later version is accepted. The last of
    approve/unlock decides whether the filing is locked."""
    ordered = sorted(reviews, key=lambda r: (r.at, r.review_id))
    locks = [r for r in ordered if r.action in ("approve", "unlock")]
    locked = bool(locks) and locks[-1].action == "approve"
    accepted = [v for v in versions if v.outcome == "accepted"]
    if not accepted:
        return Standing(status="rejected" if versions else "missing", locked=locked)
    counted = max(accepted, key=lambda v: v.version)
    by_receipt = {v.receipt_id: v for v in versions}
    returns = [
        r
        for r in ordered
        if r.action == "return"
        and r.receipt_id in by_receipt
        and by_receipt[r.receipt_id].version >= counted.version
    ]
    if returns:
        return Standing(status="returned", counted=counted, locked=locked, returned=returns[-1])
    first = min(accepted, key=lambda v: v.received_at)
    status: Status = "on_time" if is_on_time(first.received_at, deadline) else "late"
    return Standing(status=status, counted=counted, locked=locked)


def current_reporting_year(now: datetime) -> int:
    """The year whose report is being filed: last year in January and February, else this one."""
    return now.year - 1 if now.month <= 2 else now.year
