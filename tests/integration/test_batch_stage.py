"""BatchStage on a real nats-server: explicit acks, backoff, dead letters and their re-drive."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import sys
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from faststream.nats import NatsBroker
from nats.js import JetStreamContext
from nats.js import api as js_api
from pydantic import BaseModel

from shared.contracts import DEAD_LETTERS, DeadLettered, StreamSpec
from shared.runtime.messaging import (
    BatchStage,
    DeadLetters,
    Envelope,
    deliveries,
    ensure_consumer,
    ensure_streams,
    stop_broker,
)
from shared.topology import ConsumerSpec
from tests.support.pipeline import jetstream
from tests.support.waiting import eventually
from tools.deadletters import list_entries
from tools.natsserver import NatsServer

pytestmark = pytest.mark.nats

WORK = StreamSpec(name="TEST_WORK", subjects=("test.work.>",), description="jobs for the tests")
BACKOFF = (0.4, 0.8, 1.2)
CONSUMER = ConsumerSpec(
    durable="worker",
    stream=WORK,
    filter_subjects=("test.work.>",),
    max_deliver=4,
    backoff_seconds=BACKOFF,
)


class Job(BaseModel):
    name: str


@dataclass
class Worker:
    """A handler that fails a job's first ``fail_first[name]`` deliveries (all: -1)."""

    fail_first: dict[str, int] = field(default_factory=dict)
    #: name -> (delivery count, monotonic time) of each delivery, first call only
    seen: dict[str, list[tuple[int, float]]] = field(default_factory=lambda: defaultdict(list))
    done: list[str] = field(default_factory=list)

    async def handle(self, batch: list[Envelope[Job]]) -> None:
        for envelope in batch:
            name, count = envelope.event.name, deliveries(envelope.msg)
            if not self.seen[name] or self.seen[name][-1][0] != count:
                self.seen[name].append((count, time.monotonic()))
            failures = self.fail_first.get(name, 0)
            if failures < 0 or count <= failures:
                raise RuntimeError(f"{name} is not ready (delivery {count})")
        self.done.extend(e.event.name for e in batch)


@pytest.fixture
async def stage(nats_server: NatsServer) -> AsyncIterator[tuple[Worker, NatsBroker]]:
    worker = Worker()
    broker = NatsBroker(nats_server.url)
    BatchStage(broker, CONSUMER, Job, worker.handle, DeadLetters(broker, "worker"))
    await broker.connect()
    js = broker.connection.jetstream()
    await ensure_streams(js, [WORK, DEAD_LETTERS], replicas=1)
    await ensure_consumer(js, CONSUMER)
    await broker.start()
    try:
        yield worker, broker
    finally:
        await broker.stop()


async def submit(broker: NatsBroker, name: str) -> None:
    await broker.publish(
        Job(name=name).model_dump_json(),
        f"test.work.{name}",
        stream=WORK.name,
        headers={"Nats-Msg-Id": f"job:{name}", "content-type": "application/json"},
    )


async def consumer_info(
    js: JetStreamContext, consumer: ConsumerSpec = CONSUMER
) -> js_api.ConsumerInfo:
    return await js.consumer_info(WORK.name, consumer.durable)


async def test_transient_failures_are_redelivered_with_backoff_then_acked(
    stage: tuple[Worker, NatsBroker], nats_server: NatsServer
) -> None:
    worker, broker = stage
    worker.fail_first["flaky"] = 2
    await submit(broker, "flaky")
    await eventually(lambda: _async(worker.done == ["flaky"]), within=20)

    counts = [count for count, _at in worker.seen["flaky"]]
    assert counts == [1, 2, 3]
    times = [at for _count, at in worker.seen["flaky"]]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    for gap, delay in zip(gaps, BACKOFF, strict=False):
        assert delay * 0.9 <= gap <= delay + 2.5, (gaps, BACKOFF)

    async with jetstream(nats_server.url) as js:
        info = await eventually(lambda: _acked(js), within=10)
        assert info.config.ack_policy == js_api.AckPolicy.EXPLICIT
        assert info.config.max_deliver == -1  # unlimited: the stage counts failures
        assert (await js.stream_info(DEAD_LETTERS.name)).state.messages == 0


