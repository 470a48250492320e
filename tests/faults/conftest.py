"""The fault suite's system (all four services as processes) and its figures, printed at the end
with the seed that replays the run (NIANBAO_FAULT_SEED)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tools.launcher import SERVICES, System, start_system

#: figures the tests record, printed in the terminal summary
FIGURES: dict[str, Any] = {}


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    running = start_system(
        tmp_path_factory.mktemp("faults"),
        intake_port=0,
        pages_port=0,
        nats_port=0,
        services=SERVICES,
        extra_env={"NIANBAO_LAG_POLL_SECONDS": "60"},
    )
    try:
        yield running
    finally:
        running.stop()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if FIGURES:
        terminalreporter.section("fault injection")
        for name, value in FIGURES.items():
            terminalreporter.write_line(f"{name}: {value}")
