"""Confirmed publishes, a window at a time: every message stored once (in order, a re-sent
message id kept once); a refusal or a missing stream raises, and nothing is left pending."""

from __future__ import annotations

import time

import pytest
from faststream.nats import NatsBroker
from nats.js.errors import APIError, NoStreamResponseError

from shared.contracts import PROGRESS, SUBMISSIONS
from shared.runtime.messaging import (
    PUBLISH_TIMEOUT_SECONDS,
    PUBLISH_WINDOW,
    ensure_streams,
    jetstream,
    publish_all,
    publish_confirmed,
)
from tools.natsserver import NatsServer

pytestmark = pytest.mark.nats


async def test_every_message_is_stored_once_in_order(nats_server: NatsServer) -> None:
    broker = NatsBroker(nats_server.url)
    await broker.connect()
    try:
        js = jetstream(broker)
        assert jetstream(broker) is js  # one context (one reply subscription) per connection
        await ensure_streams(js, [PROGRESS], 1)
        count = 2 * PUBLISH_WINDOW + 7
        items = [
            (f"nianbao.aggregated.work.{i:010d}", f'{{"i":{i}}}'.encode(), f"m{i}")
            for i in range(count)
        ]
        await publish_all(broker, PROGRESS, items)
        await publish_all(broker, PROGRESS, items[:10])  # re-sent: deduplicated by message id
        info = await js.stream_info(PROGRESS.name)
        assert info.state.messages == count
        first = await js.get_msg(PROGRESS.name, 1)
        last = await js.get_msg(PROGRESS.name, count)
        assert (first.data, last.data) == (b'{"i":0}', f'{{"i":{count - 1}}}'.encode())
        assert js.publish_async_pending() == 0
    finally:
        await broker.stop()


async def test_a_refusal_or_a_missing_stream_raises_at_once(nats_server: NatsServer) -> None:
    broker = NatsBroker(nats_server.url)
    await broker.connect()
    try:
        js = jetstream(broker)
        await ensure_streams(js, [PROGRESS], 1)
        good = ("nianbao.aggregated.work.0000000001", b"{}", None)
        started = time.monotonic()
        # the expected stream is not the subject's: refused by the server
        with pytest.raises(APIError):
            await publish_confirmed(js, [good], SUBMISSIONS.name)
        # no stream takes the subject at all
        with pytest.raises(NoStreamResponseError):
            await publish_confirmed(js, [good, ("nobody.listens", b"{}", None)])
        # answered, not timed out (the timeout is PUBLISH_TIMEOUT_SECONDS)
        assert time.monotonic() - started < PUBLISH_TIMEOUT_SECONDS / 2
        assert js.publish_async_pending() == 0
    finally:
        await broker.stop()
