"""What the console reads from the intake's tables (receipts, reviews, deadlines) and its drafts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import Field, SQLModel

from services.intake.review_store import InternalDeadline, ReviewAction
from services.intake.store import Receipt, ReceiptRow
from shared.contracts import ReminderDue
from shared.deadlines import DeadlinePolicy
from shared.runtime.db import JsonDocument, UtcDateTime, create_schema, sql_table
from shared.runtime.messaging import Envelope

#: the receipt columns a list needs (never the reports themselves)
SUMMARY_COLUMNS = (
    "receipt_id",
    "code",
    "form",
    "year",
    "version",
    "content_hash",
    "received_at",
    "outcome",
    "judged_at",
    "aggregated_at",
    "published_at",
    "urls",
    "in_stream",
)


class Draft(SQLModel, table=True):
    """A report being filled on screen, saved as its inputs (valid or not) until filed."""

    __tablename__ = "console_drafts"

    code: str = Field(primary_key=True)
    form: str = Field(primary_key=True)
    year: int = Field(primary_key=True)
    values: dict[str, Any] = Field(sa_column=Column(JsonDocument, nullable=False))
    saved_by: str
    saved_at: datetime = Field(sa_column=Column(UtcDateTime, nullable=False))


class Reminder(SQLModel, table=True):
    """A reminder the aggregator sent a supervisory node, kept for the office's console."""

    __tablename__ = "console_reminders"

    year: int = Field(primary_key=True)
    node: str = Field(primary_key=True)
    threshold_days: int = Field(primary_key=True)
    deadline: datetime = Field(sa_column=Column(UtcDateTime, nullable=False))
    sites: list[dict[str, Any]] = Field(sa_column=Column(JsonDocument, nullable=False))
    at: datetime = Field(sa_column=Column(UtcDateTime, nullable=False))


class ReminderUnpublished(SQLModel, table=True):
    """The sites a reminder names as filed but not yet verified published on their homepage
    (issue 17): a table of its own beside ``console_reminders``, so databases made before it
    keep working (the schema is only ever added to)."""

    __tablename__ = "console_reminders_unpublished"

    year: int = Field(primary_key=True)
    node: str = Field(primary_key=True)
    threshold_days: int = Field(primary_key=True)
    sites: list[dict[str, Any]] = Field(sa_column=Column(JsonDocument, nullable=False))


@dataclass(frozen=True)
class ReminderLine:
    """A reminder as the office's home screen lists it."""

    year: int
    node: str
    threshold_days: int
    deadline: datetime
    #: sites missing, rejected or returned (code, name, status)
    sites: list[dict[str, Any]]
    at: datetime
    #: sites filed but not verified published (code, name, state)
    unpublished: list[dict[str, Any]]


