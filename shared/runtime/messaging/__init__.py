"""JetStream plumbing shared by the services: streams, durable consumers, batches, dead letters.

A service checks at start that the streams it uses are exactly as the code wants them (it never
changes one: the admin step `nianbao deploy streams` creates and updates them) and reconciles its
own durable consumers (created, updated when the server allows it, or refused loudly).
Handlers process a batch of decoded events; undecodable messages and messages that keep failing
go to the dead-letter stream with the reason, then are terminated.
"""

from shared.runtime.messaging.publishing import (
    PUBLISH_TIMEOUT_SECONDS,
    PUBLISH_WINDOW,
    jetstream,
    publish_all,
    publish_confirmed,
    publish_event,
)
from shared.runtime.messaging.pulling import (
    IDLE_FETCH_SECONDS,
    STREAM_MIN_MESSAGES,
    STREAM_WINDOW_SECONDS,
    Arrivals,
    event_driven_pull,
    patch_faststream_pull_timeout,
)
from shared.runtime.messaging.stages import (
    BATCH_SECONDS,
    BURST_LINGER_SECONDS,
    DEAD_LETTERED,
    FAILED,
    RECEIVED,
    REDELIVERED,
    BatchHandler,
    BatchStage,
    DeadLetters,
    Envelope,
    deliveries,
    durable_subscriber,
    stop_broker,
)
from shared.runtime.messaging.streams import (
    _CONSUMER_FIELDS,
    _STREAM_FIELDS,
    ADMIN_STEP,
    SERVER_MAX_DELIVER,
    StreamChange,
    TopologyDrift,
    _differences,
    check_streams,
    consumer_config,
    describe,
    ensure_consumer,
    ensure_streams,
    stream_config,
)

__all__ = [
    "ADMIN_STEP",
    "BATCH_SECONDS",
    "BURST_LINGER_SECONDS",
    "DEAD_LETTERED",
    "FAILED",
    "IDLE_FETCH_SECONDS",
    "PUBLISH_TIMEOUT_SECONDS",
    "PUBLISH_WINDOW",
    "RECEIVED",
    "REDELIVERED",
    "SERVER_MAX_DELIVER",
    "STREAM_MIN_MESSAGES",
    "STREAM_WINDOW_SECONDS",
    "_CONSUMER_FIELDS",
    "_STREAM_FIELDS",
    "Arrivals",
    "BatchHandler",
    "BatchStage",
    "DeadLetters",
    "Envelope",
    "StreamChange",
    "TopologyDrift",
    "_differences",
    "check_streams",
    "consumer_config",
    "deliveries",
    "describe",
    "durable_subscriber",
    "ensure_consumer",
    "ensure_streams",
    "event_driven_pull",
    "jetstream",
    "patch_faststream_pull_timeout",
    "publish_all",
    "publish_confirmed",
    "publish_event",
    "stop_broker",
    "stream_config",
]
