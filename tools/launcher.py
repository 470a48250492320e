"""`make run` / `nianbao run`: the whole system on one machine, no Docker, no external server.

Starts a nats-server (JetStream, store under the data dir), creates or updates its streams (the
admin step of a deployment), starts the five services as separate processes and a static web
server for the published pages; prints one line per URL; stops everything on Ctrl-C.
Data persists in the data dir between runs.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from shared.topology import SERVICES as TOPOLOGY
from tools.natsserver import NatsServer, start_nats_server
from tools.tokens_cli import write_private

SERVICES = tuple(TOPOLOGY)
#: services that serve /healthz, /readyz and /metrics on a health port of their own (all five:
#: the intake's public port does not expose them; the verifier serves its evidence there too)
HEALTH_SERVED = SERVICES


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def preferred_port(port: int) -> int:
    return port if port and port_is_free(port) else free_port()


@dataclass
class System:
    """A running system: the NATS server, the service processes and where to reach them."""

    data_dir: Path
    nats: NatsServer
    intake_port: int
    pages_port: int
    env: dict[str, str]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    #: health/metrics port of each service, kept across restarts
    health_ports: dict[str, int] = field(default_factory=dict)

    @property
    def intake_url(self) -> str:
        return f"http://127.0.0.1:{self.intake_port}"

    def health_url(self, name: str) -> str:
        """Where a service answers /healthz, /readyz and /metrics."""
        return f"http://127.0.0.1:{self.health_ports[name]}"

    @property
    def pages_url(self) -> str:
        return f"http://127.0.0.1:{self.pages_port}"

    def start_service(self, name: str) -> subprocess.Popen[bytes]:
        log = open(self.data_dir / "logs" / f"{name}.log", "ab")  # noqa: SIM115
        if name == "pages":
            args = [
                sys.executable,
                "-m",
                "http.server",
                str(self.pages_port),
                "--bind",
                "127.0.0.1",
                "--directory",
                str(self.data_dir / "pages"),
            ]
        else:
            args = [sys.executable, "-m", f"services.{name}"]
        env = self.env
        if name in HEALTH_SERVED:
            port = self.health_ports.setdefault(name, free_port())
            env = {**self.env, "NIANBAO_HEALTH_PORT": str(port)}
        process = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.processes[name] = process
        return process

    def stop_service(self, name: str, kill: bool = False, timeout: float = 15) -> None:
        process = self.processes.get(name)
        if process is None or process.poll() is not None:
            return
        if kill:
            process.kill()
        else:
            process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        waiting: list[str] = []
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    log = self.data_dir / "logs" / f"{name}.log"
                    raise RuntimeError(f"{name} exited with {process.returncode}; see {log}")
            waiting = [name for name in self.processes if name in SERVICES and not self.ready(name)]
            if not waiting:
                return
            time.sleep(0.1)
        raise TimeoutError(f"not ready within {timeout:g} s: {', '.join(waiting)}")

    def ready(self, name: str) -> bool:
        """The service's /readyz answers 200: broker connected, durable consumers present."""
        try:
            return httpx.get(f"{self.health_url(name)}/readyz", timeout=1).is_success
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        for name in reversed(list(self.processes)):
            self.stop_service(name)
        self.nats.stop()


