"""Pulling a durable: idle consumers wait on the server, bursts are gathered into batches.

FastStream 0.7.8's batch pull loop fetches with the subscriber's ``timeout`` and keeps fetching
until the batch is full or the timeout is over. With the short timeout a burst wants (0.05 s, to
gather a batch), an idle consumer sends twenty pull requests a second, and the server answers
each: at rest that was most of the system's CPU. Here an idle consumer has one pull request for
one message waiting on the server for ``IDLE_FETCH_SECONDS``; the server hands it the first
message the moment one arrives. (One message, not a batch: nats-py leaves a request behind when
a stale timeout status reaches a later fetch, and a request left behind for a batch would hold
the messages it gets until it expires; one for a single message hands it over at once.)

A lone message (a correction, a review after a quiet second) is handled at once; when messages
follow one another (``GATHER_MESSAGES`` within ``STREAM_WINDOW_SECONDS``) the loop goes on
gathering for the subscriber's timeout, as one batch, as FastStream's loop did.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any

from faststream.nats.subscriber.usecases import stream_pull_subscriber as _pull_module
from nats.errors import ConnectionClosedError
from nats.js.errors import APIError, ServiceUnavailableError

#: how long an idle pull request waits on the server before it is renewed: an idle consumer
#: costs one request per this long (and a message still reaches it at once)
IDLE_FETCH_SECONDS = 5.0
#: a burst, for the pull loop and a lingering stage: this many messages within the window
#: (corrections one after another, a few per second, are not one)
STREAM_MIN_MESSAGES = 50
STREAM_WINDOW_SECONDS = 1.0
#: the pull loop gathers a batch once this many messages came within STREAM_WINDOW_SECONDS
GATHER_MESSAGES = 2
#: pause after a fetch that failed at once (connection closed, JetStream unavailable, the
#: consumer missing)
FETCH_RETRY_SECONDS = 0.5


class Arrivals:
    """Messages seen over the last ``window`` seconds: tells a burst from a trickle."""

    def __init__(self, window: float) -> None:
        self.window = window
        self._seen: deque[tuple[float, int]] = deque()

    def note(self, count: int) -> None:
        now = time.monotonic()
        self._seen.append((now, count))
        while self._seen[0][0] < now - self.window:
            self._seen.popleft()

    def recent(self) -> int:
        since = time.monotonic() - self.window
        return sum(count for at, count in self._seen if at >= since)


def patch_faststream_pull_timeout() -> None:
    """Make FastStream's batch pull loop survive a partial batch; idempotent. Called where a
    broker is made (``make_broker``) and where a durable subscriber is (for brokers made elsewhere).

    FastStream 0.7.8's batch pull loop catches nats.errors.TimeoutError, but nats-py 2.16 raises
    the builtin TimeoutError when a fetch ends with a partial batch: the loop task crashes and is
    restarted by FastStream's supervisor on every idle fetch. Catch the builtin (its base class).
    (The durable subscribers here run ``event_driven_pull`` instead; this keeps any other batch
    subscriber sound.)
    """
    if _pull_module.TimeoutError is not TimeoutError:
        _pull_module.TimeoutError = TimeoutError  # type: ignore[misc,assignment]


async def _fetch(subscriber: Any, batch: int, within: float) -> list[Any] | None:
    """Up to ``batch`` messages within ``within`` seconds; [] when none came; None when the fetch
    failed at once (the caller pauses before the next)."""
    try:
        return list(await subscriber.subscription.fetch(batch=batch, timeout=within))
    except TimeoutError:
        return []
    except (ConnectionClosedError, ServiceUnavailableError, APIError):
        # unacknowledged messages are redelivered by the server after ack_wait
        return None


def event_driven_pull(subscriber: Any, idle_fetch: float = IDLE_FETCH_SECONDS) -> None:
    """Run ``subscriber`` (a FastStream batch pull subscriber) with the loop described above
    instead of FastStream's own; its ``pull_sub.timeout`` becomes the burst's gathering time."""
    arrivals = Arrivals(STREAM_WINDOW_SECONDS)

    async def consume_pull() -> None:
        assert subscriber.subscription, "the subscription is created first"
        batch_size: int = subscriber.pull_sub.batch_size
        gather: float = subscriber.pull_sub.timeout or 0.0
        while subscriber.running:
            messages = await _fetch(subscriber, 1, idle_fetch)
            if messages is None:
                await asyncio.sleep(FETCH_RETRY_SECONDS)
                continue
            if not messages:
                continue
            arrivals.note(len(messages))
            if arrivals.recent() >= GATHER_MESSAGES:
                # messages follow one another: gather more into this batch, for up to ``gather``
                deadline = time.monotonic() + gather
                while len(messages) < batch_size and subscriber.running:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0.001:
                        break
                    more = await _fetch(subscriber, batch_size - len(messages), remaining)
                    if not more:
                        break
                    arrivals.note(len(more))
                    messages += more
            if subscriber.running:
                await subscriber.consume(messages)

    # FastStream starts ``self._consume_pull`` as the subscriber's task (restarted on failure)
    subscriber._consume_pull = consume_pull
