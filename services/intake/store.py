"""The intake's own state: receipts (an outbox until the PubAck) and hashed bearer tokens."""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    ForeignKey,
    Select,
    String,
    UniqueConstraint,
    bindparam,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import AutoString, Field, SQLModel

from services.intake.batching import Batcher
from shared.access import Caller, Kind
from shared.filings import Outcome
from shared.runtime.db import SCHEMA_LOCK, JsonDocument, UtcDateTime, create_schema, sql_table

log = logging.getLogger(__name__)


class ReceiptFields(SQLModel):
    """One submitted version and how far it has gone through the pipeline (its report aside)."""

    receipt_id: str = Field(primary_key=True)
    code: str = Field(index=True)
    form: str
    form_version: str
    year: int
    version: int
    content_hash: str
    received_at: datetime = Field(sa_column=Column(UtcDateTime, nullable=False))
    submitted_by: str
    #: false while the submission is only in the outbox (not yet acknowledged by JetStream)
    in_stream: bool = False
    outcome: Outcome | None = Field(default=None, sa_column=Column(AutoString))
    judged_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime))
    issues: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(JsonDocument))
    aggregated_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime))
    standing: dict[str, Any] | None = Field(default=None, sa_column=Column(JsonDocument))
    published_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime))
    urls: list[str] | None = Field(default=None, sa_column=Column(JsonDocument))


class ReceiptRow(ReceiptFields, table=True):
    """A receipt as stored: small, since every stage rewrites it (its report is apart)."""

    __tablename__ = "intake_receipts"
    __table_args__ = (UniqueConstraint("code", "form", "year", "version"),)


class ReportBody(SQLModel, table=True):
    """A receipt's report, written once with it and never updated."""

    __tablename__ = "intake_reports"

    receipt_id: str = Field(
        sa_column=Column(
            String,
            ForeignKey("intake_receipts.receipt_id", ondelete="CASCADE"),
            primary_key=True,
        )
    )
    report: dict[str, Any] = Field(sa_column=Column(JsonDocument, nullable=False))


class Receipt(ReceiptFields):
    """A receipt with its report."""

    report: dict[str, Any]


#: the columns of a receipt row (what a read of a receipt selects, with its report)
RECEIPT_COLUMNS = tuple(ReceiptFields.model_fields)


def receipts_with_reports() -> Select[Any]:
    """Every receipt column and the report: the select to filter for whole receipts."""
    receipts, reports = sql_table(ReceiptRow), sql_table(ReportBody)
    return select(receipts, reports.c.report).join_from(
        receipts, reports, receipts.c.receipt_id == reports.c.receipt_id
    )


async def move_reports_out(engine: AsyncEngine) -> None:
    """Migrate a database from before reports had their own table: each receipt's report is
    copied to intake_reports and the column dropped, in one transaction (on PostgreSQL under
    the schema lock, so replicas starting together migrate once). Nothing to do on a new one."""
    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            await conn.execute(text(f"SELECT pg_advisory_xact_lock({SCHEMA_LOCK})"))
        columns = await conn.run_sync(
            lambda sync: {c["name"] for c in inspect(sync).get_columns("intake_receipts")}
        )
        if "report" not in columns:
            return
        await conn.execute(
            text(
                "INSERT INTO intake_reports (receipt_id, report) "
                "SELECT r.receipt_id, r.report FROM intake_receipts r WHERE NOT EXISTS "
                "(SELECT 1 FROM intake_reports b WHERE b.receipt_id = r.receipt_id)"
            )
        )
        await conn.execute(text("ALTER TABLE intake_receipts DROP COLUMN report"))
        log.warning("moved the receipts' reports to their own table (intake_reports)")


class Token(SQLModel, table=True):
    """A bearer token, stored as its SHA-256 only."""

    __tablename__ = "intake_tokens"

    token_hash: str = Field(primary_key=True)
    kind: str
    code: str | None = None
    label: str = ""
    expires_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime))
    revoked: bool = False


def row_refused(exc: Exception) -> bool:
    """The database refused a row for what it holds (a data or integrity error, or a value the
    driver cannot send), not for being unreachable: one row's fault, not the batch's."""
    return (
        row_conflict(exc)
        or isinstance(exc, DataError)
        or _sqlstate(exc) == "22"
        or (isinstance(exc, StatementError) and not isinstance(exc, DBAPIError))
    )


def row_conflict(exc: Exception) -> bool:
    """The database refused a row as a duplicate (another intake took this version first)."""
    return isinstance(exc, IntegrityError) or _sqlstate(exc) == "23"


def _sqlstate(exc: Exception) -> str:
    """The SQLSTATE class of a PostgreSQL error (asyncpg's reach SQLAlchemy untranslated)."""
    orig = getattr(exc, "orig", None) if isinstance(exc, DBAPIError) else None
    return str(getattr(orig, "sqlstate", None) or "")[:2]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return "nb_" + secrets.token_urlsafe(32)


