"""The aggregator's tables: versions counted, reviews, deadlines, reminders sent, the journal."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Column, select, text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import Field, SQLModel

from services.aggregator.deadlines import DeadlineSetting
from shared.contracts import DeadlineSet, IssueOut, ReportJudged, ReviewRecorded
from shared.runtime.db import JsonDocument, UtcDateTime, create_schema, dialect_insert, sql_table


class CountedVersion(SQLModel, table=True):
    """A judged version of a filing, as the aggregator received it."""

    __tablename__ = "aggregator_versions"

    receipt_id: str = Field(primary_key=True)
    code: str = Field(index=True)
    form: str
    form_version: str
    year: int = Field(index=True)
    version: int
    outcome: str
    content_hash: str
    received_at: datetime = Field(sa_column=Column(UtcDateTime, nullable=False))
    judged_at: datetime = Field(sa_column=Column(UtcDateTime, nullable=False))
    report: dict[str, Any] = Field(sa_column=Column(JsonDocument, nullable=False))
    issues: list[dict[str, Any]] = Field(sa_column=Column(JsonDocument, nullable=False))


def as_verdict(row: CountedVersion) -> ReportJudged:
    """A stored version back as the verdict it came from."""
    return ReportJudged(
        receipt_id=row.receipt_id,
        outcome="accepted" if row.outcome == "accepted" else "rejected",
        content_hash=row.content_hash,
        form=row.form,
        form_version=row.form_version,
        year=row.year,
        code=row.code,
        version=row.version,
        received_at=row.received_at,
        judged_at=row.judged_at,
        report=row.report,
        issues=[IssueOut(**i) for i in row.issues],
    )


class JournalEntry(SQLModel, table=True):
    """Every fact an aggregator stored, in commit order: how replicas catch up with each other.

    Written in the same transaction as the fact, under the replicas' exclusive lock, so ``seq``
    order is commit order.
    """

    __tablename__ = "aggregator_journal"

    seq: int | None = Field(default=None, primary_key=True)
    kind: str  # verdict | review | deadline
    ref: str  # receipt id | review id | "year:node"


class JournalRow(NamedTuple):
    """A journal entry as read back (plain values: read once per batch, never stored)."""

    seq: int
    kind: str
    ref: str


async def _journal(conn: Any, kind: str, refs: Sequence[str]) -> None:
    if refs:
        await conn.execute(
            sql_table(JournalEntry).insert(), [{"kind": kind, "ref": ref} for ref in refs]
        )


class VersionStore:
    """Insert-if-absent by receipt id: a redelivered verdict changes nothing."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def create(self) -> None:
        await create_schema(self.engine, [CountedVersion, JournalEntry])

    async def add(self, verdicts: Sequence[ReportJudged]) -> None:
        if not verdicts:
            return
        rows = [
            {
                "receipt_id": v.receipt_id,
                "code": v.code,
                "form": v.form,
                "form_version": v.form_version,
                "year": v.year,
                "version": v.version,
                "outcome": v.outcome,
                "content_hash": v.content_hash,
                "received_at": v.received_at,
                "judged_at": v.judged_at,
                "report": v.report,
                "issues": [i.model_dump() for i in v.issues],
            }
            for v in verdicts
        ]
        table = sql_table(CountedVersion)
        insert = dialect_insert(self.engine)
        statement = insert(table).on_conflict_do_nothing(index_elements=["receipt_id"])
        async with self.engine.begin() as conn:
            await conn.execute(statement, rows)
            await _journal(conn, "verdict", [v.receipt_id for v in verdicts])

    async def get(self, receipt_ids: Sequence[str]) -> list[CountedVersion]:
        table = sql_table(CountedVersion)
        async with self.engine.connect() as conn:
            result = await conn.execute(select(table).where(table.c.receipt_id.in_(receipt_ids)))
            return [CountedVersion.model_validate(dict(row._mapping)) for row in result]

    async def verdicts(self, receipt_ids: Sequence[str]) -> list[ReportJudged]:
        return [as_verdict(row) for row in await self.get(receipt_ids)]

    async def all(self) -> list[CountedVersion]:
        async with self.engine.connect() as conn:
            result = await conn.execute(select(sql_table(CountedVersion)))
            return [CountedVersion.model_validate(dict(row._mapping)) for row in result]


class ReviewRow(SQLModel, table=True):
    """A review action as the aggregator counts it (returned reports, locks)."""

    __tablename__ = "aggregator_reviews"

    review_id: str = Field(primary_key=True)
    action: str
    receipt_id: str | None = None
    code: str = Field(index=True)
    form: str
    year: int
    office: str
    reason: str = ""
    at: datetime = Field(sa_column=Column(UtcDateTime, nullable=False))


def as_review(row: ReviewRow) -> ReviewRecorded:
    """A stored review back as the event it came from (its action checked on the way)."""
    return ReviewRecorded(**row.model_dump())


