"""Fixtures shared by the integration and end-to-end tests: a real nats-server per test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.natsserver import NatsServer, start_nats_server


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
