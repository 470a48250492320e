"""Fixtures shared by the integration and end-to-end tests: a real nats-server per test, a test
database, and a nats-server secured with the deployment's users file. Helpers live in
tests/support/ (imported where used: a run of the unit tests alone does not load them); nothing
imports from a conftest."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tools.natsserver import NatsServer, start_nats_server

if TYPE_CHECKING:
    from nats.aio.client import Client


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    """An isolated JetStream server on a free port with a temporary store."""
    server = start_nats_server(tmp_path / "nats", log_file=tmp_path / "nats.log")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str | None]:
    """A fresh PostgreSQL database for this test run (dropped at its end), or None: runs never
    collide. The server is NIANBAO_TEST_POSTGRES_URL's, when set and reachable."""
    from tests.support.databases import fresh_postgres_database, postgres_url

    with fresh_postgres_database(postgres_url()) as url:
        yield url


@pytest.fixture
def database_url(tmp_path: Path, postgres_database: str | None) -> Iterator[str]:
    """An empty database for one test: PostgreSQL when reachable, SQLite otherwise."""
    if postgres_database is None:
        yield f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
        return
    from tests.support.databases import clear_postgres_database

    try:
        yield postgres_database
    finally:
        clear_postgres_database(postgres_database)


@pytest.fixture
def secured_nats(tmp_path: Path) -> Iterator[tuple[NatsServer, dict[str, str]]]:
    """A nats-server with the users `nianbao deploy nats-users --registry` writes, and every
    user's password."""
    from tests.support.nats import secured_nats_server

    with secured_nats_server(tmp_path) as (server, passwords):
        yield server, passwords


@pytest.fixture
async def admin(secured_nats: tuple[NatsServer, dict[str, str]]) -> AsyncIterator[Client]:
    """The secured server's admin connection."""
    from tests.support.nats import admin_client

    async with admin_client(*secured_nats) as nc:
        yield nc


def pytest_report_header() -> str:
    from tests.support.databases import postgres_url

    url = postgres_url()
    return (
        f"database tests: {f'PostgreSQL ({url}) when reachable, else SQLite' if url else 'SQLite'}"
    )
