"""The AsyncAPI document of the whole system, generated from the topology (shared.topology)."""

from __future__ import annotations

from typing import Any

from faststream.specification import AsyncAPI

from shared.contracts import STREAMS
from shared.runtime.messaging import DeadLetters, durable_subscriber
from shared.runtime.service import declare_publications, make_broker
from shared.runtime.settings import CommonSettings
from shared.topology import SERVICES


async def _documented(msgs: Any) -> None:
    """Stands for a service's handler: the document needs subscribers, not their work."""


def asyncapi_document() -> dict[str, Any]:
    """Declare every service's consumers and publications on one broker and describe them."""
    broker = make_broker(CommonSettings(), "docs")
    for service in SERVICES.values():
        for consumer in service.consumers:
            durable_subscriber(broker, consumer)(_documented)
        declare_publications(broker, service)
        DeadLetters(broker, service.name)
    streams = "; ".join(f"{s.name} ({', '.join(s.subjects)}): {s.description}" for s in STREAMS)
    spec = AsyncAPI(
        broker,
        title="nianbao events",
        version="1",
        description="政府网站年度报表 — events between intake, validator, aggregator and "
        f"publisher over NATS JetStream. Streams: {streams}",
    )
    document: dict[str, Any] = spec.to_specification().to_jsonable()
    return document
