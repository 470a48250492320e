"""Figures the tests record (the fault suite's seed and timings, the security suite's counts),
printed in pytest's terminal summary by the conftest of their directory."""

from __future__ import annotations

from typing import Any

#: tests/faults: printed under "fault injection"
FAULT_FIGURES: dict[str, Any] = {}
#: tests/security: printed under "security"
SECURITY_FIGURES: dict[str, Any] = {}


def write_figures(terminalreporter: Any, title: str, figures: dict[str, Any]) -> None:
    """One section of the terminal summary, when anything was recorded."""
    if figures:
        terminalreporter.section(title)
        for name, value in figures.items():
            terminalreporter.write_line(f"{name}: {value}")
