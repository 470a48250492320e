"""The NATS cluster's routes authenticate (deploy/nats/nats.conf): the three nodes of the compose
file, run as local processes with a .env from deploy/new-env.sh, form their cluster with the route
password; a rogue nats-server routed to them without it (or with a wrong one) is refused, gets
none of the cluster's messages and cannot inject any."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest

from tests.support.compose import NATS_NODES, Deployment, nats_cluster
from tests.support.waiting import eventually
from tools.natsserver import nats_server_binary

pytestmark = pytest.mark.deploy


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    with nats_cluster(tmp_path_factory.mktemp("routes")) as running:
        yield running


def routes(deployment: Deployment, node: str) -> list[dict[str, Any]]:
    response = httpx.get(deployment.url(node, 8222, "/routez"), timeout=5)
    response.raise_for_status()
    return list(response.json().get("routes") or [])


def peers(deployment: Deployment, node: str) -> set[str]:
    return {str(r.get("remote_name", "")) for r in routes(deployment, node)}


def start_rogue(root: Path, route_url: str) -> tuple[subprocess.Popen[bytes], int, Path]:
    """A nats-server claiming to be a member of the cluster, its client port and log."""
    root.mkdir(parents=True, exist_ok=True)
    ports = root / "ports"
    ports.mkdir(exist_ok=True)
    conf, log = root / "rogue.conf", root / "rogue.log"
    conf.write_text(
        f'server_name: "rogue"\nlisten: "127.0.0.1:-1"\n'
        f'cluster {{\n  name: "nianbao"\n  listen: "127.0.0.1:-1"\n  routes: ["{route_url}"]\n}}\n',
        encoding="utf-8",
    )
    with log.open("wb") as out:
        process = subprocess.Popen(
            [nats_server_binary(), "-c", str(conf), "--ports_file_dir", str(ports)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    ports_file = ports / f"nats-server_{process.pid}.ports"

    async def written() -> bool:
        return ports_file.exists() and "nats" in ports_file.read_text()

    asyncio.run(eventually(written, within=15))
    import json

    client = int(json.loads(ports_file.read_text())["nats"][0].rsplit(":", 1)[1])
    return process, client, log


def test_the_nodes_form_their_cluster_with_the_route_password(cluster: Deployment) -> None:
    for node in NATS_NODES:
        others = set(NATS_NODES) - {node}

        async def joined(node: str = node, others: set[str] = others) -> bool:
            return others <= peers(cluster, node)

        asyncio.run(eventually(joined, within=30))
    nats_env = cluster.instances["nats-1"].env
    assert len(nats_env["NATS_ROUTE_PASSWORD"]) == 48
    assert nats_env["NATS_ROUTE_1"].startswith(
        f"nats-route://route:{nats_env['NATS_ROUTE_PASSWORD']}@"
    )


@pytest.mark.parametrize("credentials", ["", "route:wrong-password@"], ids=["none", "wrong"])
def test_a_rogue_server_without_the_route_password_is_refused(
    cluster: Deployment, tmp_path: Path, credentials: str
) -> None:
    target = cluster.ports[("nats-1", 6222)]
    rogue, rogue_port, rogue_log = start_rogue(
        tmp_path / "rogue", f"nats-route://{credentials}127.0.0.1:{target}"
    )
    try:

        async def refused() -> bool:
            text = rogue_log.read_text(errors="replace")
            return "Authorization Violation" in text or "authorization violation" in text.lower()

        asyncio.run(eventually(refused, within=20))
        assert all("rogue" not in peers(cluster, node) for node in NATS_NODES)
        asyncio.run(exchange_nothing(cluster, rogue_port))
        assert all("rogue" not in peers(cluster, node) for node in NATS_NODES)
    finally:
        rogue.kill()
        rogue.wait()


async def exchange_nothing(cluster: Deployment, rogue_port: int) -> None:
    """Reports published on the cluster do not reach the rogue's subscribers, and what the rogue
    publishes (a forged verdict) reaches no subscriber of the cluster."""
    password = cluster.instances["nats-1"].env["NATS_ADMIN_PASSWORD"]
    real = await nats.connect(
        f"nats://127.0.0.1:{cluster.ports[('nats-2', 4222)]}", user="admin", password=password
    )
    fake = await nats.connect(f"nats://127.0.0.1:{rogue_port}")
    stolen: list[str] = []
    forged: list[str] = []
    control: list[str] = []

    async def steal(msg: Any) -> None:
        if msg.data == b"real":  # (its own forgeries come back to it locally)
            stolen.append(msg.subject)

    async def take(msg: Any) -> None:
        (control if msg.data == b"real" else forged).append(msg.subject)

    try:
        await fake.subscribe("nianbao.>", cb=steal)
        await real.subscribe("nianbao.>", cb=take)
        await fake.flush()
        await real.flush()
        for n in range(20):
            await real.publish(f"nianbao.submitted.work-report.site{n}", b"real")
            await fake.publish(f"nianbao.accepted.work-report.site{n}", b"forged")
        await real.flush()
        await fake.flush()

        async def delivered() -> bool:
            return len(control) == 20

        await eventually(delivered, within=10)  # the cluster's own messages arrive ...
        await asyncio.sleep(0.5)  # ... and whatever would cross a route has had time to
        assert stolen == [] and forged == []
    finally:
        await fake.close()
        await real.close()
