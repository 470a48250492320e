"""Streams and durable consumers match the code: updated in place, or refused loudly at start."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest
from nats.js import JetStreamContext
from nats.js import api as js_api

from shared.contracts import STREAMS, SUBMISSIONS
from shared.runtime.messaging import (
    _CONSUMER_FIELDS,
    SERVER_MAX_DELIVER,
    TopologyDrift,
    _differences,
    consumer_config,
    ensure_consumer,
    ensure_streams,
    stream_config,
)
from shared.topology import VALIDATOR
from tests.support.pipeline import jetstream
from tools.natsserver import NatsServer

CONSUMER = VALIDATOR.consumer("validator")

pytestmark = pytest.mark.nats


async def validator_exit(server: NatsServer, log: Path) -> tuple[int, str]:
    """Start `python -m services.validator` against the server; its exit code and log."""
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "services.validator",
            env={**os.environ, "NIANBAO_NATS_URL": server.url, "NIANBAO_DATA_DIR": str(log.parent)},
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            code = await asyncio.wait_for(process.wait(), 60)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise AssertionError("the validator kept running despite the drift") from None
    return code, await asyncio.to_thread(log.read_text, encoding="utf-8")


async def test_a_consumer_that_differs_is_updated_to_the_code(nats_server: NatsServer) -> None:
    async with jetstream(nats_server.url) as js:
        await ensure_streams(js, STREAMS, replicas=1)
        await js.add_consumer(SUBMISSIONS.name, consumer_config(CONSUMER).evolve(max_deliver=3))
        await ensure_consumer(js, CONSUMER)
        info = await js.consumer_info(SUBMISSIONS.name, CONSUMER.durable)
        assert info.config.max_deliver == SERVER_MAX_DELIVER
        assert _differences(info.config, consumer_config(CONSUMER), _CONSUMER_FIELDS) == {}
        assert info.config.ack_policy == js_api.AckPolicy.EXPLICIT


async def test_a_consumer_the_server_cannot_update_stops_the_service(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    async with jetstream(nats_server.url) as js:
        await ensure_streams(js, STREAMS, replicas=1)
        drifted = consumer_config(CONSUMER).evolve(deliver_policy=js_api.DeliverPolicy.NEW)
        await js.add_consumer(SUBMISSIONS.name, drifted)
        with pytest.raises(TopologyDrift, match="deliver_policy") as raised:
            await ensure_consumer(js, CONSUMER)
        assert "validator" in str(raised.value)
        # refused, not changed behind the operator's back
        info = await js.consumer_info(SUBMISSIONS.name, CONSUMER.durable)
        assert info.config.deliver_policy == js_api.DeliverPolicy.NEW

    code, log = await validator_exit(nats_server, tmp_path / "validator.log")
    assert code != 0
    assert "TopologyDrift" in log and "consumer validator cannot be updated" in log
    assert "deliver_policy" in log


async def _add_drifted_submissions(js: JetStreamContext, **changes: object) -> None:
    await js.add_stream(stream_config(SUBMISSIONS, replicas=1).evolve(**changes))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("storage", js_api.StorageType.MEMORY),
        ("retention", js_api.RetentionPolicy.WORK_QUEUE),
    ],
)
async def test_a_stream_the_server_cannot_update_stops_the_service(
    nats_server: NatsServer, tmp_path: Path, field: str, value: object
) -> None:
    async with jetstream(nats_server.url) as js:
        await _add_drifted_submissions(js, **{field: value})
        with pytest.raises(TopologyDrift, match=field) as raised:
            await ensure_streams(js, STREAMS, replicas=1)
        assert SUBMISSIONS.name in str(raised.value)
        info = await js.stream_info(SUBMISSIONS.name)
        assert getattr(info.config, field) == value

    code, log = await validator_exit(nats_server, tmp_path / "validator.log")
    assert code != 0
    assert "TopologyDrift" in log and f"stream {SUBMISSIONS.name} cannot be updated" in log
    assert field in log
