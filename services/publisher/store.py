"""The publisher's own state: versions, standings, roll-ups, and the pages still to render."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Column, and_, delete, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import Field, SQLModel

from shared.runtime.db import JsonDocument, UtcDateTime, create_schema, dialect_insert, sql_table


class PublishedVersion(SQLModel, table=True):
    __tablename__ = "publisher_versions"

    receipt_id: str = Field(primary_key=True)
    code: str = Field(index=True)
    form: str
    year: int = Field(index=True)
    version: int
    outcome: str
    content_hash: str
    received_at: datetime = Field(sa_column=Column(UtcDateTime, nullable=False))
    report: dict[str, Any] = Field(sa_column=Column(JsonDocument, nullable=False))
    issues: list[dict[str, Any]] = Field(sa_column=Column(JsonDocument, nullable=False))


class SiteStanding(SQLModel, table=True):
    """The aggregator's latest word on a filing; ``seq`` orders words (stream sequence)."""

    __tablename__ = "publisher_standings"

    code: str = Field(primary_key=True)
    form: str = Field(primary_key=True)
    year: int = Field(primary_key=True)
    seq: int
    status: str
    counted_receipt: str | None = None
    received_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime))


class NodeRollupRow(SQLModel, table=True):
    __tablename__ = "publisher_rollups"

    year: int = Field(primary_key=True)
    node: str = Field(primary_key=True)
    digest: str
    body: dict[str, Any] = Field(sa_column=Column(JsonDocument, nullable=False))


class DirtyPage(SQLModel, table=True):
    """A page to (re)render; ``generation`` changes each time it is marked again."""

    __tablename__ = "publisher_dirty"

    key: str = Field(primary_key=True)
    generation: int


class Announcement(SQLModel, table=True):
    """A receipt whose site page must be rendered before its published event is emitted."""

    __tablename__ = "publisher_announcements"

    receipt_id: str = Field(primary_key=True)
    code: str
    year: int
    key: str = Field(index=True)


class PublishedReview(SQLModel, table=True):
    """A review action on a site's filing, for its page's history."""

    __tablename__ = "publisher_reviews"

    review_id: str = Field(primary_key=True)
    action: str
    receipt_id: str | None = None
    code: str = Field(index=True)
    form: str
    year: int
    office: str
    reason: str = ""
    paths: list[str] = Field(default_factory=list, sa_column=Column(JsonDocument, nullable=False))
    at: datetime = Field(sa_column=Column(UtcDateTime, nullable=False))


#: the range of dirty keys that are site pages (``site:{year}:{code}``; ';' follows ':')
SITE_KEYS = ("site:", "site;")

TABLES = [PublishedVersion, SiteStanding, NodeRollupRow, DirtyPage, Announcement, PublishedReview]


class PublisherStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.generation = 0
        #: transactions that marked pages dirty, counted once committed (render loops wait on it)
        self.marks = 0
        self._marked = asyncio.Event()

    def _insert(self) -> Any:
        return dialect_insert(self.engine)

    async def create(self) -> None:
        await create_schema(self.engine, TABLES)
        async with self.engine.connect() as conn:
            top = await conn.scalar(
                select(sql_table(DirtyPage).c.generation)
                .order_by(sql_table(DirtyPage).c.generation.desc())
                .limit(1)
            )
        self.generation = int(top or 0)

    async def save(
        self,
        versions: Sequence[dict[str, Any]],
        standings: Sequence[dict[str, Any]],
        rollups: Sequence[dict[str, Any]],
        dirty: Sequence[str],
        announcements: Sequence[dict[str, Any]],
    ) -> None:
        """One transaction: new facts and the pages they make dirty (nothing lost on a crash)."""
        insert = self._insert()
        async with self.engine.begin() as conn:
            if versions:
                await conn.execute(
                    insert(sql_table(PublishedVersion)).on_conflict_do_nothing(
                        index_elements=["receipt_id"]
                    ),
                    list(versions),
                )
            # one statement per kind, executed for many rows (at most one row per key, so a
            # multi-row upsert never touches a row twice)
            latest: dict[tuple[Any, ...], dict[str, Any]] = {}
            for row in standings:
                key = (row["code"], row["form"], row["year"])
                if key not in latest or latest[key]["seq"] < row["seq"]:
                    latest[key] = row
            if latest:
                first = next(iter(latest.values()))
                statement = insert(sql_table(SiteStanding))
                statement = statement.on_conflict_do_update(
                    index_elements=["code", "form", "year"],
                    set_={
                        k: statement.excluded[k] for k in first if k not in ("code", "form", "year")
                    },
                    where=sql_table(SiteStanding).c.seq < statement.excluded.seq,
                )
                await conn.execute(statement, list(latest.values()))
            last_rollups = {(row["year"], row["node"]): row for row in rollups}
            if last_rollups:
                statement = insert(sql_table(NodeRollupRow))
                statement = statement.on_conflict_do_update(
                    index_elements=["year", "node"],
                    set_={"digest": statement.excluded.digest, "body": statement.excluded.body},
                )
                await conn.execute(statement, list(last_rollups.values()))
            if dirty:
                self.generation += 1
                statement = insert(sql_table(DirtyPage))
                statement = statement.on_conflict_do_update(
                    index_elements=["key"], set_={"generation": statement.excluded.generation}
                )
                await conn.execute(
                    statement,
                    [{"key": k, "generation": self.generation} for k in sorted(set(dirty))],
                )
            if announcements:
                await conn.execute(
                    insert(sql_table(Announcement)).on_conflict_do_nothing(
                        index_elements=["receipt_id"]
                    ),
                    list(announcements),
                )
        if dirty:  # committed: a render pass that starts now reads the marks
            self.marks += 1
            self._marked.set()

    async def wait_marked(self, seen: int, within: float | None) -> None:
        """Wait until pages are marked dirty after ``seen`` (a value of ``marks`` read before a
        render pass), or ``within`` seconds (None: no limit)."""
        if self.marks != seen:
            return
        # every earlier set was for marks the pass read: none is lost by clearing
        self._marked.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._marked.wait(), within)

    async def dirty(self, sites: bool | None = None) -> list[tuple[str, int]]:
        """Pages to render: all, only site pages (``sites=True``) or only the others (keys
        ``site:…`` form one range of the primary key, so either half is an index scan)."""
        table = sql_table(DirtyPage)
        query = select(table.c.key, table.c.generation)
        if sites is True:
            query = query.where(table.c.key >= SITE_KEYS[0], table.c.key < SITE_KEYS[1])
        elif sites is False:
            query = query.where(or_(table.c.key < SITE_KEYS[0], table.c.key >= SITE_KEYS[1]))
        async with self.engine.connect() as conn:
            rows = await conn.execute(query)
            return [(r.key, r.generation) for r in rows]

    async def clean(self, done: Sequence[tuple[str, int]]) -> None:
        """Forget rendered pages, unless they were marked again meanwhile."""
        if not done:
            return
        table = sql_table(DirtyPage)
        async with self.engine.begin() as conn:
            await conn.execute(
                delete(table).where(tuple_(table.c.key, table.c.generation).in_(list(done)))
            )

    async def announcements(self, keys: Sequence[str]) -> list[Announcement]:
        table = sql_table(Announcement)
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(table).where(table.c.key.in_(list(keys))))
            return [Announcement.model_validate(dict(r._mapping)) for r in rows]

    async def stranded_announcements(self) -> list[Announcement]:
        """Announcements whose page is no longer dirty: rendered, but the published event was
        not sent (a failed publish, or a crash between the render and the announcement)."""
        table, dirty = sql_table(Announcement), sql_table(DirtyPage)
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(table).where(table.c.key.not_in(select(dirty.c.key))))
            return [Announcement.model_validate(dict(r._mapping)) for r in rows]

    async def forget_announcements(self, receipt_ids: Sequence[str]) -> None:
        table = sql_table(Announcement)
        async with self.engine.begin() as conn:
            await conn.execute(delete(table).where(table.c.receipt_id.in_(list(receipt_ids))))

    async def add_reviews(self, rows: Sequence[dict[str, Any]], dirty: Sequence[str]) -> None:
        """Keep review actions (insert-if-absent) and mark the pages they change."""
        if rows:
            async with self.engine.begin() as conn:
                await conn.execute(
                    self._insert()(sql_table(PublishedReview)).on_conflict_do_nothing(
                        index_elements=["review_id"]
                    ),
                    list(rows),
                )
        await self.save([], [], [], dirty, [])

    async def reviews_of(self, code: str, form: str, year: int) -> list[PublishedReview]:
        return (await self.reviews_of_many([code], form, year)).get(code, [])

    async def versions_of(self, code: str, form: str, year: int) -> list[PublishedVersion]:
        return (await self.versions_of_many([code], form, year)).get(code, [])

    async def versions_of_many(
        self, codes: Sequence[str], form: str, year: int
    ) -> dict[str, list[PublishedVersion]]:
        """Every stored version of these filings, by code, oldest first (one query)."""
        table = sql_table(PublishedVersion)
        out: dict[str, list[PublishedVersion]] = {}
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(table)
                .where(
                    and_(table.c.code.in_(list(codes)), table.c.form == form, table.c.year == year)
                )
                .order_by(table.c.code, table.c.version)
            )
            for r in rows:
                out.setdefault(r.code, []).append(PublishedVersion.model_validate(dict(r._mapping)))
        return out

    async def reviews_of_many(
        self, codes: Sequence[str], form: str, year: int
    ) -> dict[str, list[PublishedReview]]:
        """Review actions on these filings, by code (one query)."""
        table = sql_table(PublishedReview)
        out: dict[str, list[PublishedReview]] = {}
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(table).where(
                    and_(table.c.code.in_(list(codes)), table.c.form == form, table.c.year == year)
                )
            )
            for r in rows:
                out.setdefault(r.code, []).append(PublishedReview.model_validate(dict(r._mapping)))
        return out

    async def standings(self) -> list[SiteStanding]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(sql_table(SiteStanding)))
            return [SiteStanding.model_validate(dict(r._mapping)) for r in rows]

    async def counted_reports(self) -> dict[str, dict[str, Any]]:
        """receipt id -> report, for every version some standing counts."""
        versions, standings = sql_table(PublishedVersion), sql_table(SiteStanding)
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(versions.c.receipt_id, versions.c.report).join(
                    standings, standings.c.counted_receipt == versions.c.receipt_id
                )
            )
            return {r.receipt_id: r.report for r in rows}

    async def rollups(self) -> list[NodeRollupRow]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(sql_table(NodeRollupRow)))
            return [NodeRollupRow.model_validate(dict(r._mapping)) for r in rows]
