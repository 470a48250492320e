"""Test databases: a fresh PostgreSQL database per test run when one is reachable, else SQLite."""

from __future__ import annotations

import asyncio
import os
import secrets
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg
from sqlalchemy.engine import make_url

#: how long to wait for the server named by NIANBAO_TEST_POSTGRES_URL before using SQLite
CONNECT_TIMEOUT = 5


def postgres_url() -> str | None:
    """A reachable PostgreSQL (CI has one), else None so tests fall back to SQLite."""
    return os.environ.get("NIANBAO_TEST_POSTGRES_URL")


def asyncpg_dsn(url: str, database: str | None = None) -> str:
    """``postgresql+asyncpg://u@h:5432/db`` -> ``postgresql://u@h:5432/db`` (optionally another
    database)."""
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


def with_database(url: str, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)


async def _execute(dsn: str, *statements: str) -> None:
    conn = await asyncpg.connect(dsn, timeout=CONNECT_TIMEOUT)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def execute(url: str, *statements: str, database: str | None = None) -> None:
    """Run statements one by one (outside a transaction: CREATE DATABASE needs that)."""
    asyncio.run(_execute(asyncpg_dsn(url, database), *statements))


def reachable(url: str) -> bool:
    try:
        execute(url, "SELECT 1")
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        warnings.warn(f"PostgreSQL at {url} unreachable ({exc!r}): using SQLite", stacklevel=2)
        return False
    return True


@contextmanager
def fresh_postgres_database(url: str | None, prefix: str = "nianbao_test") -> Iterator[str | None]:
    """A new database on the server of ``url`` (dropped afterwards), or None without a server."""
    if url is None or not reachable(url):
        yield None
        return
    name = f"{prefix}_{secrets.token_hex(4)}"
    execute(url, f'CREATE DATABASE "{name}"')
    try:
        yield with_database(url, name)
    finally:
        execute(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def clear_postgres_database(url: str) -> None:
    """Drop every table of the database (between tests sharing the run's database)."""
    execute(
        url,
        "SET lock_timeout = '10s'",
        "DROP SCHEMA public CASCADE",
        "CREATE SCHEMA public",
    )
