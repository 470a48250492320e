"""Fixtures for the forms tests: the clean example reports and the mini registry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from shared.registry.model import Registry
from tests.support.forms import REPORTS, mini_registry, read_json


@pytest.fixture(scope="session")
def registry() -> Registry:
    return mini_registry()


@pytest.fixture()
def clean() -> Callable[[str], dict[str, Any]]:
    """clean("work-report") → a fresh copy of that form's clean example."""
    return lambda form: read_json(REPORTS / form / "clean.json")
