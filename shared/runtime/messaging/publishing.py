"""Confirmed publishes of events, concurrently within a window."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from faststream.nats import NatsBroker
from pydantic import BaseModel

from shared.contracts import StreamSpec

#: confirmed publishes in flight at once, and how long each waits for its PubAck (FastStream's
#: default, 0.5 s, fails thousands of concurrent publishes, e.g. every roll-up at start)
PUBLISH_WINDOW = 256
PUBLISH_TIMEOUT_SECONDS = 10.0


async def publish_all(
    broker: NatsBroker, stream: StreamSpec, items: Sequence[tuple[str, BaseModel, str]]
) -> None:
    """Confirmed publishes of (subject, event, msg id), concurrently within a window; raises if
    any is refused."""

    async def one(subject: str, event: BaseModel, msg_id: str) -> None:
        await broker.publish(
            event.model_dump_json(),
            subject,
            stream=stream.name,
            headers={"Nats-Msg-Id": msg_id, "content-type": "application/json"},
            timeout=PUBLISH_TIMEOUT_SECONDS,
        )

    # window by window (a semaphore's acquire is linear in its waiters: quadratic for a batch)
    for start in range(0, len(items), PUBLISH_WINDOW):
        await asyncio.gather(*(one(*item) for item in items[start : start + PUBLISH_WINDOW]))
