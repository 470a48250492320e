"""Composition root of the validator: settings, broker, consumer, handler."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

from faststream.nats import NatsBroker
from nats.js.errors import NotFoundError
from nats.js.kv import KeyValue

from services.validator.handlers import ReadFigures, Validator
from shared.contracts import FIGURES_BUCKET, VERDICTS, ReportJudged, ReportSubmitted
from shared.runtime.messaging import BatchStage, DeadLetters, publish_all, stop_broker
from shared.runtime.metrics import Health, count_published, with_health
from shared.runtime.registry_follow import LiveRegistry, live_registry
from shared.runtime.service import (
    declare_publications,
    freeze_startup_state,
    make_broker,
    prepare_topology,
    run_service,
    serve_until_stopped,
    setup_logging,
)
from shared.runtime.settings import CommonSettings
from shared.topology import VALIDATOR

CONSUMER = VALIDATOR.consumer("validator")


#: the entry points: what tools (`nianbao run`) may use
__all__ = ["CONSUMER", "build", "main", "serve"]


def figures_reader(broker: NatsBroker) -> ReadFigures:
    """Reads of the plausibility figures bucket the aggregator keeps (direct gets, at once)."""
    bucket: list[KeyValue] = []

    async def read_one(key: str) -> tuple[str, Any]:
        try:
            entry = await bucket[0].get(key)
        except NotFoundError:  # never written (or deleted)
            return key, None
        return key, json.loads(entry.value) if entry.value else None

    async def read(keys: Sequence[str]) -> dict[str, Any]:
        if not bucket:
            bucket.append(await broker.connection.jetstream().key_value(FIGURES_BUCKET))
        found = await asyncio.gather(*(read_one(key) for key in keys))
        return {key: value for key, value in found if value is not None}

    return read


def build(
    settings: CommonSettings, broker: NatsBroker, live: LiveRegistry | None = None
) -> BatchStage[ReportSubmitted]:
    """The validator's stage; it judges by ``live``'s registry, which switches between batches."""
    live = live or live_registry(settings)

    async def publish(items: Sequence[tuple[str, ReportJudged, str]]) -> None:
        await publish_all(broker, VERDICTS, items)
        count_published(VERDICTS.name, items)

    validator = Validator(live.registry, publish, figures_reader(broker))
    declare_publications(broker, VALIDATOR)
    dead = DeadLetters(broker, "validator")
    return BatchStage(broker, CONSUMER, ReportSubmitted, live.guarded(validator.on_submitted), dead)


async def serve(settings: CommonSettings) -> None:
    broker = make_broker(settings, "validator")
    live = live_registry(settings)
    build(settings, broker, live)

    async def start() -> None:
        await broker.connect()
        await prepare_topology(broker, settings, VALIDATOR, [CONSUMER])
        freeze_startup_state()
        await broker.start()
        live.start(broker, settings.registry_poll_seconds)

    async def stop() -> None:
        await live.stop()
        await stop_broker(broker)

    health = Health("validator", broker, [CONSUMER])
    await serve_until_stopped(*with_health(health, 8001, start, stop))


def main() -> None:
    settings = CommonSettings()
    setup_logging("validator", settings.log_level)
    run_service(serve(settings))
