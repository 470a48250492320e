"""What the aggregator reaches outside the pure core: one small port per concern."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel

from services.aggregator.deadlines import DeadlineSetting
from shared.contracts import DeadlineSet, ReportJudged, ReviewRecorded

#: (subject, event, message id) as the publisher sends it
Message = tuple[str, BaseModel, str]
Publish = Callable[[Sequence[Message]], Awaitable[None]]
#: (year, node, threshold in days): a reminder sent, or skipped as moot
ReminderMark = tuple[int, str, int]
#: puts into the plausibility figures bucket: (key, JSON bytes)
PutFigures = Callable[[Sequence[tuple[str, bytes]]], Awaitable[None]]


class VersionLog(Protocol):
    """Every judged version, kept once by receipt id."""

    async def add(self, verdicts: Sequence[ReportJudged]) -> None: ...

    async def verdicts(self, receipt_ids: Sequence[str]) -> list[ReportJudged]: ...


class SupervisionLog(Protocol):
    """Reviews and internal deadlines: the facts that re-state a filing without a new verdict."""

    async def add_reviews(self, events: Sequence[ReviewRecorded]) -> None: ...

    async def reviews_by_id(self, review_ids: Sequence[str]) -> list[ReviewRecorded]: ...

    async def set_deadlines(self, events: Sequence[DeadlineSet]) -> None: ...

    async def deadlines(self) -> list[DeadlineSetting]: ...


class ReminderLog(Protocol):
    """The reminder thresholds already passed, so none is sent twice."""

    async def mark_reminded(self, rows: Sequence[dict[str, Any]]) -> None: ...

    async def reminded(self) -> set[ReminderMark]: ...


class JournalLine(Protocol):
    @property
    def seq(self) -> int | None: ...

    @property
    def kind(self) -> str: ...  # verdict | review | deadline

    @property
    def ref(self) -> str: ...


class Journal(Protocol):
    """The replicas' shared order: an exclusive turn, and the facts stored since a point."""

    def exclusive(self) -> AbstractAsyncContextManager[None]: ...

    async def since(self, seq: int) -> Sequence[JournalLine]: ...


@dataclass(frozen=True)
class Outlets:
    """Where the aggregator's events go: roll-ups, progress of receipts, reminders, and the
    plausibility figures the validator reads (none: not kept)."""

    rollups: Publish
    progress: Publish
    reminders: Publish
    figures: PutFigures | None = None


@dataclass(frozen=True)
class Ports:
    """The aggregator's ports, grouped by concern.

    Replicas share one database: each handler takes an exclusive turn, catches up with what the
    others stored (the journal), stores its own facts, recomputes and publishes.
    """

    versions: VersionLog
    supervision: SupervisionLog
    reminders: ReminderLog
    journal: Journal
    outlets: Outlets
