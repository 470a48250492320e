"""Fixtures shared by the integration and end-to-end tests: a real nats-server per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tools.natsserver import NatsServer, start_nats_server


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    """An isolated JetStream server on a free port with a temporary store."""
    server = start_nats_server(tmp_path / "nats", log_file=tmp_path / "nats.log")
    try:
        yield server
    finally:
        server.stop()


def postgres_url() -> str | None:
    """A reachable PostgreSQL (CI has one), else None so tests fall back to SQLite."""
    return os.environ.get("NIANBAO_TEST_POSTGRES_URL")


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str | None]:
    """A fresh PostgreSQL database for this test run (dropped at its end), or None: runs never
    collide. The server is NIANBAO_TEST_POSTGRES_URL's, when set and reachable."""
    from tests.deploy.databases import fresh_postgres_database

    with fresh_postgres_database(postgres_url()) as url:
        yield url


@pytest.fixture
def database_url(tmp_path: Path, postgres_database: str | None) -> Iterator[str]:
    """An empty database for one test: PostgreSQL when reachable, SQLite otherwise."""
    if postgres_database is None:
        yield f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
        return
    from tests.deploy.databases import clear_postgres_database

    try:
        yield postgres_database
    finally:
        clear_postgres_database(postgres_database)


def pytest_report_header() -> str:
    url = postgres_url()
    return (
        f"database tests: {f'PostgreSQL ({url}) when reachable, else SQLite' if url else 'SQLite'}"
    )
