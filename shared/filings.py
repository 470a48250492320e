"""Where a site's filing stands, from its versions: which version counts, on time or late."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

Outcome = Literal["accepted", "rejected"]
Status = Literal["on_time", "late", "rejected", "missing"]


class FiledVersion(BaseModel):
    """One judged version of a (site or office, form, year) filing."""

    model_config = ConfigDict(frozen=True)

    receipt_id: str
    version: int
    outcome: Outcome
    received_at: datetime
    content_hash: str
    report: dict[str, Any] | None = None


class Standing(BaseModel):
    """The filing's standing: its status and the version that counts (the latest accepted)."""

    model_config = ConfigDict(frozen=True)

    status: Status
    counted: FiledVersion | None = None


def standing(versions: Sequence[FiledVersion], deadline: datetime) -> Standing:
    """The latest accepted version counts; the filing is on time when its first accepted version
    reached the server by the deadline (a correction after the deadline keeps it on time)."""
    accepted = [v for v in versions if v.outcome == "accepted"]
    if not accepted:
        return Standing(status="rejected" if versions else "missing")
    counted = max(accepted, key=lambda v: v.version)
    first = min(accepted, key=lambda v: v.received_at)
    return Standing(status="on_time" if first.received_at <= deadline else "late", counted=counted)


def current_reporting_year(now: datetime) -> int:
    """The year whose report is being filed: last year in January and February, else this one."""
    return now.year - 1 if now.month <= 2 else now.year