class ConsoleQueries:
    """Reads for lists and screens; the one write is a draft (the filing itself is the API's)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def create(self) -> None:
        await create_schema(self.engine, [Draft, Reminder, ReminderUnpublished])

    async def receipts(
        self, form: str, year: int | None = None, codes: Sequence[str] | None = None
    ) -> dict[str, list[Receipt]]:
        """Every version (without its report) of the filings of a form, per code, oldest first:
        of one year, or of every year for the codes given."""
        table = sql_table(ReceiptRow)
        query = select(*(table.c[name] for name in SUMMARY_COLUMNS)).where(table.c.form == form)
        if year is not None:
            query = query.where(table.c.year == year)
        if codes is not None:
            query = query.where(table.c.code.in_(list(codes)))
        out: dict[str, list[Receipt]] = {}
        async with self.engine.connect() as conn:
            for row in await conn.execute(query.order_by(table.c.year, table.c.version)):
                fields = dict(row._mapping)
                receipt = Receipt.model_validate(
                    {**fields, "form_version": "", "submitted_by": "", "report": {}}
                )
                out.setdefault(receipt.code, []).append(receipt)
        return out

    async def reviews(
        self, form: str, year: int | None = None, codes: Sequence[str] | None = None
    ) -> dict[tuple[str, int], list[ReviewAction]]:
        """Every review action on the filings of a form, per (code, year), oldest first."""
        table = sql_table(ReviewAction)
        query = select(table).where(table.c.form == form)
        if year is not None:
            query = query.where(table.c.year == year)
        if codes is not None:
            query = query.where(table.c.code.in_(list(codes)))
        out: dict[tuple[str, int], list[ReviewAction]] = {}
        async with self.engine.connect() as conn:
            for row in await conn.execute(query.order_by(table.c.at, table.c.review_id)):
                action = ReviewAction.model_validate(dict(row._mapping))
                out.setdefault((action.code, action.year), []).append(action)
        return out

    async def deadlines(self, year: int) -> DeadlinePolicy:
        """The year's internal deadlines as set through the intake."""
        table = sql_table(InternalDeadline)
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(table).where(table.c.year == year))
            overrides = {row.node: row.deadline for row in rows}
        default = DeadlinePolicy.default(year)
        return DeadlinePolicy(year=year, national=default.national, overrides=overrides)

    async def draft(self, code: str, form: str, year: int) -> Draft | None:
        table = sql_table(Draft)
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(table).where(
                        table.c.code == code, table.c.form == form, table.c.year == year
                    )
                )
            ).first()
        return None if row is None else Draft.model_validate(dict(row._mapping))

    async def save_draft(
        self, code: str, form: str, year: int, values: dict[str, Any], saved_by: str
    ) -> Draft:
        draft = Draft(
            code=code,
            form=form,
            year=year,
            values=values,
            saved_by=saved_by,
            saved_at=datetime.now(UTC),
        )
        table = sql_table(Draft)
        async with self.engine.begin() as conn:
            await conn.execute(
                table.delete().where(
                    table.c.code == code, table.c.form == form, table.c.year == year
                )
            )
            await conn.execute(table.insert().values(**draft.model_dump()))
        return draft

    async def drop_draft(self, code: str, form: str, year: int) -> None:
        table = sql_table(Draft)
        async with self.engine.begin() as conn:
            await conn.execute(
                table.delete().where(
                    table.c.code == code, table.c.form == form, table.c.year == year
                )
            )

    async def on_reminders(self, batch: list[Envelope[ReminderDue]]) -> None:
        """Keep each reminder once per node, year and threshold (a redelivery replaces it)."""
        table = sql_table(Reminder)
        rows = {
            (e.event.year, e.event.node, e.event.threshold_days): Reminder(
                year=e.event.year,
                node=e.event.node,
                threshold_days=e.event.threshold_days,
                deadline=e.event.deadline,
                sites=[s.model_dump() for s in e.event.sites],
                at=e.event.at,
            ).model_dump()
            for e in batch
        }
        unpublished = {
            (e.event.year, e.event.node, e.event.threshold_days): ReminderUnpublished(
                year=e.event.year,
                node=e.event.node,
                threshold_days=e.event.threshold_days,
                sites=[s.model_dump() for s in e.event.unpublished],
            ).model_dump()
            for e in batch
            if e.event.unpublished
        }
        named = sql_table(ReminderUnpublished)
        async with self.engine.begin() as conn:
            for year, node, threshold in rows:
                for each in (table, named):
                    await conn.execute(
                        each.delete().where(
                            each.c.year == year,
                            each.c.node == node,
                            each.c.threshold_days == threshold,
                        )
                    )
            await conn.execute(table.insert(), list(rows.values()))
            if unpublished:
                await conn.execute(named.insert(), list(unpublished.values()))

    async def reminders(self, node: str) -> list[ReminderLine]:
        """The reminders sent to a node, newest first, with the sites each names as not
        published."""
        table = sql_table(Reminder)
        named = sql_table(ReminderUnpublished)
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(table).where(table.c.node == node).order_by(table.c.at.desc()).limit(50)
            )
            reminders = [Reminder.model_validate(dict(r._mapping)) for r in rows]
            listed = await conn.execute(select(named).where(named.c.node == node))
            unpublished = {
                (r.year, r.threshold_days): list(r.sites) for r in listed if r.sites is not None
            }
        return [
            ReminderLine(
                year=r.year,
                node=r.node,
                threshold_days=r.threshold_days,
                deadline=r.deadline,
                sites=r.sites,
                at=r.at,
                unpublished=unpublished.get((r.year, r.threshold_days), []),
            )
            for r in reminders
        ]