def start_system(
    data_dir: Path,
    registry_file: Path | None = None,
    intake_port: int = 8000,
    pages_port: int = 8080,
    nats_port: int = 4222,
    extra_env: dict[str, str] | None = None,
    services: Sequence[str] = (*SERVICES, "pages"),
) -> System:
    """Start NATS and the services; issue demo tokens on first start."""
    data_dir = data_dir.resolve()
    (data_dir / "logs").mkdir(parents=True, exist_ok=True)
    (data_dir / "pages").mkdir(parents=True, exist_ok=True)
    nats = start_nats_server(
        data_dir / "nats", port=preferred_port(nats_port), log_file=data_dir / "logs" / "nats.log"
    )
    intake_port, pages_port = preferred_port(intake_port), preferred_port(pages_port)
    env = {
        **os.environ,
        "NIANBAO_NATS_URL": nats.url,
        "NIANBAO_DATA_DIR": str(data_dir),
        "NIANBAO_INTAKE_PORT": str(intake_port),
        "NIANBAO_PAGES_DIR": str(data_dir / "pages"),
        "NIANBAO_PAGES_BASE_URL": f"http://127.0.0.1:{pages_port}",
        "PYTHONUNBUFFERED": "1",
        # glibc gives each thread its own malloc arena: a service with worker threads then holds
        # freed memory in many arenas (up to 8 per core). One is enough for these services (the
        # GIL serialises most allocations): at 14,474 sites 18 MiB less peak than with two, the
        # same CPU per report
        "MALLOC_ARENA_MAX": os.environ.get("MALLOC_ARENA_MAX", "1"),
        **(extra_env or {}),
    }
    if registry_file is not None:
        env["NIANBAO_REGISTRY_FILE"] = str(registry_file.resolve())
    system = System(data_dir, nats, intake_port, pages_port, env)
    try:
        create_streams(system)
        issue_demo_tokens(system)
        for name in services:
            system.start_service(name)
        system.wait_ready()
    except BaseException:
        system.stop()
        raise
    return system


def create_streams(system: System) -> None:
    """The admin step (`nianbao deploy streams`) on the embedded server, which has no users:
    services check the streams at start and refuse one that differs from the code."""
    from shared.runtime.settings import CommonSettings
    from tools.deploy_config import apply_streams

    replicas = int(system.env.get("NIANBAO_STREAM_REPLICAS") or 1)
    asyncio.run(apply_streams(CommonSettings(nats_url=system.nats.url), replicas))


def issue_demo_tokens(system: System) -> dict[str, str]:
    """One token per site and supervisory office, plus an operator; kept in the data dir."""
    from services.intake.main import IntakeSettings, issue_tokens

    path = system.data_dir / "demo-tokens.json"
    if path.exists():
        return dict(json.loads(path.read_text(encoding="utf-8")))
    settings = IntakeSettings(
        data_dir=system.data_dir,
        registry_file=Path(system.env["NIANBAO_REGISTRY_FILE"])
        if "NIANBAO_REGISTRY_FILE" in system.env
        else None,
        intake_database_url=system.env.get("NIANBAO_INTAKE_DATABASE_URL"),
    )
    plain = asyncio.run(issue_tokens(settings))
    write_private(path, json.dumps(plain, ensure_ascii=False, indent=1))
    return plain


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def run(
    data_dir: Path,
    registry_file: Path | None,
    intake_port: int,
    pages_port: int,
    nats_port: int,
) -> None:
    """Start everything, print where it is, wait for Ctrl-C, stop everything."""
    system = start_system(data_dir, registry_file, intake_port, pages_port, nats_port)
    tokens = json.loads((system.data_dir / "demo-tokens.json").read_text(encoding="utf-8"))
    print("nianbao is running (Ctrl-C stops it)", flush=True)
    print(f"  console         {system.intake_url}/console/  (sign in with a demo token)")
    print(f"  intake API      {system.intake_url}/v1/reports")
    print(f"  API docs        {system.intake_url}/docs  (ReDoc: /redoc)")
    print(f"  events docs     {system.intake_url}/asyncapi")
    print(f"  Excel templates {system.intake_url}/v1/templates/work-report.xlsx")
    print("  metrics         (/healthz and /readyz beside each; not on the intake's API port)")
    for name in HEALTH_SERVED:
        if name in system.health_ports:
            print(f"    {name:<12} {system.health_url(name)}/metrics")
    print(f"  published pages {system.pages_url}/")
    print(f"  NATS            {system.nats.url}")
    print(f"  data            {system.data_dir}")
    print(f"  demo tokens     {system.data_dir / 'demo-tokens.json'} ({len(tokens)} tokens)")
    for code in ("operator", "1100000088", "510000", "bm29"):
        if code in tokens:
            print(f"    {code:<12} {tokens[code]}")
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        while True:
            for name, process in system.processes.items():
                if process.poll() is not None:
                    print(f"{name} exited with {process.returncode}; stopping", file=sys.stderr)
                    raise KeyboardInterrupt
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("stopping ...", flush=True)
    finally:
        system.stop()
        print("stopped", flush=True)
