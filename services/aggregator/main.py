"""Composition root of the aggregator: settings, stores, broker, consumers, reminder clock."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

from faststream.nats import NatsBroker
from pydantic import BaseModel
from pydantic_settings import SettingsConfigDict

from services.aggregator.handlers import Aggregator, Ports, Publish
from services.aggregator.store import Journal, SupervisionStore, VersionStore, as_verdict
from shared.contracts import (
    DEADLINES,
    PROGRESS,
    REMINDERS,
    REVIEWS,
    ROLLUPS,
    VERDICTS,
    DeadlineSet,
    ReminderDue,
    ReportAggregated,
    ReportJudged,
    ReviewRecorded,
    RollupUpdated,
    StreamSpec,
)
from shared.deadlines import DeadlinePolicy, national_deadline
from shared.filings import current_reporting_year
from shared.runtime.db import make_engine
from shared.runtime.messaging import (
    BURST_LINGER_SECONDS,
    BatchStage,
    ConsumerSpec,
    DeadLetters,
    publish_all,
    stop_broker,
)
from shared.runtime.metrics import Health, count_published, with_health
from shared.runtime.service import (
    configured_registry,
    freeze_startup_state,
    make_broker,
    prepare_topology,
    serve_until_stopped,
    setup_logging,
)
from shared.runtime.settings import CommonSettings

log = logging.getLogger(__name__)


class AggregatorSettings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="NIANBAO_", env_file=".env", extra="ignore")

    aggregator_database_url: str | None = None
    #: how often the reminder clock looks for a threshold reached (seconds)
    reminder_interval_seconds: float = 60


CONSUMER = ConsumerSpec(
    durable="aggregator",
    stream=VERDICTS,
    filter_subjects=("nianbao.accepted.>", "nianbao.rejected.>"),
    description="aggregator: counts every verdict in the roll-ups",
)
REVIEW_CONSUMER = ConsumerSpec(
    durable="aggregator-reviews",
    stream=REVIEWS,
    filter_subjects=("nianbao.review.*.admin.>",),
    description="aggregator: returned reports and locks (each action once, by its admin copy)",
)
DEADLINE_CONSUMER = ConsumerSpec(
    durable="aggregator-deadlines",
    stream=DEADLINES,
    filter_subjects=("nianbao.deadline.>",),
    description="aggregator: internal deadlines of provinces and departments",
)
CONSUMERS = [CONSUMER, REVIEW_CONSUMER, DEADLINE_CONSUMER]


def deadline_policies(settings: CommonSettings) -> Callable[[int], DeadlinePolicy]:
    """Deadline policy per year: the national default, with the overrides of the deadlines file."""
    overrides: dict[str, dict[str, str]] = {}
    if settings.deadlines_file is not None:
        overrides = json.loads(settings.deadlines_file.read_text(encoding="utf-8"))

    @cache
    def policy(year: int) -> DeadlinePolicy:
        given = overrides.get(str(year), {})
        return DeadlinePolicy(
            year=year,
            national=national_deadline(year),
            overrides={node: datetime.fromisoformat(at) for node, at in given.items()},
        )

    return policy


@dataclass
class Aggregation:
    aggregator: Aggregator
    versions: VersionStore
    supervision: SupervisionStore
    journal: Journal


def build(settings: AggregatorSettings, broker: NatsBroker) -> Aggregation:
    registry = configured_registry(settings)
    url = settings.database_url_for("aggregator", settings.aggregator_database_url)
    engine = make_engine(url)
    versions, supervision = VersionStore(engine), SupervisionStore(engine)

    def publisher_to(stream: StreamSpec) -> Publish:
        async def publish(items: Sequence[tuple[str, BaseModel, str]]) -> None:
            await publish_all(broker, stream, items)
            count_published(stream.name, items)

        return publish

    async def load_verdicts(receipt_ids: Sequence[str]) -> list[tuple[ReportJudged, str]]:
        return [as_verdict(row) for row in await versions.get(receipt_ids)]

    journal = Journal(engine)

    async def load_reviews(review_ids: Sequence[str]) -> list[ReviewRecorded]:
        rows = await supervision.reviews_by_id(review_ids)
        return [ReviewRecorded(**r.model_dump()) for r in rows]

    async def load_deadlines() -> list[tuple[int, str, datetime, datetime]]:
        return [(d.year, d.node, d.deadline, d.at) for d in await supervision.deadlines()]

    ports = Ports(
        save_verdicts=versions.add,
        load_verdicts=load_verdicts,
        save_reviews=supervision.add_reviews,
        save_deadlines=supervision.set_deadlines,
        mark_reminded=supervision.mark_reminded,
        publish_rollups=publisher_to(ROLLUPS),
        publish_progress=publisher_to(PROGRESS),
        publish_reminders=publisher_to(REMINDERS),
        exclusive=journal.exclusive,
        journal_since=journal.since,
        load_reviews=load_reviews,
        load_deadlines=load_deadlines,
        load_reminded=supervision.reminded,
    )
    aggregator = Aggregator(registry, deadline_policies(settings), ports)
    broker.publisher("nianbao.rollup.{year}.{tree}.{path}", title="roll-up", schema=RollupUpdated)
    broker.publisher(
        "nianbao.aggregated.{form}.{code}", title="aggregated", schema=ReportAggregated
    )
    broker.publisher("nianbao.reminder.{year}.{tree}.{path}", title="reminder", schema=ReminderDue)
    dead = DeadLetters(broker, "aggregator")
    # a burst is counted in batches: one roll-up event per node per linger, not per verdict
    BatchStage(
        broker,
        CONSUMER,
        ReportJudged,
        aggregator.on_verdicts,
        dead,
        batch_size=500,
        linger=BURST_LINGER_SECONDS,
    )
    BatchStage(broker, REVIEW_CONSUMER, ReviewRecorded, aggregator.on_reviews, dead)
    BatchStage(broker, DEADLINE_CONSUMER, DeadlineSet, aggregator.on_deadlines, dead)
    return Aggregation(aggregator, versions, supervision, journal)


async def reminder_clock(aggregator: Aggregator, interval: float) -> None:
    while True:
        try:
            sent = await aggregator.remind(datetime.now(UTC))
            if sent:
                log.info("sent %d reminders", sent)
        except Exception:
            log.exception("reminder pass failed; retrying")
        await asyncio.sleep(interval)


async def serve(settings: AggregatorSettings) -> None:
    broker = make_broker(settings, "aggregator")
    parts = build(settings, broker)
    aggregator = parts.aggregator
    clock: asyncio.Task[None] | None = None

    async def start() -> None:
        nonlocal clock
        await parts.versions.create()
        await parts.supervision.create()
        async with parts.journal.exclusive():
            synced = await parts.journal.last()
            aggregator.load(
                [as_verdict(row) for row in await parts.versions.all()],
                [ReviewRecorded(**r.model_dump()) for r in await parts.supervision.reviews()],
                [(d.year, d.node, d.deadline, d.at) for d in await parts.supervision.deadlines()],
                await parts.supervision.reminded(),
            )
            aggregator.synced = synced
        await broker.connect()
        await prepare_topology(broker, settings, CONSUMERS)
        async with parts.journal.exclusive():
            await aggregator.republish([current_reporting_year(datetime.now(UTC))])
        freeze_startup_state()
        await broker.start()
        clock = asyncio.create_task(reminder_clock(aggregator, settings.reminder_interval_seconds))

    async def stop() -> None:
        if clock is not None:
            clock.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await clock
        await stop_broker(broker)
        await parts.versions.engine.dispose()

    health = Health("aggregator", broker, CONSUMERS)
    await serve_until_stopped(*with_health(health, 8002, start, stop))


def main() -> None:
    settings = AggregatorSettings()
    setup_logging("aggregator", settings.log_level)
    asyncio.run(serve(settings))
