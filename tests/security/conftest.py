"""A running system for the security tests (all four services as processes), its tokens, and
what it has stored or published (to show a refused request left nothing behind)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tools.launcher import SERVICES, System, start_system

#: figures the tests record, printed in the terminal summary
FIGURES: dict[str, Any] = {}


@pytest.fixture(scope="package")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    running = start_system(
        tmp_path_factory.mktemp("security"),
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


@pytest.fixture(scope="package")
def tokens(system: System) -> dict[str, str]:
    loaded: dict[str, str] = json.loads(
        (system.data_dir / "demo-tokens.json").read_text(encoding="utf-8")
    )
    return loaded


def intake_rows(data_dir: Path) -> dict[str, int]:
    """How many receipts, review actions and deadlines the intake holds."""
    with sqlite3.connect(f"file:{data_dir / 'intake.db'}?mode=ro", uri=True) as db:
        return {
            table: int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
            for table in ("intake_receipts", "intake_reviews", "intake_deadlines")
        }


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if FIGURES:
        terminalreporter.section("security")
        for name, value in FIGURES.items():
            terminalreporter.write_line(f"{name}: {value}")
