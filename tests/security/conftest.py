"""A running system for the security tests (all four services as processes, one start for the
whole directory; the intake on PostgreSQL when NIANBAO_TEST_POSTGRES_URL is set, as in CI) and
its tokens; the figures the tests record, printed at the end."""

from __future__ import annotations

from typing import Any

from tests.support.figures import SECURITY_FIGURES, write_figures
from tests.support.system import system_fixture, tokens_fixture
from tools.launcher import SERVICES

system = system_fixture(
    scope="package",
    data_dir="security",
    services=SERVICES,
    env={"NIANBAO_LAG_POLL_SECONDS": "60"},
    intake_on_postgres=True,
)
tokens = tokens_fixture(scope="package")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    write_figures(terminalreporter, "security", SECURITY_FIGURES)
