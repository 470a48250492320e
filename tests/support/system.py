"""The running system (nats-server, the services, the pages server) for the tests: the one place
that starts it. ``system_fixture`` makes the fixture a conftest or a test module declares;
``running_system`` is the same start and stop for a fixture that does more (files reports before
it yields) or a test that starts its own."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import pytest

from tests.support.databases import fresh_postgres_database, postgres_url
from tools.launcher import SERVICES, System, start_system

#: the four services and the pages server (what `nianbao run` starts)
EVERYTHING: tuple[str, ...] = (*SERVICES, "pages")

Scope = Literal["session", "package", "module", "class", "function"]


@contextmanager
def running_system(
    data_dir: Path,
    *,
    registry_file: Path | None = None,
    env: Mapping[str, str] | None = None,
    services: Sequence[str] = EVERYTHING,
    intake_port: int = 0,
    pages_port: int = 0,
    nats_port: int = 0,
) -> Iterator[System]:
    """Start the system in ``data_dir`` (ports 0: free ones) and stop it on the way out."""
    running = start_system(
        data_dir,
        registry_file=registry_file,
        intake_port=intake_port,
        pages_port=pages_port,
        nats_port=nats_port,
        extra_env=dict(env or {}),
        services=services,
    )
    try:
        yield running
    finally:
        running.stop()


def system_fixture(
    *,
    scope: Scope = "module",
    name: str = "system",
    data_dir: str = "system",
    registry_file: Path | None = None,
    env: Mapping[str, str] | None = None,
    services: Sequence[str] = EVERYTHING,
    intake_port: int = 0,
    pages_port: int = 0,
    nats_port: int = 0,
    intake_on_postgres: bool = False,
) -> Callable[..., Iterator[System]]:
    """A fixture named ``name`` yielding a running system, started once per ``scope`` in a fresh
    temporary directory whose name starts with ``data_dir``; with ``intake_on_postgres``, the
    intake's database is a fresh PostgreSQL database (dropped afterwards) when
    NIANBAO_TEST_POSTGRES_URL names a reachable server, SQLite otherwise::

        system = system_fixture(scope="package", env={"NIANBAO_LAG_POLL_SECONDS": "60"})
    """

    @pytest.fixture(scope=scope, name=name)
    def fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
        server = postgres_url() if intake_on_postgres else None
        with fresh_postgres_database(server, f"nianbao_{data_dir}") as database:
            more = {} if database is None else {"NIANBAO_INTAKE_DATABASE_URL": database}
            with running_system(
                tmp_path_factory.mktemp(data_dir),
                registry_file=registry_file,
                env={**(env or {}), **more},
                services=services,
                intake_port=intake_port,
                pages_port=pages_port,
                nats_port=nats_port,
            ) as running:
                yield running

    return fixture


def tokens_of(system: System) -> dict[str, str]:
    """The demo tokens issued on the system's first start: site or office code -> token."""
    loaded: dict[str, str] = json.loads(
        (system.data_dir / "demo-tokens.json").read_text(encoding="utf-8")
    )
    return loaded


def tokens_fixture(*, scope: Scope = "module") -> Callable[..., dict[str, str]]:
    """The ``tokens`` fixture: the demo tokens of the ``system`` fixture."""

    @pytest.fixture(scope=scope, name="tokens")
    def fixture(system: System) -> dict[str, str]:
        return tokens_of(system)

    return fixture
