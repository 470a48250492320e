"""The streams' admin step on the deployment's users file: `nianbao deploy streams` as the admin
user creates them; a service, logged in as its own user, runs on them as they are, and refuses to
start on a stream an operator altered (naming the field) or on one that is missing."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from nats.aio.client import Client

from shared.contracts import DEAD_LETTERS, STREAMS, SUBMISSIONS
from shared.runtime.messaging import stream_config
from tests.support.waiting import eventually
from tools.launcher import free_port
from tools.natsserver import NatsServer

pytestmark = pytest.mark.deploy

NIANBAO = str(Path(sys.executable).parent / "nianbao")


def as_user(server: NatsServer, user: str, password: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "NIANBAO_NATS_URL": server.url,
        "NIANBAO_NATS_USER": user,
        "NIANBAO_NATS_PASSWORD": password,
        **extra,
    }


def deploy_streams(
    server: NatsServer, passwords: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [NIANBAO, "deploy", "streams"],
        env=as_user(server, "admin", passwords["admin"]),
        capture_output=True,
        text=True,
        timeout=60,
    )


def validator(server: NatsServer, tmp_path: Path, port: int) -> subprocess.Popen[bytes]:
    """`nianbao serve validator` logged in as the validator user (deploy/compose.yaml's way)."""
    log = (tmp_path / "validator.log").open("ab")
    env = as_user(
        server,
        "validator",
        "pw-validator",
        NIANBAO_DATA_DIR=str(tmp_path),
        NIANBAO_HEALTH_PORT=str(port),
        NIANBAO_LAG_POLL_SECONDS="1",
    )
    return subprocess.Popen([NIANBAO, "serve", "validator"], env=env, stdout=log, stderr=log)


def exit_and_log(process: subprocess.Popen[bytes], tmp_path: Path) -> tuple[int, str]:
    try:
        code = process.wait(60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise AssertionError("the validator kept running on a stream that differs") from None
    return code, (tmp_path / "validator.log").read_text(encoding="utf-8")


def wait_ready(process: subprocess.Popen[bytes], port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the validator exited with {process.returncode}"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).is_success:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError("the validator did not become ready")


async def test_a_service_runs_on_the_admins_streams_and_refuses_altered_ones(
    secured_nats: tuple[NatsServer, dict[str, str]], admin: Client, tmp_path: Path
) -> None:
    server, passwords = secured_nats
    created = deploy_streams(server, passwords)
    assert created.returncode == 0, created.stderr
    assert created.stdout.count(": created") == len(STREAMS), created.stdout

    # its own user suffices to run: stream info, its durable, pulls into its own inbox
    port = free_port()
    running = validator(server, tmp_path, port)
    js = admin.jetstream()
    try:
        wait_ready(running, port)
        await js.publish("nianbao.submitted.work-report.1100000088", b"not a report")

        async def dead_lettered() -> bool:  # pulled, judged undecodable, dead-lettered
            return (await js.stream_info(DEAD_LETTERS.name)).state.messages == 1

        await eventually(dead_lettered, within=30)
    finally:
        running.terminate()
        running.wait(30)
    violations = [
        line
        for line in (server.store_dir / "nats.log").read_text(errors="replace").splitlines()
        if "Violation" in line
    ]
    assert not violations, violations

    for field, change in (("max_msgs", {"max_msgs": 1}), ("sealed", {"sealed": True})):
        (tmp_path / "validator.log").unlink()
        await js.update_stream(stream_config(SUBMISSIONS, 1).evolve(**change))
        code, log = exit_and_log(validator(server, tmp_path, free_port()), tmp_path)
        assert code != 0
        assert f"stream {SUBMISSIONS.name} differs from the code" in log, log[-2000:]
        assert f"{field}: server has" in log
        info = await js.stream_info(SUBMISSIONS.name)  # the service changed nothing
        assert getattr(info.config, field) == change[field]
        if field == "max_msgs":  # the admin step puts it back
            again = deploy_streams(server, passwords)
            assert again.returncode == 0, again.stderr
            assert f"{SUBMISSIONS.name}: updated (max_msgs: server has 1" in again.stdout
    sealed = deploy_streams(server, passwords)  # a sealed stream stays sealed: said so
    assert sealed.returncode == 1 and "sealed" in sealed.stderr, sealed.stderr


def test_a_service_cannot_create_a_missing_stream(
    secured_nats: tuple[NatsServer, dict[str, str]], tmp_path: Path
) -> None:
    server, _ = secured_nats
    code, log = exit_and_log(validator(server, tmp_path, free_port()), tmp_path)
    assert code != 0
    assert "is missing and this user cannot create it" in log, log[-2000:]
    assert "nianbao deploy streams" in log
