"""The intake's record of review actions (return, approve, unlock) and internal deadlines, and
the outbox of their events (stored with the record, deleted once JetStream acknowledged)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Column, Select, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import AutoString, Field, SQLModel

from services.intake.outbox import PendingEvent, queue
from services.intake.store import Receipt, ReceiptRow, receipts_with_reports
from shared.contracts import DeadlineSet, ReviewRecorded
from shared.filings import Action, Review
from shared.runtime.db import JsonDocument, UtcDateTime, create_schema, sql_table


class ReviewAction(SQLModel, table=True):
    """One action of an office on a filing; the lock state is derived from these."""

    __tablename__ = "intake_reviews"

    review_id: str = Field(primary_key=True)
    action: Action = Field(sa_column=Column(AutoString, nullable=False))
    receipt_id: str | None = Field(default=None, index=True)
    code: str = Field(index=True)
    form: str
    year: int
    office: str
    reason: str = ""
    paths: list[str] = Field(default_factory=list, sa_column=Column(JsonDocument, nullable=False))
    at: datetime = Field(sa_column=Column(UtcDateTime, nullable=False))


class InternalDeadline(SQLModel, table=True):
    __tablename__ = "intake_deadlines"

    year: int = Field(primary_key=True)
    node: str = Field(primary_key=True)
    deadline: datetime = Field(sa_column=Column(UtcDateTime, nullable=False))
    set_by: str
    at: datetime = Field(sa_column=Column(UtcDateTime, nullable=False))


def as_review(action: ReviewAction) -> Review:
    return Review(
        review_id=action.review_id,
        action=action.action,
        receipt_id=action.receipt_id,
        at=action.at,
        reason=action.reason,
    )


#: (code, form, year): one filing
FilingKey = tuple[str, str, int]


class FilingHead(NamedTuple):
    """A filing's latest receipt (None before its first version) and whether any review action
    concerns it."""

    latest: Receipt | None
    reviewed: bool


def latest_receipts_query() -> Select[Any]:
    """The latest receipt of each filing whose code, form and year are among those given (a few
    filings more than asked for at most: the caller picks its own)."""
    receipts = sql_table(ReceiptRow)
    newest = receipts.alias("newest")
    latest_version = (
        select(func.max(newest.c.version))
        .where(
            newest.c.code == receipts.c.code,
            newest.c.form == receipts.c.form,
            newest.c.year == receipts.c.year,
        )
        .scalar_subquery()
    )
    return receipts_with_reports().where(
        receipts.c.code.in_(bindparam("codes", expanding=True)),
        receipts.c.form.in_(bindparam("forms", expanding=True)),
        receipts.c.year.in_(bindparam("years", expanding=True)),
        receipts.c.version == latest_version,
    )


def reviewed_filings_query() -> Select[Any]:
    """The filings with at least one review action among the codes, forms and years given."""
    reviews = sql_table(ReviewAction)
    return (
        select(reviews.c.code, reviews.c.form, reviews.c.year)
        .where(
            reviews.c.code.in_(bindparam("codes", expanding=True)),
            reviews.c.form.in_(bindparam("forms", expanding=True)),
            reviews.c.year.in_(bindparam("years", expanding=True)),
        )
        .distinct()
    )


#: built once: the intake runs them for every batch of reports
LATEST_RECEIPTS = latest_receipts_query()
REVIEWED_FILINGS = reviewed_filings_query()


class ReviewStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def create(self) -> None:
        await create_schema(self.engine, [ReviewAction, InternalDeadline, PendingEvent])

    async def add(self, action: ReviewAction, event: ReviewRecorded | None = None) -> None:
        """Record an action, and its event in the outbox when given, in one transaction."""
        async with self.engine.begin() as conn:
            await conn.execute(sql_table(ReviewAction).insert().values(**action.model_dump()))
            if event is not None:
                await queue(conn, "review", event)

    async def of_filing(self, code: str, form: str, year: int) -> list[ReviewAction]:
        table = sql_table(ReviewAction)
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(table)
                .where(table.c.code == code, table.c.form == form, table.c.year == year)
                .order_by(table.c.at, table.c.review_id)
            )
            return [ReviewAction.model_validate(dict(r._mapping)) for r in rows]

    async def heads(self, filings: Sequence[FilingKey]) -> dict[FilingKey, FilingHead]:
        """Each filing's latest receipt and whether it has any review action: two queries on
        one connection for the filings of many concurrent requests."""
        params = {
            "codes": sorted({code for code, _form, _year in filings}),
            "forms": sorted({form for _code, form, _year in filings}),
            "years": sorted({year for _code, _form, year in filings}),
        }
        async with self.engine.connect() as conn:
            latest = {
                (row.code, row.form, row.year): Receipt.model_validate(dict(row._mapping))
                for row in await conn.execute(LATEST_RECEIPTS, params)
            }
            reviewed = {
                (row.code, row.form, row.year)
                for row in await conn.execute(REVIEWED_FILINGS, params)
            }
        return {key: FilingHead(latest.get(key), key in reviewed) for key in filings}

    async def set_deadline(self, row: InternalDeadline, event: DeadlineSet) -> None:
        """Store a node's deadline for a year (replacing the one before) and its event in the
        outbox, in one transaction."""
        table = sql_table(InternalDeadline)
        async with self.engine.begin() as conn:
            await conn.execute(
                table.delete().where(table.c.year == row.year, table.c.node == row.node)
            )
            await conn.execute(table.insert().values(**row.model_dump()))
            await queue(conn, "deadline", event)

    async def deadline(self, year: int, node: str) -> InternalDeadline | None:
        table = sql_table(InternalDeadline)
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(select(table).where(table.c.year == year, table.c.node == node))
            ).first()
        return None if row is None else InternalDeadline.model_validate(dict(row._mapping))
