"""A service stops on SIGTERM even when NATS is gone (an orchestrator's stop during an outage):
it must not hang in its broker's reconnect loop. Services as real processes."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from shared.runtime.service import STOP_SECONDS
from tests.support.system import running_system
from tests.support.waiting import wait_until
from tools.launcher import SERVICES, System

pytestmark = pytest.mark.e2e


def ready(system: System, name: str) -> bool:
    try:
        return httpx.get(f"{system.health_url(name)}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_every_service_exits_on_sigterm_while_nats_is_down(tmp_path: Path) -> None:
    with running_system(tmp_path, services=SERVICES) as system:
        system.nats.process.kill()
        system.nats.process.wait()
        # every service has noticed the outage (its broker is reconnecting: not ready)
        wait_until(lambda: all(not ready(system, name) for name in SERVICES), timeout=30)
        for process in system.processes.values():
            process.terminate()
        exits: dict[str, int | None] = {}
        for name, process in system.processes.items():
            try:
                exits[name] = process.wait(STOP_SECONDS + 5)
            except subprocess.TimeoutExpired:
                exits[name] = None
    # uvicorn re-raises the signal it caught once its graceful shutdown is done
    served = ("intake", "verifier")  # the two uvicorn servers
    clean = {name: (0, -signal.SIGTERM) if name in served else (0,) for name in exits}
    assert all(code in clean[name] for name, code in exits.items()), exits
