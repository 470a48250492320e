"""The verifier's own state: what to check (declared URL, accepted version, when next), every
check with its findings, every fetch with a compressed, size-capped copy of the page."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, LargeBinary, bindparam, func, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import Field, SQLModel

from shared.runtime.db import (
    JsonDocument,
    UtcDateTime,
    create_schema,
    dialect_insert,
    sql_table,
)

#: the stored copy of a page is at most this many bytes compressed
MAX_COPY_BYTES = 256 * 1024


class Watched(SQLModel, table=True):
    """One publication to check: a site's report, an office's catalogue entry or 专栏."""

    __tablename__ = "verifier_targets"

    kind: str = Field(primary_key=True)
    code: str = Field(primary_key=True)
    year: int = Field(primary_key=True)
    url: str | None = None
    declared_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime))
    receipt_id: str | None = None
    content_hash: str | None = None
    figures: dict[str, int] = Field(default_factory=dict, sa_column=Column(JsonDocument))
    identifiers: dict[str, str] = Field(default_factory=dict, sa_column=Column(JsonDocument))
    state: str | None = None
    checked_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime))
    first_verified_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime))
    next_check_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime, index=True))
    #: checks in a row that ended unreachable (the backoff grows with it)
    failures: int = 0


class CheckRow(SQLModel, table=True):
    __tablename__ = "verifier_checks"

    check_id: str = Field(primary_key=True)
    kind: str
    code: str = Field(index=True)
    year: int
    url: str
    state: str
    checked_at: datetime = Field(sa_column=Column(UtcDateTime, nullable=False))
    findings: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JsonDocument))
    link_text: str | None = None
    link_position: str | None = None
    coverage: list[int] | None = Field(default=None, sa_column=Column(JsonDocument))
    #: counted once: the event of this check was confirmed by the stream
    published: bool = False


class FetchRow(SQLModel, table=True):
    __tablename__ = "verifier_fetches"

    fetch_id: str = Field(primary_key=True)
    check_id: str = Field(index=True)
    url: str
    final_url: str
    status: int | None = None
    fetched_at: datetime = Field(sa_column=Column(UtcDateTime, nullable=False))
    seconds: float = 0.0
    size: int = 0
    sha256: str | None = None
    charset: str | None = None
    error: str | None = None
    truncated: bool = False
    redirects: list[str] = Field(default_factory=list, sa_column=Column(JsonDocument))
    copy_gz: bytes | None = Field(default=None, sa_column=Column(LargeBinary))


def compressed_copy(body: bytes) -> bytes:
    """gzip of the page, cut so that the compressed copy stays under MAX_COPY_BYTES."""
    data = gzip.compress(body, 6)
    cut = len(body)
    while len(data) > MAX_COPY_BYTES and cut > 1024:
        cut //= 2
        data = gzip.compress(body[:cut], 6)
    return data


Key = tuple[str, str, int]
#: targets looked up in one read (SQLite binds at most 32,766 parameters; three a target)
KEYS_PER_READ = 1000


def _new_row() -> dict[str, Any]:
    """Every column of a new target, at its default (shared by the rows of a batch: read only)."""
    return Watched(kind="", code="", year=0).model_dump()


@dataclass(frozen=True)
class Recorded:
    """One check to store: its row, its fetches, and the target's new columns."""

    key: Key
    check: CheckRow
    fetches: list[FetchRow]
    target: dict[str, Any]


class VerifierStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        #: set once a change to when targets are due is committed (the check loop waits on it)
        self.changed = asyncio.Event()

    async def create(self) -> None:
        await create_schema(self.engine, [Watched, CheckRow, FetchRow])

    async def watched(self, kind: str, code: str, year: int) -> Watched | None:
        table = sql_table(Watched)
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(table).where(
                        table.c.kind == kind, table.c.code == code, table.c.year == year
                    )
                )
            ).first()
        return None if row is None else Watched.model_validate(dict(row._mapping))

    async def upsert_many(self, items: Sequence[tuple[Key, dict[str, Any]]]) -> None:
        """Set these columns of each target, creating the missing ones, in one transaction (a
        burst of acceptances is one commit per batch, not per report); a later item for the
        same target wins. A few statements per batch, not two per target: which targets exist
        is one read, the new ones one insert, the others one update per set of columns. The
        check loop is woken only when a declared target changed (an accepted report of a site
        that declared nothing yet has nothing to check)."""
        merged: dict[Key, dict[str, Any]] = {}
        for key, values in items:
            merged[key] = {**merged.get(key, {}), **values}
        if not merged:
            return
        table = sql_table(Watched)
        async with self.engine.begin() as conn:
            found: dict[Key, str | None] = {}
            keys = list(merged)
            for start in range(0, len(keys), KEYS_PER_READ):
                chunk = keys[start : start + KEYS_PER_READ]
                rows = await conn.execute(
                    select(table.c.kind, table.c.code, table.c.year, table.c.url).where(
                        tuple_(table.c.kind, table.c.code, table.c.year).in_(chunk)
                    )
                )
                found.update(((r.kind, r.code, r.year), r.url) for r in rows)
            defaults = _new_row()
            new = [
                {**defaults, "kind": k, "code": c, "year": y, **v}
                for (k, c, y), v in merged.items()
                if (k, c, y) not in found
            ]
            if new:
                # the other consumer may have created one of them since the read: that row is
                # not inserted here (no error, no redelivered batch) but updated below
                inserted = await conn.execute(
                    dialect_insert(self.engine)(table)
                    .on_conflict_do_nothing()
                    .returning(table.c.kind, table.c.code, table.c.year),
                    new,
                )
                created = {(r.kind, r.code, r.year) for r in inserted}
                raced = [k for k in merged if k not in found and k not in created]
                # their URL is unknown here: wake the loop for them (a rare race, a cheap look)
                found.update((k, "") for k in raced)
            changes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
            for (kind, code, year), values in merged.items():
                if (kind, code, year) in found:
                    row = {"k_kind": kind, "k_code": code, "k_year": year, **values}
                    changes.setdefault(tuple(sorted(values)), []).append(row)
            for same in changes.values():
                # the SET clause is the columns of the rows (the same in each)
                await conn.execute(
                    update(table).where(
                        table.c.kind == bindparam("k_kind"),
                        table.c.code == bindparam("k_code"),
                        table.c.year == bindparam("k_year"),
                    ),
                    same,
                )
            declared = any(v.get("url", found.get(k)) is not None for k, v in merged.items())
        if declared:
            self.changed.set()

    async def due(self, now: datetime, limit: int) -> list[Watched]:
        table = sql_table(Watched)
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(table)
                .where(table.c.url.is_not(None), table.c.next_check_at <= now)
                .order_by(table.c.next_check_at)
                .limit(limit)
            )
            return [Watched.model_validate(dict(r._mapping)) for r in rows]

    async def all_watched(self, year: int | None = None) -> list[Watched]:
        table = sql_table(Watched)
        query = select(table) if year is None else select(table).where(table.c.year == year)
        async with self.engine.connect() as conn:
            return [Watched.model_validate(dict(r._mapping)) for r in await conn.execute(query)]

    async def mark_due(
        self, keys: Sequence[Key], at: datetime, *, earlier_stays: bool = False
    ) -> None:
        """These declared targets are due at ``at`` (``earlier_stays``: at the latest, a target
        due sooner keeps its time). One statement for all of them."""
        if not keys:
            return
        table = sql_table(Watched)
        conditions = [
            table.c.kind == bindparam("k_kind"),
            table.c.code == bindparam("k_code"),
            table.c.year == bindparam("k_year"),
            table.c.url.is_not(None),
        ]
        if earlier_stays:
            conditions.append(or_(table.c.next_check_at.is_(None), table.c.next_check_at > at))
        async with self.engine.begin() as conn:
            await conn.execute(
                update(table).where(*conditions).values(next_check_at=at),
                [{"k_kind": kind, "k_code": code, "k_year": year} for kind, code, year in keys],
            )
        self.changed.set()

    async def next_due_at(self) -> datetime | None:
        """When the next check is due (None: nothing to check)."""
        table = sql_table(Watched)
        async with self.engine.connect() as conn:
            return await conn.scalar(
                select(func.min(table.c.next_check_at)).where(table.c.url.is_not(None))
            )

    async def record(self, items: Sequence[Recorded]) -> None:
        """Checks, their fetches and their targets' new state, in one transaction."""
        table = sql_table(Watched)
        async with self.engine.begin() as conn:
            await conn.execute(sql_table(CheckRow).insert(), [i.check.model_dump() for i in items])
            fetches = [f.model_dump() for i in items for f in i.fetches]
            if fetches:
                await conn.execute(sql_table(FetchRow).insert(), fetches)
            for item in items:
                kind, code, year = item.key
                await conn.execute(
                    update(table)
                    .where(table.c.kind == kind, table.c.code == code, table.c.year == year)
                    .values(**item.target)
                )
        self.changed.set()

    async def mark_published(self, check_ids: Sequence[str]) -> None:
        table = sql_table(CheckRow)
        async with self.engine.begin() as conn:
            await conn.execute(
                update(table).where(table.c.check_id.in_(list(check_ids))).values(published=True)
            )

    async def unpublished(self) -> list[CheckRow]:
        table = sql_table(CheckRow)
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(table).where(table.c.published.is_(False)))
            return [CheckRow.model_validate(dict(r._mapping)) for r in rows]

    async def checks(self, code: str, year: int, limit: int = 50) -> list[CheckRow]:
        table = sql_table(CheckRow)
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(table)
                .where(table.c.code == code, table.c.year == year)
                .order_by(table.c.checked_at.desc())
                .limit(limit)
            )
            return [CheckRow.model_validate(dict(r._mapping)) for r in rows]

    async def all_checks(self) -> list[CheckRow]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(sql_table(CheckRow)))
            return [CheckRow.model_validate(dict(r._mapping)) for r in rows]

    async def fetches(self, check_ids: Sequence[str], with_copy: bool = False) -> list[FetchRow]:
        table = sql_table(FetchRow)
        columns = [c for c in table.c if with_copy or c.name != "copy_gz"]
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(*columns)
                .where(table.c.check_id.in_(list(check_ids)))
                .order_by(table.c.fetched_at)
            )
            return [FetchRow.model_validate(dict(r._mapping)) for r in rows]

    async def fetch(self, fetch_id: str) -> FetchRow | None:
        table = sql_table(FetchRow)
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(table).where(table.c.fetch_id == fetch_id))).first()
        return None if row is None else FetchRow.model_validate(dict(row._mapping))
