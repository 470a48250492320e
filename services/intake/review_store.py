"""The intake's record of review actions (return, approve, unlock) and internal deadlines."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import Field, SQLModel

from shared.db import JsonDocument, UtcDateTime, create_schema, sql_table
from shared.filings import Review


class ReviewAction(SQLModel, table=True):
    """One action of an office on a filing; the lock state is derived from these."""

    __tablename__ = "intake_reviews"

    review_id: str = Field(primary_key=True)
    action: str
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


class ReviewStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def create(self) -> None:
        await create_schema(self.engine, [ReviewAction, InternalDeadline])

    async def add(self, action: ReviewAction) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(sql_table(ReviewAction).insert().values(**action.model_dump()))

    async def remove(self, review_id: str) -> None:
        table = sql_table(ReviewAction)
        async with self.engine.begin() as conn:
            await conn.execute(table.delete().where(table.c.review_id == review_id))

    async def of_filing(self, code: str, form: str, year: int) -> list[ReviewAction]:
        table = sql_table(ReviewAction)
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(table)
                .where(table.c.code == code, table.c.form == form, table.c.year == year)
                .order_by(table.c.at, table.c.review_id)
            )
            return [ReviewAction.model_validate(dict(r._mapping)) for r in rows]

    async def set_deadline(self, row: InternalDeadline) -> InternalDeadline | None:
        """Store a deadline; returns the one it replaced (to restore if publishing fails)."""
        table = sql_table(InternalDeadline)
        async with self.engine.begin() as conn:
            old = (
                await conn.execute(
                    select(table).where(table.c.year == row.year, table.c.node == row.node)
                )
            ).first()
            await conn.execute(
                table.delete().where(table.c.year == row.year, table.c.node == row.node)
            )
            await conn.execute(table.insert().values(**row.model_dump()))
        return None if old is None else InternalDeadline.model_validate(dict(old._mapping))

    async def restore_deadline(self, year: int, node: str, old: InternalDeadline | None) -> None:
        table = sql_table(InternalDeadline)
        async with self.engine.begin() as conn:
            await conn.execute(table.delete().where(table.c.year == year, table.c.node == node))
            if old is not None:
                values: dict[str, Any] = old.model_dump()
                await conn.execute(table.insert().values(**values))
