"""A nats-server secured with the users file `nianbao deploy nats-users` writes (offices of
tests/data/registry-mini.json, the four services and an admin), for the NATS permission tests."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import nats
from nats.aio.client import Client

from tools.deploy_config import SERVICES
from tools.natsserver import NatsServer, _read_ports, nats_server_binary

MINI_REGISTRY = Path(__file__).resolve().parents[1] / "data" / "registry-mini.json"


@contextmanager
def secured_nats_server(directory: Path) -> Iterator[tuple[NatsServer, dict[str, str]]]:
    """The server and every user's password (services: ``pw-<name>``, admin: ``pw-admin``);
    its log is ``<directory>/nats.log``."""
    users, passwords = directory / "users.conf", directory / "passwords.json"
    subprocess.run(
        [
            str(Path(sys.executable).parent / "nianbao"),
            *("deploy", "nats-users", "--registry", str(MINI_REGISTRY)),
            *("--out", str(users), "--passwords", str(passwords), "--bcrypt-cost", "4"),
        ],
        check=True,
        capture_output=True,
    )
    known: dict[str, str] = json.loads(passwords.read_text(encoding="utf-8"))
    assert passwords.stat().st_mode & 0o077 == 0
    conf = directory / "nats.conf"
    conf.write_text(
        f'listen: "127.0.0.1:-1"\nhttp: "127.0.0.1:-1"\n'
        f'jetstream {{ store_dir: "{directory / "js"}" }}\n'
        'authorization { include "users.conf" }\n',
        encoding="utf-8",
    )
    env = {f"NATS_{u.upper()}_PASSWORD": "pw-" + u for u in ("admin", *SERVICES)}
    ports = directory / "ports"
    ports.mkdir()
    with (directory / "nats.log").open("ab") as log:  # permission violations are logged
        process = subprocess.Popen(
            [nats_server_binary(), "-c", str(conf), "--ports_file_dir", str(ports)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    client, monitor = _read_ports(ports, process.pid, time.monotonic() + 15)
    server = NatsServer(process, client, monitor, directory)
    try:
        yield server, known | {"admin": "pw-admin"}
    finally:
        server.stop()


@asynccontextmanager
async def admin_client(server: NatsServer, passwords: dict[str, str]) -> AsyncIterator[Client]:
    """A connection as the admin user (allowed everything)."""
    nc = await nats.connect(server.url, user="admin", password=passwords["admin"])
    try:
        yield nc
    finally:
        await nc.close()
