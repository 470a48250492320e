"""Database engines for the services: SQLite under var/ by default, PostgreSQL by URL."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table, event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlmodel import SQLModel


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine; SQLite gets WAL and a busy timeout so readers never block the writer."""
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+asyncpg://" + url.removeprefix("postgresql://")
    return create_async_engine(url, pool_size=10, max_overflow=10, **kwargs)


async def create_schema(engine: AsyncEngine, tables: list[Any]) -> None:
    """Create this service's tables if missing (each service owns its own tables)."""
    async with engine.begin() as conn:
        await conn.run_sync(
            lambda sync_conn: SQLModel.metadata.create_all(
                sync_conn, tables=[sql_table(t) for t in tables]
            )
        )


def sql_table(model: type[SQLModel]) -> Table:
    """The SQLAlchemy table behind a SQLModel table class (typed for mypy)."""
    return cast(Table, model.__table__)  # type: ignore[attr-defined]
