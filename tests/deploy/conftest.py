"""The compose deployment as local processes: three nats-servers, the services, PostgreSQL."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.conftest import postgres_url
from tests.deploy.compose_local import DEPLOY, Deployment, load_compose, read_env_file
from tests.deploy.databases import execute, reachable

#: `docker compose up -d --scale validator=2 --scale aggregator=2`: two members of each durable
#: consumer (aggregator replicas take turns through a PostgreSQL advisory lock: one on SQLite)
SCALE = {"validator": 2, "aggregator": 2 if postgres_url() else 1}
NATS_NODES = ("nats-1", "nats-2", "nats-3")
SERVICES = ("intake", "validator", "aggregator", "publisher")
DATABASES = ("intake", "aggregator", "publisher")


def create_databases(deployment: Deployment) -> None:
    """What the postgres container does on its first start: run the init script."""
    assert deployment.postgres_url is not None
    server = make_url(deployment.postgres_url)
    spec = deployment.compose["services"]["postgres"]
    (script,) = [v.split(":")[0] for v in spec["volumes"] if "docker-entrypoint-initdb.d" in v]
    env = {
        **{k: str(v) for k, v in spec["environment"].items()},
        "PATH": os.environ["PATH"],
        "POSTGRES_USER": server.username or "postgres",
        "POSTGRES_DB": server.database or "postgres",
        "PGHOST": server.host or "127.0.0.1",
        "PGPORT": str(server.port or 5432),
        "PGPASSWORD": server.password or "",
        "DB_NAME_PREFIX": deployment.db_prefix,
    }
    subprocess.run(["sh", str(DEPLOY / script)], env=env, check=True, capture_output=True)


def drop_databases(deployment: Deployment) -> None:
    assert deployment.postgres_url is not None
    for name in DATABASES:
        full = f"{deployment.db_prefix}{name}"
        execute(
            deployment.postgres_url,
            f'DROP DATABASE IF EXISTS "{full}" WITH (FORCE)',
            f'DROP ROLE IF EXISTS "{full}"',
        )


def start(deployment: Deployment, services: tuple[str, ...]) -> list[str]:
    names = []
    for service in services:
        for instance in deployment.prepare(service):
            instance.start()
            names.append(instance.name)
    return names


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    root = tmp_path_factory.mktemp("compose")
    env_path = root / ".env"
    subprocess.run(["sh", str(DEPLOY / "new-env.sh"), str(env_path)], check=True)
    env_file = read_env_file(env_path)
    server = postgres_url()
    running = Deployment(
        root=root,
        env_file=env_file,
        compose=load_compose(env_file),
        postgres_url=server if server and reachable(server) else None,
        db_prefix=f"nbdeploy_{secrets.token_hex(3)}_",
        scale=SCALE,
    )
    running.allocate_ports()
    running.supervise()
    try:
        if running.postgres_url is not None:
            create_databases(running)
        running.wait_healthy(start(running, NATS_NODES), timeout=60)
        running.wait_healthy(start(running, SERVICES), timeout=120)
        running.start_pages_server()
        yield running
    finally:
        running.stop()
        if running.postgres_url is not None:
            drop_databases(running)


@pytest.fixture(scope="module")
def tokens(deployment: Deployment) -> dict[str, str]:
    """`docker compose run --rm intake nianbao deploy tokens`: the operator issues tokens."""
    intake = deployment.instances["intake"]
    out = deployment.root / "tokens.json"
    subprocess.run(
        [intake.argv[0], "deploy", "tokens", "--out", str(out)],
        env=intake.env,
        cwd=intake.cwd,
        check=True,
        capture_output=True,
    )
    issued: dict[str, str] = json.loads(Path(out).read_text(encoding="utf-8"))
    return issued
