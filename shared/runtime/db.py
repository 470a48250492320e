"""Database engines for the services: SQLite under var/ by default, PostgreSQL by URL."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from typing import Any, cast

import orjson
from sqlalchemy import JSON, DateTime, Dialect, Table, event, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.types import TypeDecorator
from sqlmodel import SQLModel

#: a JSON document column: JSONB on PostgreSQL (comparable, indexable), JSON text on SQLite
JsonDocument = JSON().with_variant(JSONB(), "postgresql")

#: serialises schema creation across processes starting at once (several replicas, one database)
SCHEMA_LOCK = 0x6E69616E62616F  # "nianbao"


class UtcDateTime(TypeDecorator[datetime]):
    """A moment, stored in UTC and read back timezone-aware on every database.

    PostgreSQL keeps ``timestamptz`` as an instant; SQLite keeps text and drops the offset, so an
    aware value is converted to UTC before it is written and a value read is marked UTC. A naive
    value is taken as UTC (what SQLite did before).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def json_text(value: Any) -> str:
    """JSON columns' text: orjson (several times faster than the standard library on the report
    and roll-up documents every service stores), the standard library for what orjson refuses
    (integers beyond 64 bits)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(value)


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine; SQLite gets WAL and a busy timeout so readers never block the writer."""
    kwargs.setdefault("json_serializer", json_text)
    kwargs.setdefault("json_deserializer", orjson.loads)
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        skip_idle_rollbacks(engine)
        return engine
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            url = "postgresql+asyncpg://" + url.removeprefix(plain)
    # pre-ping: a connection broken by a database restart is replaced, not handed out
    return create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True, **kwargs)


def skip_idle_rollbacks(engine: AsyncEngine) -> None:
    """A SQLite connection outside a transaction is not rolled back. Every connection that only
    read (a token lookup, a filing's head) ends with a rollback, and on aiosqlite each is a trip
    to the connection's thread and back through the event loop, for nothing: a read opens no
    transaction (the driver begins one before a write only). A connection in a transaction, or
    one whose state cannot be read, is rolled back as always."""
    dialect = engine.sync_engine.dialect
    rollback = dialect.do_rollback

    def do_rollback(dbapi_connection: Any) -> None:
        if not _sqlite_idle(dbapi_connection):
            rollback(dbapi_connection)

    dialect.do_rollback = do_rollback  # type: ignore[method-assign]


def _sqlite_idle(dbapi_connection: Any) -> bool:
    """Is this (adapted, maybe pooled) aiosqlite connection's SQLite connection outside any
    transaction? False when that cannot be told."""
    adapted = getattr(dbapi_connection, "dbapi_connection", None) or dbapi_connection
    raw = getattr(getattr(adapted, "_connection", None), "_connection", None)
    return isinstance(raw, sqlite3.Connection) and not raw.in_transaction


async def create_schema(engine: AsyncEngine, tables: list[Any]) -> None:
    """Create this service's tables if missing (each service owns its own tables).

    Processes starting together on one database would race on CREATE TABLE: on PostgreSQL they
    take turns (an advisory lock); on SQLite the loser of the race tries again.
    """
    for attempt in range(3):
        try:
            async with engine.begin() as conn:
                if engine.dialect.name == "postgresql":
                    await conn.execute(text(f"SELECT pg_advisory_xact_lock({SCHEMA_LOCK})"))
                await conn.run_sync(
                    lambda sync_conn: SQLModel.metadata.create_all(
                        sync_conn, tables=[sql_table(t) for t in tables]
                    )
                )
            return
        except OperationalError as exc:
            if attempt == 2 or "already exists" not in str(exc):
                raise


def dialect_insert(engine: AsyncEngine) -> Any:
    """The engine's dialect's ``insert`` (``on_conflict_do_nothing`` / ``_do_update``)."""
    return pg_insert if engine.dialect.name == "postgresql" else sqlite_insert


def sql_table(model: type[SQLModel]) -> Table:
    """The SQLAlchemy table behind a SQLModel table class (typed for mypy)."""
    return cast(Table, model.__table__)  # type: ignore[attr-defined]