#: how long a token's lookup is trusted in memory: a token revoked in the database, or whose
#: expiry was moved earlier, stops working within this many seconds (the expiry itself is checked
#: on every request); an unknown token stays refused as long, unless added through this store
TOKEN_CACHE_SECONDS = 10.0
#: past this many cached lookups the cache starts afresh (bounds memory under random tokens)
TOKEN_CACHE_SIZE = 50_000


@dataclass(frozen=True)
class TokenHolder:
    """What the database says of a token: who holds it (None: unknown or revoked), until when."""

    caller: Caller | None
    expires: datetime | None

    def at(self, now: datetime) -> Caller | None:
        return None if self.expires is not None and self.expires <= now else self.caller


class TokenCache:
    """Token hash → its holder, as looked up at most TOKEN_CACHE_SECONDS ago."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[TokenHolder, float]] = {}
        #: counts clears: a lookup that began before one is not kept
        self.generation = 0

    def get(self, digest: str) -> TokenHolder | None:
        entry = self._entries.get(digest)
        if entry is None:
            return None
        holder, looked_up = entry
        if time.monotonic() - looked_up >= TOKEN_CACHE_SECONDS:
            del self._entries[digest]
            return None
        return holder

    def put(self, digest: str, holder: TokenHolder, generation: int) -> None:
        if generation != self.generation:
            return
        if len(self._entries) >= TOKEN_CACHE_SIZE:
            self._entries.clear()
        self._entries[digest] = (holder, time.monotonic())

    def clear(self) -> None:
        self._entries.clear()
        self.generation += 1

    def __len__(self) -> int:
        return len(self._entries)


class IntakeStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._tokens = TokenCache()
        self._token_lookups: Batcher[str, dict[str, TokenHolder]] = Batcher(self._token_holders)

    async def create(self) -> None:
        await create_schema(self.engine, [ReceiptRow, ReportBody, Token])
        await move_reports_out(self.engine)

    # ---------------------------------------------------------------- tokens
    async def add_tokens(
        self,
        tokens: Sequence[tuple[str, Kind, str | None, str]],
        expires_at: datetime | None = None,
    ) -> None:
        """Store (token, kind, code, label) hashed, valid until ``expires_at`` (None: until
        revoked); an existing hash is left as it is."""
        table = sql_table(Token)
        rows: dict[str, dict[str, Any]] = {}
        for token, kind, code, label in tokens:
            rows.setdefault(
                hash_token(token),
                {
                    "kind": kind,
                    "code": code,
                    "label": label,
                    "revoked": False,
                    "expires_at": expires_at,
                },
            )
        digests = list(rows)
        async with self.engine.begin() as conn:
            existing: set[str] = set()
            for start in range(0, len(digests), 500):
                chunk = digests[start : start + 500]
                found = await conn.scalars(
                    select(table.c.token_hash).where(table.c.token_hash.in_(chunk))
                )
                existing.update(found)
            new = [{"token_hash": d, **rows[d]} for d in digests if d not in existing]
            if new:
                await conn.execute(table.insert(), new)
        self._tokens.clear()  # a token refused a moment ago as unknown works at once

    async def revoke_tokens(self, code: str) -> int:
        """Revoke every token of a site or office (``operator``: the operator's); how many.
        A running intake refuses them within TOKEN_CACHE_SECONDS."""
        table = sql_table(Token)
        holder = table.c.kind == "operator" if code == "operator" else table.c.code == code
        async with self.engine.begin() as conn:
            done = await conn.execute(
                update(table).where(holder, table.c.revoked.is_(False)).values(revoked=True)
            )
        self._tokens.clear()
        return int(done.rowcount or 0)

    async def rotate_token(self, code: str, token: str, expires_at: datetime | None) -> bool:
        """Give the holder of ``code``'s tokens the new ``token`` and revoke the others, in one
        transaction; False when ``code`` never had a token."""
        table = sql_table(Token)
        holder = table.c.kind == "operator" if code == "operator" else table.c.code == code
        async with self.engine.begin() as conn:
            known = (await conn.execute(select(table).where(holder).limit(1))).first()
            if known is None:
                return False
            await conn.execute(
                update(table).where(holder, table.c.revoked.is_(False)).values(revoked=True)
            )
            await conn.execute(
                table.insert(),
                [
                    {
                        "token_hash": hash_token(token),
                        "kind": known.kind,
                        "code": known.code,
                        "label": known.label,
                        "revoked": False,
                        "expires_at": expires_at,
                    }
                ],
            )
        self._tokens.clear()
        return True

    async def caller(self, token: str, now: datetime) -> Caller | None:
        """Who holds this token at ``now``, or None (unknown, revoked or expired). A lookup is
        kept for TOKEN_CACHE_SECONDS; the token's expiry is checked on every call."""
        digest = hash_token(token)
        holder = self._tokens.get(digest)
        if holder is None:
            generation = self._tokens.generation
            holder = (await self._token_lookups.submit(digest))[digest]
            self._tokens.put(digest, holder, generation)
        return holder.at(now)

    async def _token_holders(self, digests: list[str]) -> dict[str, TokenHolder]:
        """Who holds each token: one query for the tokens of concurrent requests (in a burst,
        each site's token is new to the cache)."""
        table = sql_table(Token)
        query = select(table).where(table.c.token_hash.in_(list(dict.fromkeys(digests))))
        async with self.engine.connect() as conn:
            rows = await conn.execute(query)
            holders = {
                row.token_hash: TokenHolder(
                    Caller(kind=row.kind, code=row.code, label=row.label), row.expires_at
                )
                for row in rows
                if not row.revoked
            }
        unknown = TokenHolder(None, None)
        return {digest: holders.get(digest, unknown) for digest in digests}

    # ---------------------------------------------------------------- receipts
    async def _receipts(self, query: Select[Any]) -> list[Receipt]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(query)
            return [Receipt.model_validate(dict(r._mapping)) for r in rows]

    async def latest(self, code: str, form: str, year: int) -> Receipt | None:
        table = sql_table(ReceiptRow)
        found = await self._receipts(
            receipts_with_reports()
            .where(table.c.code == code, table.c.form == form, table.c.year == year)
            .order_by(table.c.version.desc())
            .limit(1)
        )
        return found[0] if found else None

    async def get(self, receipt_id: str) -> Receipt | None:
        table = sql_table(ReceiptRow)
        found = await self._receipts(
            receipts_with_reports().where(table.c.receipt_id == receipt_id)
        )
        return found[0] if found else None

    async def history(self, code: str, form: str, year: int) -> list[Receipt]:
        table = sql_table(ReceiptRow)
        return await self._receipts(
            receipts_with_reports()
            .where(table.c.code == code, table.c.form == form, table.c.year == year)
            .order_by(table.c.version)
        )

    async def insert(self, receipt: Receipt) -> None:
        await self.insert_all([receipt])

    async def insert_all(self, receipts: Sequence[Receipt]) -> None:
        """Store receipts and their reports in one transaction: all of them, or none."""
        # the fields as they are (a model_dump would copy each report, nested, once more)
        rows = [{name: r.__dict__[name] for name in RECEIPT_COLUMNS} for r in receipts]
        bodies = [{"receipt_id": r.receipt_id, "report": r.report} for r in receipts]
        async with self.engine.begin() as conn:
            # one compiled statement for every insert (``.values(**row)`` is a new one each time)
            await conn.execute(sql_table(ReceiptRow).insert(), rows)
            await conn.execute(sql_table(ReportBody).insert(), bodies)

    async def mark_in_stream(self, receipt_id: str) -> None:
        await self.mark_all_in_stream([receipt_id])

    async def mark_all_in_stream(self, receipt_ids: Sequence[str]) -> None:
        """The stream acknowledged these receipts: out of the outbox, in one transaction."""
        await self._set([{"rid": rid, "in_stream": True} for rid in receipt_ids])

    async def delete(self, receipt_id: str) -> None:
        receipts, reports = sql_table(ReceiptRow), sql_table(ReportBody)
        async with self.engine.begin() as conn:
            await conn.execute(reports.delete().where(reports.c.receipt_id == receipt_id))
            await conn.execute(receipts.delete().where(receipts.c.receipt_id == receipt_id))

    async def outbox(self) -> list[Receipt]:
        table = sql_table(ReceiptRow)
        return await self._receipts(receipts_with_reports().where(table.c.in_stream.is_(False)))

    async def record(self, changes: Sequence[dict[str, Any]]) -> None:
        """Apply progress to receipts: each dict has ``rid`` and the columns to set."""
        await self._set(changes)

    async def _set(self, changes: Sequence[dict[str, Any]]) -> None:
        if not changes:
            return
        table = sql_table(ReceiptRow)
        by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for change in changes:
            columns = tuple(sorted(k for k in change if k != "rid"))
            by_columns.setdefault(columns, []).append(change)
        async with self.engine.begin() as conn:
            for columns, rows in by_columns.items():
                statement = (
                    update(table)
                    .where(table.c.receipt_id == bindparam("rid"))
                    .values({c: bindparam(f"v_{c}") for c in columns})
                )
                params = [{"rid": r["rid"], **{f"v_{c}": r[c] for c in columns}} for r in rows]
                await conn.execute(statement, params)
