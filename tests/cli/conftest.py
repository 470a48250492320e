"""A running system for the client commands (module scope: one start per test module)."""

from __future__ import annotations

from tests.support.system import system_fixture, tokens_fixture

system = system_fixture(scope="module")
tokens = tokens_fixture(scope="module")
