"""Deadline reminders, pure: which threshold is due for a node, and which sites it lists."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

#: days before the deadline (negative: after it) at which supervisors are reminded
DEFAULT_THRESHOLDS = (7, 3, 1, -1)


def due_threshold(
    now: datetime,
    deadline: datetime,
    sent: Collection[int],
    thresholds: Sequence[int] = DEFAULT_THRESHOLDS,
) -> int | None:
    """The most recent threshold already reached and not yet sent, if any.

    Earlier thresholds that were skipped (the system was down, or the deadline was set late)
    are not sent late: only the latest one reached matters to a supervisor.
    """
    reached = [t for t in thresholds if now >= deadline - timedelta(days=t)]
    if not reached:
        return None
    latest = min(reached)
    return None if latest in sent else latest


def skipped_thresholds(latest: int, thresholds: Sequence[int] = DEFAULT_THRESHOLDS) -> list[int]:
    """Thresholds before ``latest`` that are now moot and are recorded as sent."""
    return [t for t in thresholds if t > latest]