class DeadlineRow(SQLModel, table=True):
    __tablename__ = "aggregator_deadlines"

    year: int = Field(primary_key=True)
    node: str = Field(primary_key=True)
    deadline: datetime = Field(sa_column=Column(UtcDateTime, nullable=False))
    at: datetime = Field(sa_column=Column(UtcDateTime, nullable=False))


class ReminderSent(SQLModel, table=True):
    """A reminder emitted (or skipped as moot): never emitted twice, across restarts."""

    __tablename__ = "aggregator_reminders"

    year: int = Field(primary_key=True)
    node: str = Field(primary_key=True)
    threshold_days: int = Field(primary_key=True)


class SupervisionStore:
    """Reviews, internal deadlines and reminders sent: the aggregator's other facts."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    def _insert(self) -> Any:
        return dialect_insert(self.engine)

    async def create(self) -> None:
        await create_schema(self.engine, [ReviewRow, DeadlineRow, ReminderSent])

    async def add_reviews(self, events: Sequence[ReviewRecorded]) -> None:
        rows = [e.model_dump(exclude={"schema_version", "paths"}) for e in events]
        if rows:
            statement = self._insert()(sql_table(ReviewRow)).on_conflict_do_nothing(
                index_elements=["review_id"]
            )
            async with self.engine.begin() as conn:
                await conn.execute(statement, list(rows))
                await _journal(conn, "review", [r["review_id"] for r in rows])

    async def set_deadlines(self, events: Sequence[DeadlineSet]) -> None:
        """Keep the latest deadline per (year, node), by the time it was set."""
        rows = [DeadlineSetting.of(e)._asdict() for e in events]
        table = sql_table(DeadlineRow)
        async with self.engine.begin() as conn:
            for row in rows:
                statement = self._insert()(table).values(**row)
                statement = statement.on_conflict_do_update(
                    index_elements=["year", "node"],
                    set_={"deadline": statement.excluded.deadline, "at": statement.excluded.at},
                    where=table.c.at < statement.excluded.at,
                )
                await conn.execute(statement)
            await _journal(conn, "deadline", [f"{r['year']}:{r['node']}" for r in rows])

    async def mark_reminded(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            statement = self._insert()(sql_table(ReminderSent)).on_conflict_do_nothing(
                index_elements=["year", "node", "threshold_days"]
            )
            async with self.engine.begin() as conn:
                await conn.execute(statement, list(rows))

    async def reviews_by_id(self, review_ids: Sequence[str]) -> list[ReviewRecorded]:
        table = sql_table(ReviewRow)
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(table).where(table.c.review_id.in_(review_ids)))
            return [as_review(ReviewRow.model_validate(dict(r._mapping))) for r in rows]

    async def reviews(self) -> list[ReviewRecorded]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(sql_table(ReviewRow)))
            return [as_review(ReviewRow.model_validate(dict(r._mapping))) for r in rows]

    async def deadlines(self) -> list[DeadlineSetting]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(sql_table(DeadlineRow)))
            return [
                DeadlineSetting(d.year, d.node, d.deadline, d.at)
                for d in (DeadlineRow.model_validate(dict(r._mapping)) for r in rows)
            ]

    async def reminded(self) -> set[tuple[int, str, int]]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(sql_table(ReminderSent)))
            return {(r.year, r.node, r.threshold_days) for r in rows}


#: the advisory lock the aggregator replicas take turns with (PostgreSQL)
_REPLICA_LOCK = 0x6E62616767  # "nbagg"


class Journal:
    """The replicas' shared order: an exclusive turn, and the facts stored since a point."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._local = asyncio.Lock()

    @asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        """One replica at a time stores, catches up, recomputes and publishes (on PostgreSQL
        across processes by an advisory lock; SQLite serves one process)."""
        async with self._local:
            if self.engine.dialect.name != "postgresql":
                yield
                return
            async with self.engine.connect() as conn:
                await conn.execute(text(f"SELECT pg_advisory_lock({_REPLICA_LOCK})"))
                await conn.commit()
                try:
                    yield
                finally:
                    await conn.execute(text(f"SELECT pg_advisory_unlock({_REPLICA_LOCK})"))
                    await conn.commit()

    async def last(self) -> int:
        table = sql_table(JournalEntry)
        async with self.engine.connect() as conn:
            top = await conn.scalar(select(table.c.seq).order_by(table.c.seq.desc()).limit(1))
        return int(top or 0)

    async def since(self, seq: int) -> list[JournalRow]:
        table = sql_table(JournalEntry)
        columns = (table.c.seq, table.c.kind, table.c.ref)
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(*columns).where(table.c.seq > seq).order_by(table.c.seq)
            )
            return [JournalRow(int(r.seq), str(r.kind), str(r.ref)) for r in rows]
