"""The whole system as real processes: nats-server, the four services, the pages server."""

from __future__ import annotations

from tests.support.system import system_fixture, tokens_fixture

system = system_fixture(scope="module")
tokens = tokens_fixture(scope="module")
