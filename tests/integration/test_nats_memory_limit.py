"""The nats-server started here (`nianbao run`, the benchmark, tests) runs under a Go soft memory
limit: without one its heap grew to twice what was live (329 MiB in a national burst)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tools.natsserver import MEMORY_LIMIT, start_nats_server

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc/<pid>/environ")


def go_memory_limit(pid: int) -> str | None:
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    values = [entry.split(b"=", 1)[1] for entry in environ if entry.startswith(b"GOMEMLIMIT=")]
    return values[0].decode() if values else None


@pytest.mark.parametrize(
    ("environment", "given", "expected"),
    [
        (None, MEMORY_LIMIT, MEMORY_LIMIT),
        ("1GiB", MEMORY_LIMIT, "1GiB"),  # the operator's own setting wins
        (None, None, None),
    ],
)
def test_the_server_runs_under_the_memory_limit(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    environment: str | None,
    given: str | None,
    expected: str | None,
) -> None:
    if environment is None:
        monkeypatch.delenv("GOMEMLIMIT", raising=False)
    else:
        monkeypatch.setenv("GOMEMLIMIT", environment)
    server = start_nats_server(tmp_path / "nats", memory_limit=given)
    try:
        assert go_memory_limit(server.process.pid) == expected
    finally:
        server.stop()
