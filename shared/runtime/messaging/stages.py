"""Consuming a durable: batch stages, envelopes, dead letters, and stopping a broker cleanly."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from faststream import AckPolicy
from faststream.exceptions import IncorrectState
from faststream.nats import JStream, NatsBroker, PullSub
from nats import errors as nats_errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from prometheus_client import Counter, Histogram
from pydantic import BaseModel, ValidationError

from shared.contracts import DEAD_LETTERS, DeadLettered, dead_letter_subject
from shared.runtime.messaging.pulling import (
    STREAM_MIN_MESSAGES,
    STREAM_WINDOW_SECONDS,
    Arrivals,
    event_driven_pull,
    patch_faststream_pull_timeout,
)
from shared.runtime.messaging.streams import consumer_config
from shared.topology import ConsumerSpec

log = logging.getLogger(__name__)

# Every durable consumer is measured here, by its durable name (served by runtime.metrics).
RECEIVED = Counter("nianbao_messages_received", "Messages delivered to a consumer", ["consumer"])
REDELIVERED = Counter(
    "nianbao_messages_redelivered", "Deliveries after the first of a message", ["consumer"]
)
FAILED = Counter("nianbao_messages_failed", "Handler failures of one message", ["consumer"])
DEAD_LETTERED = Counter(
    "nianbao_messages_dead_lettered", "Messages written to the dead-letter stream", ["stage"]
)
BATCH_SECONDS = Histogram(
    "nianbao_batch_seconds",
    "Time to decode, handle and acknowledge one fetched batch",
    ["consumer"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)

E = TypeVar("E", bound=BaseModel)
T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

#: how long a stage under a burst gathers messages into one batch (``BatchStage(linger=…)``)
BURST_LINGER_SECONDS = 0.2
#: messages whose handler failures a stage remembers (the oldest forgotten first)
MAX_REMEMBERED_FAILURES = 10_000


async def _raw_batch(msg: Any) -> list[Msg]:
    """Decoder: hand the handler the raw JetStream messages; decoding is per message."""
    return list(msg.raw_message)


class Envelope(Generic[T]):
    """A decoded event with its JetStream message (for metadata such as delivery count)."""

    __slots__ = ("event", "msg")

    def __init__(self, msg: Msg, event: T) -> None:
        self.msg = msg
        self.event = event


class DeadLetters:
    """Writes a message that cannot be handled to the dead-letter stream, with the reason."""

    def __init__(self, broker: NatsBroker, stage: str) -> None:
        self.broker = broker
        self.stage = stage
        self.publisher = broker.publisher(
            dead_letter_subject(stage),
            stream=JStream(DEAD_LETTERS.name, declare=False),
            schema=DeadLettered,
            title=f"dead letters of {stage}",
            include_in_schema=True,
        )

    async def put(self, msg: Msg, reason: str) -> None:
        meta = _metadata(msg)
        letter = DeadLettered(
            stage=self.stage,
            reason=reason[:2000],
            subject=msg.subject,
            stream=meta.stream if meta else None,
            stream_seq=meta.sequence.stream if meta else None,
            deliveries=meta.num_delivered if meta else None,
            headers=dict(msg.headers or {}),
            body_b64=base64.b64encode(msg.data).decode(),
            at=datetime.now(UTC),
        )
        msg_id = f"dlq:{self.stage}:{letter.stream}:{letter.stream_seq}"
        await self.broker.publish(
            letter.model_dump_json(),
            dead_letter_subject(self.stage),
            stream=DEAD_LETTERS.name,
            headers={"Nats-Msg-Id": msg_id, "content-type": "application/json"},
        )
        DEAD_LETTERED.labels(self.stage).inc()
        log.error("dead-lettered %s (%s): %s", msg.subject, self.stage, reason[:300])


def _metadata(msg: Msg) -> Any:
    try:
        return msg.metadata
    except Exception:
        return None


def _stream_seq(msg: Msg) -> int | None:
    meta = _metadata(msg)
    return int(meta.sequence.stream) if meta else None


def deliveries(msg: Msg) -> int:
    meta = _metadata(msg)
    return int(meta.num_delivered) if meta else 1


BatchHandler = Callable[[list[Envelope[E]]], Awaitable[None]]


#: the stages of each broker (drained before it stops)
_STAGES: weakref.WeakKeyDictionary[NatsBroker, list[BatchStage[Any]]] = weakref.WeakKeyDictionary()


async def stop_broker(broker: NatsBroker) -> None:
    """Stop a service's broker gracefully: its lingering stages handle what they gathered
    first, then the subscribers and the connection stop."""
    for stage in _STAGES.get(broker, []):
        try:
            await stage.drain()
        except Exception:  # unacknowledged: redelivered after ack_wait
            log.exception("draining %s failed", stage.consumer.durable)
    try:
        connection: Client | None = broker.connection
    except IncorrectState:  # never connected
        connection = None
    try:
        await broker.stop()
    except nats_errors.Error as exc:
        # NATS unreachable: FastStream's stop drains the connection, which nats-py refuses while
        # it reconnects; close it instead, or its reconnect task outlives the service (which
        # then never exits). Whatever is unacknowledged is redelivered after ack_wait.
        log.warning("NATS unreachable at stop (%r): closing without draining", exc)
        if connection is not None:
            with contextlib.suppress(OSError):  # the socket the server reset
                await connection.close()


def _inbox_prefix(broker: NatsBroker) -> bytes:
    """``<the broker's inbox prefix>.``: FastStream hands pull subscriptions its own default
    (``_INBOX.``) rather than the connection's, which a service's NATS user may not read."""
    kwargs: dict[str, Any] = getattr(broker, "_connection_kwargs", {})
    prefix = kwargs.get("inbox_prefix") or b"_INBOX"
    return (prefix.encode() if isinstance(prefix, str) else bytes(prefix)) + b"."


def durable_subscriber(
    broker: NatsBroker, consumer: ConsumerSpec, batch_size: int = 200, batch_timeout: float = 0.05
) -> Any:
    """A batch pull subscriber on the durable, acking by hand, handed raw messages: idle, it
    waits on the server; under a burst it gathers up to ``batch_size`` for ``batch_timeout``
    (``pulling.event_driven_pull``)."""
    patch_faststream_pull_timeout()
    subject = consumer.filter_subjects[0] if len(consumer.filter_subjects) == 1 else ""
    subscriber = broker.subscriber(
        subject,
        stream=JStream(consumer.stream.name, declare=False),
        durable=consumer.durable,
        inbox_prefix=_inbox_prefix(broker),
        config=consumer_config(consumer),
        pull_sub=PullSub(batch_size=batch_size, timeout=batch_timeout, batch=True),
        ack_policy=AckPolicy.MANUAL,
        decoder=_raw_batch,
        title=consumer.durable,
        description=consumer.description,
    )
    event_driven_pull(subscriber)
    return subscriber


class BatchStage(Generic[M]):
    """Runs a batch handler over a durable pull consumer with explicit acks.

    Each message is decoded into the event model; what does not decode is dead-lettered. The
    batch handler must be idempotent. When it raises, each message is retried alone so one bad
    message cannot hold the rest; a message that still fails is redelivered with backoff and
    dead-lettered when the handler has failed on it ``consumer.max_deliver`` times.

    Only the handler's failures count, not the server's deliveries: a message in flight while
    its process was SIGKILLed is delivered again (after ``ack_wait``) though no handler failed
    on it, so the server delivers without limit and the stage counts the failures of each
    message by its stream sequence. The count lives in this process: a crash forgets it, which
    gives a failing message more tries (never fewer) before it is dead-lettered. A message that
    was delivered ``consumer.crash_deliveries`` times and never answered (it kills whatever
    process handles it) is dead-lettered before its next delivery reaches the handler.
    """

    def __init__(
        self,
        broker: NatsBroker,
        consumer: ConsumerSpec,
        model: type[M],
        handler: BatchHandler[M],
        dead_letters: DeadLetters,
        batch_size: int = 200,
        batch_timeout: float = 0.05,
        linger: float = 0.0,
    ) -> None:
        self.consumer = consumer
        self.model = model
        self.handler = handler
        self.dead_letters = dead_letters
        self.batch_size = batch_size
        self.linger = linger
        #: gathered while lingering, not yet handled (nor acknowledged)
        self._gathered: list[Any] = []
        self._gathered_since = 0.0
        #: is a burst under way?
        self._arrivals = Arrivals(STREAM_WINDOW_SECONDS)
        self._flushing = asyncio.Lock()
        self._timer: asyncio.TimerHandle | None = None
        self._flushes: set[asyncio.Task[None]] = set()
        #: handler failures of each message not yet acknowledged, by stream sequence (bounded)
        self._failures: OrderedDict[int | None, int] = OrderedDict()
        self.subscriber = durable_subscriber(broker, consumer, batch_size, batch_timeout)
        self.subscriber(self.on_batch)
        _STAGES.setdefault(broker, []).append(self)

    async def on_batch(self, msgs: list[Any]) -> None:
        durable = self.consumer.durable
        RECEIVED.labels(durable).inc(len(msgs))
        REDELIVERED.labels(durable).inc(sum(1 for m in msgs if deliveries(m) > 1))
        if self.linger <= 0:
            await self._timed(msgs)
            return
        now = time.monotonic()
        self._arrivals.note(len(msgs))
        # a burst, not a lone correction or a review: worth waiting a little to gather more
        streaming = self._arrivals.recent() >= STREAM_MIN_MESSAGES
        if not self._gathered:
            self._gathered_since = now
        self._gathered.extend(msgs)
        full = len(self._gathered) >= self.batch_size
        if not streaming or full or now - self._gathered_since >= self.linger:
            await self.flush()  # awaited: the next fetch waits (back-pressure)
        elif self._timer is None:
            delay = self._gathered_since + self.linger - now
            self._timer = asyncio.get_running_loop().call_later(delay, self._flush_later)

    @property
    def gathered(self) -> int:
        """Messages gathered while lingering, not yet handled."""
        return len(self._gathered)

    async def drain(self) -> None:
        """Stop gathering and handle what was gathered. Called before the broker stops: a
        message left gathered is neither handled nor acknowledged, and would wait ``ack_wait``
        (a minute) before it is redelivered."""
        self.linger = 0.0
        await self.flush()
        if self._flushes:
            await asyncio.gather(*self._flushes, return_exceptions=True)

    def _flush_later(self) -> None:
        self._timer = None
        task = asyncio.ensure_future(self.flush())
        self._flushes.add(task)
        task.add_done_callback(self._flushed)

    def _flushed(self, task: asyncio.Task[None]) -> None:
        self._flushes.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            # unacknowledged messages are redelivered after ack_wait
            log.error("flush of %s failed", self.consumer.durable, exc_info=exc)

    async def flush(self) -> None:
        """Handle what was gathered (one batch at a time, in arrival order)."""
        async with self._flushing:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            msgs, self._gathered = self._gathered, []
            if msgs:
                await self._timed(msgs)

    async def _timed(self, msgs: list[Any]) -> None:
        started = time.perf_counter()
        try:
            await self._on_batch(msgs)
        finally:
            BATCH_SECONDS.labels(self.consumer.durable).observe(time.perf_counter() - started)

    async def _on_batch(self, msgs: list[Any]) -> None:
        good: list[Envelope[M]] = []
        for msg in msgs:
            if (count := deliveries(msg)) > self.consumer.crash_deliveries:
                # no handler failed on it, but no process ever finished with it: a poison that
                # kills its handler's process, not a message caught in a few crashes
                await self.dead_letters.put(
                    msg,
                    f"delivered {count} times in {self.consumer.durable} without an answer: "
                    "every process handling it stopped (killed, or stalled past ack_wait)",
                )
                await msg.term()
                continue
            try:
                good.append(Envelope(msg, self.model.model_validate_json(msg.data)))
            except ValidationError as exc:
                await self.dead_letters.put(msg, f"undecodable {self.model.__name__}: {exc}")
                await msg.term()
        if not good:
            return
        try:
            await self.handler(good)
        except Exception:
            log.exception(
                "batch of %d failed in %s; retrying one by one", len(good), self.consumer.durable
            )
        else:
            await asyncio.gather(*(e.msg.ack() for e in good))
            if self._failures:  # some failed alone before: forget them
                for e in good:
                    self._failures.pop(_stream_seq(e.msg), None)
            self._handled(good)
            return
        for envelope in good:
            await self._one(envelope)

    async def _one(self, envelope: Envelope[M]) -> None:
        seq = _stream_seq(envelope.msg)
        try:
            await self.handler([envelope])
        except Exception as exc:
            FAILED.labels(self.consumer.durable).inc()
            failures = self._failed(seq)
            count = deliveries(envelope.msg)
            if failures >= self.consumer.max_deliver:
                self._failures.pop(seq, None)
                await self.dead_letters.put(
                    envelope.msg, f"failed {failures} times in {self.consumer.durable}: {exc!r}"
                )
                await envelope.msg.term()
            else:
                log.warning(
                    "%s failed (delivery %d, failure %d): %r",
                    self.consumer.durable,
                    count,
                    failures,
                    exc,
                )
                await envelope.msg.nak(delay=self.consumer.delay_after(failures))
        else:
            self._failures.pop(seq, None)
            await envelope.msg.ack()
            self._handled([envelope])

    def _failed(self, seq: int | None) -> int:
        """Count one more failure of the message at ``seq``; its failures so far."""
        if seq is None:  # no metadata (not from JetStream): nothing to remember it by
            return self.consumer.max_deliver
        failures = self._failures.pop(seq, 0) + 1
        self._failures[seq] = failures
        while len(self._failures) > MAX_REMEMBERED_FAILURES:
            self._failures.popitem(last=False)  # the oldest: taken by another replica, or gone
        return failures

    def _handled(self, batch: list[Envelope[M]]) -> None:
        """One INFO line per handled batch with its receipt ids (per message it would halve
        throughput); each message at DEBUG."""
        ids = [rid for e in batch if (rid := getattr(e.event, "receipt_id", None))]
        log.info(
            "handled %d in %s",
            len(batch),
            self.consumer.durable,
            extra={"consumer": self.consumer.durable, "count": len(batch), "receipt_ids": ids},
        )
        if log.isEnabledFor(logging.DEBUG):
            for e in batch:
                log.debug(
                    "handled %s",
                    e.msg.subject,
                    extra={
                        "receipt_id": getattr(e.event, "receipt_id", None),
                        "subject": e.msg.subject,
                    },
                )