async def test_a_handler_that_always_fails_ends_in_the_dead_letters_once(
    stage: tuple[Worker, NatsBroker], nats_server: NatsServer
) -> None:
    worker, broker = stage
    worker.fail_first["doomed"] = -1
    await submit(broker, "doomed")
    async with jetstream(nats_server.url) as js:
        entries = await eventually(lambda: list_entries(js, "worker"), within=20)
        assert len(entries) == 1
        letter = entries[0].letter
        assert isinstance(letter, DeadLettered)
        assert letter.subject == "test.work.doomed" and letter.stream == WORK.name
        assert letter.deliveries == CONSUMER.max_deliver
        assert f"failed {CONSUMER.max_deliver} times in worker" in letter.reason
        assert "doomed is not ready" in letter.reason
        assert json.loads(entries[0].body) == {"name": "doomed"}
        assert letter.headers["Nats-Msg-Id"] == "job:doomed"

        # terminated: not redelivered after the last backoff has long passed
        info = await eventually(lambda: _acked(js), within=10)
        await asyncio.sleep(BACKOFF[-1] + 1)
        info = await consumer_info(js)
        assert info.num_ack_pending == 0 and info.num_pending == 0
        assert [c for c, _ in worker.seen["doomed"]] == [1, 2, 3, 4]
        assert len(await list_entries(js, "worker")) == 1
    assert worker.done == []


#: redelivered one second after its process was killed
CRASHY = CONSUMER.model_copy(update={"durable": "crashy", "ack_wait_seconds": 1.0})
#: dead-letters what was delivered twice without an answer
POISONED = CRASHY.model_copy(update={"durable": "poisoned", "crash_deliveries": 2})


async def hang_on_every_job(url: str, durable: str = CRASHY.durable) -> None:
    """In a process of its own (the test SIGKILLs it): take jobs and never finish one."""
    consumer = {c.durable: c for c in (CRASHY, POISONED)}[durable]

    async def handle(batch: list[Envelope[Job]]) -> None:
        print(f"in flight {deliveries(batch[0].msg)}", flush=True)
        await asyncio.Event().wait()

    broker = NatsBroker(url)
    BatchStage(broker, consumer, Job, handle, DeadLetters(broker, consumer.durable))
    await broker.start()
    await asyncio.Event().wait()


async def in_flight(out: asyncio.StreamReader) -> str:
    """The worker's "in flight N" line (FastStream logs to the same output)."""
    while line := (await out.readline()).decode():
        if line.startswith("in flight"):
            return line.strip()
    raise AssertionError("the worker ended before it took the job")


async def test_deliveries_to_killed_processes_do_not_count_toward_dead_lettering(
    nats_server: NatsServer,
) -> None:
    """A message in flight during more SIGKILLs than ``max_deliver`` is still handled after
    them, and one real failure then does not dead-letter it: only the handler's failures count
    (before, the server stopped delivering it after ``max_deliver`` deliveries, or the stage
    dead-lettered it on its first failure)."""
    async with jetstream(nats_server.url) as js:
        await ensure_streams(js, [WORK, DEAD_LETTERS], replicas=1)
        await ensure_consumer(js, CRASHY)
    broker = NatsBroker(nats_server.url)
    await broker.connect()
    await submit(broker, "survivor")
    kills = CRASHY.max_deliver + 1
    code = (
        "import asyncio, sys; from tests.integration.test_batch_stage import hang_on_every_job"
        " as run; asyncio.run(run(sys.argv[1]))"
    )
    for kill in range(1, kills + 1):
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", code, nats_server.url, stdout=asyncio.subprocess.PIPE
        )
        try:
            assert process.stdout is not None
            line = await asyncio.wait_for(in_flight(process.stdout), 30)
            assert line == f"in flight {kill}", line
        finally:
            process.kill()  # SIGKILL while the message is in flight
            await process.wait()

    worker = Worker(fail_first={"survivor": kills + 1})  # fails once more: a real failure
    BatchStage(broker, CRASHY, Job, worker.handle, DeadLetters(broker, "crashy"))
    await broker.start()
    try:
        await eventually(lambda: _async(worker.done == ["survivor"]), within=30)
        assert [count for count, _ in worker.seen["survivor"]] == [kills + 1, kills + 2]
        async with jetstream(nats_server.url) as js:
            await eventually(lambda: _acked(js, CRASHY), within=10)
            assert (await js.stream_info(DEAD_LETTERS.name)).state.messages == 0
    finally:
        await broker.stop()


