"""Streams and durable consumers match the code: the admin step creates and updates streams, a
service refuses one that differs; consumers are updated in place, or refused loudly at start."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest
from nats.js import JetStreamContext
from nats.js import api as js_api

from shared.contracts import STREAMS, SUBMISSIONS, VERDICTS
from shared.runtime.messaging import (
    _CONSUMER_FIELDS,
    _STREAM_FIELDS,
    SERVER_MAX_DELIVER,
    TopologyDrift,
    _differences,
    check_streams,
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
            await ensure_streams(js, STREAMS, replicas=1)  # the admin step
        assert f"stream {SUBMISSIONS.name} cannot be updated" in str(raised.value)
        info = await js.stream_info(SUBMISSIONS.name)
        assert getattr(info.config, field) == value

    code, log = await validator_exit(nats_server, tmp_path / "validator.log")
    assert code != 0
    assert "TopologyDrift" in log and f"stream {SUBMISSIONS.name} differs from the code" in log
    assert field in log


#: changes an operator (or a user allowed to update streams) could make to a live stream; the
#: last three cannot be undone (the server refuses to unseal or to cancel a deny)
ALTERATIONS: list[tuple[str, dict[str, object]]] = [
    ("max_msgs", {"max_msgs": 1}),
    ("max_bytes", {"max_bytes": 4096}),
    ("max_age", {"max_age": 3600.0}),
    ("max_msgs_per_subject", {"max_msgs_per_subject": 1}),
    ("subjects", {"subjects": [*VERDICTS.subjects, "nianbao.extra.>"]}),
    ("duplicate_window", {"duplicate_window": 5.0}),
    ("allow_rollup_hdrs", {"allow_rollup_hdrs": True}),
    ("sealed", {"sealed": True}),
    ("deny_purge", {"deny_purge": True}),
    ("deny_delete", {"deny_delete": True}),
]
FOR_GOOD = {"sealed", "deny_purge", "deny_delete"}


async def test_streams_created_by_the_admin_step_pass_the_services_check(
    nats_server: NatsServer,
) -> None:
    async with jetstream(nats_server.url) as js:
        created = await ensure_streams(js, STREAMS, replicas=1)
        assert {c.action for c in created} == {"created"}
        await check_streams(js, STREAMS, replicas=1)
        again = await ensure_streams(js, STREAMS, replicas=1)
        assert {c.action for c in again} == {"unchanged"}


@pytest.mark.parametrize(("field", "changes"), ALTERATIONS, ids=[a[0] for a in ALTERATIONS])
async def test_a_service_refuses_a_stream_altered_behind_its_back(
    nats_server: NatsServer, field: str, changes: dict[str, object]
) -> None:
    async with jetstream(nats_server.url) as js:
        await ensure_streams(js, STREAMS, replicas=1)
        await js.update_stream(stream_config(VERDICTS, replicas=1).evolve(**changes))
        with pytest.raises(TopologyDrift, match=field) as raised:
            await check_streams(js, [VERDICTS], replicas=1)
        assert f"stream {VERDICTS.name} differs from the code" in str(raised.value)
        # the service changed nothing
        info = await js.stream_info(VERDICTS.name)
        drift = _differences(info.config, stream_config(VERDICTS, 1), _STREAM_FIELDS)
        # sealing also sets deny_delete, deny_purge and discard: all named
        assert field in drift and (drift.keys() == {field} or field == "sealed"), drift
        if field in FOR_GOOD:  # the admin step says so too
            with pytest.raises(TopologyDrift, match=field):
                await ensure_streams(js, [VERDICTS], replicas=1)
            return
        (change,) = await ensure_streams(js, [VERDICTS], replicas=1)
        assert change.action == "updated" and set(change.drift) == {field}
        await check_streams(js, [VERDICTS], replicas=1)
