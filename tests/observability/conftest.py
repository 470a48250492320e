"""A running system for the observability tests (module scope), reading consumer lag each second."""

from __future__ import annotations

from tests.support.system import system_fixture, tokens_fixture

system = system_fixture(scope="module", env={"NIANBAO_LAG_POLL_SECONDS": "1"})
tokens = tokens_fixture(scope="module")
