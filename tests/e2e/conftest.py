"""The whole system as real processes: nats-server, the four services, the pages server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tools.launcher import System, start_system


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    data_dir = tmp_path_factory.mktemp("system")
    running = start_system(data_dir, intake_port=0, pages_port=0, nats_port=0)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def tokens(system: System) -> dict[str, str]:
    path = Path(system.data_dir) / "demo-tokens.json"
    loaded: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
    return loaded
