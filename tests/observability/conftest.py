"""A running system for the observability tests (module scope), reading consumer lag each second."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tools.launcher import System, start_system


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    running = start_system(
        tmp_path_factory.mktemp("system"),
        intake_port=0,
        pages_port=0,
        nats_port=0,
        extra_env={"NIANBAO_LAG_POLL_SECONDS": "1"},
    )
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def tokens(system: System) -> dict[str, str]:
    loaded: dict[str, str] = json.loads(
        (Path(system.data_dir) / "demo-tokens.json").read_text(encoding="utf-8")
    )
    return loaded
