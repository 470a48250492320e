"""The aggregator's own state: every judged version it has counted (SQLModel tables)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import Field, SQLModel

from shared.contracts import ReportJudged
from shared.db import create_schema, sql_table


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
    received_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    judged_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    report: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    issues: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))


class VersionStore:
    """Insert-if-absent by receipt id: a redelivered verdict changes nothing."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def create(self) -> None:
        await create_schema(self.engine, [CountedVersion])

    async def add(self, verdicts: Sequence[tuple[ReportJudged, str]]) -> None:
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
                "outcome": outcome,
                "content_hash": v.content_hash,
                "received_at": v.received_at,
                "judged_at": v.judged_at,
                "report": v.report,
                "issues": [i.model_dump() for i in v.issues],
            }
            for v, outcome in verdicts
        ]
        table = sql_table(CountedVersion)
        insert = pg_insert if self.engine.dialect.name == "postgresql" else sqlite_insert
        statement = insert(table).on_conflict_do_nothing(index_elements=["receipt_id"])
        async with self.engine.begin() as conn:
            await conn.execute(statement, rows)

    async def all(self) -> list[CountedVersion]:
        async with self.engine.connect() as conn:
            result = await conn.execute(select(sql_table(CountedVersion)))
            return [CountedVersion.model_validate(dict(row._mapping)) for row in result]