async def kill_while_in_flight(url: str, durable: str, kills: int) -> None:
    """Start a worker process on the durable ``kills`` times; SIGKILL it while it holds the job."""
    code = (
        "import asyncio, sys; from tests.integration.test_batch_stage import hang_on_every_job"
        " as run; asyncio.run(run(sys.argv[1], sys.argv[2]))"
    )
    for kill in range(1, kills + 1):
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", code, url, durable, stdout=asyncio.subprocess.PIPE
        )
        try:
            assert process.stdout is not None
            line = await asyncio.wait_for(in_flight(process.stdout), 30)
            assert line == f"in flight {kill}", line
        finally:
            process.kill()
            await process.wait()


async def test_a_message_that_kills_every_handler_ends_in_the_dead_letters(
    nats_server: NatsServer,
) -> None:
    """No poison loop: a message whose every delivery ended with its process killed is
    dead-lettered, with the reason, once it has been delivered ``crash_deliveries`` times."""
    async with jetstream(nats_server.url) as js:
        await ensure_streams(js, [WORK, DEAD_LETTERS], replicas=1)
        await ensure_consumer(js, POISONED)
    broker = NatsBroker(nats_server.url)
    await broker.connect()
    await submit(broker, "poison")
    await kill_while_in_flight(nats_server.url, POISONED.durable, POISONED.crash_deliveries)
    worker = Worker()
    BatchStage(broker, POISONED, Job, worker.handle, DeadLetters(broker, POISONED.durable))
    await broker.start()
    try:
        async with jetstream(nats_server.url) as js:
            entries = await eventually(lambda: list_entries(js, POISONED.durable), within=30)
            letters = [e.letter for e in entries if e.letter is not None]
            assert [(x.subject, x.deliveries) for x in letters] == [("test.work.poison", 3)]
            assert "without an answer" in letters[0].reason
            await eventually(lambda: _acked(js, POISONED), within=10)
        assert worker.seen.get("poison") is None  # the handler never saw it again
    finally:
        await broker.stop()


async def test_a_dead_letter_redriven_after_the_fix_flows_through(
    stage: tuple[Worker, NatsBroker], nats_server: NatsServer, tmp_path: Path
) -> None:
    worker, broker = stage
    worker.fail_first["late"] = -1  # its dependency is down
    await submit(broker, "late")
    async with jetstream(nats_server.url) as js:
        await eventually(lambda: list_entries(js, "worker"), within=20)

    listed = json.loads(
        await nianbao("dlq", "list", "--json", "--stage", "worker", url=nats_server.url)
    )
    assert [(e["stage"], e["subject"], e["deliveries"]) for e in listed] == [
        ("worker", "test.work.late", CONSUMER.max_deliver)
    ]
    seq = listed[0]["seq"]
    shown = await nianbao("dlq", "show", str(seq), url=nats_server.url)
    assert "test.work.late" in shown and '"name": "late"' in shown and "late is not ready" in shown
    table = await nianbao("dlq", "list", url=nats_server.url)
    assert "test.work.late" in table

    worker.fail_first["late"] = 0  # fixed by hand
    out = json.loads(await nianbao("dlq", "redrive", str(seq), "--delete", url=nats_server.url))
    assert out["stream"] == WORK.name and out["duplicate"] is False and out["deleted"] is True

    await eventually(lambda: _async(worker.done == ["late"]), within=20)
    async with jetstream(nats_server.url) as js:
        await eventually(lambda: _acked(js), within=10)
        assert await list_entries(js) == []
        redriven = await js.get_msg(WORK.name, seq=out["seq"])
        assert redriven.headers is not None
        assert redriven.headers["Nianbao-Redriven-From"] == f"{DEAD_LETTERS.name}:{seq}"
        assert redriven.headers["Nats-Msg-Id"] != "job:late"


