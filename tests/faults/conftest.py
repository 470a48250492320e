"""The fault suite's system (all four services as processes) and its figures, printed at the end
with the seed that replays the run (NIANBAO_FAULT_SEED)."""

from __future__ import annotations

from typing import Any

from tests.support.figures import FAULT_FIGURES, write_figures
from tests.support.system import system_fixture
from tools.launcher import SERVICES

system = system_fixture(
    scope="module",
    data_dir="faults",
    services=SERVICES,
    env={"NIANBAO_LAG_POLL_SECONDS": "60"},
)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    write_figures(terminalreporter, "fault injection", FAULT_FIGURES)
