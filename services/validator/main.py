"""Composition root of the validator: settings, broker, consumer, handler."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from functools import partial

from faststream.nats import NatsBroker

from services.validator.handlers import Validator
from shared.contracts import VERDICTS, ReportJudged, ReportSubmitted
from shared.runtime.messaging import BatchStage, DeadLetters, publish_all, stop_broker
from shared.runtime.metrics import Health, count_published, with_health
from shared.runtime.service import (
    configured_registry,
    declare_publications,
    freeze_startup_state,
    make_broker,
    prepare_topology,
    serve_until_stopped,
    setup_logging,
)
from shared.runtime.settings import CommonSettings
from shared.topology import VALIDATOR

CONSUMER = VALIDATOR.consumer("validator")


#: the entry points: what tools (`nianbao run`) may use
__all__ = ["CONSUMER", "build", "main", "serve"]


def build(settings: CommonSettings, broker: NatsBroker) -> BatchStage[ReportSubmitted]:
    registry = configured_registry(settings)

    async def publish(items: Sequence[tuple[str, ReportJudged, str]]) -> None:
        await publish_all(broker, VERDICTS, items)
        count_published(VERDICTS.name, items)

    validator = Validator(registry, publish)
    declare_publications(broker, VALIDATOR)
    return BatchStage(
        broker, CONSUMER, ReportSubmitted, validator.on_submitted, DeadLetters(broker, "validator")
    )


async def serve(settings: CommonSettings) -> None:
    broker = make_broker(settings, "validator")
    build(settings, broker)

    async def start() -> None:
        await broker.connect()
        await prepare_topology(broker, settings, VALIDATOR, [CONSUMER])
        freeze_startup_state()
        await broker.start()

    health = Health("validator", broker, [CONSUMER])
    await serve_until_stopped(*with_health(health, 8001, start, partial(stop_broker, broker)))


def main() -> None:
    settings = CommonSettings()
    setup_logging("validator", settings.log_level)
    asyncio.run(serve(settings))
