"""Confirmed publishes of events, concurrently within a window."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Sequence
from typing import Any

import nats.js.errors
from faststream.nats import NatsBroker
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from pydantic import BaseModel

from shared.contracts import StreamSpec

#: confirmed publishes in flight at once, and how long each waits for its PubAck (FastStream's
#: default, 0.5 s, fails thousands of concurrent publishes, e.g. every roll-up at start)
PUBLISH_WINDOW = 256
PUBLISH_TIMEOUT_SECONDS = 10.0


class _Context(JetStreamContext):
    """nats-py's context, whose asynchronous publishes also fail at once when JetStream refuses
    one: nats-py 2.16 raises the refusal in its reply handler instead of setting it on the
    publish's future, which then waited for the timeout."""

    async def _handle_async_reply(self, msg: Msg) -> None:
        try:
            await super()._handle_async_reply(msg)
        except nats.js.errors.Error as exc:
            token = msg.subject[len(self._nc._inbox_prefix) + 22 + 2 :]
            future = self._publish_async_futures.get(token)
            if future is not None and not future.done():
                future.set_exception(exc)


#: one JetStream context per connection: its asynchronous publishes share one reply
#: subscription, made at the first
_CONTEXTS: weakref.WeakKeyDictionary[Client, JetStreamContext] = weakref.WeakKeyDictionary()


def jetstream(broker: NatsBroker) -> JetStreamContext:
    """The broker's connection's JetStream context. Events are published through it rather than
    ``broker.publish``: the same message (payload, ``Nats-Msg-Id``, content type, the expected
    stream) without FastStream's per-message layers (a correlation id, a command, a codec,
    middlewares), a tenth of a stage's CPU per event."""
    connection: Client = broker.connection
    js = _CONTEXTS.get(connection)
    if js is None:
        js = _CONTEXTS[connection] = _Context(connection)
    return js


async def publish_event(
    js: JetStreamContext, stream: StreamSpec, subject: str, payload: bytes, msg_id: str
) -> None:
    """One confirmed publish of an event's JSON: returns once JetStream stored it (raises if
    it refused it or gave no PubAck in time)."""
    await js.publish(
        subject,
        payload,
        timeout=PUBLISH_TIMEOUT_SECONDS,
        stream=stream.name,
        headers={"Nats-Msg-Id": msg_id, "content-type": "application/json"},
    )


#: an event, or its JSON already encoded
Payload = BaseModel | bytes


def _encoded(event: Payload) -> bytes:
    """The event's JSON: as given, as encoded when it was built (``encoded_json``), or dumped."""
    if isinstance(event, bytes):
        return event
    encoded = getattr(event, "encoded_json", None)
    return encoded if isinstance(encoded, bytes) else event.model_dump_json().encode()


async def _confirmed(futures: list[asyncio.Future[Any]]) -> None:
    """Wait for every PubAck of a window (one deadline for all); raise the first refusal, or a
    timeout when some PubAck did not come in time."""
    if not futures:
        return
    try:
        _done, pending = await asyncio.wait(futures, timeout=PUBLISH_TIMEOUT_SECONDS)
    finally:  # timed out or cancelled: the context forgets them (and frees their places)
        for future in futures:
            if not future.done():
                future.cancel()
    failure: BaseException | None = None
    for future in futures:
        if future in pending:
            continue
        exc = future.exception()  # read for each: none is left unretrieved
        if exc is not None and failure is None:
            failure = exc
    if failure is not None:
        raise failure
    if pending:
        raise TimeoutError(f"nats: no PubAck for {len(pending)} publishes within the timeout")


async def publish_confirmed(
    js: JetStreamContext,
    messages: Sequence[tuple[str, bytes, dict[str, str] | None]],
    stream: str | None = None,
) -> None:
    """Confirmed publishes of (subject, payload, headers), window by window: each window's
    messages are sent one after another (no task, no timer per message) and their PubAcks
    awaited together; raises if any is refused or unconfirmed."""
    for start in range(0, len(messages), PUBLISH_WINDOW):
        futures: list[asyncio.Future[Any]] = []
        try:
            for subject, payload, headers in messages[start : start + PUBLISH_WINDOW]:
                futures.append(
                    await js.publish_async(subject, payload, stream=stream, headers=headers)
                )
        except BaseException:
            for future in futures:
                future.cancel()
            raise
        await _confirmed(futures)


async def publish_all(
    broker: NatsBroker, stream: StreamSpec, items: Sequence[tuple[str, Payload, str]]
) -> None:
    """Confirmed publishes of (subject, event or its JSON, msg id) into ``stream``; raises if
    any is refused or unconfirmed."""
    messages = [
        (subject, _encoded(event), {"Nats-Msg-Id": msg_id, "content-type": "application/json"})
        for subject, event, msg_id in items
    ]
    await publish_confirmed(jetstream(broker), messages, stream.name)