async def test_a_lingering_stage_gathers_a_stream_and_handles_a_lone_message_at_once(
    nats_server: NatsServer,
) -> None:
    """With ``linger``, a stream of messages is handled in a few large batches (each acked
    once handled); a message after a quiet spell is handled alone, without waiting."""
    batches: list[list[str]] = []

    async def handle(batch: list[Envelope[Job]]) -> None:
        batches.append([e.event.name for e in batch])

    broker = NatsBroker(nats_server.url)
    linger = 1.0
    BatchStage(broker, CONSUMER, Job, handle, DeadLetters(broker, "worker"), linger=linger)
    await broker.connect()
    js = broker.connection.jetstream()
    await ensure_streams(js, [WORK, DEAD_LETTERS], replicas=1)
    await ensure_consumer(js, CONSUMER)
    await broker.start()
    try:
        names = [f"s{i:03d}" for i in range(120)]
        for name in names:
            await submit(broker, name)
        await eventually(lambda: _async(sum(map(len, batches)) == len(names)), within=20)
        assert sorted(n for batch in batches for n in batch) == names  # each exactly once
        assert len(batches) <= len(names) // 10, [len(b) for b in batches]
        await eventually(lambda: _acked(js), within=10)

        await asyncio.sleep(linger + 0.2)  # a quiet spell longer than the linger
        before, sent = len(batches), time.monotonic()
        await submit(broker, "lone")
        await eventually(lambda: _async(len(batches) == before + 1), within=10)
        assert batches[-1] == ["lone"]
        assert time.monotonic() - sent < 0.8 * linger  # handled at once, not after the linger
        await eventually(lambda: _acked(js), within=10)
    finally:
        await broker.stop()


async def test_a_graceful_stop_handles_what_a_lingering_stage_gathered(
    nats_server: NatsServer,
) -> None:
    """Messages gathered while lingering are handled and acknowledged before the broker stops,
    not left to wait ``ack_wait`` (a minute) for their redelivery."""
    handled: list[str] = []

    async def handle(batch: list[Envelope[Job]]) -> None:
        handled.extend(e.event.name for e in batch)

    broker = NatsBroker(nats_server.url)
    # a linger far longer than the test: whatever is gathered waits for the stop
    stage = BatchStage(broker, CONSUMER, Job, handle, DeadLetters(broker, "worker"), linger=60)
    await broker.connect()
    js = broker.connection.jetstream()
    await ensure_streams(js, [WORK, DEAD_LETTERS], replicas=1)
    await ensure_consumer(js, CONSUMER)
    await broker.start()
    names = [f"g{i:03d}" for i in range(150)]
    try:
        for name in names:
            await submit(broker, name)
        # every message reached the stage: some handled at once, the rest gathered
        await eventually(
            lambda: _async(len(handled) + stage.gathered == len(names) and stage.gathered > 0),
            within=20,
        )
    finally:
        await stop_broker(broker)
    assert sorted(handled) == names
    async with jetstream(nats_server.url) as plain:
        info = await consumer_info(plain)
        assert info.num_ack_pending == 0 and info.num_redelivered == 0


async def nianbao(*args: str, url: str) -> str:
    """Run the `nianbao` command as a user would (NATS URL from the environment)."""
    command = Path(sys.executable).parent / "nianbao"
    process = await asyncio.create_subprocess_exec(
        str(command),
        *args,
        env={**os.environ, "NIANBAO_NATS_URL": url},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, (args, err.decode())
    return out.decode()


async def test_an_idle_stage_waits_on_the_server_and_gets_each_lone_message_at_once(
    stage: tuple[Worker, NatsBroker],
) -> None:
    """Idle, a stage keeps one pull request waiting on the server (renewed every
    IDLE_FETCH_SECONDS), not twenty a second; a message still reaches it at once, every time,
    however the requests and their expiries interleave."""
    worker, broker = stage
    requests: list[float] = []

    async def count(_msg: object) -> None:
        requests.append(time.monotonic())

    watch = await broker.connection.subscribe(
        f"$JS.API.CONSUMER.MSG.NEXT.{WORK.name}.{CONSUMER.durable}", cb=count
    )
    try:
        await asyncio.sleep(3.0)
        assert len(requests) <= 2, f"{len(requests)} pull requests in 3 s of idleness"

        for i in range(12):
            # pauses around the request's expiry and in between: each message at once
            await asyncio.sleep((0.3, 1.2, 2.0)[i % 3])
            name, sent = f"lone{i:02d}", time.monotonic()
            await submit(broker, name)
            await eventually(lambda name=name: _async(name in worker.done), within=10)
            assert time.monotonic() - sent < 1.0, f"{name} waited {time.monotonic() - sent:.1f} s"
    finally:
        await watch.unsubscribe()


async def _async(value: bool) -> bool:
    return value


async def _acked(
    js: JetStreamContext, consumer: ConsumerSpec = CONSUMER
) -> js_api.ConsumerInfo | None:
    info = await consumer_info(js, consumer)
    return info if info.num_pending == 0 and info.num_ack_pending == 0 else None
